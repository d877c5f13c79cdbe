/* Ground truth for the capture tests, measured by the firmware itself.
 *
 * TRUTH_HANDLER(name) defines a naked exception handler whose FIRST instructions record what the
 * core had at exception entry: MSP, PSP, EXC_RETURN (LR), IPSR and CONTROL, into fault_truth;
 * it then branches to truth_recorded(), a place to stop at (tests/capture/truth.py runs the
 * firmware under plain QEMU + gdb-multiarch, independent of photondbg, and reads fault_truth
 * there). r0/r1 are used after the hardware stacked them, so the stacked frame is untouched.
 * photondbg halts at a handler's first instruction, where the core still holds these values.
 * Test fixture. */
#ifndef PHOTONDBG_TRUTH_H
#define PHOTONDBG_TRUTH_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t msp;         /* MSP at entry: the frame address when EXC_RETURN says MSP */
    uint32_t psp;         /* PSP at entry: the frame address when EXC_RETURN says PSP */
    uint32_t exc_return;  /* LR at entry */
    uint32_t ipsr;        /* exception number being handled */
    uint32_t control;     /* CONTROL at entry */
    uint32_t count;       /* entries recorded (a second fault would make it 2) */
} fault_truth_t;

volatile fault_truth_t fault_truth __attribute__((used));

void truth_recorded(void) __attribute__((noinline, used));
void truth_recorded(void)
{
    for (;;)
        __asm volatile("" ::: "memory");
}

#define TRUTH_HANDLER(name)                                                                      \
    __attribute__((naked, used)) void name(void)                                                 \
    {                                                                                            \
        __asm volatile("ldr r0, =fault_truth\n"                                                  \
                       "mrs r1, msp\n"                                                           \
                       "str r1, [r0, #0]\n"                                                      \
                       "mrs r1, psp\n"                                                           \
                       "str r1, [r0, #4]\n"                                                      \
                       "str lr, [r0, #8]\n"                                                      \
                       "mrs r1, ipsr\n"                                                          \
                       "str r1, [r0, #12]\n"                                                     \
                       "mrs r1, control\n"                                                       \
                       "str r1, [r0, #16]\n"                                                     \
                       "ldr r1, [r0, #20]\n"                                                     \
                       "add r1, r1, #1\n"                                                        \
                       "str r1, [r0, #20]\n"                                                     \
                       "b truth_recorded\n"                                                      \
                       ".ltorg\n");                                                              \
    }

#ifdef __cplusplus
}
#endif
#endif
