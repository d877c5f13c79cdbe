/* TEST FIXTURE, not the platform: the smallest scheduler in FreeRTOS's kernel-awareness layout
 * (threads in thread mode on the PSP; PendSV saves r4-r11 below the hardware frame and keeps that
 * SP in pxTopOfStack, the TCB's first member; the tasks' state list items in
 * pxReadyTasksLists[priority] or xSuspendedTaskList; pxCurrentTCB runs; stacks filled with
 * 0xA5), so that photondbg's thread listing and unwinder are tested on a small ELF.
 * Three threads: "main" (the boot code, turned into a thread), "net" (blocks for ever on an
 * event) and "worker" (faults on its PSP after recording that PSP in psp_before_fault). Ready
 * threads take turns whatever their priority (not FreeRTOS's rule; a fixture).
 * Built WITHOUT startup.c: its own vector table (PendSV). */
#include "faults.h"

#define FREERTOS_LIST_CONTAINER pxContainer
#include "freertos_list.h" /* list.h's types, list.c's operations (the sim's copy) */
typedef struct tskTaskControlBlock {
    volatile uint32_t *pxTopOfStack;
    ListItem_t xStateListItem;
    ListItem_t xEventListItem;
    uint32_t uxPriority;
    uint32_t *pxStack;
    char pcTaskName[16];
} TCB_t;

#define STACK_WORDS 128
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)

#define PRIORITIES 8
TCB_t *volatile pxCurrentTCB;
static List_t pxReadyTasksLists[PRIORITIES] __attribute__((used));
static List_t xSuspendedTaskList __attribute__((used));
static List_t net_waiters __attribute__((used)); /* the event "net" waits for */
static TCB_t tcb[3];
static uint32_t stack_main[STACK_WORDS] __attribute__((aligned(8), used));
static uint32_t stack_net[STACK_WORDS] __attribute__((aligned(8), used));
static uint32_t stack_worker[STACK_WORDS] __attribute__((aligned(8), used));
static uint32_t *const stacks[3] = {stack_main, stack_net, stack_worker};
volatile uint32_t psp_before_fault;
volatile uint32_t net_polls;

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
void Reset_Handler(void);
void PendSV_Handler(void);
void Fault_Handler(void) { for (;;) {} }
#ifdef FAULT_IN_SVC
/* threads_svc.c: the worker calls svc and the handler faults (Handler mode, MSP): the worker's
 * registers are then only in the hardware frame on its PSP */
NOINLINE void SVC_Handler(void) { __asm volatile("udf #8"); }
#define SVC_VECTOR SVC_Handler
#else
#define SVC_VECTOR Fault_Handler
#endif

__attribute__((section(".isr_vector"), used))
const void *const vector_table[16] = {
    &_estack, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, 0, 0, 0, 0, SVC_VECTOR, Fault_Handler, 0, PendSV_Handler, Fault_Handler,
};

NOINLINE void os_yield(void)
{
    SCB_ICSR = 1u << 28;                       /* PENDSVSET: switch right after this */
    __asm volatile("dsb\n\tisb" ::: "memory");
}

static void thread_exit(void)
{
    for (;;)
        os_yield();
}

static void thread_init(int i, const char *name, uint8_t priority, void (*entry)(void))
{
    TCB_t *t = &tcb[i];
    uint32_t *lo = stacks[i];
    for (int k = 0; k < STACK_WORDS; k++)
        lo[k] = 0xA5A5A5A5u;
    for (int k = 0; name[k] && k < 15; k++)
        t->pcTaskName[k] = name[k];
    t->pxStack = lo;
    t->uxPriority = priority;
    if (entry) {                               /* first switch "returns" into entry */
        uint32_t *sp = lo + STACK_WORDS - 16;
        for (int k = 0; k < 16; k++)
            sp[k] = 0;
        sp[13] = (uint32_t)thread_exit;
        sp[14] = (uint32_t)entry & ~1u;
        sp[15] = 0x01000000u;
        t->pxTopOfStack = sp;
    }
    t->xStateListItem.pvOwner = t->xEventListItem.pvOwner = t;
    list_insert_end(&pxReadyTasksLists[priority], &t->xStateListItem);
}

static int is_ready(TCB_t *t) { return t->xStateListItem.pxContainer == &pxReadyTasksLists[t->uxPriority]; }

TCB_t *os_select_next(void) __attribute__((used));
TCB_t *os_select_next(void)
{
    int i = pxCurrentTCB - tcb;
    do
        i = (i + 1) % 3;
    while (!is_ready(&tcb[i]));
    pxCurrentTCB = &tcb[i];
    return pxCurrentTCB;
}

__attribute__((naked)) void PendSV_Handler(void)
{
    __asm volatile(
        "mrs r0, psp\n"
        "stmdb r0!, {r4-r11}\n"
        "ldr r3, =pxCurrentTCB\n"
        "ldr r2, [r3]\n"
        "str r0, [r2]\n"
        "bl os_select_next\n"
        "ldr r0, [r0]\n"
        "ldmia r0!, {r4-r11}\n"
        "msr psp, r0\n"
        "ldr lr, =0xFFFFFFFD\n"
        "bx lr\n"
        ".ltorg\n");
}

NOINLINE void net_poll(void)
{
    net_polls++;
    TCB_t *t = pxCurrentTCB;            /* wait for ever: suspended list + the event's list */
    list_remove(&t->xStateListItem);
    list_insert_end(&xSuspendedTaskList, &t->xStateListItem);
    list_insert_end(&net_waiters, &t->xEventListItem);
    os_yield();
}

void net_main(void)
{
    for (;;)
        net_poll();
}

NOINLINE void crunch(uint32_t n)
{
#if defined(HANG)
    while (n == 0)          /* threads_hang.c: the worker never returns, nothing faults */
        __asm volatile("" ::: "memory");
#elif defined(FAULT_IN_SVC)
    if (n == 0)
        __asm volatile("mrs r1, psp\n\tstr r1, [%0]\n\tsvc #0" :: "r"(&psp_before_fault)
                       : "r1", "memory");
#else
    if (n == 0)
        __asm volatile("mrs r1, psp\n\tstr r1, [%0]\n\tudf #5" :: "r"(&psp_before_fault)
                       : "r1", "memory");
#endif
    __asm volatile("" ::: "memory");
}

NOINLINE void work_step(uint32_t n)
{
    crunch(n);
    __asm volatile("" ::: "memory");
}

void worker_main(void)
{
    for (uint32_t n = 3;; n--)
        work_step(n);
}

NOINLINE void app_wait(void)
{
    os_yield();
    __asm volatile("" ::: "memory");
}

NOINLINE void app_loop(void)
{
    for (;;)
        app_wait();
}

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    for (int p = 0; p < PRIORITIES; p++)
        list_init(&pxReadyTasksLists[p]);
    list_init(&xSuspendedTaskList);
    list_init(&net_waiters);
    thread_init(0, "main", 2, 0);
    thread_init(1, "net", 7, net_main);
    thread_init(2, "worker", 2, worker_main);
    pxCurrentTCB = &tcb[0];
    uint32_t top = (uint32_t)&stacks[0][STACK_WORDS];
    __asm volatile("msr psp, %0\n\tmov r0, #2\n\tmsr control, r0\n\tisb" :: "r"(top) : "r0",
                   "memory");
    app_loop();
    for (;;) {}
}

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;)
        *dst++ = 0;
    main();
    for (;;) {}
}
