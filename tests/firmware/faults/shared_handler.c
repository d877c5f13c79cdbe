/* Every exception shares one Default_Handler (weak aliases, as many vendor start-ups do) and
 * SysTick interrupts run through it constantly; after some ticks a bad instruction faults.
 * Built WITHOUT startup.c: its own vector table. */
#include "faults.h"
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
volatile uint32_t ticks;
void Reset_Handler(void);
void Default_Handler(void) {
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    if ((ipsr & 0x1ff) == 15) { ticks++; return; }   /* SysTick */
    for (;;) {}                                      /* any fault */
}
__attribute__((section(".isr_vector"), used))
const void *const vector_table[16] = {
    &_estack, Reset_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0, Default_Handler,
    Default_Handler,
};
NOINLINE void fault_after_ticks(void) { while (ticks < 5) {} __asm volatile("udf #9"); }
int main(void) {
    SYST_RVR = 1000000; SYST_CSR = 7;         /* SysTick on, interrupt on, core clock */
    fault_after_ticks();
    for (;;) {}
}
void Reset_Handler(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    main();
    for (;;) {}
}
