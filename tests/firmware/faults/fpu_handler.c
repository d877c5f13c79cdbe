/* FPU fault in Handler mode (SVCall), lazy stacking, escalated to HardFault. Test fixture. */
#define FP_LAZY 1
#define FP_ON_PSP 0
#define FP_IN_HANDLER 1
#include "fpu_frame.h"
