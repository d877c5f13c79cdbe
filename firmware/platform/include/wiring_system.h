/* System, time and Serial of the Wiring API. */
#ifndef PHOTONDBG_WIRING_SYSTEM_H
#define PHOTONDBG_WIRING_SYSTEM_H
#include <time.h>
#include "panic.h"
#include "wiring_print.h"

extern "C" {
uint32_t millis(void);
uint32_t micros(void);
void delay(uint32_t ms);
}

class USARTSerial : public Stream {
public:
    void begin(unsigned long baud = 9600) { (void)baud; }
    void end() {}
    size_t write(uint8_t c) override;
    size_t write(const uint8_t *buf, size_t n) override;
    using Print::write;
    int available() override { return 0; }
    int read() override { return -1; }
    int peek() override { return -1; }
    void flush() override {}
    bool isConnected() { return true; }
    operator bool() { return true; }
};
extern USARTSerial Serial;

class SystemClass {
public:
    int resetReason();
    uint32_t resetReasonData();
    void reset();
    uint32_t freeMemory();
    const char *version() { return "0.6.x-sim"; }
};
extern SystemClass System;

#define TIME_FORMAT_DEFAULT "asctime"
#define TIME_FORMAT_ISO8601_FULL "%Y-%m-%dT%H:%M:%S%z"
class TimeClass {
public:
    time_t now();
    uint32_t local() { return (uint32_t)now(); }
    void setTime(time_t t);
    bool isValid() { return true; }
    String format(time_t t, const char *fmt = TIME_FORMAT_DEFAULT);
    String timeStr(time_t t = 0);
};
extern TimeClass Time;

/* Device OS macros the apps may use; the sim has one mode: automatic, no system thread. */
#define SYSTEM_MODE(m)
#define SYSTEM_THREAD(x)
#define STARTUP(x)
#define PRODUCT_ID(x)
#define PRODUCT_VERSION(x)
#endif
