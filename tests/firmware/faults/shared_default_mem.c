/* shared_default.c, the fault: KIND_MEM. Test fixture. */
#define FAULT_KIND KIND_MEM
#include "shared_default.c"
