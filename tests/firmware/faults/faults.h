/* SCB registers the fault firmwares set up (ARMv7-M). */
#include <stdint.h>
#define SCB_CCR    (*(volatile uint32_t *)0xE000ED14u)
#define SCB_SHCSR  (*(volatile uint32_t *)0xE000ED24u)
#define CCR_UNALIGN_TRP (1u << 3)
#define CCR_DIV_0_TRP   (1u << 4)
#define SHCSR_ALL_FAULTS ((1u << 16) | (1u << 17) | (1u << 18))
#define NOINLINE __attribute__((noinline))
