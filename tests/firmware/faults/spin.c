/* Never faults: the time-out case (outcome "none"). */
#include "faults.h"
volatile uint32_t ticks;
int main(void) { for (;;) { ticks++; } }
