#ifndef PHOTONDBG_CLOUD_H
#define PHOTONDBG_CLOUD_H
#include <stdbool.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
#define CLOUD_RETRY_MS 1000u   /* between connection attempts while the cloud is not connected */
#define CLOUD_CONNECT_TIMEOUT_MS 1500u   /* SYNs unanswered (uplink down): give up */
#define CLOUD_PING_MS  2000u   /* keep-alive while connected (Device OS: 15-25 s) */
void cloud_process(bool uplink);   /* system loop, WiFi up: connect / retry / keep alive */
void cloud_disconnect(void);       /* the cloud socket is gone (cloud or WiFi lost) */
bool cloud_connected(void);
#ifdef __cplusplus
}
#endif
#endif
