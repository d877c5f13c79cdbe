/* An FPU fault with the 4-byte alignment pad (Cortex-M4F, netduinoplus2). Included by
 * fpu_lazy.c (LSPEN=1, the reset default: lazy stacking, fault on the MSP), fpu_immediate.c
 * (LSPEN=0: the core writes S0-S15/FPSCR at entry, fault on a PSP task stack) and
 * fpu_handler.c (FP_IN_HANDLER: the FP code runs in the SVCall handler, its UsageFault cannot
 * preempt SVCall's priority and escalates to HardFault: EXC_RETURN 0xFFFFFFE1, Handler mode).
 *
 * main enables CP10/CP11 in CPACR, sets FPCCR.LSPEN, then fp_fault() loads S0-S31 from fp_bits
 * (known IEEE-754 patterns), FPSCR from fpscr_bits, makes the SP 4 mod 8 (so the core pads the
 * frame and sets stacked xPSR bit 9), records that SP in sp_before, and executes UDF: a
 * UsageFault whose entry stacks an EXTENDED frame (CONTROL.FPCA is set by the FP loads).
 * The frame's FP slots are pre-filled with STALE_WORD, so a lazy frame (slots reserved but
 * not written) is told apart from a written one. Test fixture. */
#include "faults.h"
#include "truth.h"

#define CPACR (*(volatile uint32_t *)0xE000ED88u)
#define FPCCR (*(volatile uint32_t *)0xE000EF34u)
#define FPCCR_LSPEN (1u << 30)
#define STALE_WORD 0x5A5A5A5Au

/* S0..S31: 1.0, 2.0, ... as bit patterns (and two negative ones), FPSCR with RMode = RZ. */
const uint32_t fp_bits[32] = {
    0x3F800000, 0x40000000, 0x40400000, 0x40800000, 0x40A00000, 0x40C00000, 0x40E00000,
    0x41000000, 0x41100000, 0x41200000, 0x41300000, 0x41400000, 0x41500000, 0x41600000,
    0xC1700000, 0xC1800000, 0x41880000, 0x41900000, 0x41980000, 0x41A00000, 0x41A80000,
    0x41B00000, 0x41B80000, 0x41C00000, 0x41C80000, 0x41D00000, 0x41D80000, 0x41E00000,
    0x41E80000, 0x41F00000, 0x41F80000, 0x42000000,
};
const uint32_t fpscr_bits = 0x00C00000;
volatile uint32_t sp_before;  /* the SP the fault interrupted: 4 mod 8 */
volatile uint32_t fpccr_at_fault;
static uint32_t task_stack[256] __attribute__((aligned(8)));

#ifndef FP_IN_HANDLER
#define FP_IN_HANDLER 0
#endif
#if FP_IN_HANDLER
TRUTH_HANDLER(HardFault_Handler)
#else
TRUTH_HANDLER(UsageFault_Handler)
#endif

__attribute__((naked, noinline)) void fp_fault(void)
{
    __asm volatile("ldr r0, =fp_bits\n"
                   "vldmia r0, {s0-s31}\n"
                   "ldr r0, =fpscr_bits\n"
                   "ldr r0, [r0]\n"
                   "vmsr fpscr, r0\n"
                   "mov r0, sp\n"
                   "bic r0, r0, #7\n"
                   "sub r0, r0, #4\n" /* SP = 4 mod 8: the core inserts the pad word */
                   "mov sp, r0\n"
                   "ldr r1, =sp_before\n"
                   "str r0, [r1]\n"
                   "ldr r1, =0xE000EF34\n"
                   "ldr r1, [r1]\n"
                   "ldr r2, =fpccr_at_fault\n"
                   "str r1, [r2]\n"
                   "mov r0, #0xA0\n"
                   "mov r1, #0xA1\n"
                   "mov r2, #0xA2\n"
                   "mov r3, #0xA3\n"
                   "mov r12, #0xAC\n"
                   "udf #42\n"
                   ".ltorg\n");
}

#if FP_IN_HANDLER
/* startup.c's SVCall slot: the FP code runs in Handler mode */
__attribute__((naked)) void Default_Handler(void) { __asm volatile("b fp_fault"); }
#endif

static void fill_stale(uint32_t *from, uint32_t *to)
{
    while (from < to)
        *from++ = STALE_WORD;
}

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    CPACR |= 0xFu << 20; /* CP10, CP11: full access */
    __asm volatile("dsb\n\tisb" ::: "memory");
    if (FP_LAZY)
        FPCCR |= FPCCR_LSPEN;
    else
        FPCCR &= ~FPCCR_LSPEN;
    if (FP_ON_PSP) {
        uint32_t top = (uint32_t)&task_stack[256];
        fill_stale(task_stack, &task_stack[256]);
        __asm volatile("msr psp, %0\n\tmov r0, #2\n\tmsr control, r0\n\tisb"
                       ::"r"(top) : "r0", "memory");
    } else {
        uint32_t sp;
        __asm volatile("mov %0, sp" : "=r"(sp));
        fill_stale((uint32_t *)(sp - 512), (uint32_t *)sp);
    }
    if (FP_IN_HANDLER)
        __asm volatile("svc #0" ::: "memory");
    else
        fp_fault();
    for (;;) {}
}
