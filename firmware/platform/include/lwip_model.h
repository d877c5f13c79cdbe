/* The WICED/LwIP layer under the Photon's socket HAL, modelled in our own code.
 *
 * Device OS 0.6.4 links WICED's LwIP interface as a binary (hal/src/photon/lib/FreeRTOS/
 * WICED_LwIP_Interface.a); its source shape is WICED SDK 3.x WICED/network/LwIP/WICED/tcpip.c
 * over LwIP 1.4 (api_lib.c, api_msg.c, memp.c, pbuf.c, netbuf.c).  What is modelled is what the
 * socket HAL's calls do to memory: the state writes, the packet frees, the pool pushes.  Nothing
 * checks its arguments beyond what WICED/LwIP check (a NULL test), so garbage handed in through
 * a stale tcp_server_client_t does here what it does there.
 *
 * Sim-only: the TCP/IP stack proper is the bridge on the other end of USART2; a netconn's
 * `link_id` stands for its tcp_pcb, and DATA/ACK/CLOSE frames for segments. */
#ifndef PHOTONDBG_LWIP_MODEL_H
#define PHOTONDBG_LWIP_MODEL_H
#include <stddef.h>
#include <stdint.h>

/* lwipopts.h of WICED for the Photon: MEMP_NUM_NETCONN 18 is the accept-slot count too */
#define MEMP_NUM_NETCONN 18
#define MEMP_NUM_NETBUF 16
#define PBUF_POOL_SIZE 10
#define PBUF_POOL_BUFSIZE 512     /* sim: one link DATA frame (LINK_MAX_PAYLOAD) per pbuf */
#define RECVMBOX_SIZE 8           /* DEFAULT_TCP_RECVMBOX_SIZE */
#define WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS MEMP_NUM_NETCONN

typedef int8_t err_t;
enum { ERR_OK = 0, ERR_MEM = -1, ERR_CONN = -13, ERR_ABRT = -10, ERR_CLSD = -12 };

typedef enum {
    WICED_SUCCESS = 0, WICED_TIMEOUT = 2, WICED_ERROR = 4, WICED_BADARG = 5,
    WICED_TCPIP_BUFFER_FULL = 16,     /* socket_send() returns -16: "retry later" */
    WICED_TCPIP_INVALID_SOCKET = 7018, WICED_NOT_CONNECTED = 7015, WICED_CONNECTION_CLOSED = 7022,
} wiced_result_t;

/* LwIP 1.4 pbuf.h */
struct pbuf {
    struct pbuf *next;
    void *payload;
    uint16_t tot_len;
    uint16_t len;
    uint8_t type;
    uint8_t flags;
    uint16_t ref;
};

/* LwIP 1.4 netbuf.h: WICED's wiced_packet_t is a netbuf */
struct netbuf {
    struct pbuf *p, *ptr;
    uint32_t addr;
    uint16_t port;
};
typedef struct netbuf wiced_packet_t;

enum netconn_state { NETCONN_NONE, NETCONN_WRITE, NETCONN_LISTEN, NETCONN_CONNECT, NETCONN_CLOSE };

/* LwIP 1.4 api.h struct netconn, with a FIFO for recvmbox */
struct netconn {
    uint8_t type;
    uint8_t state;
    uint8_t link_id;              /* sim: stands for pcb.tcp (0 = none) */
    err_t last_err;
    struct netbuf *recvmbox[RECVMBOX_SIZE];
    uint8_t recv_head, recv_count;
    uint16_t tx_unacked;          /* sim: the pcb's unacked bytes (bridge window) */
    void (*callback)(struct netconn *conn, int evt, uint16_t len);
};

struct wiced_tcp_socket_t;
typedef wiced_result_t (*wiced_socket_callback_t)(struct wiced_tcp_socket_t *socket, void *arg);

/* WICED wiced_tcpip.h for LwIP */
struct wiced_tcp_socket_t {
    struct netconn *conn_handler;
    struct netconn *accept_handler;
    uint32_t local_ip_addr;
    uint8_t is_bound;
    uint8_t interface;
    void *tls_context;
    wiced_socket_callback_t callbacks[3];
    void *arg;
};

enum { WICED_SOCKET_CLOSED = 0, WICED_SOCKET_LISTEN = 1, WICED_SOCKET_CONNECTED = 2 };

struct wiced_tcp_server_t {
    struct wiced_tcp_socket_t listen_socket;
    struct wiced_tcp_socket_t accept_socket[WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS];
    int accept_socket_state[WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS];
    int data_pending_on_socket;
    uint16_t port;
    uint8_t listener_id;          /* sim: the LISTEN id on the link */
};

/* LwIP memp.c / pbuf.c / netbuf.c / api_lib.c */
void lwip_model_init(void);
err_t netconn_delete(struct netconn *conn);
void netbuf_delete(struct netbuf *buf);
uint8_t pbuf_free(struct pbuf *p);

/* WICED tcpip.c */
wiced_result_t wiced_tcp_server_start(struct wiced_tcp_server_t *server, uint16_t port,
                                      wiced_socket_callback_t connected,
                                      wiced_socket_callback_t received,
                                      wiced_socket_callback_t disconnected, void *arg);
wiced_result_t wiced_tcp_server_stop(struct wiced_tcp_server_t *server);
wiced_result_t wiced_tcp_accept(struct wiced_tcp_socket_t *socket);
wiced_result_t wiced_tcp_disconnect(struct wiced_tcp_socket_t *socket);
wiced_result_t wiced_tcp_server_disconnect_socket(struct wiced_tcp_server_t *server,
                                                  struct wiced_tcp_socket_t *socket);
wiced_result_t wiced_tcp_receive(struct wiced_tcp_socket_t *socket, wiced_packet_t **packet,
                                 uint32_t timeout);
wiced_result_t wiced_tcp_send_buffer_ex(struct wiced_tcp_socket_t *socket, const void *buffer,
                                        uint16_t *len);
wiced_result_t wiced_packet_delete(wiced_packet_t *packet);
wiced_result_t wiced_packet_get_data(wiced_packet_t *packet, uint16_t offset, uint8_t **data,
                                     uint16_t *fragment, uint16_t *total);
wiced_result_t wiced_tcp_server_peer(struct wiced_tcp_socket_t *socket, uint8_t ip[4],
                                     uint16_t *port);
wiced_result_t wiced_last_error(struct wiced_tcp_socket_t *socket);

/* sim: frames from the bridge, and the WiFi (netif) going down and up */
void lwip_link_event(uint8_t type, uint8_t conn, const uint8_t *p, uint16_t len);
void lwip_netif_down(void);
void lwip_netif_up(void);
int lwip_netif_is_up(void);
#endif
