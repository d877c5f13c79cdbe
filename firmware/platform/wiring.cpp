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

/* ---- TCPClient (Device OS 0.6.x wiring/src/spark_wiring_tcpclient.cpp) ----------------- */
static inline bool isOpen(sock_handle_t sd) { return socket_handle_valid(sd); }

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
    return status() ? (size_t)socket_send(sock_, buf, n) : (size_t)-1;
}
int TCPClient::available()
{
    if (total_ && offset_ == total_)
        flush_buffer();
    if (WiFi.ready() && isOpen(sock_) && total_ < BUF_SIZE) {
        int r = socket_receive(sock_, buffer_ + total_, (size_t)(BUF_SIZE - total_));
        if (r > 0) {
            if (total_ == 0)
                offset_ = 0;
            total_ += r;
        }
    }
    return bufferCount();
}
int TCPClient::read() { return (bufferCount() || available()) ? buffer_[offset_++] : -1; }
int TCPClient::read(uint8_t *buf, size_t n)
{
    int got = -1;
    if (bufferCount() || available()) {
        got = (n > (size_t)bufferCount()) ? bufferCount() : (int)n;
        memcpy(buf, buffer_ + offset_, (size_t)got);
        offset_ += got;
    }
    return got;
}
int TCPClient::peek() { return (bufferCount() || available()) ? buffer_[offset_] : -1; }
void TCPClient::stop()
{
    if (isOpen(sock_))
        socket_close(sock_);
    sock_ = SOCKET_INVALID;
    flush_buffer();
}
uint8_t TCPClient::status()
{
    return isOpen(sock_) && WiFi.ready() && socket_active_status(sock_) == SOCKET_STATUS_ACTIVE;
}
uint8_t TCPClient::connected()
{
    /* open and not closed by the peer, or data still buffered */
    bool rv = status() || bufferCount();
    if (!rv && isOpen(sock_))
        rv = available() > 0;
    return rv;
}
IPAddress TCPClient::remoteIP()
{
    uint8_t ip[4] = {0, 0, 0, 0};
    socket_remote(sock_, ip, nullptr);
    return IPAddress(ip[0], ip[1], ip[2], ip[3]);
}

/* ---- TCPServer (0.6.x spark_wiring_tcpserver.cpp) --------------------------------------- */
bool TCPServer::begin()
{
    stop();
    if (!WiFi.ready())
        return false;
    if (socket_handle_valid(sock_))
        return true;
    sock_handle_t result = socket_create_tcp_server(port_);
    if (socket_handle_valid(result)) {
        sock_ = result;
        return true;
    }
    stop();
    return false;
}

TCPClient TCPServer::available()
{
    if (sock_ == SOCKET_INVALID)
        begin();
    if (!WiFi.ready() || sock_ == SOCKET_INVALID) {
#ifdef FIX_SERVER_STOP
        stop();                   /* PR #1500 (633af5437): close it, not just forget it */
#else
        sock_ = SOCKET_INVALID;   /* 0.6.x: the handle is dropped, its socket not closed */
#endif
        client_ = TCPClient(SOCKET_INVALID);
        return client_;
    }
    sock_handle_t s = socket_accept(sock_);
    client_ = TCPClient(socket_handle_valid(s) ? s : SOCKET_INVALID);
    return client_;
}

void TCPServer::stop()
{
    client_.stop();
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
