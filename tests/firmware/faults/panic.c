/* A Device-OS-like panic entry called from a failed check: no fault at all, a panic. */
#include "faults.h"
volatile int panic_code_seen;
NOINLINE void panic_(int code, void *extra, void (*reserved)(void)) {
    (void)extra; (void)reserved; panic_code_seen = code; for (;;) {}
}
NOINLINE void check_heap(int free_bytes) { if (free_bytes < 64) panic_(8, 0, 0); }
int main(void) { check_heap(10); for (;;) {} }
