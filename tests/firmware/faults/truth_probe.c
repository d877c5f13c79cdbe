/* The ground-truth recorder itself, checked: main switches to a known PSP and executes UDF in
 * thread mode; the recorded PSP must equal the frame's address, which the firmware also computes
 * (psp_expected = top of task_stack - 32 bytes of basic frame). Test fixture. */
#include "faults.h"
#include "truth.h"

static uint32_t task_stack[64] __attribute__((aligned(8)));
volatile uint32_t psp_expected;

TRUTH_HANDLER(UsageFault_Handler)

NOINLINE void undefined_here(void) { __asm volatile("udf #7"); }

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    uint32_t top = (uint32_t)&task_stack[64];
    psp_expected = top - 32;
    __asm volatile("msr psp, %0\n\tmov r0, #2\n\tmsr control, r0\n\tisb" ::"r"(top) : "r0", "memory");
    undefined_here();
    for (;;) {}
}
