/* Hardware facts of the simulated Photon (STM32F205 on QEMU netduino2), in one place.
 * Addresses and bits come from the STM32F2 reference manual (RM0033) and the ARMv7-M ARM. */
#ifndef PHOTONDBG_HW_H
#define PHOTONDBG_HW_H
#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* memory map */
#define FLASH_BASE_ADDR   0x08000000u
#define FLASH_SIZE        (1024u * 1024u)
#define SRAM_BASE_ADDR    0x20000000u
#define SRAM_SIZE         (128u * 1024u)
#define CPU_HZ            120000000u
/* SysTick period: QEMU 7.2 loses about half of 1 ms ticks (timer latency), 10 ms ones keep time */
#define SYSTICK_MS        10u

/* USARTs: USART1 = console (Serial), USART2 = network link to the bridge */
#define USART1_BASE       0x40011000u
#define USART2_BASE       0x40004400u
#define USART_SR(b)       REG32((b) + 0x00)
#define USART_DR(b)       REG32((b) + 0x04)
#define USART_BRR(b)      REG32((b) + 0x08)
#define USART_CR1(b)      REG32((b) + 0x0C)
#define USART_SR_RXNE     (1u << 5)
#define USART_SR_TXE      (1u << 7)
#define USART_CR1_UE      (1u << 13)
#define USART_CR1_TE      (1u << 3)
#define USART_CR1_RE      (1u << 2)
#define USART_CR1_RXNEIE  (1u << 5)
#define USART1_IRQn       37
#define USART2_IRQn       38
#define IRQ_COUNT         82  /* STM32F205 vector table: 82 device interrupts */

/* RCC reset flags (RM0033 7.3.21) */
#define RCC_CSR           REG32(0x40023874u)
#define RCC_CSR_RMVF      (1u << 24)

/* SysTick */
#define SYST_CSR          REG32(0xE000E010u)
#define SYST_RVR          REG32(0xE000E014u)
#define SYST_CVR          REG32(0xE000E018u)
#define SYST_CSR_ENABLE   (1u << 0)
#define SYST_CSR_TICKINT  (1u << 1)
#define SYST_CSR_CLKSRC   (1u << 2)
#define SYST_CSR_COUNTFLAG (1u << 16)

/* NVIC */
#define NVIC_ISER(n)      REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n)      REG32(0xE000E180u + 4u * (n))
#define NVIC_IPR_BYTE(n)  (*(volatile uint8_t *)(0xE000E400u + (n)))

/* SCB: fault status and control */
#define SCB_ICSR          REG32(0xE000ED04u)
#define SCB_VTOR          REG32(0xE000ED08u)
#define SCB_AIRCR         REG32(0xE000ED0Cu)
#define SCB_CCR           REG32(0xE000ED14u)
#define SCB_SHPR3         REG32(0xE000ED20u)  /* priorities of PendSV (bits 16-23), SysTick (24-31) */
#define SCB_SHCSR         REG32(0xE000ED24u)
#define SCB_CFSR          REG32(0xE000ED28u)
#define SCB_HFSR          REG32(0xE000ED2Cu)
#define SCB_DFSR          REG32(0xE000ED30u)
#define SCB_MMFAR         REG32(0xE000ED34u)
#define SCB_BFAR          REG32(0xE000ED38u)
#define ICSR_PENDSVSET    (1u << 28)
/* MPU (ARMv7-M PMSAv7) */
#define MPU_TYPE          REG32(0xE000ED90u)
#define MPU_CTRL          REG32(0xE000ED94u)
#define MPU_RNR           REG32(0xE000ED98u)
#define MPU_RBAR          REG32(0xE000ED9Cu)
#define MPU_RASR          REG32(0xE000EDA0u)
#define MPU_CTRL_ENABLE   (1u << 0)
#define MPU_CTRL_HFNMIENA (1u << 1)   /* the MPU also applies in HardFault and NMI */
#define AIRCR_VECTKEY     (0x05FAu << 16)
#define AIRCR_SYSRESETREQ (1u << 2)
#define CCR_DIV_0_TRP     (1u << 4)
#define CFSR_DIVBYZERO    (1u << 25)

static inline void irq_enable(int n)  { NVIC_ISER(n >> 5) = 1u << (n & 31); }
static inline void irq_disable(int n) { NVIC_ICER(n >> 5) = 1u << (n & 31); }
static inline uint32_t irq_save(void) {
    uint32_t primask;
    __asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
    return primask;
}
static inline void irq_restore(uint32_t primask) {
    __asm volatile("msr primask, %0" ::"r"(primask) : "memory");
}
#endif
