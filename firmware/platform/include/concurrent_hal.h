/* Threads of the simulated Photon: a small preemptive scheduler of our own whose scheduling
 * state is laid out as FreeRTOS's (Device OS 0.6.x on the Photon runs FreeRTOS 7.5.2 from the
 * WICED SDK: hal/src/photon/wiced/RTOS/FreeRTOS/ver7.5.2, configured by
 * hal/src/photon/wiced/RTOS/FreeRTOS/WWD/ARM_CM3/FreeRTOSConfig.h: configMAX_PRIORITIES 10,
 * configMAX_TASK_NAME_LEN 16, INCLUDE_vTaskSuspend and INCLUDE_vTaskDelete 1, mutexes on).
 * os_thread_create is xTaskCreate, so a thread's control block and stack come from the heap.
 * A debugger's kernel awareness (OpenOCD -rtos FreeRTOS, photondbg) therefore reads the sim as
 * it reads the board: pxCurrentTCB, pxReadyTasksLists[], xDelayedTaskList1/2,
 * xPendingReadyList, xTasksWaitingTermination, xSuspendedTaskList, uxCurrentNumberOfTasks, and
 * the TCB and list types below, with 7.5.2's member names. Our own code, not FreeRTOS's. */
#ifndef PHOTONDBG_CONCURRENT_HAL_H
#define PHOTONDBG_CONCURRENT_HAL_H
#include <stddef.h>
#include <stdint.h>
#include "freertos_list.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef void (*os_thread_fn_t)(void *arg);

/* list.h (7.5.2): xListItem, xMiniListItem, xList, and list.c's operations: freertos_list.h */

/* tasks.c (7.5.2) tskTCB, as configured for the Photon (no MPU, mutexes on) */
typedef struct tskTaskControlBlock {
    volatile uint32_t *pxTopOfStack; /* FIRST member: PendSV saves the PSP here; it points at
                                        r4..r11 (8 words) followed by the hardware frame */
    xListItem xGenericListItem;      /* state: in a ready, delayed or suspended list */
    xListItem xEventListItem;        /* in the waiters' list of an event or mutex */
    uint32_t uxPriority;             /* higher runs first; the idle thread is 0 */
    uint32_t *pxStack;               /* lowest address of its stack (from malloc) */
    char pcTaskName[16];
    uint32_t uxBasePriority;         /* configUSE_MUTEXES */
    uint32_t uxMutexesHeld;
} tskTCB;
typedef tskTCB os_thread_t;

#define OS_MAX_PRIORITIES 10u        /* configMAX_PRIORITIES */
extern os_thread_t *volatile pxCurrentTCB;   /* the running thread */

/* FreeRTOS tskSTACK_FILL_BYTE: stacks are filled with it, so the high-water mark is readable */
#define OS_STACK_FILL_BYTE 0xA5u

/* Device OS 0.6.x priorities (FreeRTOS numbering), see concurrent_hal.c */
#define OS_PRIORITY_IDLE     0u
#define OS_PRIORITY_APP      2u
#define OS_PRIORITY_NETWORK  7u

/* xTaskCreate: TCB and stack from malloc; NULL when the heap is exhausted */
os_thread_t *os_thread_create(const char *name, uint8_t priority, os_thread_fn_t fn, void *arg,
                              size_t stack_size);
/* vTaskStartScheduler: never returns; main()'s MSP stack is handed over to the handlers */
void os_scheduler_start(void) __attribute__((noreturn));
int os_scheduler_started(void);
void os_thread_yield(void);
void os_thread_delay(uint32_t ms);           /* vTaskDelay */
uint32_t os_thread_high_water(const os_thread_t *t);   /* bytes never touched */

/* A binary semaphore: give (also from an interrupt) wakes the waiters; take waits for it. */
typedef struct {
    volatile uint32_t given;
    xList waiters;                   /* zero-initialised: set up on first use */
} os_event_t;
void os_event_give(os_event_t *ev);
int os_event_take(os_event_t *ev, uint32_t timeout_ms);  /* 1 taken, 0 timed out */
#define OS_WAIT_FOREVER 0xFFFFFFFFu

/* A recursive mutex (malloc_mutex in core_hal_stm32f2xx.c is one) */
typedef struct {
    os_thread_t *volatile owner;
    volatile uint32_t count;
    xList waiters;                   /* zero-initialised: set up on first use */
} os_mutex_recursive_t;
void os_mutex_recursive_lock(os_mutex_recursive_t *m);
void os_mutex_recursive_unlock(os_mutex_recursive_t *m);

#ifdef __cplusplus
}
#endif
#endif
