/* TEST FIXTURE, not the platform: the smallest scheduler that keeps Contract A (threads in
 * thread mode on the PSP; PendSV saves r4-r11 below the hardware frame and keeps that SP as the
 * first member of struct os_thread; every thread in os_thread_list; os_current runs; stacks
 * filled with 0xA5), so that photondbg's thread listing and unwinder are tested on a small ELF.
 * Three threads: "main" (the boot code, turned into a thread), "net" (blocks for ever) and
 * "worker" (faults on its PSP after recording that PSP in psp_before_fault).
 * Built WITHOUT startup.c: its own vector table (PendSV). */
#include "faults.h"

typedef enum os_thread_state {
    OS_THREAD_READY, OS_THREAD_RUNNING, OS_THREAD_BLOCKED, OS_THREAD_SUSPENDED, OS_THREAD_DELETED
} os_thread_state_t;

typedef struct os_thread {
    uint32_t *saved_sp;
    struct os_thread *next;
    uint32_t *stack_lo;
    uint32_t stack_size;
    os_thread_state_t state;
    uint8_t priority;
    char name[16];
    void (*entry)(void);
} os_thread_t;

#define STACK_WORDS 128
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)

os_thread_t *os_thread_list;
os_thread_t *volatile os_current;
static os_thread_t tcb[3];
static uint32_t stacks[3][STACK_WORDS] __attribute__((aligned(8)));
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
    os_current->state = OS_THREAD_DELETED;
    for (;;)
        os_yield();
}

static void thread_init(int i, const char *name, uint8_t priority, void (*entry)(void))
{
    os_thread_t *t = &tcb[i], **link = &os_thread_list;
    uint32_t *lo = stacks[i];
    for (int k = 0; k < STACK_WORDS; k++)
        lo[k] = 0xA5A5A5A5u;
    for (int k = 0; name[k] && k < 15; k++)
        t->name[k] = name[k];
    t->stack_lo = lo;
    t->stack_size = sizeof stacks[i];
    t->state = OS_THREAD_READY;
    t->priority = priority;
    t->entry = entry;
    if (entry) {                               /* first switch "returns" into entry */
        uint32_t *sp = lo + STACK_WORDS - 16;
        for (int k = 0; k < 16; k++)
            sp[k] = 0;
        sp[13] = (uint32_t)thread_exit;
        sp[14] = (uint32_t)entry & ~1u;
        sp[15] = 0x01000000u;
        t->saved_sp = sp;
    }
    while (*link)
        link = &(*link)->next;
    *link = t;
}

os_thread_t *os_select_next(void) __attribute__((used));
os_thread_t *os_select_next(void)
{
    os_thread_t *t = os_current;
    if (t->state == OS_THREAD_RUNNING)
        t->state = OS_THREAD_READY;
    do
        t = t->next ? t->next : os_thread_list;
    while (t->state != OS_THREAD_READY);
    t->state = OS_THREAD_RUNNING;
    os_current = t;
    return t;
}

__attribute__((naked)) void PendSV_Handler(void)
{
    __asm volatile(
        "mrs r0, psp\n"
        "stmdb r0!, {r4-r11}\n"
        "ldr r3, =os_current\n"
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
    os_current->state = OS_THREAD_BLOCKED;
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
    thread_init(0, "main", 2, 0);
    thread_init(1, "net", 7, net_main);
    thread_init(2, "worker", 2, worker_main);
    tcb[0].state = OS_THREAD_RUNNING;
    os_current = &tcb[0];
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
