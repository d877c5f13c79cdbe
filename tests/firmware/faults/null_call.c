/* A call through a NULL function pointer three calls deep: run_job -> dispatch -> invoke ->
 * handler_table[id]() with an empty slot. BLX to 0 clears EPSR.T: UsageFault INVSTATE with the
 * stacked PC 0, no call-frame information there; the stacked LR is the return address into
 * invoke, from where the caller's frames are unwound by CFI. On the MSP from main, or (built
 * as null_call_psp.c, NULL_IN_THREAD) in a thread on the PSP (unwind_rig.h). Test fixture. */
#include "unwind_rig.h"

USAGE_FAULT_VECTORS

typedef void (*handler_fn)(uint32_t);
volatile uint32_t done;
static void job_ping(uint32_t arg) { done += arg; }
handler_fn volatile handler_table[4] = {job_ping, job_ping, 0, job_ping}; /* slot 2 unset */

NOINLINE void invoke(uint32_t id, uint32_t arg)
{
    handler_table[id](arg);
    done++;
}
NOINLINE void dispatch(uint32_t id) { invoke(id & 3, id * 10); done++; }
NOINLINE void run_job(void)
{
    for (uint32_t id = 0;; id++)
        dispatch(id);
}

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
#ifdef NULL_IN_THREAD
    launch_thread(run_job);
#else
    run_job();
    return 0;
#endif
}
