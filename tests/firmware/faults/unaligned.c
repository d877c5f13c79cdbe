/* Unaligned word load with CCR.UNALIGN_TRP on; UsageFault left disabled -> forced HardFault. */
#include "faults.h"
uint8_t buffer[16] __attribute__((aligned(4)));
volatile uint32_t sink;
NOINLINE void read_unaligned(volatile uint32_t *p) { sink = *p; }
int main(void) { SCB_CCR |= CCR_UNALIGN_TRP; read_unaligned((volatile uint32_t *)(buffer + 1)); for (;;) {} }
