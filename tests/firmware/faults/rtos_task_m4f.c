/* rtos_task.c, variant: built for netduinoplus2 (Cortex-M4F, hard float): the ARM_CM4F port's saved context. Test fixture. */
#define RTOS_M4F 1
#include "rtos_task.c"
