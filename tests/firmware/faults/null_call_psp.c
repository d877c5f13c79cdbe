/* null_call.c in a thread on the PSP. Test fixture. */
#define NULL_IN_THREAD 1
#include "null_call.c"
