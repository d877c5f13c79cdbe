// TEST FIXTURE for photondbg's capture tests, not an app of the simulated Photon: the platform
// firmware plus one extra thread whose allocation cannot be met, so operator new panics with
// OutOfHeap (8) from thread code on the PSP, as Device OS does. No fault: the capture stops at
// the panic entry and lists the threads, the running one unwound from the core's registers.
#include "Particle.h"
#include "concurrent_hal.h"

char *volatile too_big;

__attribute__((noinline)) void allocate_buffers()
{
    too_big = new char[256 * 1024];   // more than the whole RAM
}

static void worker_main(void *)
{
    os_thread_delay(20);
    allocate_buffers();
    for (;;)
        os_thread_delay(1000);
}

static struct start_worker {
    start_worker() { os_thread_create("worker", OS_PRIORITY_APP, worker_main, nullptr, 1024); }
} start_worker_now;

void setup() {}
void loop() {}
