/* Print/Stream: the formatting half of Serial, TCPClient and TCPServer. */
#ifndef PHOTONDBG_WIRING_PRINT_H
#define PHOTONDBG_WIRING_PRINT_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "wiring_string.h"

#define DEC 10
#define HEX 16
#define OCT 8
#define BIN 2

class Print;
class Printable {
public:
    virtual ~Printable() {}
    virtual size_t printTo(Print &p) const = 0;
};

class Print {
public:
    virtual ~Print() {}
    virtual size_t write(uint8_t c) = 0;
    virtual size_t write(const uint8_t *buf, size_t n);
    size_t write(const char *s);
    size_t print(const char *s) { return write(s); }
    size_t print(const String &s) { return write((const uint8_t *)s.c_str(), s.length()); }
    size_t print(char c) { return write((uint8_t)c); }
    size_t print(int v, int base = DEC) { return print((long)v, base); }
    size_t print(unsigned v, int base = DEC) { return print((unsigned long)v, base); }
    size_t print(long v, int base = DEC);
    size_t print(unsigned long v, int base = DEC);
    size_t print(double v, int digits = 2);
    size_t print(const Printable &p) { return p.printTo(*this); }
    size_t println() { return write("\r\n"); }
    template <typename T> size_t println(const T &v) { size_t n = print(v); return n + println(); }
    size_t println(int v, int base) { size_t n = print(v, base); return n + println(); }
    size_t println(unsigned long v, int base) { size_t n = print(v, base); return n + println(); }
    size_t printf(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    size_t printlnf(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    size_t vprintf(bool newline, const char *fmt, va_list ap);
};

class Stream : public Print {
public:
    virtual int available() = 0;
    virtual int read() = 0;
    virtual int peek() = 0;
    virtual void flush() = 0;
};
#endif
