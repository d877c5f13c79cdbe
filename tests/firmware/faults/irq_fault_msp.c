/* irq_fault.c with IRQ0 pended (and taken) in main's own code on the MSP: IRQ0's frame is on
 * the MSP above the UsageFault's (EXC_RETURN 0xFFFFFFF9). Test fixture. */
#define IRQ_FROM_MAIN 1
#include "irq_fault.c"
