/* String, as much of the Wiring/Particle String as the apps need; the buffer lives on the heap. */
#ifndef PHOTONDBG_WIRING_STRING_H
#define PHOTONDBG_WIRING_STRING_H
#include <stddef.h>
#include <stdint.h>

class String {
public:
    String(const char *s = "");
    String(const char *s, unsigned len);
    String(const String &o);
    String(String &&o) noexcept;
    explicit String(char c);
    explicit String(int v, unsigned char base = 10);
    explicit String(unsigned v, unsigned char base = 10);
    explicit String(long v, unsigned char base = 10);
    explicit String(unsigned long v, unsigned char base = 10);
    ~String();

    String &operator=(const String &o);
    String &operator=(String &&o) noexcept;
    String &operator=(const char *s);

    bool reserve(unsigned size);
    unsigned length() const { return len_; }
    const char *c_str() const { return buf_ ? buf_ : ""; }
    operator const char *() const { return c_str(); }

    bool concat(const char *s, unsigned n);
    bool concat(const char *s);
    bool concat(const String &s) { return concat(s.c_str(), s.len_); }
    bool concat(char c) { return concat(&c, 1); }
    bool concat(int v) { return concat(String(v)); }
    bool concat(unsigned v) { return concat(String(v)); }
    bool concat(long v) { return concat(String(v)); }
    bool concat(unsigned long v) { return concat(String(v)); }
    template <typename T> String &operator+=(const T &v) { concat(v); return *this; }

    char charAt(unsigned i) const { return i < len_ ? buf_[i] : 0; }
    char operator[](unsigned i) const { return charAt(i); }
    int compareTo(const String &o) const;
    bool equals(const String &o) const { return compareTo(o) == 0; }
    bool equals(const char *s) const;
    bool operator==(const String &o) const { return equals(o); }
    bool operator==(const char *s) const { return equals(s); }
    bool operator!=(const String &o) const { return !equals(o); }
    bool operator!=(const char *s) const { return !equals(s); }
    bool equalsIgnoreCase(const String &o) const;
    bool startsWith(const String &prefix) const;
    bool endsWith(const String &suffix) const;
    int indexOf(char c, unsigned from = 0) const;
    int indexOf(const String &s, unsigned from = 0) const;
    String substring(unsigned from) const { return substring(from, len_); }
    String substring(unsigned from, unsigned to) const;
    void trim();
    void toLowerCase();
    void toUpperCase();
    long toInt() const;
    void remove(unsigned index, unsigned count);

private:
    char *buf_;
    unsigned cap_;
    unsigned len_;
    bool copy(const char *s, unsigned n);
    void invalidate();
};

String operator+(const String &a, const String &b);
String operator+(const String &a, const char *b);
String operator+(const char *a, const String &b);
String operator+(const String &a, char b);
String operator+(const String &a, int b);
String operator+(const String &a, unsigned b);
String operator+(const String &a, long b);
String operator+(const String &a, unsigned long b);
#endif
