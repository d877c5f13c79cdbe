/* The scheduler: threads on the PSP, PendSV switches, SysTick ticks, an idle thread sleeps.
 *
 * Modelled on Device OS v0.6.4 for the Photon, which runs FreeRTOS 7.5.2 (WICED SDK,
 * hal/src/photon/wiced/RTOS/FreeRTOS/ver7.5.2) on the Cortex-M3:
 *  - hal/src/photon/concurrent_hal.cpp: os_thread_create() is xTaskCreate(), whose control block
 *    and stack come from the heap (pvPortMalloc -> malloc on the Photon); priorities in FreeRTOS
 *    numbering (higher runs first);
 *  - tasks.c/list.c: the scheduling state is FreeRTOS's (see concurrent_hal.h): one ready list
 *    per priority, the highest non-empty one runs, equal priorities take turns through the
 *    list's pxIndex (listGET_OWNER_OF_NEXT_ENTRY, configUSE_TIME_SLICING); a delay or a wait
 *    with a time-out puts the state item in the delayed list sorted by wake tick (two lists,
 *    swapped when the tick count wraps); a wait for ever puts it in xSuspendedTaskList
 *    (INCLUDE_vTaskSuspend); a waiter's event item is in the event's list, highest priority
 *    first; a thread whose function returns goes to xTasksWaitingTermination;
 *  - the FreeRTOS Cortex-M3 port (port.c): thread mode on the PSP, PendSV at the lowest priority
 *    saves r4-r11 below the hardware frame and restores the next thread's, SysTick (same lowest
 *    priority) counts time and asks for a switch;
 *  - the idle task runs when nothing else is ready and sleeps with WFI, so the simulated board
 *    costs host CPU only while a thread works; stacks are filled with tskSTACK_FILL_BYTE (0xA5).
 * Sim-only: no priority inheritance on mutexes, the idle task never frees a deleted thread
 * (its memory stays allocated), xPendingReadyList stays empty (the scheduler is never
 * suspended: interrupts are masked around the short critical sections instead), and a thread
 * that returns from its function is moved to xTasksWaitingTermination by thread_exit(). */
#include <stdlib.h>
#include <string.h>
#include "concurrent_hal.h"
#include "hw.h"

os_thread_t *volatile pxCurrentTCB;
static xList pxReadyTasksLists[OS_MAX_PRIORITIES] __attribute__((used));
static xList xDelayedTaskList1 __attribute__((used));
static xList xDelayedTaskList2 __attribute__((used));
static xList *volatile pxDelayedTaskList __attribute__((used));
static xList *volatile pxOverflowDelayedTaskList __attribute__((used));
static xList xPendingReadyList __attribute__((used));
static xList xTasksWaitingTermination __attribute__((used));
static xList xSuspendedTaskList __attribute__((used));
static volatile uint32_t uxCurrentNumberOfTasks __attribute__((used));
static volatile uint32_t xTickCount __attribute__((used)); /* system_millis at the last tick */
static os_thread_t *idle_thread;
static volatile int started;

extern volatile uint32_t system_millis;
extern uint32_t _estack[];

#define XPSR_THUMB        0x01000000u
#define FRAME_WORDS       16u          /* r4-r11 + r0-r3,r12,lr,pc,xpsr */
#define MIN_STACK         256u

static inline void request_switch(void) { SCB_ICSR = ICSR_PENDSVSET; }

int os_scheduler_started(void) { return started; }

/* -- lists (list.c's rules: freertos_list.h) ----------------------------------------- */
static void lists_init(void)
{
    for (uint32_t p = 0; p < OS_MAX_PRIORITIES; p++)
        list_init(&pxReadyTasksLists[p]);
    list_init(&xDelayedTaskList1);
    list_init(&xDelayedTaskList2);
    list_init(&xPendingReadyList);
    list_init(&xTasksWaitingTermination);
    list_init(&xSuspendedTaskList);
    pxDelayedTaskList = &xDelayedTaskList1;
    pxOverflowDelayedTaskList = &xDelayedTaskList2;
}

static void make_ready(os_thread_t *t)
{
    list_remove(&t->xGenericListItem);
    list_insert_end(&pxReadyTasksLists[t->uxPriority], &t->xGenericListItem);
    if (started && pxCurrentTCB && t->uxPriority > pxCurrentTCB->uxPriority)
        request_switch();
}

/* -- threads ----------------------------------------------------------------------------- */
/* A thread's function returned: it waits for termination (the idle task would free it; ours
 * does not: sim-only) */
static void thread_exit(void)
{
    uint32_t s = irq_save();
    list_remove(&pxCurrentTCB->xGenericListItem);
    list_insert_end(&xTasksWaitingTermination, &pxCurrentTCB->xGenericListItem);
    request_switch();
    irq_restore(s);
    for (;;)
        __asm volatile("wfi");
}

os_thread_t *os_thread_create(const char *name, uint8_t priority, os_thread_fn_t fn, void *arg,
                              size_t stack_size)
{
    if (stack_size < MIN_STACK)
        stack_size = MIN_STACK;
    stack_size = (stack_size + 7u) & ~(size_t)7u;
    if (priority >= OS_MAX_PRIORITIES)
        priority = OS_MAX_PRIORITIES - 1u;
    /* xTaskCreate on a stack-grows-down port allocates the stack first, then the TCB */
    uint32_t *stack = malloc(stack_size);
    if (stack == NULL)
        return NULL;
    os_thread_t *t = malloc(sizeof *t);
    if (t == NULL) {
        free(stack);
        return NULL;
    }
    memset(t, 0, sizeof *t);
    memset(stack, OS_STACK_FILL_BYTE, stack_size);
    strncpy(t->pcTaskName, name, sizeof t->pcTaskName - 1);
    t->uxPriority = t->uxBasePriority = priority;
    t->pxStack = stack;
    t->xGenericListItem.pvOwner = t;
    t->xEventListItem.pvOwner = t;
    t->xEventListItem.xItemValue = OS_MAX_PRIORITIES - priority;
    /* pxPortInitialiseStack: the first switch "returns" into fn(arg) from a frame made here;
     * the top is the last word, 8-byte aligned down, as prvInitialiseNewTask computes it */
    uint32_t *top = (uint32_t *)((uintptr_t)&stack[stack_size / 4u - 1u] & ~(uintptr_t)7u);
    uint32_t *sp = top - FRAME_WORDS;
    memset(sp, 0, FRAME_WORDS * 4u);
    sp[8] = (uint32_t)arg;                                /* r0 */
    sp[13] = (uint32_t)thread_exit;                       /* lr: if fn returns */
    sp[14] = (uint32_t)fn & ~1u;                          /* pc */
    sp[15] = XPSR_THUMB;                                  /* xpsr */
    t->pxTopOfStack = sp;
    uint32_t s = irq_save();
    if (pxDelayedTaskList == NULL)
        lists_init();
    uxCurrentNumberOfTasks++;
    make_ready(t);
    irq_restore(s);
    return t;
}

uint32_t os_thread_high_water(const os_thread_t *t)
{
    const uint8_t *p = (const uint8_t *)t->pxStack;
    uint32_t n = 0;
    while (p[n] == OS_STACK_FILL_BYTE)   /* ends at the first frame, at the latest */
        n++;
    return n;
}

/* vTaskSwitchContext, called by PendSV with interrupts masked: the highest-priority ready
 * list, its next owner round robin.  Returns the new pxCurrentTCB. */
os_thread_t *os_select_next(void) __attribute__((used));
os_thread_t *os_select_next(void)
{
    uint32_t p = OS_MAX_PRIORITIES - 1u;
    while (p > 0 && pxReadyTasksLists[p].uxNumberOfItems == 0)
        p--;
    xList *l = &pxReadyTasksLists[p];
    if (l->uxNumberOfItems == 0) {
        pxCurrentTCB = idle_thread;   /* only before the idle thread exists */
        return pxCurrentTCB;
    }
    l->pxIndex = l->pxIndex->pxNext;
    if (l->pxIndex == (xListItem *)&l->xListEnd)
        l->pxIndex = l->pxIndex->pxNext;
    pxCurrentTCB = l->pxIndex->pvOwner;
    return pxCurrentTCB;
}

/* PendSV: save r4-r11 of the thread that ran on its PSP stack, pick the next, restore its r4-r11
 * and return to it in thread mode on the PSP (the FreeRTOS CM3 port's xPortPendSVHandler). */
__attribute__((naked)) void PendSV_Handler(void)
{
    __asm volatile(
        "cpsid i\n"
        "ldr r3, =pxCurrentTCB\n"
        "ldr r2, [r3]\n"
        "cbz r2, 1f\n"                 /* first switch: no thread to save */
        "mrs r0, psp\n"
        "stmdb r0!, {r4-r11}\n"
        "str r0, [r2]\n"               /* pxTopOfStack is the first member */
        "1:\n"
        "bl os_select_next\n"
        "ldr r0, [r0]\n"
        "ldmia r0!, {r4-r11}\n"
        "msr psp, r0\n"
        "ldr lr, =0xFFFFFFFD\n"
        "cpsie i\n"
        "bx lr\n"
        ".ltorg\n");
}

/* xTaskIncrementTick: time, the delayed threads whose time has come, and a switch so equal
 * priorities take turns */
void SysTick_Handler(void)
{
    system_millis += SYSTICK_MS;
    if (!started)
        return;
    uint32_t now = system_millis;
    if (now < xTickCount) {            /* the tick count wrapped: swap the delayed lists */
        xList *l = pxDelayedTaskList;
        pxDelayedTaskList = pxOverflowDelayedTaskList;
        pxOverflowDelayedTaskList = l;
    }
    xTickCount = now;
    xList *d = pxDelayedTaskList;
    while (d->uxNumberOfItems && d->xListEnd.pxNext->xItemValue <= now) {
        os_thread_t *t = d->xListEnd.pxNext->pvOwner;
        list_remove(&t->xEventListItem);   /* timed out: no longer a waiter */
        make_ready(t);
    }
    request_switch();
}

/* Block the running thread (interrupts masked by the caller) on ``waiters`` (or none: a delay)
 * for ``timeout_ms``; the switch happens when the caller unmasks them. */
static void block_current(xList *waiters, uint32_t timeout_ms)
{
    os_thread_t *t = pxCurrentTCB;
    if (waiters)
        list_insert(waiters, &t->xEventListItem);
    list_remove(&t->xGenericListItem);
    if (timeout_ms == OS_WAIT_FOREVER) {
        list_insert_end(&xSuspendedTaskList, &t->xGenericListItem);
    } else {
        uint32_t wake = system_millis + timeout_ms;
        t->xGenericListItem.xItemValue = wake;
        list_insert(wake < system_millis ? pxOverflowDelayedTaskList : pxDelayedTaskList,
                    &t->xGenericListItem);
    }
    request_switch();
}

/* xTaskRemoveFromEventList for every waiter: each takes its turn at the object */
static void wake_waiters(xList *waiters)
{
    while (waiters->uxNumberOfItems) {
        os_thread_t *t = waiters->xListEnd.pxNext->pvOwner;
        list_remove(&t->xEventListItem);
        make_ready(t);
    }
}

static void waiters_init(xList *l)
{
    if (l->pxIndex == NULL)
        list_init(l);
}

void os_thread_yield(void)
{
    if (started)
        request_switch();
}

void os_thread_delay(uint32_t ms)
{
    if (!started) {
        uint32_t start = system_millis;
        while (system_millis - start < ms)
            __asm volatile("wfi");
        return;
    }
    uint32_t s = irq_save();
    block_current(NULL, ms ? ms : 1u);
    irq_restore(s);
}

void os_event_give(os_event_t *ev)
{
    uint32_t s = irq_save();
    ev->given = 1;
    waiters_init(&ev->waiters);
    if (started)
        wake_waiters(&ev->waiters);
    irq_restore(s);
}

int os_event_take(os_event_t *ev, uint32_t timeout_ms)
{
    uint32_t deadline = system_millis + timeout_ms;
    for (;;) {
        uint32_t s = irq_save();
        if (ev->given) {
            ev->given = 0;
            irq_restore(s);
            return 1;
        }
        uint32_t now = system_millis;
        if (timeout_ms != OS_WAIT_FOREVER && (int32_t)(now - deadline) >= 0) {
            irq_restore(s);
            return 0;
        }
        if (!started) {
            irq_restore(s);
            __asm volatile("wfi");
            continue;
        }
        waiters_init(&ev->waiters);
        block_current(&ev->waiters,
                      timeout_ms == OS_WAIT_FOREVER ? OS_WAIT_FOREVER : deadline - now);
        irq_restore(s);   /* PendSV runs here; we come back once given or timed out */
    }
}

void os_mutex_recursive_lock(os_mutex_recursive_t *m)
{
    if (!started)
        return;
    for (;;) {
        uint32_t s = irq_save();
        if (m->owner == NULL || m->owner == pxCurrentTCB) {
            if (m->owner == NULL)
                pxCurrentTCB->uxMutexesHeld++;
            m->owner = pxCurrentTCB;
            m->count++;
            irq_restore(s);
            return;
        }
        waiters_init(&m->waiters);
        block_current(&m->waiters, OS_WAIT_FOREVER);
        irq_restore(s);
    }
}

void os_mutex_recursive_unlock(os_mutex_recursive_t *m)
{
    if (!started)
        return;
    uint32_t s = irq_save();
    if (m->owner == pxCurrentTCB && m->count && --m->count == 0) {
        m->owner = NULL;
        pxCurrentTCB->uxMutexesHeld--;
        waiters_init(&m->waiters);
        wake_waiters(&m->waiters);
    }
    irq_restore(s);
}

/* The idle thread (FreeRTOS prvIdleTask): nothing is ready, so sleep until an interrupt */
static void idle_main(void *arg)
{
    for (;;)
        __asm volatile("wfi");
}

/* FreeRTOS's idle task gets configMINIMAL_STACK_SIZE words */
#define IDLE_STACK_SIZE 512u

void os_scheduler_start(void)
{
    /* the tick (FreeRTOS prvSetupTimerInterrupt) */
    SYST_RVR = CPU_HZ / 1000u * SYSTICK_MS - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSRC | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    idle_thread = os_thread_create("IDLE", OS_PRIORITY_IDLE, idle_main, NULL, IDLE_STACK_SIZE);
    /* PendSV and SysTick at the lowest priority, as the FreeRTOS port sets them */
    SCB_SHPR3 |= 0xFFFF0000u;
    started = 1;
    /* MSP back to the top of its stack (main()'s frames are not needed any more), then the
     * first PendSV starts the highest-priority thread */
    __asm volatile(
        "msr msp, %0\n"
        "str %2, [%1]\n"
        "dsb\n"
        "isb\n"
        "cpsie i\n"
        :
        : "r"(_estack), "r"(&SCB_ICSR), "r"(ICSR_PENDSVSET)
        : "memory");
    for (;;)
        __asm volatile("wfi");
}
