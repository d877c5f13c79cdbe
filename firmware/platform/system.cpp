/* The system side of the simulated Photon: boot, SysTick time, and the network manager that
 * Device OS runs between loop() calls (no system thread).
 *
 * Network manager, after Device OS 0.6.x:
 *  - LINK wifi=0 from the bridge: the WiFi is gone; dispose every socket (socket_close_all) and
 *    block (as the blocking WICED re-join does) until LINK wifi=1.  loop() does not run meanwhile.
 *  - cloud lost for CLOUD_TIMEOUT_MS while the WiFi is up: reset the WiFi ourselves: send
 *    NET_RESET, dispose every socket, wait for the bridge's LINK wifi=0 and then wifi=1. */
#include <stdio.h>
#include <string.h>
#include "Particle.h"
#include "cloud.h"
#include "concurrent_hal.h"
#include "console.h"
#include "hw.h"
#include "link.h"
#include "sim_memory.h"
#include "socket_hal.h"
#include "system.h"

#ifndef APP_NAME
#define APP_NAME "app"
#endif
#ifndef VARIANT_NAME
#define VARIANT_NAME "custom"
#endif

extern "C" volatile uint32_t system_millis;
volatile uint32_t system_millis;

namespace {

enum wifi_state_t { WIFI_OFF, WIFI_READY, WIFI_RESETTING, WIFI_REJOINING };

struct net_t {
    wifi_state_t wifi;
    bool link_wifi, link_cloud;   /* last LINK from the bridge */
    uint32_t cloud_lost_at;
    uint32_t resets;
} net;

uint32_t boot_reason, boot_data;

/* RCC reset flags -> Device OS reset reason, checked in this order (RM0033 RCC_CSR) */
const struct { uint32_t bit; uint32_t reason; } RCC_REASONS[] = {
    {1u << 31, RESET_REASON_POWER_MANAGEMENT},  /* LPWRRSTF */
    {1u << 30, RESET_REASON_WATCHDOG},          /* WWDGRSTF */
    {1u << 29, RESET_REASON_WATCHDOG},          /* IWDGRSTF */
    {1u << 28, RESET_REASON_USER},              /* SFTRSTF */
    {1u << 25, RESET_REASON_POWER_BROWNOUT},    /* BORRSTF */
    {1u << 27, RESET_REASON_POWER_DOWN},        /* PORRSTF */
    {1u << 26, RESET_REASON_PIN_RESET},         /* PINRSTF */
};

void decide_reset_reason()
{
    if (crash_record_valid() && crash_record.reset_reason != RESET_REASON_NONE) {
        boot_reason = crash_record.reset_reason;
        boot_data = crash_record.reset_data;
        crash_record.reset_reason = RESET_REASON_NONE;  /* consumed */
        crash_record.reset_data = 0;
        crash_record_seal();
    } else {
        uint32_t csr = RCC_CSR;
        boot_reason = RESET_REASON_NONE;
        for (auto &r : RCC_REASONS)
            if (csr & r.bit) {
                boot_reason = r.reason;
                break;
            }
        boot_data = 0;
    }
    RCC_CSR |= RCC_CSR_RMVF;
}

void print_record()
{
    const crash_record_t &r = crash_record;
    console_printf("@record code=%lu name=%s pc=0x%08lx lr=0x%08lx psr=0x%08lx r0=0x%08lx "
                   "r1=0x%08lx r2=0x%08lx r3=0x%08lx r12=0x%08lx",
                   (unsigned long)r.code, panic_name(r.code), (unsigned long)r.frame[6],
                   (unsigned long)r.frame[5], (unsigned long)r.frame[7], (unsigned long)r.frame[0],
                   (unsigned long)r.frame[1], (unsigned long)r.frame[2], (unsigned long)r.frame[3],
                   (unsigned long)r.frame[4]);
    console_printf(" cfsr=0x%08lx hfsr=0x%08lx mmfar=0x%08lx bfar=0x%08lx sp=0x%08lx "
                   "exc=0x%08lx frame=%lu uptime_ms=%lu count=%lu\r\n",
                   (unsigned long)r.cfsr, (unsigned long)r.hfsr, (unsigned long)r.mmfar,
                   (unsigned long)r.bfar, (unsigned long)r.stack_pointer,
                   (unsigned long)r.exc_return,
                   (unsigned long)r.frame_valid, (unsigned long)r.uptime_ms,
                   (unsigned long)r.panic_count);
}

/* wlan_disconnect_now() in Device OS 0.6.4 (hal/src/photon/wlan_hal.cpp) closes every socket
 * (socket_close_all); PR #1500 commit 9748b3f8b (0.8.0) removed that call: FIX_WLAN_KEEPS_SOCKETS. */
void wifi_lost(const char *why)
{
    cloud_disconnect();
    socket_link_down();
#ifdef FIX_WLAN_KEEPS_SOCKETS
    console_printf("WiFi %s: sockets kept\r\n", why);
#else
    console_printf("WiFi %s: closing all sockets\r\n", why);
    socket_close_all();
#endif
}

void on_link(uint8_t wifi, uint8_t cloud)
{
    if (wifi != net.link_wifi || cloud != net.link_cloud)
        console_printf("@net wifi=%u cloud=%u\r\n", wifi, cloud);
    bool cloud_was = net.link_cloud;
    net.link_wifi = wifi;
    net.link_cloud = cloud;
    if (!wifi) {
        if (net.wifi == WIFI_READY)
            wifi_lost("lost");
        if (net.wifi != WIFI_OFF)
            net.wifi = WIFI_REJOINING;
        else
            net.wifi = WIFI_OFF;
        return;
    }
    /* wifi=1 */
    if (net.wifi == WIFI_OFF || net.wifi == WIFI_REJOINING) {
        net.wifi = WIFI_READY;
        socket_link_up();
        net.cloud_lost_at = system_millis;
    }
    if (net.wifi == WIFI_READY && cloud_was && !cloud)
        net.cloud_lost_at = system_millis;
}

void on_frame(uint8_t type, uint8_t conn, const uint8_t *p, uint16_t len)
{
    switch (type) {
    case MSG_PING:
        if (len >= 4)
            link_send(MSG_PONG, 0, p, 4);
        break;
    case MSG_LINK:
        if (len >= 2)
            on_link(p[0] ? 1 : 0, p[1] ? 1 : 0);
        break;
    default:
        socket_link_event(type, conn, p, len);
        break;
    }
}

void net_reset()
{
    net.resets++;
    console_printf("cloud lost for %lu ms: resetting the WiFi\r\n",
                   (unsigned long)(system_millis - net.cloud_lost_at));
    link_send(MSG_NET_RESET, 0, nullptr, 0);
    net.wifi = WIFI_RESETTING;
    wifi_lost("reset");
}

/* Nothing to do until the network says something (or the time-out passes): the application
 * thread blocks, so the idle thread runs and the CPU sleeps. */
void wait_for_network(uint32_t timeout_ms) { os_event_take(&link_rx_event, timeout_ms); }

/* WiFi re-join: Device OS blocks the application thread in the WICED join; we wait for LINK */
constexpr uint32_t REJOIN_POLL_MS = 100;

} // namespace

extern "C" {

void USART1_IRQHandler(void) { (void)USART_DR(USART1_BASE); }

/* microseconds: the tick count plus how far the SysTick counter is into the current period;
 * never goes back (the tick interrupt may be taken a little after the counter has wrapped) */
uint32_t micros(void)
{
    static uint32_t last;
    uint32_t ms, cvr;
    do {
        ms = system_millis;
        cvr = SYST_CVR;
    } while (ms != system_millis);
    uint32_t in_tick = (SYST_RVR - cvr) / (CPU_HZ / 1000000u);
    if (in_tick >= SYSTICK_MS * 1000u)
        in_tick = SYSTICK_MS * 1000u - 1u;
    uint32_t us = ms * 1000u + in_tick;
    uint32_t s = irq_save();
    if ((int32_t)(us - last) < 0)
        us = last;
    last = us;
    irq_restore(s);
    return us;
}

uint32_t millis(void) { return micros() / 1000u; }

bool system_wifi_ready(void) { return net.wifi == WIFI_READY; }
bool system_cloud_connected(void) { return net.wifi == WIFI_READY && cloud_connected(); }
uint32_t system_reset_reason(void) { return boot_reason; }
uint32_t system_reset_reason_data(void) { return boot_data; }

void system_process(void)
{
    link_poll();
    if (net.wifi == WIFI_READY)
        cloud_process(net.link_cloud);
    if (net.wifi == WIFI_READY && !net.link_cloud &&
        system_millis - net.cloud_lost_at >= CLOUD_TIMEOUT_MS)
        net_reset();
    /* the re-join blocks the application thread until the WiFi is back */
    while (net.wifi != WIFI_READY) {
        wait_for_network(REJOIN_POLL_MS);
        link_poll();
    }
}

void delay(uint32_t ms)
{
    /* system_delay_ms (system/src/system_task.cpp): the system runs while the caller waits */
    uint32_t start = system_millis;
    while (system_millis - start < ms) {
        system_process();
        uint32_t waited = system_millis - start;
        if (waited < ms)
            wait_for_network(ms - waited);
    }
}

} // extern "C"

/* Device OS v0.6.4, hal/src/stm32f2xx/core_hal_stm32f2xx.c: main() creates "app_thread"
 * (xTaskCreate, APPLICATION_STACK_SIZE 6144 bytes, FreeRTOS priority 2) and starts the
 * scheduler; the thread runs application_start() -> app_setup_and_loop() (system/src/main.cpp).
 * With SYSTEM_THREAD(DISABLED), the default, the system's network management runs in this same
 * thread between loop() calls (Spark_Idle) and inside delay(). */
constexpr size_t APPLICATION_STACK_SIZE = 6144;

static void app_setup_and_loop(void *)
{
    console_init();
    decide_reset_reason();
    console_printf("\r\n@boot reason=%lu data=%lu app=%s variant=%s\r\n", (unsigned long)boot_reason,
                   (unsigned long)boot_data, APP_NAME, VARIANT_NAME);
    console_printf("@sim %s\r\n", sim_memory_label);
    if (crash_record_valid() && crash_record.panic_count)
        print_record();
    socket_init();
    link_init(on_frame);
    uint8_t hello[1 + sizeof APP_NAME - 1];
    hello[0] = LINK_PROTOCOL_VERSION;
    memcpy(hello + 1, APP_NAME, sizeof APP_NAME - 1);
    link_send(MSG_HELLO, 0, hello, sizeof hello);
    system_process();   /* AUTOMATIC mode: setup() runs once the network is up */
    setup();
    for (;;) {
        loop();
        system_process();
    }
}

int main(void)
{
    if (!os_thread_create("app_thread", OS_PRIORITY_APP, app_setup_and_loop, nullptr,
                          APPLICATION_STACK_SIZE))
        panic_(OutOfHeap, nullptr, 0, 0);
    os_scheduler_start();
}
