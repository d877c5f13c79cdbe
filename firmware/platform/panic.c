/* Fault handlers and panic, modeled on Device OS: read the stacked frame (MSP or PSP from
 * bit 2 of EXC_RETURN), keep it with the SCB fault registers in a retained record, blink SOS
 * + code on the "LED" (the console), then reset with reason PANIC (a debug build blinks forever). */
#include <stdint.h>
#include <string.h>
#include "hw.h"
#include "console.h"
#include "panic.h"

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

static void led(uint32_t on_units, uint32_t off_units)
{
    panic_delay_ms(on_units * SOS_UNIT_MS);   /* LED red on */
    panic_delay_ms(off_units * SOS_UNIT_MS);  /* LED off */
}

static void sos_round(uint32_t code)
{
    console_printf("@sos code=%lu\r\n", (unsigned long)code);
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
    crash_record.version = 1;
    crash_record.panic_count = count + 1;
    crash_record.code = code;
    if (frame) {
        memcpy(crash_record.frame, frame, sizeof crash_record.frame);
        crash_record.frame_valid = 1;
    }
    crash_record.exc_return = exc_return;
    crash_record.sp = sp;
    crash_record.cfsr = SCB_CFSR;
    crash_record.hfsr = SCB_HFSR;
    crash_record.mmfar = SCB_MMFAR;
    crash_record.bfar = SCB_BFAR;
    crash_record.uptime_ms = system_millis;
    crash_record_seal();

    console_printf("\r\n@panic code=%u name=%s pc=0x%08lx lr=0x%08lx cfsr=0x%08lx hfsr=0x%08lx\r\n",
                   (unsigned)code, panic_name(code), (unsigned long)crash_record.frame[6],
                   (unsigned long)crash_record.frame[5], (unsigned long)crash_record.cfsr,
                   (unsigned long)crash_record.hfsr);
#ifdef DEBUG_BUILD
    for (;;)
        sos_round(code);
#else
    for (int i = 0; i < SOS_ROUNDS_BEFORE_RESET; i++)
        sos_round(code);
    system_reset(RESET_REASON_PANIC, code);
#endif
}

/* C half of the fault handlers: pick the panic code and check that the frame is readable. */
void fault_entry(uint32_t *sp, uint32_t exc_return, uint32_t vector) __attribute__((used, noreturn));
void fault_entry(uint32_t *sp, uint32_t exc_return, uint32_t vector)
{
    ePanicCode code;
    switch (vector) {
    case 2: code = NMIFault; break;
    case 4: code = MemManage; break;
    case 5: code = BusFault; break;
    case 6: code = UsageFault; break;
    default: code = (SCB_CFSR & CFSR_DIVBYZERO) ? UsageFault : HardFault; break;
    }
    if ((exc_return & 0xFFFFFFE0u) != 0xFFFFFFE0u) {
        /* not entered as an exception: a handler called as a plain function (a jump through a
         * garbage pointer landed on it); LR is a return address and there is no stacked frame */
        uint32_t msp;
        __asm volatile("mrs %0, msp" : "=r"(msp));
        panic_(code, NULL, exc_return, msp);
    }
    uintptr_t a = (uintptr_t)sp;
    int readable = a >= SRAM_BASE_ADDR && a + 32 <= SRAM_BASE_ADDR + SRAM_SIZE && !(a & 3);
    panic_(code, readable ? sp : NULL, exc_return, (uint32_t)a);
}

/* Assembly entries: r0 = the stack the frame is on, r1 = EXC_RETURN, r2 = vector number */
#define FAULT_TRAMPOLINE(name, vector)                                   \
    __attribute__((naked)) void name(void)                               \
    {                                                                    \
        __asm volatile("tst lr, #4\n"                                    \
                       "ite eq\n"                                        \
                       "mrseq r0, msp\n"                                 \
                       "mrsne r0, psp\n"                                 \
                       "mov r1, lr\n"                                    \
                       "movs r2, #" #vector "\n"                         \
                       "b fault_entry\n");                               \
    }

FAULT_TRAMPOLINE(NMI_Handler, 2)
FAULT_TRAMPOLINE(HardFault_Handler, 3)
FAULT_TRAMPOLINE(MemManage_Handler, 4)
FAULT_TRAMPOLINE(BusFault_Handler, 5)
FAULT_TRAMPOLINE(UsageFault_Handler, 6)
