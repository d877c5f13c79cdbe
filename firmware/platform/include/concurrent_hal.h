/* Threads of the simulated Photon: a small preemptive scheduler of our own, modelled on how
 * Device OS 0.6.x uses FreeRTOS on the Photon (hal/src/photon/concurrent_hal.cpp: os_thread_create
 * is xTaskCreate, so a thread's control block and stack come from the heap; the FreeRTOS port
 * for the Cortex-M3 runs threads in thread mode on the PSP, switches in PendSV and ticks in
 * SysTick).  The structures below are a contract: photondbg reads them by symbol and DWARF
 * (os_thread_list, os_current, field names and order), so keep them as they are. */
#ifndef PHOTONDBG_CONCURRENT_HAL_H
#define PHOTONDBG_CONCURRENT_HAL_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef enum os_thread_state {
    OS_THREAD_READY, OS_THREAD_RUNNING, OS_THREAD_BLOCKED, OS_THREAD_SUSPENDED, OS_THREAD_DELETED
} os_thread_state_t;

typedef void (*os_thread_fn_t)(void *arg);

typedef struct os_thread {
    uint32_t *saved_sp;       /* FIRST member: PSP saved by PendSV; points at r4..r11 (8 words)
                                 followed by the hardware frame r0-r3,r12,lr,pc,xpsr */
    struct os_thread *next;   /* every thread, in creation order */
    uint32_t *stack_lo;       /* lowest address of its stack (allocated with malloc) */
    uint32_t stack_size;      /* bytes */
    os_thread_state_t state;
    uint8_t priority;         /* FreeRTOS numbering: higher runs first, the idle thread is 0 */
    char name[16];
    uint32_t wake_at;         /* BLOCKED with a time-out: system_millis at which it is READY */
    uint8_t timed;            /* BLOCKED with a time-out (else only a signal wakes it) */
    const void *waiting_on;   /* BLOCKED on this object (event, mutex), or NULL (sleeping) */
    os_thread_fn_t entry;
    void *arg;
} os_thread_t;

extern os_thread_t *os_thread_list;          /* head of the list */
extern os_thread_t *volatile os_current;     /* the running thread */

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
typedef struct { volatile uint32_t given; } os_event_t;
void os_event_give(os_event_t *ev);
int os_event_take(os_event_t *ev, uint32_t timeout_ms);  /* 1 taken, 0 timed out */
#define OS_WAIT_FOREVER 0xFFFFFFFFu

/* A recursive mutex (malloc_mutex in core_hal_stm32f2xx.c is one) */
typedef struct { os_thread_t *volatile owner; volatile uint32_t count; } os_mutex_recursive_t;
void os_mutex_recursive_lock(os_mutex_recursive_t *m);
void os_mutex_recursive_unlock(os_mutex_recursive_t *m);

#ifdef __cplusplus
}
#endif
#endif
