/* Stack overflow by unbounded recursion on the main stack (MSP) into an MPU guard region: the
 * firmware programs a no-access region at the bottom of the main stack (the first GUARD_SIZE
 * boundary at or above the end of .bss; the stack grows down from _estack towards it), then
 * recurse() calls itself until a push lands in the guard. A read-only flash region 3 is
 * programmed after the guard, so MPU_RNR is left selecting it. MemManage is enabled. The handlers
 * record the ground truth (truth.h); `depth` is how many recurse() calls had begun. Test
 * fixture. */
#include "faults.h"
#include "mpu_guard.h"
#include "truth.h"

extern uint32_t _ebss, _estack;
volatile uint32_t guard_base, guard_end, depth;

TRUTH_HANDLER(MemManage_Handler)
TRUTH_HANDLER(HardFault_Handler)

RECURSE_UNBOUNDED

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    guard_base = ((uint32_t)&_ebss + GUARD_SIZE - 1) & ~(GUARD_SIZE - 1);
    guard_end = guard_base + GUARD_SIZE;
    mpu_guard(0, guard_base);
    /* a second region, programmed last: MPU_RNR then selects region 3, not the guard */
    mpu_region(3, 0x08000000u, RASR_FLASH_READ_ONLY);
    recurse(1);
    for (;;) {}
}
