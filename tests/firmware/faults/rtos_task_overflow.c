/* rtos_task.c, variant: the "app" task overflows its stack by unbounded recursion into a
 * 32-byte no-access MPU guard at the bottom of its stack (stack_app's first 32 bytes, as a
 * FreeRTOS MPU port or Zephyr places one). MemManage is not enabled (as in Device OS): the fault
 * escalates to HardFault. Test fixture. */
#include "mpu_guard.h"
#define RTOS_APP_OVERFLOW 1
#define APP_GUARD 32u
#define APP_GUARD_RASR ((1u << 28) | (0u << 24) | (4u << 1) | 1u) /* XN, no access, 2^5 B, on */
#include "rtos_task.c"
