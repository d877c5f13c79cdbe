/* Precise bus fault: load from an address nothing answers (mps2-an385), BusFault enabled. */
#include "faults.h"
#define BAD_ADDRESS 0x70000000u
volatile uint32_t sink;
NOINLINE void read_bad_address(void) { sink = *(volatile uint32_t *)BAD_ADDRESS; }
int main(void) { SCB_SHCSR |= SHCSR_ALL_FAULTS; read_bad_address(); for (;;) {} }
