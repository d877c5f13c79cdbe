/* String: heap buffer grown with realloc, as Wiring's String does. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wiring_string.h"

String::String(const char *s) : buf_(nullptr), cap_(0), len_(0) { if (s) copy(s, strlen(s)); }
String::String(const char *s, unsigned n) : buf_(nullptr), cap_(0), len_(0) { copy(s, n); }
String::String(const String &o) : buf_(nullptr), cap_(0), len_(0) { copy(o.c_str(), o.len_); }
String::String(String &&o) noexcept : buf_(o.buf_), cap_(o.cap_), len_(o.len_)
{
    o.buf_ = nullptr;
    o.cap_ = o.len_ = 0;
}
String::String(char c) : buf_(nullptr), cap_(0), len_(0) { copy(&c, 1); }

static void fmt_num(char *out, size_t size, unsigned long v, bool neg, unsigned char base)
{
    char tmp[34];
    int i = 0;
    if (base < 2 || base > 16)
        base = 10;
    do {
        tmp[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    size_t o = 0;
    if (neg && o + 1 < size)
        out[o++] = '-';
    while (i && o + 1 < size)
        out[o++] = tmp[--i];
    out[o] = 0;
}

String::String(long v, unsigned char base) : buf_(nullptr), cap_(0), len_(0)
{
    char b[36];
    bool neg = v < 0 && base == 10;
    fmt_num(b, sizeof b, neg ? (unsigned long)(-v) : (unsigned long)v, neg, base);
    copy(b, strlen(b));
}
String::String(unsigned long v, unsigned char base) : buf_(nullptr), cap_(0), len_(0)
{
    char b[36];
    fmt_num(b, sizeof b, v, false, base);
    copy(b, strlen(b));
}
String::String(int v, unsigned char base) : String((long)v, base) {}
String::String(unsigned v, unsigned char base) : String((unsigned long)v, base) {}
String::~String() { free(buf_); }

void String::invalidate()
{
    free(buf_);
    buf_ = nullptr;
    cap_ = len_ = 0;
}

bool String::reserve(unsigned size)
{
    if (buf_ && cap_ >= size)
        return true;
    char *nb = static_cast<char *>(realloc(buf_, size + 1));
    if (!nb)
        return false;
    if (!buf_)
        nb[0] = 0;
    buf_ = nb;
    cap_ = size;
    return true;
}

bool String::copy(const char *s, unsigned n)
{
    if (!reserve(n)) {
        invalidate();
        return false;
    }
    memmove(buf_, s, n);
    buf_[n] = 0;
    len_ = n;
    return true;
}

String &String::operator=(const String &o)
{
    if (this != &o)
        copy(o.c_str(), o.len_);
    return *this;
}
String &String::operator=(String &&o) noexcept
{
    if (this != &o) {
        free(buf_);
        buf_ = o.buf_;
        cap_ = o.cap_;
        len_ = o.len_;
        o.buf_ = nullptr;
        o.cap_ = o.len_ = 0;
    }
    return *this;
}
String &String::operator=(const char *s)
{
    if (s)
        copy(s, strlen(s));
    else
        invalidate();
    return *this;
}

bool String::concat(const char *s, unsigned n)
{
    if (!s)
        return false;
    if (n == 0)
        return true;
    if (!reserve(len_ + n))
        return false;
    memmove(buf_ + len_, s, n);
    len_ += n;
    buf_[len_] = 0;
    return true;
}
bool String::concat(const char *s) { return s ? concat(s, strlen(s)) : false; }

int String::compareTo(const String &o) const { return strcmp(c_str(), o.c_str()); }
bool String::equals(const char *s) const { return strcmp(c_str(), s ? s : "") == 0; }
bool String::equalsIgnoreCase(const String &o) const
{
    return len_ == o.len_ && strncasecmp(c_str(), o.c_str(), len_) == 0;
}
bool String::startsWith(const String &p) const
{
    return p.len_ <= len_ && strncmp(c_str(), p.c_str(), p.len_) == 0;
}
bool String::endsWith(const String &s) const
{
    return s.len_ <= len_ && strcmp(c_str() + len_ - s.len_, s.c_str()) == 0;
}
int String::indexOf(char c, unsigned from) const
{
    if (from >= len_)
        return -1;
    const char *p = strchr(c_str() + from, c);
    return p ? (int)(p - c_str()) : -1;
}
int String::indexOf(const String &s, unsigned from) const
{
    if (from > len_)
        return -1;
    const char *p = strstr(c_str() + from, s.c_str());
    return p ? (int)(p - c_str()) : -1;
}
String String::substring(unsigned from, unsigned to) const
{
    if (from > to) {
        unsigned t = from;
        from = to;
        to = t;
    }
    if (from >= len_)
        return String();
    if (to > len_)
        to = len_;
    return String(c_str() + from, to - from);
}
void String::trim()
{
    if (!buf_ || !len_)
        return;
    unsigned b = 0, e = len_;
    while (b < e && isspace((unsigned char)buf_[b]))
        b++;
    while (e > b && isspace((unsigned char)buf_[e - 1]))
        e--;
    len_ = e - b;
    memmove(buf_, buf_ + b, len_);
    buf_[len_] = 0;
}
void String::toLowerCase() { for (unsigned i = 0; i < len_; i++) buf_[i] = (char)tolower((unsigned char)buf_[i]); }
void String::toUpperCase() { for (unsigned i = 0; i < len_; i++) buf_[i] = (char)toupper((unsigned char)buf_[i]); }
long String::toInt() const { return strtol(c_str(), nullptr, 10); }
void String::remove(unsigned index, unsigned count)
{
    if (index >= len_)
        return;
    if (count > len_ - index)
        count = len_ - index;
    memmove(buf_ + index, buf_ + index + count, len_ - index - count + 1);
    len_ -= count;
}

String operator+(const String &a, const String &b) { String r(a); r.concat(b); return r; }
String operator+(const String &a, const char *b) { String r(a); r.concat(b); return r; }
String operator+(const char *a, const String &b) { String r(a); r.concat(b); return r; }
String operator+(const String &a, char b) { String r(a); r.concat(b); return r; }
String operator+(const String &a, int b) { String r(a); r.concat(b); return r; }
String operator+(const String &a, unsigned b) { String r(a); r.concat(b); return r; }
String operator+(const String &a, long b) { String r(a); r.concat(b); return r; }
String operator+(const String &a, unsigned long b) { String r(a); r.concat(b); return r; }
