// Test fixture, not product code: the application thread's stack pointer goes bad (as when a
// thread's saved context is overwritten), pointing into the FSMC range where the Photon's chip
// has nothing.  The next push faults, the fault cannot be stacked, and the 0.6.x HardFault
// handler then loads the stacked PC at [psp,#24] without checking: a fault inside HardFault,
// which is a lock-up ("clearing lockup after double fault" on the board).
#include "Particle.h"

void setup() { Serial.printlnf("probe: stack pointer goes bad"); }

void loop() {
    __asm volatile("ldr r0, =0x60000100\n"
                   "msr psp, r0\n"
                   "push {r4}\n"
                   "pop {r4}\n" ::: "r0", "memory");
}
