/* Integer divide by zero with CCR.DIV_0_TRP on and UsageFault enabled. */
#include "faults.h"
volatile int numerator = 42, denominator = 0, quotient;
NOINLINE void divide(void) { quotient = numerator / denominator; }
int main(void) { SCB_CCR |= CCR_DIV_0_TRP; SCB_SHCSR |= SHCSR_ALL_FAULTS; divide(); for (;;) {} }
