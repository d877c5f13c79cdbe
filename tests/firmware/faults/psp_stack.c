/* Thread code on the process stack (CONTROL.SPSEL=1, as under an RTOS) faults: the frame is
 * stacked on PSP, which QEMU's GDB stub does not expose. */
#include "faults.h"
static uint32_t task_stack[256] __attribute__((aligned(8)));
NOINLINE void task_body(void) { __asm volatile("udf #4"); }
int main(void) {
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    uint32_t top = (uint32_t)&task_stack[256];
    __asm volatile("msr psp, %0\n\tmov r0, #2\n\tmsr control, r0\n\tisb" :: "r"(top) : "r0", "memory");
    task_body();
    for (;;) {}
}
