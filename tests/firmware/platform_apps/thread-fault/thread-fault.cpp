// TEST FIXTURE for photondbg's capture tests, not an app of the simulated Photon: the platform
// firmware (heap, scheduler, 0.6.x fault path) plus one extra thread that calls through a
// pointer kept in freed heap memory after the heap has handed that memory out again, the
// shape of the real bug in miniature. The fault is taken from the thread's PSP frame; the
// platform's HardFault path records the stack pointer it used (crash_record.stack_pointer, the
// "@panic ... sp=" console line), which the tests compare with photondbg's own reading.
#include <stdlib.h>
#include <string.h>
#include "Particle.h"
#include "concurrent_hal.h"

struct handler_t {
    void (*on_close)(handler_t *self);
    uint32_t cookie;
};

static void close_quietly(handler_t *self) { self->cookie = 0; }

handler_t *volatile stale_handler;   // kept after free(): the bug

__attribute__((noinline)) void reuse_heap()
{
    // what the heap hands out next is the freed block: fill it like received data would
    char *data = static_cast<char *>(malloc(sizeof(handler_t)));
    memset(data, 0xAE, sizeof(handler_t));
    (void)data;
}

__attribute__((noinline)) void close_stale()
{
    stale_handler->on_close(stale_handler);  // garbage PC -> HardFault from this thread's PSP
}

static void worker_main(void *)
{
    handler_t *h = static_cast<handler_t *>(malloc(sizeof(handler_t)));
    h->on_close = close_quietly;
    h->cookie = 42;
    stale_handler = h;
    os_thread_delay(20);
    free(h);
    reuse_heap();
    os_thread_delay(20);
    close_stale();
    for (;;)
        os_thread_delay(1000);
}

// created before main() starts the scheduler, like a thread created from a global constructor
static struct start_worker {
    start_worker() { os_thread_create("worker", OS_PRIORITY_APP, worker_main, nullptr, 1024); }
} start_worker_now;

void setup() {}
void loop() {}
