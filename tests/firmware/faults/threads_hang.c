/* threads.c with a hang instead of a fault: the worker spins for ever in crunch(); nothing
 * faults, so a capture times out and lists where each thread is. Test fixture. */
#define HANG 1
#include "threads.c"
