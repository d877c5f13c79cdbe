/* Stack overflow by unbounded recursion on a thread stack (thread mode, PSP, as under an RTOS):
 * the stack object holds a no-access MPU guard region at its bottom (as Zephyr's MPU stack guard
 * does), main switches to the PSP at the object's top and calls recurse() there until a push
 * lands in the guard. MemManage is enabled; its handler (on the MSP) records the ground truth
 * (truth.h). `depth` is how many recurse() calls had begun. Test fixture. */
#include "faults.h"
#include "mpu_guard.h"
#include "truth.h"

#define STACK_WORDS 512
static struct {
    uint32_t guard[GUARD_SIZE / 4]; /* the MPU guard: the bottom of the stack object */
    uint32_t stack[STACK_WORDS];
} thread_stack __attribute__((aligned(GUARD_SIZE)));
volatile uint32_t guard_base, guard_end, stack_top, depth;

TRUTH_HANDLER(MemManage_Handler)
TRUTH_HANDLER(HardFault_Handler)

RECURSE_UNBOUNDED

NOINLINE void thread_entry(void) { recurse(1); }

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    guard_base = (uint32_t)&thread_stack.guard[0];
    guard_end = guard_base + GUARD_SIZE;
    stack_top = (uint32_t)&thread_stack.stack[STACK_WORDS];
    mpu_guard(0, guard_base);
    __asm volatile("msr psp, %0\n\tmov r0, #2\n\tmsr control, r0\n\tisb" ::"r"(stack_top)
                   : "r0", "memory");
    thread_entry();
    for (;;) {}
}
