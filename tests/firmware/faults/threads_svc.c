/* threads.c with the fault moved into the SVC handler the worker calls: a fault in Handler
 * mode (MSP frame) while a thread is current. Test fixture. */
#define FAULT_IN_SVC 1
#include "threads.c"
