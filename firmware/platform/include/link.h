/* The network link over USART2 to the bridge: framing of docs/link-protocol.md. */
#ifndef PHOTONDBG_LINK_H
#define PHOTONDBG_LINK_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
enum link_msg {
    MSG_HELLO = 0x01, MSG_LINK = 0x02, MSG_NET_RESET = 0x03, MSG_PING = 0x04, MSG_PONG = 0x05,
    MSG_LISTEN = 0x10, MSG_LISTEN_OK = 0x11, MSG_ACCEPT = 0x12, MSG_UNLISTEN = 0x13,
    MSG_DATA = 0x20, MSG_ACK = 0x21, MSG_CLOSE = 0x30,
};
#define LINK_PROTOCOL_VERSION 1
#define LINK_MAX_PAYLOAD 512
#define LINK_WINDOW 2048          /* bytes a sender may keep un-ACKed per connection */
#define LINK_SYNC0 0xA5
#define LINK_SYNC1 0x5A

typedef void (*link_handler_t)(uint8_t type, uint8_t conn, const uint8_t *payload, uint16_t len);

typedef struct {
    uint32_t frames_in, frames_out, crc_errors, len_errors, hunted_bytes, ring_full;
} link_stats_t;

void link_init(link_handler_t handler);
void link_poll(void);   /* decode and dispatch every complete frame in the RX ring */
void link_send(uint8_t type, uint8_t conn, const void *payload, uint16_t len);
void link_send_u8(uint8_t type, uint8_t conn, uint8_t v);
uint16_t link_crc16(uint16_t crc, const uint8_t *p, uint32_t n);
extern link_stats_t link_stats;
#include "concurrent_hal.h"
extern os_event_t link_rx_event;   /* given whenever bytes arrive */
#ifdef __cplusplus
}
#endif
#endif
