// Test fixture, not product code: a Photon app with a genuine bug that faults.
// A command table has one entry not written yet (NULL); the loop walks the table, so the fourth
// loop() calls through the NULL entry -> BLX to 0 with the Thumb bit clear -> INVSTATE, escalated
// to HardFault -> panic code 1, SOS, reset with reason PANIC.
#include "Particle.h"

typedef void (*command_t)(unsigned);

static void blink(unsigned n) { Serial.printlnf("probe: blink %u", n); }
static void report(unsigned n) { Serial.printlnf("probe: report %u, free %lu", n, (unsigned long)System.freeMemory()); }
static void idle(unsigned n) { Serial.printlnf("probe: idle %u", n); }

command_t commands[] = {blink, report, idle, nullptr /* "calibrate": still to be written */};
const unsigned COMMANDS = sizeof commands / sizeof commands[0];

unsigned ticks;

void setup() {
    Serial.printlnf("probe: reset reason %d data %lu", System.resetReason(),
                    (unsigned long)System.resetReasonData());
}

void loop() {
    unsigned which = ticks % COMMANDS;
    commands[which](ticks);
    ticks++;
    delay(50);
}
