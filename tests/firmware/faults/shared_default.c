/* One Default_Handler in every vector slot (as many vendor start-ups have it), SysTick
 * interrupts running through it all along; then a fault of the kind the including file picks
 * (FAULT_KIND): the capture must name the fault by the exception number, never by the handler.
 * Default_Handler dispatches on IPSR: SysTick (15) counts a tick and returns, anything else
 * goes to the ground-truth recorder (truth.h) with MSP, PSP and LR untouched.
 *   KIND_HARD   UDF with the configurable faults disabled: HardFault, FORCED (UNDEFINSTR)
 *   KIND_MEM    a call through a pointer into the XN region: MemManage IACCVIOL, PC garbage
 *   KIND_BUS    a load from an address nothing answers (mps2-an385): BusFault PRECISERR
 *   KIND_USAGE  a division by zero: UsageFault DIVBYZERO
 * Test fixture. */
#include "unwind_rig.h"

#define KIND_HARD 1
#define KIND_MEM 2
#define KIND_BUS 3
#define KIND_USAGE 4
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)

volatile uint32_t ticks;
void systick_tick(void) { ticks++; }
TRUTH_HANDLER(fault_recorder)

__attribute__((naked, used)) void Default_Handler(void)
{
    __asm volatile("mrs r0, ipsr\n"
                   "uxtb r0, r0\n"
                   "cmp r0, #15\n"
                   "beq systick_tick\n"
                   "b fault_recorder\n");
}

__attribute__((section(".isr_vector"), used)) const void *const vector_table[16] = {
    &_estack, VEC(Reset_Handler), VEC(Default_Handler), VEC(Default_Handler),
    VEC(Default_Handler), VEC(Default_Handler), VEC(Default_Handler), 0, 0, 0, 0,
    VEC(Default_Handler), VEC(Default_Handler), 0, VEC(Default_Handler), VEC(Default_Handler),
};

volatile uint32_t divisor; /* 0 */
volatile uint32_t sink;
volatile uint32_t bad_target = 0xA0000001u; /* XN on every Cortex-M: no instruction fetch */

NOINLINE void do_fault(void)
{
#if FAULT_KIND == KIND_HARD
    __asm volatile("udf #5");
#elif FAULT_KIND == KIND_MEM
    ((void (*)(void))bad_target)();
#elif FAULT_KIND == KIND_BUS
    sink = *(volatile uint32_t *)0x70000000u;
#else
    sink = ticks / divisor;
#endif
}
NOINLINE void after_ticks(void)
{
    while (ticks < 3) {}
    do_fault();
    sink++;
}

int main(void)
{
#if FAULT_KIND != KIND_HARD
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
#endif
    SCB_CCR |= CCR_DIV_0_TRP;
    SYST_RVR = 200000;
    SYST_CSR = 7; /* SysTick on, interrupt on, core clock */
    after_ticks();
    return 0;
}
