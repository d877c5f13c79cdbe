/* A thread on the PSP (started as an RTOS starts one, unwind_rig.h) faults four calls deep:
 * worker_entry -> worker_step -> worker_compute -> worker_divide, an integer division by zero
 * (UsageFault DIVBYZERO, enabled). The backtrace must run from worker_divide to worker_entry,
 * the thread's entry, and no further. Test fixture. */
#include "unwind_rig.h"

USAGE_FAULT_VECTORS

volatile uint32_t divisor; /* 0 */
volatile uint32_t result;

NOINLINE uint32_t worker_divide(uint32_t x) { return x / divisor; }
NOINLINE uint32_t worker_compute(uint32_t x) { return worker_divide(x + 3) + 1; }
NOINLINE void worker_step(uint32_t x) { result = worker_compute(x * 2) + x; }
NOINLINE void worker_entry(void)
{
    for (uint32_t i = 1;; i++)
        worker_step(i);
}

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    SCB_CCR |= CCR_DIV_0_TRP;
    launch_thread(worker_entry);
}
