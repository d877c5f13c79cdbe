/* FPU fault, immediate stacking (FPCCR.LSPEN=0), on a PSP task stack. Test fixture. */
#define FP_LAZY 0
#define FP_ON_PSP 1
#include "fpu_frame.h"
