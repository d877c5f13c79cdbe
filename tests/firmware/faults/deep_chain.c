/* A fault six calls deep: the backtrace must show every frame down to main. */
#include "faults.h"
volatile int depth_seen;
NOINLINE void level_6(void) { depth_seen = 6; __asm volatile("udf #6"); }
NOINLINE void level_5(void) { depth_seen = 5; level_6(); depth_seen++; }
NOINLINE void level_4(void) { depth_seen = 4; level_5(); depth_seen++; }
NOINLINE void level_3(void) { depth_seen = 3; level_4(); depth_seen++; }
NOINLINE void level_2(void) { depth_seen = 2; level_3(); depth_seen++; }
NOINLINE void level_1(void) { depth_seen = 1; level_2(); depth_seen++; }
int main(void) { SCB_SHCSR |= SHCSR_ALL_FAULTS; level_1(); for (;;) {} }
