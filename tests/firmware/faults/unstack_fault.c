/* An unstacking fault: thread code on the PSP calls `svc`; the SVC handler (Default_Handler, the
 * only exception this firmware raises through it) points the PSP into a no-access MPU guard
 * region and returns to thread mode, so the exception return pops its frame from the guard.
 * MemManage is enabled; its handler records the ground truth (truth.h). Test fixture. */
#include "faults.h"
#include "mpu_guard.h"
#include "truth.h"

static struct {
    uint32_t guard[GUARD_SIZE / 4];
    uint32_t stack[256];
} thread_stack __attribute__((aligned(GUARD_SIZE)));
volatile uint32_t guard_base, guard_end, bad_psp, svc_psp;

TRUTH_HANDLER(MemManage_Handler)
TRUTH_HANDLER(HardFault_Handler)

/* svc: remember the PSP frame, then move the PSP into the guard and return through it */
__attribute__((naked, used)) void Default_Handler(void)
{
    __asm volatile("mrs r0, psp\n"
                   "ldr r1, =svc_psp\n"
                   "str r0, [r1]\n"
                   "ldr r1, =bad_psp\n"
                   "ldr r0, [r1]\n"
                   "msr psp, r0\n"
                   "bx lr\n"
                   ".ltorg\n");
}

NOINLINE void call_svc(void) { __asm volatile("svc #1" ::: "memory"); }
NOINLINE void thread_entry(void) { call_svc(); __asm volatile("" ::: "memory"); }

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    guard_base = (uint32_t)&thread_stack.guard[0];
    guard_end = guard_base + GUARD_SIZE;
    bad_psp = guard_base + 64;
    mpu_guard(0, guard_base);
    uint32_t top = (uint32_t)&thread_stack.stack[256];
    __asm volatile("msr psp, %0\n\tmov r0, #2\n\tmsr control, r0\n\tisb" ::"r"(top) : "r0", "memory");
    thread_entry();
    for (;;) {}
}
