/* A fault inside an interrupt handler. IRQ0 (priority 0x80, below the UsageFault's 0) is
 * pended by the code it then interrupts: a thread on the PSP (unwind_rig.h), or main itself on
 * the MSP when built as irq_fault_msp.c (IRQ_FROM_MAIN). The handler (irq_body, entered through
 * an ENTRY_SHIM that records where IRQ0's frame went) calls irq_work -> irq_divide, which
 * divides by zero: UsageFault taken in Handler mode, EXC_RETURN 0xFFFFFFF1. The backtrace goes
 * irq_divide, irq_work, irq_body, IRQ0's exception frame, then the interrupted code down to its
 * entry. Test fixture. */
#include "unwind_rig.h"

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define NVIC_ISPR0 (*(volatile uint32_t *)0xE000E200u)
#define NVIC_IPR0 (*(volatile uint8_t *)0xE000E400u)

TRUTH_HANDLER(UsageFault_Handler)
void Fault_Handler(void) { for (;;) {} }
void irq_body(void);
ENTRY_SHIM(IRQ0_Handler, irq_body)

__attribute__((section(".isr_vector"), used)) const void *const vector_table[17] = {
    &_estack, VEC(Reset_Handler), VEC(Fault_Handler), VEC(Fault_Handler), VEC(Fault_Handler),
    VEC(Fault_Handler), VEC(UsageFault_Handler), 0, 0, 0, 0, VEC(Fault_Handler),
    VEC(Fault_Handler), 0, VEC(PendSV_Handler), VEC(Fault_Handler), VEC(IRQ0_Handler),
};

volatile uint32_t divisor; /* 0 */
volatile uint32_t samples;

NOINLINE uint32_t irq_divide(uint32_t x) { return x / divisor; }
NOINLINE uint32_t irq_work(uint32_t x) { return irq_divide(x + 7) + 2; }
void irq_body(void) { samples += irq_work(samples); }

NOINLINE void pend_irq(void)
{
    NVIC_ISPR0 = 1u;                           /* IRQ0 pending: taken right after the barrier */
    __asm volatile("dsb\n\tisb" ::: "memory");
}
NOINLINE void sampler_wait(void)
{
    pend_irq();
    samples++;
}
NOINLINE void sampler_entry(void)
{
    for (;;)
        sampler_wait();
}

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    SCB_CCR |= CCR_DIV_0_TRP;
    NVIC_IPR0 = 0x80;
    NVIC_ISER0 = 1u;
#ifdef IRQ_FROM_MAIN
    sampler_entry();
    return 0;
#else
    launch_thread(sampler_entry);
#endif
}
