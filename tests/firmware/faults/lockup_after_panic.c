/* The 0.6.x escalation in miniature: thread code on the PSP faults; the HardFault handler
 * panics; panic_ logs through a callback pointer held in RAM, which the same bug has already
 * overwritten (with the garbage address the board showed): that call faults inside the
 * HardFault handler and the core locks up. A capture keeps the first fault (its PSP frame)
 * and records the panic and the lock-up after it. */
#include "faults.h"
typedef void (*log_fn)(const char *);
static void log_to_nowhere(const char *msg) { (void)msg; }
volatile log_fn log_callback = log_to_nowhere;
static uint32_t task_stack[256] __attribute__((aligned(8)));
volatile uint32_t psp_before_fault;
volatile uint32_t panic_code;

NOINLINE void panic_(uint32_t code)
{
    panic_code = code;
    log_callback("panic");
    for (;;) {}
}

void HardFault_Handler(void) { panic_(1); }

NOINLINE void corrupt_then_fault(void)
{
    log_callback = (log_fn)0xae094711u;
    __asm volatile("mrs r1, psp\n\tstr r1, [%0]\n\tudf #6" :: "r"(&psp_before_fault)
                   : "r1", "memory");
}

int main(void)
{
    uint32_t top = (uint32_t)&task_stack[256];
    __asm volatile("msr psp, %0\n\tmov r0, #2\n\tmsr control, r0\n\tisb" :: "r"(top) : "r0",
                   "memory");
    corrupt_then_fault();
    for (;;) {}
}
