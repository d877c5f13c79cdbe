/* A fault inside the HardFault handler: the core locks up ("double fault"). */
#include "faults.h"
volatile uint32_t handler_entries;
void HardFault_Handler(void) { handler_entries++; __asm volatile("udf #3"); for (;;) {} }
NOINLINE void first_fault(void) { __asm volatile("udf #2"); }
int main(void) { first_fault(); for (;;) {} }
