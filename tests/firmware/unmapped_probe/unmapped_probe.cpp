// Test fixture, not product code: a thread follows a pointer that holds garbage (the value the
// real bug's freed client memory held when it was measured), into memory where the Photon's chip
// has nothing.  On silicon: a precise BusFault, escalated to HardFault.  On the sim: the MPU map
// makes it a MemManage DACCVIOL, escalated the same way (docs/sim-memory.md).
#include "Particle.h"
#include "concurrent_hal.h"

struct session { struct session *peer; unsigned state; };

struct session *volatile current_session = (struct session *)0xc9dbde0cu;
volatile unsigned seen;

__attribute__((noinline)) void follow_session()
{
    seen = current_session->peer->state;
}

static void worker_main(void *)
{
    os_thread_delay(20);
    follow_session();
    for (;;)
        os_thread_delay(1000);
}

static struct start_worker {
    start_worker() { os_thread_create("worker", OS_PRIORITY_APP, worker_main, nullptr, 1024); }
} start_worker_now;

void setup() {}
void loop() {}
