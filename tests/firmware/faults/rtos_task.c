/* TEST FIXTURE: a small RTOS task faulting, on a minimal kernel of our own that keeps FreeRTOS's
 * kernel-awareness layout (what a debugger reads: pxCurrentTCB, pxReadyTasksLists[],
 * xDelayedTaskList1/2, xPendingReadyList, xTasksWaitingTermination, xSuspendedTaskList,
 * uxCurrentNumberOfTasks; TCB_t {pxTopOfStack, state and event list items, uxPriority, pxStack,
 * pcTaskName}; List_t/ListItem_t as list.h has them, from firmware/platform/include/freertos_list.h,
 * the sim's own list code). Written from those facts, no FreeRTOS code.
 *
 * Six tasks. "net" (priority 3) waits for ever on an event: state item in xSuspendedTaskList,
 * event item in the event's list (blocked). "sensor" (2) delays: xDelayedTaskList1 (blocked).
 * "logger" (1) suspends itself (suspended). "worker" (1) yields and stays ready. "app" (1) runs
 * and faults three calls deep on its PSP. "IDLE" (0) never ran (ready, its first frame only).
 * Each task records its SP right before it asks for a switch (yield_sp[]): ground truth for the
 * saved SP, measured by the firmware.
 *
 * Variants (files that define these and include this one): RTOS_V8 names the state item
 * xGenericListItem and the container pvContainer (FreeRTOS v7/v8, WICED's 7.5.2 on the Photon),
 * else xStateListItem / pxContainer (v10+); RTOS_END_OF_STACK adds pxEndOfStack; RTOS_HEAP
 * takes stacks from a heap in heap_4's layout (ucHeap, xStart, pxEnd, BlockLink_t headers)
 * instead of static buffers. Built for an FPU (__ARM_FP), PendSV saves the ARM_CM4F port's
 * layout (r4-r11, r14, then S16-S31 when the task used the FPU) and "sensor" uses the FPU.
 * Built WITHOUT startup.c: its own vector table (PendSV). */
#include "faults.h"
#include "truth.h"

#ifdef RTOS_V8
#define STATE_ITEM xGenericListItem
#else
#define STATE_ITEM xStateListItem
#define FREERTOS_LIST_CONTAINER pxContainer
#endif
/* list.h's types and list.c's operations: the sim's own copy (firmware/platform/include) */
#include "freertos_list.h"

typedef struct tskTaskControlBlock {
    volatile uint32_t *pxTopOfStack; /* FIRST member: PendSV stores the saved SP here */
    ListItem_t STATE_ITEM;
    ListItem_t xEventListItem;
    uint32_t uxPriority;
    uint32_t *pxStack;
    char pcTaskName[16];
#ifdef RTOS_END_OF_STACK
    uint32_t *pxEndOfStack;
#endif
} tskTCB;
typedef tskTCB TCB_t;

#define MAX_PRIORITIES 5
#define STACK_WORDS 192
#define N_TASKS 6
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SCB_SHPR3 (*(volatile uint32_t *)0xE000ED20u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define USED __attribute__((used))

TCB_t *volatile pxCurrentTCB USED;
static List_t pxReadyTasksLists[MAX_PRIORITIES] USED;
static List_t xDelayedTaskList1 USED, xDelayedTaskList2 USED;
static List_t *volatile pxDelayedTaskList USED;
static List_t xPendingReadyList USED, xTasksWaitingTermination USED, xSuspendedTaskList USED;
static volatile uint32_t uxCurrentNumberOfTasks USED;
static volatile uint32_t xTickCount USED;

/* the firmware's own records, ground truth for the tests */
TCB_t tcb[N_TASKS] USED;
volatile uint32_t yield_sp[N_TASKS] USED; /* SP of each task just before its last switch */
volatile uint32_t stack_lo[N_TASKS] USED, stack_hi[N_TASKS] USED;
volatile float sensor_value USED;

#ifdef RTOS_HEAP
/* heap_4's layout: ucHeap, BlockLink_t {next, size | allocated bit} before each block, the
 * free list from xStart ending at pxEnd (an end marker at the top of the arena) */
typedef struct A_BLOCK_LINK {
    struct A_BLOCK_LINK *pxNextFreeBlock;
    uint32_t xBlockSize;
} BlockLink_t;
#define HEAP_BYTES (N_TASKS * (STACK_WORDS * 4 + 16) + 64)
static uint8_t ucHeap[HEAP_BYTES] __attribute__((aligned(8))) USED;
static BlockLink_t xStart USED, *pxEnd USED;
static uint32_t xFreeBytesRemaining USED;
static uint32_t xBlockAllocatedBit USED = 0x80000000u;

static void heap_init(void)
{
    BlockLink_t *first = (BlockLink_t *)ucHeap;
    pxEnd = (BlockLink_t *)(ucHeap + HEAP_BYTES - sizeof(BlockLink_t));
    pxEnd->pxNextFreeBlock = 0;
    pxEnd->xBlockSize = 0;
    first->pxNextFreeBlock = pxEnd;
    first->xBlockSize = (uint32_t)((uint8_t *)pxEnd - (uint8_t *)first);
    xStart.pxNextFreeBlock = first;
    xFreeBytesRemaining = first->xBlockSize;
}

/* first fit from the only free block, split from its low end, as heap_4 does */
static void *port_malloc(uint32_t bytes)
{
    uint32_t want = (bytes + sizeof(BlockLink_t) + 7u) & ~7u;
    BlockLink_t *b = xStart.pxNextFreeBlock;
    if (b == pxEnd || b->xBlockSize < want + 16u)
        return 0;
    BlockLink_t *rest = (BlockLink_t *)((uint8_t *)b + want);
    rest->xBlockSize = b->xBlockSize - want;
    rest->pxNextFreeBlock = b->pxNextFreeBlock;
    xStart.pxNextFreeBlock = rest;
    b->xBlockSize = want | xBlockAllocatedBit;
    b->pxNextFreeBlock = 0;
    xFreeBytesRemaining -= want;
    return (uint8_t *)b + sizeof(BlockLink_t);
}
#elif defined(RTOS_STACK_ARRAY)
/* rtos_task_stacks.c: the stacks are rows of one array (pxStack inside the object, not at a
 * symbol's start), IDLE's is carved 8 words into a flat pool (no DWARF rows: its symbol's end) */
static uint32_t task_stacks[N_TASKS - 1][STACK_WORDS] __attribute__((aligned(8))) USED;
static uint32_t idle_pool[8 + STACK_WORDS] __attribute__((aligned(8))) USED;
typedef uint32_t spare_row_t[16]; /* rows by a typedef: DWARF nests two array types */
static spare_row_t spare_rows[3] USED;
#else
static uint32_t stack_idle[STACK_WORDS] __attribute__((aligned(8))) USED;
static uint32_t stack_logger[STACK_WORDS] __attribute__((aligned(8))) USED;
static uint32_t stack_worker[STACK_WORDS] __attribute__((aligned(8))) USED;
#ifdef RTOS_APP_OVERFLOW
static uint32_t stack_app[STACK_WORDS] __attribute__((aligned(APP_GUARD))) USED;
#else
static uint32_t stack_app[STACK_WORDS] __attribute__((aligned(8))) USED;
#endif
static uint32_t stack_sensor[STACK_WORDS] __attribute__((aligned(8))) USED;
static uint32_t stack_net[STACK_WORDS] __attribute__((aligned(8))) USED;
#endif

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
void Reset_Handler(void);
void PendSV_Handler(void);
TRUTH_HANDLER(HardFault_Handler)
void Other_Handler(void) { for (;;) {} }

#ifdef RTOS_IRQ_FAULT
void Irq0_Handler(void);
#define IRQ_VECTORS , Irq0_Handler
#else
#define IRQ_VECTORS
#endif

__attribute__((section(".isr_vector"), used))
const void *const vector_table[] = {
    &_estack, Reset_Handler, Other_Handler, HardFault_Handler, Other_Handler, Other_Handler,
    Other_Handler, 0, 0, 0, 0, Other_Handler, Other_Handler, 0, PendSV_Handler, Other_Handler
    IRQ_VECTORS
};

/* -- the scheduler -------------------------------------------------------------------------- */
static void task_exit_error(void)
{
    for (;;) {} /* a task function returned: FreeRTOS's prvTaskExitError */
}

static void task_create(int i, const char *name, uint32_t prio, void (*fn)(void))
{
    TCB_t *t = &tcb[i];
#ifdef RTOS_HEAP
    uint32_t *stack = port_malloc(STACK_WORDS * 4);
#elif defined(RTOS_STACK_ARRAY)
    uint32_t *stack = i == 0 ? &idle_pool[8] : task_stacks[i - 1];
#else
    static uint32_t *const stacks[N_TASKS] = {stack_idle,   stack_logger, stack_worker,
                                              stack_app,    stack_sensor, stack_net};
    uint32_t *stack = stacks[i];
#endif
    for (int w = 0; w < STACK_WORDS; w++)
        stack[w] = 0xA5A5A5A5u;
    for (int c = 0; c < 15 && name[c]; c++)
        t->pcTaskName[c] = name[c];
    t->uxPriority = prio;
    t->pxStack = stack;
    stack_lo[i] = (uint32_t)stack;
    stack_hi[i] = (uint32_t)(stack + STACK_WORDS);
    /* the top word, 8-byte aligned down, as the kernel computes it */
    uint32_t *top = (uint32_t *)((uint32_t)&stack[STACK_WORDS - 1] & ~7u);
#ifdef RTOS_END_OF_STACK
    t->pxEndOfStack = top;
#endif
    uint32_t *sp = top - 16; /* the first frame: r4-r11, then r0-r3, r12, lr, pc, xpsr */
#ifdef __ARM_FP
    sp -= 1;                   /* ARM_CM4F: r14 (EXC_RETURN) saved with r4-r11 */
#define FRAME_AT 9
#else
#define FRAME_AT 8
#endif
    for (int w = 0; w < FRAME_AT; w++)
        sp[w] = 0;
#ifdef __ARM_FP
    sp[8] = 0xFFFFFFFDu;       /* thread mode, PSP, basic frame */
#endif
    sp[FRAME_AT + 0] = 0;                              /* r0 */
    sp[FRAME_AT + 5] = (uint32_t)task_exit_error;      /* lr */
    sp[FRAME_AT + 6] = (uint32_t)fn & ~1u;             /* pc */
    sp[FRAME_AT + 7] = 0x01000000u;                    /* xpsr: Thumb */
    t->pxTopOfStack = sp;
    t->STATE_ITEM.pvOwner = t;
    t->xEventListItem.pvOwner = t;
    list_insert_end(&pxReadyTasksLists[prio], &t->STATE_ITEM);
    uxCurrentNumberOfTasks++;
}

/* PendSV: pick the highest-priority ready task; round robin among equals via pxIndex */
TCB_t *select_next(void) __attribute__((used));
TCB_t *select_next(void)
{
    int p = MAX_PRIORITIES - 1;
    while (p > 0 && pxReadyTasksLists[p].uxNumberOfItems == 0)
        p--;
    List_t *l = &pxReadyTasksLists[p];
    l->pxIndex = l->pxIndex->pxNext;
    if (l->pxIndex == (ListItem_t *)&l->xListEnd)
        l->pxIndex = l->pxIndex->pxNext;
    pxCurrentTCB = l->pxIndex->pvOwner;
    return pxCurrentTCB;
}

__attribute__((naked)) void PendSV_Handler(void)
{
#ifdef __ARM_FP
    __asm volatile("mrs r0, psp\n"
                   "ldr r3, =pxCurrentTCB\n"
                   "ldr r2, [r3]\n"
                   "cbz r2, 1f\n"
                   "tst r14, #0x10\n"
                   "it eq\n"
                   "vstmdbeq r0!, {s16-s31}\n"
                   "stmdb r0!, {r4-r11, r14}\n"
                   "str r0, [r2]\n"
                   "1:\n"
                   "bl select_next\n"
                   "ldr r0, [r0]\n"
                   "ldmia r0!, {r4-r11, r14}\n"
                   "tst r14, #0x10\n"
                   "it eq\n"
                   "vldmiaeq r0!, {s16-s31}\n"
                   "msr psp, r0\n"
                   "bx r14\n"
                   ".ltorg\n");
#else
    __asm volatile("mrs r0, psp\n"
                   "ldr r3, =pxCurrentTCB\n"
                   "ldr r2, [r3]\n"
                   "cbz r2, 1f\n"
                   "stmdb r0!, {r4-r11}\n"
                   "str r0, [r2]\n"
                   "1:\n"
                   "bl select_next\n"
                   "ldr r0, [r0]\n"
                   "ldmia r0!, {r4-r11}\n"
                   "msr psp, r0\n"
                   "ldr r14, =0xFFFFFFFD\n"
                   "bx r14\n"
                   ".ltorg\n");
#endif
}

/* ask for a switch, recording the SP it happens at (PendSV is taken right after the isb) */
NOINLINE void task_yield(void)
{
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    yield_sp[pxCurrentTCB - tcb] = sp;
    SCB_ICSR = 1u << 28; /* PENDSVSET */
    __asm volatile("dsb\n\tisb" ::: "memory");
}

NOINLINE void task_delay(uint32_t ticks)
{
    TCB_t *t = pxCurrentTCB;
    list_remove(&t->STATE_ITEM);
    t->STATE_ITEM.xItemValue = xTickCount + ticks;
    list_insert(pxDelayedTaskList, &t->STATE_ITEM);
    task_yield();
}

typedef struct {
    List_t xTasksWaiting;
    volatile uint32_t given;
} event_t;
static event_t net_event USED;

NOINLINE void event_wait_forever(event_t *ev)
{
    TCB_t *t = pxCurrentTCB;
    t->xEventListItem.xItemValue = MAX_PRIORITIES - t->uxPriority;
    list_insert(&ev->xTasksWaiting, &t->xEventListItem);
    list_remove(&t->STATE_ITEM);
    list_insert_end(&xSuspendedTaskList, &t->STATE_ITEM); /* portMAX_DELAY: no wake time */
    task_yield();
}

NOINLINE void task_suspend_self(void)
{
    TCB_t *t = pxCurrentTCB;
    list_remove(&t->STATE_ITEM);
    list_insert_end(&xSuspendedTaskList, &t->STATE_ITEM);
    task_yield();
}

/* -- the tasks ------------------------------------------------------------------------------ */
NOINLINE void net_poll(void) { event_wait_forever(&net_event); }
void net_main(void)
{
    for (;;)
        net_poll();
}

NOINLINE void sensor_read(void)
{
#ifdef __ARM_FP
    float v = sensor_value;
    __asm volatile("vmov.f32 s16, #2.5\n\tvadd.f32 s16, s16, %0" : : "t"(v) : "s16");
    sensor_value = v * 1.5f + 0.25f; /* this task now has FP state (EXC_RETURN.FTYPE 0) */
#endif
    task_delay(1000);
}
void sensor_main(void)
{
    for (;;)
        sensor_read();
}

NOINLINE void logger_flush(void) { task_suspend_self(); }
void logger_main(void)
{
    for (;;)
        logger_flush();
}

volatile uint32_t worker_rounds USED;
NOINLINE void worker_step(void)
{
    worker_rounds++;
    task_yield();
}
void worker_main(void)
{
    for (;;)
        worker_step();
}

volatile uint32_t *volatile app_target USED = (uint32_t *)0;
NOINLINE uint32_t app_compute(uint32_t x)
{
    __asm volatile("udf #13"); /* undefined instruction: UsageFault, escalated to HardFault */
    return x + 1;
}
NOINLINE uint32_t app_step(uint32_t x) { return app_compute(x * 3) + 1; }
#ifdef RTOS_APP_OVERFLOW
/* rtos_task_overflow.c: the app task recurses until a push lands in the MPU guard at the
 * bottom of its stack (app_depth: how many app_recurse() calls had begun) */
volatile uint32_t app_depth USED;
#pragma GCC diagnostic ignored "-Winfinite-recursion" /* unbounded on purpose */
NOINLINE uint32_t app_recurse(uint32_t n)
{
    app_depth = n; /* its only stack write is the push of r4/lr: the overflow faults there */
    return app_recurse(n + 1) + n;
}
void app_main(void)
{
    for (;;)
        worker_rounds += app_recurse(1);
}
#elif defined(RTOS_IRQ_FAULT)
/* rtos_task_irq_fpu.c: the app task uses the FPU (CONTROL.FPCA), then pends IRQ0 with its SP
 * 4 bytes off 8-byte alignment (app_irq_now pushes one word), so IRQ0's entry stacks an
 * EXTENDED frame (EXC_RETURN 0xFFFFFFED) with the alignment pad (stacked xPSR bit 9). IRQ0's
 * handler faults (undefined instruction, escalated to HardFault from Handler mode): the
 * running task's registers are the frame at the PSP, which only that EXC_RETURN describes.
 * app_irq_sp = the task's SP when it pended IRQ0 (ground truth for its SP). */
volatile uint32_t app_irq_sp USED;
volatile float app_level USED = 1.25f;
void app_irq_now(volatile uint32_t *record); /* below: record SP, pend IRQ0 */
__asm__(".text\n"
        ".thumb\n"
        ".syntax unified\n"
        ".global app_irq_now\n"
        ".type app_irq_now, %function\n"
        ".thumb_func\n"
        "app_irq_now:\n"
        ".cfi_startproc\n"
        "push {lr}\n" /* SP now 4 off 8-byte alignment */
        ".cfi_adjust_cfa_offset 4\n"
        ".cfi_offset lr, -4\n"
        "mov r1, sp\n"
        "str r1, [r0]\n"
        "ldr r2, =0xE000E200\n" /* NVIC_ISPR0: IRQ0 pending, taken after the barrier */
        "movs r3, #1\n"
        "str r3, [r2]\n"
        "dsb\n"
        "isb\n"
        "pop {pc}\n"
        ".cfi_endproc\n"
        ".size app_irq_now, . - app_irq_now\n"
        ".ltorg\n");
NOINLINE void app_irq_step(void)
{
    app_level = app_level * 1.5f + 0.25f; /* FP state: IRQ0's frame is an extended one */
    app_irq_now(&app_irq_sp);
}
NOINLINE uint32_t irq_filter(uint32_t x)
{
    __asm volatile("udf #14"); /* UsageFault in Handler mode, escalated to HardFault */
    return x + 1;
}
void Irq0_Handler(void) { worker_rounds += irq_filter(worker_rounds); }
void app_main(void)
{
    *(volatile uint32_t *)0xE000E100u = 1u; /* NVIC_ISER0: IRQ0 enabled */
    for (;;)
        app_irq_step();
}
#else
void app_main(void)
{
    for (;;)
        worker_rounds += app_step(worker_rounds);
}
#endif

void idle_main(void)
{
    for (;;)
        __asm volatile("wfi");
}

int main(void)
{
    for (int p = 0; p < MAX_PRIORITIES; p++)
        list_init(&pxReadyTasksLists[p]);
    list_init(&xDelayedTaskList1);
    list_init(&xDelayedTaskList2);
    list_init(&xPendingReadyList);
    list_init(&xTasksWaitingTermination);
    list_init(&xSuspendedTaskList);
    list_init(&net_event.xTasksWaiting);
    pxDelayedTaskList = &xDelayedTaskList1;
#ifdef RTOS_HEAP
    heap_init();
#endif
    task_create(0, "IDLE", 0, idle_main);
    task_create(1, "logger", 1, logger_main);
    task_create(2, "worker", 1, worker_main);
    task_create(3, "app", 1, app_main);
    task_create(4, "sensor", 2, sensor_main);
    task_create(5, "net", 3, net_main);
#ifdef RTOS_APP_OVERFLOW
    mpu_region(0, (uint32_t)stack_app, APP_GUARD_RASR); /* the guard: stack_app's first bytes */
    MPU_CTRL = MPU_CTRL_PRIVDEFENA | MPU_CTRL_ENABLE;
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    SCB_SHPR3 |= 0xFF << 16; /* PendSV at the lowest priority */
    __asm volatile("msr psp, %0" : : "r"(&_estack - 64));
    pxCurrentTCB = 0;        /* the first PendSV saves nothing */
    SCB_ICSR = 1u << 28;
    __asm volatile("dsb\n\tisb" ::: "memory");
    for (;;) {}
}

void Reset_Handler(void)
{
#ifdef __ARM_FP
    SCB_CPACR |= 0xFu << 20; /* CP10, CP11: the FPU on */
    __asm volatile("dsb\n\tisb");
#endif
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;)
        *dst++ = 0;
    main();
    for (;;) {}
}
