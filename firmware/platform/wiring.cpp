/* Wiring API implementation on top of the socket HAL and the system loop. */
#include <new>
#include <stdio.h>
#include <string.h>
#include "Particle.h"
#include "console.h"
#include "system.h"

/* ---- Print ------------------------------------------------------------------------------ */
size_t Print::write(const uint8_t *buf, size_t n)
{
    size_t done = 0;
    while (n--) {
        if (!write(*buf++))
            break;
        done++;
    }
    return done;
}
size_t Print::write(const char *s) { return s ? write((const uint8_t *)s, strlen(s)) : 0; }
size_t Print::print(long v, int base) { return print(String(v, (unsigned char)base)); }
size_t Print::print(unsigned long v, int base) { return print(String(v, (unsigned char)base)); }
size_t Print::print(double v, int digits)
{
    char b[32];
    snprintf(b, sizeof b, "%.*f", digits, v);
    return write(b);
}
size_t Print::vprintf(bool newline, const char *fmt, va_list ap)
{
    char buf[256];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n < 0)
        return 0;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    size_t w = write((const uint8_t *)buf, (size_t)n);
    if (newline)
        w += println();
    return w;
}
size_t Print::printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = vprintf(false, fmt, ap);
    va_end(ap);
    return n;
}
size_t Print::printlnf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = vprintf(true, fmt, ap);
    va_end(ap);
    return n;
}

/* ---- Serial = USART1 -------------------------------------------------------------------- */
USARTSerial Serial;
size_t USARTSerial::write(uint8_t c) { console_write((const char *)&c, 1); return 1; }
size_t USARTSerial::write(const uint8_t *buf, size_t n) { console_write((const char *)buf, n); return n; }

/* ---- IPAddress -------------------------------------------------------------------------- */
size_t IPAddress::printTo(Print &p) const
{
    return p.printf("%u.%u.%u.%u", a_[0], a_[1], a_[2], a_[3]);
}

/* ---- TCPClient (0.6.x semantics) ------------------------------------------------------- */
int TCPClient::connect(const char *host, uint16_t port)
{
    (void)host;
    (void)port;
    return 0;
}
size_t TCPClient::write(uint8_t c) { return write(&c, 1); }
size_t TCPClient::write(const uint8_t *buf, size_t n)
{
    /* a negative result (-16: window full, retry) comes back cast to size_t, as on Device OS */
    return (size_t)(status() ? socket_send(sock_, buf, n) : -1);
}
int TCPClient::available()
{
    return socket_handle_valid(sock_) ? socket_available(sock_) + (peeked_ >= 0) : 0;
}
int TCPClient::read()
{
    if (peeked_ >= 0) {
        int c = peeked_;
        peeked_ = -1;
        return c;
    }
    uint8_t c;
    return socket_receive(sock_, &c, 1) == 1 ? c : -1;
}
int TCPClient::read(uint8_t *buf, size_t n)
{
    if (n == 0)
        return 0;
    size_t got = 0;
    if (peeked_ >= 0) {
        buf[got++] = (uint8_t)peeked_;
        peeked_ = -1;
    }
    int r = socket_receive(sock_, buf + got, n - got);
    if (r > 0)
        got += (size_t)r;
    return got ? (int)got : -1;
}
int TCPClient::peek()
{
    if (peeked_ < 0)
        peeked_ = read();
    return peeked_;
}
void TCPClient::stop()
{
    if (socket_handle_valid(sock_))
        socket_close(sock_);
    sock_ = SOCKET_INVALID;
    peeked_ = -1;
}
uint8_t TCPClient::status() { return socket_active_status(sock_) == SOCKET_STATUS_ACTIVE; }
uint8_t TCPClient::connected() { return status() || available() > 0; }
IPAddress TCPClient::remoteIP()
{
    uint8_t ip[4] = {0, 0, 0, 0};
    socket_remote(sock_, ip, nullptr);
    return IPAddress(ip[0], ip[1], ip[2], ip[3]);
}

/* ---- TCPServer ------------------------------------------------------------------------- */
bool TCPServer::begin()
{
    if (!WiFi.ready())
        return false;
    sock_ = socket_create_tcp_server(port_);
    return sock_ != SOCKET_INVALID;
}

TCPClient TCPServer::available()
{
#ifdef FIX_RELISTEN
    /* the fix: a handle whose socket was disposed underneath us (WiFi loss) is no handle */
    if (sock_ != SOCKET_INVALID && !socket_handle_valid(sock_))
        sock_ = SOCKET_INVALID;
#endif
    /* 0.6.x: begin() again only when the handle is already invalid */
    if (sock_ == SOCKET_INVALID)
        begin();
    if (!WiFi.ready() || sock_ == SOCKET_INVALID) {
        sock_ = SOCKET_INVALID;   /* dropped, not closed */
        client_ = TCPClient(SOCKET_INVALID);
        return client_;
    }
    sock_handle_t s = socket_accept(sock_);
    client_ = TCPClient(s);
    return client_;
}

void TCPServer::stop()
{
    if (socket_handle_valid(sock_))
        socket_close(sock_);
    sock_ = SOCKET_INVALID;
}

size_t TCPServer::write(uint8_t c) { return client_.write(c); }
size_t TCPServer::write(const uint8_t *buf, size_t n) { return client_.write(buf, n); }

/* ---- WiFi, Particle, System, Time ------------------------------------------------------ */
WiFiClass WiFi;
bool WiFiClass::ready() { return system_wifi_ready(); }
bool WiFiClass::connecting() { return !system_wifi_ready(); }
IPAddress WiFiClass::localIP() { return ready() ? IPAddress(192, 168, 0, 42) : IPAddress(); }

CloudClass Particle;
bool CloudClass::connected() { return system_cloud_connected(); }
void CloudClass::process() { system_process(); }

SystemClass System;
int SystemClass::resetReason() { return (int)system_reset_reason(); }
uint32_t SystemClass::resetReasonData() { return system_reset_reason_data(); }
void SystemClass::reset() { system_reset(RESET_REASON_USER, 0); }
uint32_t SystemClass::freeMemory()
{
    return system_free_memory();
}

TimeClass Time;
static time_t time_base = 1488326400;   /* 2017-03-01 00:00:00 UTC: the sim has no RTC or NTP */
static uint32_t time_base_ms;
time_t TimeClass::now() { return time_base + (time_t)((millis() - time_base_ms) / 1000u); }
void TimeClass::setTime(time_t t)
{
    time_base = t;
    time_base_ms = millis();
}
String TimeClass::format(time_t t, const char *fmt)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[64];
    if (strcmp(fmt, TIME_FORMAT_DEFAULT) == 0)
        fmt = "%a %b %e %H:%M:%S %Y";
    size_t n = strftime(buf, sizeof buf, fmt, &tm);
    return String(buf, (unsigned)n);
}
String TimeClass::timeStr(time_t t) { return format(t ? t : now()); }

/* ---- C++ runtime: new/delete go through the heap; OutOfHeap is a panic, as on Device OS -- */
void *operator new(size_t n)
{
    void *p = malloc(n);
    if (!p)
        panic_(OutOfHeap, nullptr, 0, 0);
    return p;
}
void *operator new[](size_t n) { return operator new(n); }
void *operator new(size_t n, const std::nothrow_t &) noexcept { return malloc(n); }
void *operator new[](size_t n, const std::nothrow_t &) noexcept { return malloc(n); }
void operator delete(void *p) noexcept { free(p); }
void operator delete[](void *p) noexcept { free(p); }
void operator delete(void *p, size_t) noexcept { free(p); }
void operator delete[](void *p, size_t) noexcept { free(p); }
extern "C" void __cxa_pure_virtual(void) { panic_(PureVirtualCall, nullptr, 0, 0); }
