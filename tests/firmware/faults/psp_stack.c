/* Thread code on the process stack (CONTROL.SPSEL=1, as under an RTOS) faults: the frame is
 * stacked on PSP, which QEMU's GDB stub does not expose. Just before the fault the firmware
 * records its own PSP in psp_before_fault, so a test can check photondbg's reading of it. */
#include "faults.h"
static uint32_t task_stack[256] __attribute__((aligned(8)));
volatile uint32_t psp_before_fault;
NOINLINE void task_body(void)
{
    __asm volatile("mrs r1, psp\n\tstr r1, [%0]\n\tudf #4" :: "r"(&psp_before_fault) : "r1", "memory");
}
NOINLINE void task_entry(void) { task_body(); __asm volatile("" ::: "memory"); }
int main(void) {
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    uint32_t top = (uint32_t)&task_stack[256];
    __asm volatile("msr psp, %0\n\tmov r0, #2\n\tmsr control, r0\n\tisb" :: "r"(top) : "r0", "memory");
    task_entry();
    for (;;) {}
}
