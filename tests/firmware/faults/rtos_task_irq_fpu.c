/* rtos_task.c, variant: on netduinoplus2 (Cortex-M4F), IRQ0's handler faults over the running
 * task, which had used the FPU and had its SP 4 bytes off alignment: an extended frame with the
 * alignment pad at the PSP. Test fixture. */
#define RTOS_IRQ_FAULT 1
#include "rtos_task.c"
