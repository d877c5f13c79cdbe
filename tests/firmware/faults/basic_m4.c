/* A basic frame on a Cortex-M4F (mps2-an386): nothing touched the FPU, so CONTROL.FPCA is clear
 * and the UsageFault (DIVBYZERO, CCR.DIV_0_TRP set) stacks 8 words: EXC_RETURN 0xFFFFFFF9.
 * Test fixture. */
#include "faults.h"
#include "truth.h"

TRUTH_HANDLER(UsageFault_Handler)

volatile uint32_t numerator = 7, denominator;
volatile uint32_t quotient;

NOINLINE void divide(void) { quotient = numerator / denominator; }

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    SCB_CCR |= CCR_DIV_0_TRP;
    divide();
    for (;;) {}
}
