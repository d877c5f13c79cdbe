#ifndef PHOTONDBG_CONSOLE_H
#define PHOTONDBG_CONSOLE_H
#include <stdarg.h>
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
void console_init(void);
void console_write(const char *s, size_t n);
void console_puts(const char *s);           /* no newline added */
void console_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void console_vprintf(const char *fmt, va_list ap);
#ifdef __cplusplus
}
#endif
#endif
