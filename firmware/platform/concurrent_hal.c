/* The scheduler: threads on the PSP, PendSV switches, SysTick ticks, an idle thread sleeps.
 *
 * Modelled on Device OS v0.6.4 for the Photon, which runs FreeRTOS (WICED SDK) on the Cortex-M3:
 *  - hal/src/photon/concurrent_hal.cpp: os_thread_create() is xTaskCreate(), whose control block
 *    and stack come from the heap (pvPortMalloc -> malloc on the Photon); priorities in FreeRTOS
 *    numbering (higher runs first);
 *  - the FreeRTOS Cortex-M3 port (port.c): thread mode on the PSP, PendSV at the lowest priority
 *    saves r4-r11 below the hardware frame and restores the next thread's, SysTick (same lowest
 *    priority) counts time and asks for a switch; equal priorities share the CPU tick by tick
 *    (configUSE_TIME_SLICING);
 *  - tasks.c: the idle task runs when nothing else is ready and sleeps with WFI
 *    (portSUPPRESS_TICKS_AND_SLEEP / the WICED idle hook), so the simulated board costs host CPU
 *    only while a thread works; stacks are filled with tskSTACK_FILL_BYTE (0xA5).
 * Our own code (facts, not FreeRTOS's code); no MPU wrappers, no priority inheritance. */
#include <stdlib.h>
#include <string.h>
#include "concurrent_hal.h"
#include "hw.h"

os_thread_t *os_thread_list;
os_thread_t *volatile os_current;
static os_thread_t *idle_thread;
static volatile int started;

extern volatile uint32_t system_millis;
extern uint32_t _estack[];

#define XPSR_THUMB        0x01000000u
#define EXC_RETURN_PSP    0xFFFFFFFDu  /* thread mode, PSP, no FP frame */
#define FRAME_WORDS       16u          /* r4-r11 + r0-r3,r12,lr,pc,xpsr */
#define MIN_STACK         256u

static inline void request_switch(void) { SCB_ICSR = ICSR_PENDSVSET; }

int os_scheduler_started(void) { return started; }

/* A thread's function returned: it is deleted (its memory stays allocated, as FreeRTOS frees a
 * deleted task's memory only from the idle task, which we do not model) */
static void thread_exit(void)
{
    uint32_t s = irq_save();
    os_current->state = OS_THREAD_DELETED;
    request_switch();
    irq_restore(s);
    for (;;)
        __asm volatile("wfi");
}

static void thread_start(os_thread_t *t)
{
    t->entry(t->arg);
    thread_exit();
}

os_thread_t *os_thread_create(const char *name, uint8_t priority, os_thread_fn_t fn, void *arg,
                              size_t stack_size)
{
    if (stack_size < MIN_STACK)
        stack_size = MIN_STACK;
    stack_size = (stack_size + 7u) & ~(size_t)7u;
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
    strncpy(t->name, name, sizeof t->name - 1);
    t->priority = priority;
    t->stack_lo = stack;
    t->stack_size = (uint32_t)stack_size;
    t->entry = fn;
    t->arg = arg;
    /* the first switch "returns" into thread_start(t) from a frame made here */
    uint32_t *top = (uint32_t *)(((uintptr_t)stack + stack_size) & ~(uintptr_t)7u);
    uint32_t *sp = top - FRAME_WORDS;
    memset(sp, 0, FRAME_WORDS * 4u);
    sp[8] = (uint32_t)t;                                  /* r0 */
    sp[13] = (uint32_t)thread_exit;                       /* lr */
    sp[14] = (uint32_t)thread_start & ~1u;                /* pc */
    sp[15] = XPSR_THUMB;                                  /* xpsr */
    t->saved_sp = sp;
    t->state = OS_THREAD_READY;
    uint32_t s = irq_save();
    os_thread_t **link = &os_thread_list;
    while (*link)
        link = &(*link)->next;
    *link = t;
    if (started && os_current && priority > os_current->priority)
        request_switch();
    irq_restore(s);
    return t;
}

uint32_t os_thread_high_water(const os_thread_t *t)
{
    const uint8_t *p = (const uint8_t *)t->stack_lo;
    uint32_t n = 0;
    while (n < t->stack_size && p[n] == OS_STACK_FILL_BYTE)
        n++;
    return n;
}

/* Called by PendSV with interrupts masked: pick the highest-priority ready thread; among equals,
 * the one after the current thread in the list (round robin).  Returns the new os_current. */
os_thread_t *os_select_next(void) __attribute__((used));
os_thread_t *os_select_next(void)
{
    os_thread_t *cur = os_current;
    if (cur && cur->state == OS_THREAD_RUNNING)
        cur->state = OS_THREAD_READY;
    os_thread_t *best = NULL;
    os_thread_t *start = cur && cur->next ? cur->next : os_thread_list;
    os_thread_t *t = start;
    do {
        if (t->state == OS_THREAD_READY && (!best || t->priority > best->priority))
            best = t;
        t = t->next ? t->next : os_thread_list;
    } while (t != start);
    if (!best)
        best = idle_thread;
    best->state = OS_THREAD_RUNNING;
    os_current = best;
    return best;
}

/* PendSV: save r4-r11 of the thread that ran on its PSP stack, pick the next, restore its r4-r11
 * and return to it in thread mode on the PSP (the FreeRTOS CM3 port's xPortPendSVHandler). */
__attribute__((naked)) void PendSV_Handler(void)
{
    __asm volatile(
        "cpsid i\n"
        "ldr r3, =os_current\n"
        "ldr r2, [r3]\n"
        "cbz r2, 1f\n"                 /* first switch: no thread to save */
        "mrs r0, psp\n"
        "stmdb r0!, {r4-r11}\n"
        "str r0, [r2]\n"               /* saved_sp is the first member */
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

/* SysTick: time, sleepers whose time has come, and a switch so equal priorities take turns */
void SysTick_Handler(void)
{
    system_millis += SYSTICK_MS;
    if (!started)
        return;
    uint32_t now = system_millis;
    for (os_thread_t *t = os_thread_list; t; t = t->next)
        if (t->state == OS_THREAD_BLOCKED && t->timed && (int32_t)(now - t->wake_at) >= 0) {
            t->state = OS_THREAD_READY;
            t->timed = 0;
            t->waiting_on = NULL;
        }
    request_switch();
}

/* Block the current thread (interrupts masked by the caller); the switch happens when the caller
 * unmasks them. */
static void block_current(const void *on, uint32_t timeout_ms)
{
    os_thread_t *t = os_current;
    t->state = OS_THREAD_BLOCKED;
    t->waiting_on = on;
    t->timed = timeout_ms != OS_WAIT_FOREVER;
    t->wake_at = system_millis + timeout_ms;
    request_switch();
}

static void wake_waiters(const void *on)
{
    for (os_thread_t *t = os_thread_list; t; t = t->next)
        if (t->state == OS_THREAD_BLOCKED && t->waiting_on == on) {
            t->state = OS_THREAD_READY;
            t->waiting_on = NULL;
            t->timed = 0;
            if (os_current && t->priority >= os_current->priority)
                request_switch();
        }
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
    if (started)
        wake_waiters(ev);
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
        block_current(ev, timeout_ms == OS_WAIT_FOREVER ? OS_WAIT_FOREVER : deadline - now);
        irq_restore(s);   /* PendSV runs here; we come back once given or timed out */
    }
}

void os_mutex_recursive_lock(os_mutex_recursive_t *m)
{
    if (!started)
        return;
    for (;;) {
        uint32_t s = irq_save();
        if (m->owner == NULL || m->owner == os_current) {
            m->owner = os_current;
            m->count++;
            irq_restore(s);
            return;
        }
        block_current(m, OS_WAIT_FOREVER);
        irq_restore(s);
    }
}

void os_mutex_recursive_unlock(os_mutex_recursive_t *m)
{
    if (!started)
        return;
    uint32_t s = irq_save();
    if (m->owner == os_current && m->count && --m->count == 0) {
        m->owner = NULL;
        wake_waiters(m);
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
