/* Undefined instruction (UDF) with UsageFault enabled. */
#include "faults.h"
NOINLINE void run_undefined(void) { __asm volatile("udf #7"); }
int main(void) { SCB_SHCSR |= SHCSR_ALL_FAULTS; run_undefined(); for (;;) {} }
