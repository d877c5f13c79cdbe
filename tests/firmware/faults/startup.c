/* Minimal Cortex-M3 start-up for the capture test firmwares: vector table, .data/.bss set-up,
 * one handler per fault vector (each its own function so a capture can name it). */
#include <stdint.h>

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
int main(void);

void Reset_Handler(void);
void NMI_Handler(void)        __attribute__((weak));
void HardFault_Handler(void)  __attribute__((weak));
void MemManage_Handler(void)  __attribute__((weak));
void BusFault_Handler(void)   __attribute__((weak));
void UsageFault_Handler(void) __attribute__((weak));
void Default_Handler(void)    __attribute__((weak));

void NMI_Handler(void)        { for (;;) {} }
void HardFault_Handler(void)  { for (;;) {} }
void MemManage_Handler(void)  { for (;;) {} }
void BusFault_Handler(void)   { for (;;) {} }
void UsageFault_Handler(void) { for (;;) {} }
void Default_Handler(void)    { for (;;) {} }

__attribute__((section(".isr_vector"), used))
const void *const vector_table[16] = {
    &_estack, Reset_Handler, NMI_Handler, HardFault_Handler, MemManage_Handler,
    BusFault_Handler, UsageFault_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0,
    Default_Handler, Default_Handler,
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    main();
    for (;;) {}
}
