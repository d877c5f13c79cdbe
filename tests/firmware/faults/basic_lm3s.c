/* lm3s6965evb (Stellaris, Zephyr's qemu_cortex_m3): a task on a PSP stack executes UDF with the
 * UsageFault disabled, so the fault escalates to HardFault (HFSR.FORCED, CFSR.UNDEFINSTR).
 * Test fixture. */
#include "faults.h"
#include "truth.h"

TRUTH_HANDLER(HardFault_Handler)

static uint32_t task_stack[128] __attribute__((aligned(8)));

NOINLINE void task_body(void) { __asm volatile("udf #3"); }

int main(void)
{
    uint32_t top = (uint32_t)&task_stack[128];
    __asm volatile("msr psp, %0\n\tmov r0, #2\n\tmsr control, r0\n\tisb" ::"r"(top) : "r0", "memory");
    task_body();
    for (;;) {}
}
