/* Fault handlers and panic, after Device OS v0.6.4:
 *  - hal/src/stm32f2xx/core_hal_stm32f2xx.c: HardFault_Handler is naked; it picks MSP or PSP from
 *    bit 2 of EXC_RETURN and loads the stacked PC at [sp,#24] *without checking the stack
 *    pointer*, then prvGetRegistersFromStack() copies the stacked frame into locals and panics
 *    (HardFault, or UsageFault when CFSR.DIVBYZERO is set).  MemManage, BusFault, UsageFault and
 *    NMI handlers are plain functions that panic with their code.  With a corrupt PSP the very
 *    first load faults again inside the handler: a fault in HardFault is a lock-up (QEMU exits,
 *    the board's debugger says "clearing lockup after double fault").  Nothing here adds one.
 *  - services/src/panic.c: panic_() disables interrupts and blinks SOS + code through the LED
 *    functions of rgbled.c, which reach the LED through callback pointers held in RAM; a release
 *    build resets after two rounds with reason PANIC (130) and the code, a debug build blinks
 *    forever.  PANIC() first logs through the log callbacks (services/src/logging.cpp), also
 *    pointers in RAM.  No heap use anywhere in the path.
 * Sim-only: the retained crash record (the board keeps only reason + code in backup registers),
 * the "@panic"/"@sos" console lines (our LED and log output), and SOS timing shortened to 25 ms
 * units (the board: 150/300 ms blinks, ~5 s per round). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "hw.h"
#include "console.h"
#include "panic.h"

/* rgbled.c / logging.cpp: the LED and the log are reached through pointers in RAM */
static uint32_t led_color, led_on;
static void led_set_color(uint32_t rgb) { led_color = rgb; }
static void led_switch(int on) { led_on = (uint32_t)on; }
led_callbacks_t led_callbacks = {led_set_color, led_switch};
log_callbacks_t log_callbacks = {console_puts};

crash_record_t crash_record __attribute__((section(".retained")));

static const char *const PANIC_NAMES[] = {
    "None", "HardFault", "NMIFault", "MemManage", "BusFault", "UsageFault", "InvalidLenth",
    "Exit", "OutOfHeap", "SPIOverRun", "AssertionFailure", "InvalidCase", "PureVirtualCall",
    "StackOverflow",
};

/* SOS timing in 25 ms units: (on, off) pairs for the three letters, then the code blinks */
#define SOS_UNIT_MS     25u
#define SOS_SHORT_ON    1u
#define SOS_LONG_ON     3u
#define SOS_GAP         1u
#define SOS_AFTER_SOS   4u
#define SOS_CODE_ON     2u
#define SOS_CODE_OFF    2u
#define SOS_END_PAUSE   8u
#define SOS_ROUNDS_BEFORE_RESET 2

const char *panic_name(uint32_t code)
{
    return code < sizeof PANIC_NAMES / sizeof PANIC_NAMES[0] ? PANIC_NAMES[code] : "Unknown";
}

static uint32_t record_sum(void)
{
    const uint32_t *w = (const uint32_t *)&crash_record;
    uint32_t sum = 0;
    for (size_t i = 0; i < offsetof(crash_record_t, checksum) / 4; i++)
        sum += w[i];
    return sum ^ 0xA5A5A5A5u;
}

int crash_record_valid(void)
{
    return crash_record.magic == CRASH_RECORD_MAGIC && crash_record.checksum == record_sum();
}

void crash_record_seal(void) { crash_record.checksum = record_sum(); }

/* A millisecond wait that works with interrupts masked: count SysTick wraps. */
static void panic_delay_ms(uint32_t ms)
{
    if (!(SYST_CSR & SYST_CSR_ENABLE)) {
        for (volatile uint32_t i = 0; i < ms * 4000u; i++)
            ;
        return;
    }
    (void)SYST_CSR; /* clear a stale COUNTFLAG */
    for (uint32_t waited = 0; waited < ms;) {
        if (SYST_CSR & SYST_CSR_COUNTFLAG)
            waited += SYSTICK_MS;
    }
}

#define RGB_COLOR_RED 0xFF0000u

static void led(uint32_t on_units, uint32_t off_units)
{
    led_callbacks.set_color(RGB_COLOR_RED);
    led_callbacks.on_off(1);
    panic_delay_ms(on_units * SOS_UNIT_MS);
    led_callbacks.on_off(0);
    panic_delay_ms(off_units * SOS_UNIT_MS);
}

/* a log line without the heap: a fixed buffer, formatted with snprintf into it */
static void panic_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void panic_log(const char *fmt, ...)
{
    static char line[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_callbacks.message(line);
}

static void sos_round(uint32_t code)
{
    panic_log("@sos code=%lu\r\n", (unsigned long)code);
    for (int letter = 0; letter < 3; letter++)
        for (int i = 0; i < 3; i++)
            led(letter == 1 ? SOS_LONG_ON : SOS_SHORT_ON, SOS_GAP);
    panic_delay_ms(SOS_AFTER_SOS * SOS_UNIT_MS);
    for (uint32_t i = 0; i < code; i++)
        led(SOS_CODE_ON, SOS_CODE_OFF);
    panic_delay_ms(SOS_END_PAUSE * SOS_UNIT_MS);
}

extern volatile uint32_t system_millis;

void system_reset(uint32_t reason, uint32_t data)
{
    if (crash_record.magic != CRASH_RECORD_MAGIC) {
        memset(&crash_record, 0, sizeof crash_record);
        crash_record.magic = CRASH_RECORD_MAGIC;
        crash_record.version = 1;
    }
    crash_record.reset_reason = reason;
    crash_record.reset_data = data;
    crash_record_seal();
    __asm volatile("dsb" ::: "memory");
    SCB_AIRCR = AIRCR_VECTKEY | AIRCR_SYSRESETREQ;
    __asm volatile("dsb" ::: "memory");
    for (;;)
        ;
}

void panic_(ePanicCode code, const uint32_t *frame, uint32_t exc_return, uint32_t sp)
{
    __asm volatile("cpsid i" ::: "memory");
    uint32_t count = crash_record_valid() ? crash_record.panic_count : 0;
    memset(&crash_record, 0, sizeof crash_record);
    crash_record.magic = CRASH_RECORD_MAGIC;
    crash_record.version = 2;
    crash_record.panic_count = count + 1;
    crash_record.code = code;
    if (frame) {
        memcpy(crash_record.frame, frame, sizeof crash_record.frame);
        crash_record.frame_valid = 1;
    }
    crash_record.exc_return = exc_return;
    crash_record.stack_pointer = sp;
    crash_record.cfsr = SCB_CFSR;
    crash_record.hfsr = SCB_HFSR;
    crash_record.mmfar = SCB_MMFAR;
    crash_record.bfar = SCB_BFAR;
    crash_record.uptime_ms = system_millis;
    crash_record_seal();

    panic_log("\r\n@panic code=%u name=%s pc=0x%08lx lr=0x%08lx cfsr=0x%08lx hfsr=0x%08lx "
              "sp=0x%08lx exc=0x%08lx\r\n",
              (unsigned)code, panic_name(code), (unsigned long)crash_record.frame[6],
              (unsigned long)crash_record.frame[5], (unsigned long)crash_record.cfsr,
              (unsigned long)crash_record.hfsr, (unsigned long)sp, (unsigned long)exc_return);
#ifdef DEBUG_BUILD
    for (;;)
        sos_round(code);
#else
    for (int i = 0; i < SOS_ROUNDS_BEFORE_RESET; i++)
        sos_round(code);
    system_reset(RESET_REASON_PANIC, code);
#endif
}

/* prvGetRegistersFromStack: the frame is copied as it is, whatever the stack pointer was */
void prvGetRegistersFromStack(uint32_t *sp, uint32_t pc, uint32_t exc_return)
    __attribute__((used, noreturn));
void prvGetRegistersFromStack(uint32_t *sp, uint32_t pc, uint32_t exc_return)
{
    uint32_t frame[8];
    for (int i = 0; i < 8; i++)
        frame[i] = ((volatile uint32_t *)sp)[i];
    (void)pc;   /* already loaded by the handler, as on the board */
    panic_((SCB_CFSR & CFSR_DIVBYZERO) ? UsageFault : HardFault, frame, exc_return,
           (uint32_t)(uintptr_t)sp);
}

/* r0 = the stack the frame is on (MSP or PSP by EXC_RETURN bit 2), r1 = the stacked PC loaded
 * from it unchecked, r2 = EXC_RETURN */
__attribute__((naked)) void HardFault_Handler(void)
{
    __asm volatile("tst lr, #4\n"
                   "ite eq\n"
                   "mrseq r0, msp\n"
                   "mrsne r0, psp\n"
                   "ldr r1, [r0, #24]\n"
                   "mov r2, lr\n"
                   "b prvGetRegistersFromStack\n");
}

/* the other fault vectors panic without a frame, as core_hal_stm32f2xx.c's do */
void NMI_Handler(void) { panic_(NMIFault, NULL, 0, 0); }
void MemManage_Handler(void) { panic_(MemManage, NULL, 0, 0); }
void BusFault_Handler(void) { panic_(BusFault, NULL, 0, 0); }
void UsageFault_Handler(void) { panic_(UsageFault, NULL, 0, 0); }
