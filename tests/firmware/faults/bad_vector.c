/* The HardFault slot of the vector table holds an even address (no Thumb bit): taking the
 * fault fails too, and the core locks up before any handler runs. Own vector table. */
#include "faults.h"
extern uint32_t _estack;
void Reset_Handler(void);
void HardFault_Handler(void) { for (;;) {} }
__attribute__((section(".isr_vector"), used))
const uint32_t vector_table[16] = {
    (uint32_t)&_estack, (uint32_t)&Reset_Handler, 0, 0x08000100u /* even: invalid */, 0, 0, 0,
};
NOINLINE void first_fault(void) { __asm volatile("udf #5"); }
int main(void) { first_fault(); for (;;) {} }
void Reset_Handler(void) { main(); for (;;) {} }
