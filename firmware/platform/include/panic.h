#ifndef PHOTONDBG_PANIC_H
#define PHOTONDBG_PANIC_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
/* Device OS panic codes (the number of blinks after the SOS) */
typedef enum {
    HardFault = 1, NMIFault = 2, MemManage = 3, BusFault = 4, UsageFault = 5, InvalidLenth = 6,
    Exit = 7, OutOfHeap = 8, SPIOverRun = 9, AssertionFailure = 10, InvalidCase = 11,
    PureVirtualCall = 12, StackOverflow = 13,
} ePanicCode;

/* Device OS reset reasons */
enum {
    RESET_REASON_NONE = 0, RESET_REASON_UNKNOWN = 10, RESET_REASON_PIN_RESET = 20,
    RESET_REASON_POWER_MANAGEMENT = 30, RESET_REASON_POWER_DOWN = 40,
    RESET_REASON_POWER_BROWNOUT = 50, RESET_REASON_WATCHDOG = 60, RESET_REASON_UPDATE = 70,
    RESET_REASON_UPDATE_ERROR = 80, RESET_REASON_UPDATE_TIMEOUT = 90,
    RESET_REASON_FACTORY_RESET = 100, RESET_REASON_SAFE_MODE = 110, RESET_REASON_DFU_MODE = 120,
    RESET_REASON_PANIC = 130, RESET_REASON_USER = 140,
};

/* The retained crash record: in .retained (NOLOAD RAM), not zeroed at boot. */
#define CRASH_RECORD_MAGIC 0x50414e43u /* "PANC" */
typedef struct {
    uint32_t magic;
    uint32_t version;
    uint32_t panic_count;      /* panics since power-on */
    uint32_t reset_reason;     /* reason for the *next* boot, set just before a reset */
    uint32_t reset_data;
    uint32_t code;             /* ePanicCode */
    uint32_t frame[8];         /* stacked r0 r1 r2 r3 r12 lr pc xpsr */
    uint32_t frame_valid;
    uint32_t exc_return;
    uint32_t stack_pointer;    /* stack pointer the fault handler read the frame from */
    uint32_t cfsr, hfsr, mmfar, bfar;
    uint32_t uptime_ms;
    uint32_t checksum;         /* sum of all words above, xor 0xA5A5A5A5 */
} crash_record_t;

extern crash_record_t crash_record;

/* rgbled.c's LED and logging.cpp's log output, reached through pointers held in RAM */
typedef struct {
    void (*set_color)(uint32_t rgb);
    void (*on_off)(int on);
} led_callbacks_t;
typedef struct {
    void (*message)(const char *text);
} log_callbacks_t;
extern led_callbacks_t led_callbacks;
extern log_callbacks_t log_callbacks;

/* Entry of every panic: a real function, so a debugger can break on it. */
void panic_(ePanicCode code, const uint32_t *frame, uint32_t exc_return, uint32_t sp)
    __attribute__((noreturn, noinline));
const char *panic_name(uint32_t code);
int crash_record_valid(void);
void crash_record_seal(void);
void system_reset(uint32_t reason, uint32_t data) __attribute__((noreturn));
#ifdef __cplusplus
}
#endif
#endif
