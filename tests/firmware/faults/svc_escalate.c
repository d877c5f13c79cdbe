/* An escalated fault inside SVCall: a thread on the PSP (unwind_rig.h) asks for a service
 * (app_entry -> app_request -> do_svc: svc #1); the SVC handler (svc_body, entered through an
 * ENTRY_SHIM) dispatches to svc_op, which executes an undefined instruction. A fault at
 * SVCall's priority (0, as UsageFault's) cannot preempt it: HardFault, FORCED (UNDEFINSTR),
 * EXC_RETURN 0xFFFFFFF1 (into Handler mode). The backtrace goes svc_op, svc_dispatch, svc_body,
 * SVCall's frame on the PSP, do_svc, app_request, app_entry. Test fixture. */
#include "unwind_rig.h"

TRUTH_HANDLER(HardFault_Handler)
void Fault_Handler(void) { for (;;) {} }
void svc_body(void);
ENTRY_SHIM(SVC_Handler, svc_body)

__attribute__((section(".isr_vector"), used)) const void *const vector_table[16] = {
    &_estack, VEC(Reset_Handler), VEC(Fault_Handler), VEC(HardFault_Handler), VEC(Fault_Handler),
    VEC(Fault_Handler), VEC(Fault_Handler), 0, 0, 0, 0, VEC(SVC_Handler),
    VEC(Fault_Handler), 0, VEC(PendSV_Handler), VEC(Fault_Handler),
};

volatile uint32_t requests;

NOINLINE void svc_op(uint32_t n) { requests += n; __asm volatile("udf #3"); }
NOINLINE void svc_dispatch(uint32_t n) { svc_op(n * 4); requests++; }
void svc_body(void) { svc_dispatch(requests + 1); }

NOINLINE void do_svc(void) { __asm volatile("svc #1" ::: "memory"); }
NOINLINE void app_request(void)
{
    do_svc();
    requests++;
}
NOINLINE void app_entry(void)
{
    for (;;)
        app_request();
}

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS; /* enabled, and still escalated: same priority as SVCall */
    launch_thread(app_entry);
}
