/* Branch to a function address with the Thumb bit cleared (BLX to an even address). */
#include "faults.h"
NOINLINE void target_function(void) { for (;;) {} }
volatile uint32_t even_address;
NOINLINE void call_even(void) { ((void (*)(void))even_address)(); }
int main(void) {
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    even_address = (uint32_t)&target_function & ~1u;
    call_even();
    for (;;) {}
}
