/* rtos_task.c, variant: v7/v8 names (xGenericListItem, pvContainer) and stacks from a heap_4-layout heap, like WICED's FreeRTOS 7.5.2. Test fixture. */
#define RTOS_V8 1
#define RTOS_HEAP 1
#include "rtos_task.c"
