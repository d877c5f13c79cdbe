/* shared_default.c, the fault: KIND_BUS. Test fixture. */
#define FAULT_KIND KIND_BUS
#include "shared_default.c"
