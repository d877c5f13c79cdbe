/* FPU fault, lazy stacking (FPCCR.LSPEN=1), on the MSP. Test fixture. */
#define FP_LAZY 1
#define FP_ON_PSP 0
#include "fpu_frame.h"
