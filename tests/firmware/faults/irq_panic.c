/* A Device-OS-like panic called inside an interrupt handler that interrupted a thread on the
 * PSP (unwind_rig.h): no fault, the capture halts at panic_ in Handler mode. GDB would unwind
 * the thread's part from the MSP; the backtrace must go check_level, irq_check (IRQ0's handler,
 * entered through an ENTRY_SHIM that records where IRQ0's frame went), IRQ0's frame on the
 * PSP, then pend_irq, sampler_wait, sampler_entry. Test fixture. */
#include "unwind_rig.h"

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define NVIC_ISPR0 (*(volatile uint32_t *)0xE000E200u)

void Fault_Handler(void) { for (;;) {} }
void irq_check(void);
ENTRY_SHIM(IRQ0_Handler, irq_check)

__attribute__((section(".isr_vector"), used)) const void *const vector_table[17] = {
    &_estack, VEC(Reset_Handler), VEC(Fault_Handler), VEC(Fault_Handler), VEC(Fault_Handler),
    VEC(Fault_Handler), VEC(Fault_Handler), 0, 0, 0, 0, VEC(Fault_Handler),
    VEC(Fault_Handler), 0, VEC(PendSV_Handler), VEC(Fault_Handler), VEC(IRQ0_Handler),
};

volatile int panic_code_seen;
volatile uint32_t level = 2;
NOINLINE void panic_(int code, void *extra, void (*reserved)(void))
{
    (void)extra;
    (void)reserved;
    panic_code_seen = code;
    for (;;) {}
}
NOINLINE void check_level(uint32_t v)
{
    if (v < 5)
        panic_(3, 0, 0);
    level = v;
}
void irq_check(void) { check_level(level); }

NOINLINE void pend_irq(void)
{
    NVIC_ISPR0 = 1u;
    __asm volatile("dsb\n\tisb" ::: "memory");
}
NOINLINE void sampler_wait(void)
{
    pend_irq();
    level++;
}
NOINLINE void sampler_entry(void)
{
    for (;;)
        sampler_wait();
}

int main(void)
{
    NVIC_ISER0 = 1u;
    launch_thread(sampler_entry);
}
