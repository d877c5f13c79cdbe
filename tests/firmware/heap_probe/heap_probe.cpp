// Test fixture, not product code: a Photon app that runs the heap dry.  malloc() in 1 KiB
// blocks until it returns NULL (newlib-nano's _sbrk hits the linker script's bound), frees them
// all and allocates them again (the free list is reused, no new _sbrk), then `new` one block too
// many -> panic OutOfHeap (8), as Device OS's new handler does.
#include <stdlib.h>
#include "Particle.h"

extern "C" char __heap_start__[], __heap_end__[];

static void *blocks[160];

void setup() {
    unsigned n = 0;
    uintptr_t top = 0;
    while (n < sizeof blocks / sizeof blocks[0] && (blocks[n] = malloc(1024)) != nullptr) {
        if ((uintptr_t)blocks[n] + 1024 > top)
            top = (uintptr_t)blocks[n] + 1024;
        n++;
    }
    Serial.printlnf("heap: %u blocks of 1 KiB, top 0x%08lx, heap 0x%08lx-0x%08lx, free %lu", n,
                    (unsigned long)top, (unsigned long)__heap_start__,
                    (unsigned long)__heap_end__, (unsigned long)System.freeMemory());
    for (unsigned i = 0; i < n; i++)
        free(blocks[i]);
    unsigned again = 0;
    while (again < n && (blocks[again] = malloc(1024)) != nullptr)
        again++;
    Serial.printlnf("heap: again %u", again);
    char *last = new char[1024];   // nothing left: panic OutOfHeap
    Serial.printlnf("heap: not reached %p", last);
}

void loop() {}
