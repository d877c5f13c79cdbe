/* Call through a pointer to garbage (0xA0000001): instruction fetch from a no-execute region. */
#include "faults.h"
volatile uint32_t garbage_target = 0xA0000001u;
NOINLINE void jump_to_garbage(void) { ((void (*)(void))garbage_target)(); }
int main(void) { jump_to_garbage(); for (;;) {} }
