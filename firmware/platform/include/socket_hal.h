/* Socket HAL of the simulated Photon, as Device OS v0.6.4 hal/inc/socket_hal.h shapes it: a
 * handle is the address of a heap socket_t; any value below SOCKET_MAX counts as valid. */
#ifndef PHOTONDBG_SOCKET_HAL_H
#define PHOTONDBG_SOCKET_HAL_H
#include <stddef.h>
#include <stdint.h>

typedef uint32_t sock_handle_t;
typedef int32_t sock_result_t;

#define SOCKET_INVALID ((sock_handle_t)-1)
#define SOCKET_STATUS_INACTIVE 0
#define SOCKET_STATUS_ACTIVE 1
#define SOCKET_BUFFER_FULL (-16)        /* WICED_TCPIP_BUFFER_FULL... as Device OS reports it */
#define SOCKET_ERROR_CLOSED (-1)

#ifdef __cplusplus
extern "C" {
#endif
void socket_init(void);
sock_handle_t socket_handle_invalid(void);
uint8_t socket_handle_valid(sock_handle_t h);
sock_handle_t socket_create_tcp_server(uint16_t port);
sock_handle_t socket_accept(sock_handle_t server);
sock_result_t socket_receive(sock_handle_t h, void *buf, size_t len);
sock_result_t socket_send(sock_handle_t h, const void *buf, size_t len);
sock_result_t socket_close(sock_handle_t h);
uint8_t socket_active_status(sock_handle_t h);
int socket_remote(sock_handle_t h, uint8_t ip[4], uint16_t *port);
int socket_close_all(void);

/* events from the link (the network side) */
void socket_link_event(uint8_t type, uint8_t conn, const uint8_t *p, uint16_t len);
void socket_link_down(void);   /* WiFi gone: connections aborted, frames no longer sent */
void socket_link_up(void);     /* WiFi back: open servers listen again */
#ifdef __cplusplus
}
#endif
#endif
