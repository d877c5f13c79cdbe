/* rtos_task.c, variant: pxEndOfStack in the TCB (configRECORD_STACK_HIGH_ADDRESS), heap stacks. Test fixture. */
#define RTOS_END_OF_STACK 1
#define RTOS_HEAP 1
#include "rtos_task.c"
