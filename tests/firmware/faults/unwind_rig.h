/* Start-up for the backtrace fault firmwares (built WITHOUT startup.c: each has its own vector
 * table, so that interrupts, SVCall and PendSV have handlers of the firmware's choosing), and a
 * thread on the PSP started the way an RTOS starts one: an initial hardware frame on the
 * thread's stack whose LR is thread_exit() and whose PC is the entry function, entered by an
 * exception return from PendSV (EXC_RETURN 0xFFFFFFFD). A backtrace of that thread ends at its
 * entry function: the next return address is thread_exit's first instruction. Usable from C and
 * C++ (g++). Test fixture. */
#ifndef PHOTONDBG_UNWIND_RIG_H
#define PHOTONDBG_UNWIND_RIG_H
#include "faults.h"
#include "truth.h"
#ifdef __cplusplus
extern "C" {
#endif

#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSVSET (1u << 28)
#define VEC(f) ((const void *)(f))
#define THREAD_STACK_WORDS 256

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
int main(void);

void Reset_Handler(void) __attribute__((used));
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

/* the vector table of a firmware whose only recorded fault is a UsageFault: every other
 * exception but PendSV (the thread launch) goes to Fault_Handler, which spins */
#define USAGE_FAULT_VECTORS                                                                      \
    TRUTH_HANDLER(UsageFault_Handler)                                                            \
    void Fault_Handler(void) { for (;;) {} }                                                     \
    __attribute__((section(".isr_vector"), used)) const void *const vector_table[16] = {        \
        &_estack, VEC(Reset_Handler), VEC(Fault_Handler), VEC(Fault_Handler),                  \
        VEC(Fault_Handler), VEC(Fault_Handler), VEC(UsageFault_Handler), 0, 0, 0, 0,           \
        VEC(Fault_Handler), VEC(Fault_Handler), 0, VEC(PendSV_Handler), VEC(Fault_Handler),    \
    };

uint32_t thread_stack[THREAD_STACK_WORDS] __attribute__((aligned(8), used));
uint32_t *volatile thread_launch_sp __attribute__((used));

/* where a thread's entry function would return to: the scheduler planted it as the LR */
NOINLINE void thread_exit(void)
{
    for (;;)
        __asm volatile("" ::: "memory");
}

/* PendSV: switch to the thread's initial frame, return to Thread mode on the PSP */
__attribute__((naked, used)) void PendSV_Handler(void)
{
    __asm volatile("ldr r0, =thread_launch_sp\n"
                   "ldr r0, [r0]\n"
                   "msr psp, r0\n"
                   "ldr lr, =0xFFFFFFFD\n"
                   "bx lr\n"
                   ".ltorg\n");
}

/* run entry() as a thread on thread_stack (PSP); never returns here */
__attribute__((noinline, noreturn)) void launch_thread(void (*entry)(void))
{
    uint32_t *frame = &thread_stack[THREAD_STACK_WORDS - 8];
    for (int i = 0; i < 8; i++)
        frame[i] = 0;
    frame[5] = (uint32_t)thread_exit;           /* LR (Thumb bit set: a function's address) */
    frame[6] = (uint32_t)entry & ~1u;           /* PC */
    frame[7] = 0x01000000u;                     /* xPSR: Thumb */
    thread_launch_sp = frame;
    SCB_ICSR = ICSR_PENDSVSET;
    __asm volatile("dsb\n\tisb" ::: "memory");
    for (;;) {}
}

/* ENTRY_SHIM(name, body): an exception handler `name` that records its own entry state (MSP,
 * PSP, EXC_RETURN: where the hardware put the frame of the code it interrupted) into
 * entry_truth, then branches to body(), which returns through that EXC_RETURN. The shim itself
 * is not on the stack: body() is the handler in a backtrace. */
typedef struct {
    uint32_t msp, psp, exc_return;
} entry_truth_t;
volatile entry_truth_t entry_truth __attribute__((used));

#define ENTRY_SHIM(name, body)                                                                   \
    __attribute__((naked, used)) void name(void)                                                 \
    {                                                                                            \
        __asm volatile("ldr r0, =entry_truth\n"                                                  \
                       "mrs r1, msp\n"                                                           \
                       "str r1, [r0, #0]\n"                                                      \
                       "mrs r1, psp\n"                                                           \
                       "str r1, [r0, #4]\n"                                                      \
                       "str lr, [r0, #8]\n"                                                      \
                       "b " #body "\n"                                                           \
                       ".ltorg\n");                                                              \
    }

#ifdef __cplusplus
}
#endif
#endif
