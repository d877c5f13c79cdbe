/* Corrupt stack pointer: SP moved outside RAM, then a fault must stack its frame there. */
#include "faults.h"
#define BAD_SP 0x70000000u
NOINLINE void smash_stack_pointer(void) {
    __asm volatile("mov sp, %0\n\tudf #1" :: "r"(BAD_SP) : "memory");
}
int main(void) { SCB_SHCSR |= SHCSR_ALL_FAULTS; smash_stack_pointer(); for (;;) {} }
