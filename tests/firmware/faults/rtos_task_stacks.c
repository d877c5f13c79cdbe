/* rtos_task.c, variant: static stacks as rows of one array (static uint32_t
 * task_stacks[N][SIZE]), IDLE's inside a flat pool: pxStack inside an object. Test fixture. */
#define RTOS_STACK_ARRAY 1
#include "rtos_task.c"
