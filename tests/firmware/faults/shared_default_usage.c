/* shared_default.c, the fault: KIND_USAGE. Test fixture. */
#define FAULT_KIND KIND_USAGE
#include "shared_default.c"
