/* A no-access MPU region (a stack guard) for the stacking-fault firmwares (ARMv7-M B3.5: MPU_RNR
 * selects a region, RBAR its base, RASR its size 2^(SIZE+1), AP and enable; MPU_CTRL.PRIVDEFENA
 * keeps the default memory map for privileged code everywhere else). Test fixture. */
#ifndef PHOTONDBG_MPU_GUARD_H
#define PHOTONDBG_MPU_GUARD_H
#include <stdint.h>
#define MPU_CTRL (*(volatile uint32_t *)0xE000ED94u)
#define MPU_RNR  (*(volatile uint32_t *)0xE000ED98u)
#define MPU_RBAR (*(volatile uint32_t *)0xE000ED9Cu)
#define MPU_RASR (*(volatile uint32_t *)0xE000EDA0u)
#define MPU_CTRL_ENABLE     (1u << 0)
#define MPU_CTRL_PRIVDEFENA (1u << 2)
#define GUARD_SIZE 256u /* a power of two, >= 32; the base must be aligned to it */
#define GUARD_RASR_SIZE 7u /* 2^(7+1) = 256 bytes */

/* region `n` = base/RASR as given (MPU_RNR is left selecting it) */
static inline void mpu_region(uint32_t n, uint32_t base, uint32_t rasr)
{
    MPU_RNR = n;
    MPU_RBAR = base;
    MPU_RASR = rasr;
    __asm volatile("dsb\n\tisb" ::: "memory");
}
#define RASR_FLASH_READ_ONLY ((0x6u << 24) | (19u << 1) | 1u) /* AP=110, 1 MiB, enabled */

/* region `n` forbids every access to [base, base + GUARD_SIZE) (AP=000, XN) */
static inline void mpu_guard(uint32_t n, uint32_t base)
{
    MPU_RNR = n;
    MPU_RBAR = base;
    MPU_RASR = (1u << 28) | (0u << 24) | (GUARD_RASR_SIZE << 1) | 1u;
    MPU_CTRL = MPU_CTRL_PRIVDEFENA | MPU_CTRL_ENABLE;
    __asm volatile("dsb\n\tisb" ::: "memory");
}

/* recurse(): a recursion without end, for the overflow firmwares; it records its depth in the
 * firmware's `volatile uint32_t depth` (the tests' expected recursion count) */
#define RECURSE_UNBOUNDED                                                                        \
    _Pragma("GCC diagnostic ignored \"-Winfinite-recursion\"")                                 \
    __attribute__((noinline)) uint32_t recurse(uint32_t n)                                     \
    {                                                                                            \
        depth = n; /* its only stack write is the push of r4/lr: the overflow faults there */  \
        return recurse(n + 1) + n; /* an add after the call: not a tail call */                \
    }
#endif
