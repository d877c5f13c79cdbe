/* USART1 = the Photon's USB serial (our `Serial`): polled transmit, nothing received. */
#include <stdio.h>
#include <string.h>
#include "hw.h"
#include "console.h"

void console_init(void)
{
    USART_BRR(USART1_BASE) = 0x341; /* 115200 at 96 MHz APB2: ignored by QEMU, kept honest */
    USART_CR1(USART1_BASE) = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE;
}

void console_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (!(USART_SR(USART1_BASE) & USART_SR_TXE))
            ;
        USART_DR(USART1_BASE) = (uint8_t)s[i];
    }
}

void console_puts(const char *s) { console_write(s, strlen(s)); }

void console_vprintf(const char *fmt, va_list ap)
{
    char buf[256];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    console_write(buf, (size_t)n);
}

void console_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    console_vprintf(fmt, ap);
    va_end(ap);
}
