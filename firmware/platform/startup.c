/* Reset and the vector table: every exception and every STM32F205 interrupt has a handler. */
#include <stdint.h>
#include <string.h>
#include "hw.h"
#include "sim_memory.h"

#pragma GCC diagnostic ignored "-Woverride-init" /* the range default, then the two UARTs */

extern uint32_t _estack[], _sidata[], _sdata[], _edata[], _sbss[], _ebss[];
extern void __libc_init_array(void);
extern int main(void);

void Reset_Handler(void) __attribute__((noreturn));
void NMI_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void SysTick_Handler(void);
void USART1_IRQHandler(void);
void USART2_IRQHandler(void);

void PendSV_Handler(void);   /* the scheduler's context switch (concurrent_hal.c) */

/* SVC and DebugMon have no user in this platform: they return. */
void SVC_Handler(void) {}
void DebugMon_Handler(void) {}

/* An interrupt nobody enabled: say which one, then stop here (ST's startup loops the same way). */
void Default_Handler(void)
{
    extern void console_printf(const char *fmt, ...);
    int active = (int)(SCB_ICSR & 0x1FFu) - 16;
    console_printf("\r\nunexpected interrupt %d\r\n", active);
    for (;;)
        ;
}

typedef void (*vector_t)(void);
#define V(f) ((vector_t)(f))

__attribute__((section(".isr_vector"), used))
const vector_t vector_table[16 + IRQ_COUNT] = {
    V(_estack), Reset_Handler, NMI_Handler, HardFault_Handler, MemManage_Handler,
    BusFault_Handler, UsageFault_Handler, 0, 0, 0, 0, SVC_Handler, DebugMon_Handler, 0,
    PendSV_Handler, SysTick_Handler,
    [16 ... 16 + IRQ_COUNT - 1] = Default_Handler,
    [16 + USART1_IRQn] = USART1_IRQHandler,
    [16 + USART2_IRQn] = USART2_IRQHandler,
};

void Reset_Handler(void)
{
    SCB_VTOR = (uint32_t)vector_table;
    sim_memory_map_init();   /* SIM-ONLY: unmapped accesses fault, as on silicon (sim_memory.c) */
    memcpy(_sdata, _sidata, (size_t)((uint8_t *)_edata - (uint8_t *)_sdata));
    memset(_sbss, 0, (size_t)((uint8_t *)_ebss - (uint8_t *)_sbss));
    __libc_init_array();
    main();
    for (;;)
        ;
}
