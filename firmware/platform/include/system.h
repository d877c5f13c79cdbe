#ifndef PHOTONDBG_SYSTEM_H
#define PHOTONDBG_SYSTEM_H
#include <stdbool.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
#define CLOUD_TIMEOUT_MS 3000u   /* cloud gone this long -> reset the WiFi (Device OS: much longer) */
bool system_wifi_ready(void);
bool system_cloud_connected(void);
void system_process(void);       /* the "system thread": between loop() calls and inside delay() */
uint32_t system_reset_reason(void);
uint32_t system_free_memory(void); /* System.freeMemory() (newlib_stubs.c) */
uint32_t system_reset_reason_data(void);
#ifdef __cplusplus
}
#endif
#endif
