/* shared_default.c, the fault: KIND_HARD. Test fixture. */
#define FAULT_KIND KIND_HARD
#include "shared_default.c"
