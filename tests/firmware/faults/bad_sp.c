/* Corrupt stack pointer: SP moved outside RAM, then a fault must stack its frame there. The fault
 * handlers record the ground truth (truth.h). */
#include "faults.h"
#include "truth.h"
#define BAD_SP 0x70000000u
TRUTH_HANDLER(HardFault_Handler)
TRUTH_HANDLER(BusFault_Handler)
TRUTH_HANDLER(UsageFault_Handler)
NOINLINE void smash_stack_pointer(void) {
    __asm volatile("mov sp, %0\n\tudf #1" :: "r"(BAD_SP) : "memory");
}
int main(void) { SCB_SHCSR |= SHCSR_ALL_FAULTS; smash_stack_pointer(); for (;;) {} }
