/* Our model of the WICED/LwIP calls the Photon socket HAL makes (see lwip_model.h).
 *
 * Traceability (facts read, no code copied):
 *  - memp pools with a LIFO free list whose link is the first word of the freed element, and
 *    memp_free() of NULL a no-op: LwIP 1.4 src/core/memp.c.
 *  - pbuf_free(): decrement ref, free the chain while ref reaches 0, PBUF_POOL pbufs back to
 *    their pool: LwIP 1.4 src/core/pbuf.c.  netbuf_delete(): pbuf_free(p), then memp_free:
 *    src/api/netbuf.c.  netconn_delete(NULL) returns ERR_OK; otherwise the pcb is closed, the
 *    recvmbox drained (each netbuf deleted) and the netconn returned to MEMP_NETCONN:
 *    src/api/api_lib.c, api_msg.c (do_delconn, netconn_drain, netconn_free).
 *  - wiced_tcp_server_start/stop, wiced_tcp_accept, wiced_tcp_disconnect (accept_handler if set,
 *    else conn_handler -- which for an accept socket is the server's listen netconn),
 *    wiced_tcp_server_disconnect_socket (delete accept_handler, point conn_handler back at the
 *    listen netconn, mark the slot closed), the lowest-free accept socket, wiced_packet_delete =
 *    netbuf_delete: WICED SDK 3.x WICED/network/LwIP/WICED/tcpip.c, as linked into Device OS
 *    v0.6.4 (hal/src/photon/lib/FreeRTOS/WICED_LwIP_Interface.a).
 *
 * Sim-only (labelled): segments are link frames to the bridge; a listen pcb outlives a WiFi
 * loss (LwIP keeps listen pcbs bound to IP_ADDR_ANY across netif down/up), so an open server
 * is announced to the bridge again when the WiFi returns; established connections are aborted
 * when the WiFi goes (the bridge has already dropped their peers). */
#include <string.h>
#include "console.h"
#include "link.h"
#include "lwip_model.h"

enum memp_t { MEMP_NETCONN, MEMP_NETBUF, MEMP_PBUF_POOL, MEMP_MAX };
enum pbuf_type { PBUF_RAM = 0, PBUF_ROM = 1, PBUF_REF = 2, PBUF_POOL = 3 };
enum { CB_CONNECT = 0, CB_RECEIVE = 1, CB_DISCONNECT = 2 };
#define MAX_SERVERS 5            /* WICED_MAXIMUM_NUMBER_OF_SERVERS (sockets with callbacks) */
#define LINK_IDS 256

struct memp {
    struct memp *next;
};

struct pool_pbuf {
    struct pbuf hdr;
    uint8_t payload[PBUF_POOL_BUFSIZE];
};

/* LwIP's pools are static memory, not the heap */
static struct netconn memp_netconn[MEMP_NUM_NETCONN];
static struct netbuf memp_netbuf[MEMP_NUM_NETBUF];
static struct pool_pbuf memp_pbuf_pool[PBUF_POOL_SIZE];
static struct memp *memp_tab[MEMP_MAX];

static struct wiced_tcp_server_t *server_list[MAX_SERVERS];
static struct netconn *by_link[LINK_IDS];     /* sim: the active pcb list, by link id */
static struct netconn *acceptmbox;           /* the connection being accepted (one at a time) */
static int netif_up;

static void pool_init(enum memp_t t, void *base, size_t size, unsigned n)
{
    memp_tab[t] = nullptr;
    for (unsigned i = n; i-- > 0;) {
        struct memp *m = (struct memp *)((uint8_t *)base + i * size);
        m->next = memp_tab[t];
        memp_tab[t] = m;
    }
}

void lwip_model_init(void)
{
    pool_init(MEMP_NETCONN, memp_netconn, sizeof memp_netconn[0], MEMP_NUM_NETCONN);
    pool_init(MEMP_NETBUF, memp_netbuf, sizeof memp_netbuf[0], MEMP_NUM_NETBUF);
    pool_init(MEMP_PBUF_POOL, memp_pbuf_pool, sizeof memp_pbuf_pool[0], PBUF_POOL_SIZE);
}

static void *memp_malloc(enum memp_t t)
{
    struct memp *m = memp_tab[t];
    if (m)
        memp_tab[t] = m->next;
    return m;
}

static void memp_free(enum memp_t t, void *mem)
{
    if (mem == nullptr)
        return;
    struct memp *m = (struct memp *)mem;
    m->next = memp_tab[t];
    memp_tab[t] = m;
}

static struct pbuf *pbuf_alloc_pool(uint16_t len)
{
    struct pbuf *p = (struct pbuf *)memp_malloc(MEMP_PBUF_POOL);
    if (p == nullptr)
        return nullptr;
    p->next = nullptr;
    p->payload = (uint8_t *)p + sizeof(struct pbuf);
    p->tot_len = len;
    p->len = len;
    p->type = PBUF_POOL;
    p->flags = 0;
    p->ref = 1;
    return p;
}

uint8_t pbuf_free(struct pbuf *p)
{
    uint8_t count = 0;
    while (p != nullptr) {
        uint16_t ref = --p->ref;
        if (ref != 0)
            break;
        struct pbuf *q = p->next;
        if (p->type == PBUF_POOL)
            memp_free(MEMP_PBUF_POOL, p);
        /* PBUF_RAM: mem_free() ignores a pointer outside LwIP's ram heap; ROM/REF pbufs are
         * not used on this path (sim: their pool is not modelled) */
        count++;
        p = q;
    }
    return count;
}

void netbuf_delete(struct netbuf *buf)
{
    if (buf == nullptr)
        return;
    if (buf->p != nullptr) {
        pbuf_free(buf->p);
        buf->p = buf->ptr = nullptr;
    }
    memp_free(MEMP_NETBUF, buf);
}

static struct netconn *netconn_alloc(uint8_t state)
{
    struct netconn *c = (struct netconn *)memp_malloc(MEMP_NETCONN);
    if (c == nullptr)
        return nullptr;
    c->type = 0x10;   /* NETCONN_TCP */
    c->state = state;
    c->link_id = 0;
    c->last_err = ERR_OK;
    c->recv_head = 0;
    c->recv_count = 0;
    c->tx_unacked = 0;
    c->callback = nullptr;
    return c;
}

err_t netconn_delete(struct netconn *conn)
{
    if (conn == nullptr)
        return ERR_OK;
    /* do_delconn: close the pcb (sim: the link connection; a listener is unannounced) */
    uint8_t id = conn->link_id;
    if (conn->state == NETCONN_LISTEN) {
        if (netif_up && id)
            link_send(MSG_UNLISTEN, id, nullptr, 0);
    } else if (id && by_link[id] == conn) {
        by_link[id] = nullptr;
        if (netif_up)
            link_send(MSG_CLOSE, id, nullptr, 0);
    }
    conn->link_id = 0;
    conn->state = NETCONN_CLOSE;
    /* netconn_drain: every netbuf still in the recvmbox is deleted */
    while (conn->recv_count) {
        struct netbuf *nb = conn->recvmbox[conn->recv_head % RECVMBOX_SIZE];
        conn->recv_head = (uint8_t)(conn->recv_head + 1);
        conn->recv_count = (uint8_t)(conn->recv_count - 1);
        netbuf_delete(nb);
    }
    memp_free(MEMP_NETCONN, conn);
    return ERR_OK;
}

/* ---- WICED tcpip.c -------------------------------------------------------------------- */

wiced_result_t wiced_tcp_server_start(struct wiced_tcp_server_t *server, uint16_t port,
                                      wiced_socket_callback_t connected,
                                      wiced_socket_callback_t received,
                                      wiced_socket_callback_t disconnected, void *arg)
{
    if (!netif_up)
        return WICED_ERROR;   /* WICED_LINK_CHECK: WICED_NOTUP */
    int slot = -1;
    for (int i = 0; i < MAX_SERVERS; i++)
        if (server_list[i] == nullptr) {
            slot = i;
            break;
        }
    if (slot < 0)
        return WICED_ERROR;
    struct netconn *listen = netconn_alloc(NETCONN_LISTEN);
    if (listen == nullptr)
        return WICED_ERROR;
    server_list[slot] = server;
    server->port = port;
    server->listener_id = (uint8_t)(slot + 1);
    listen->link_id = server->listener_id;
    server->listen_socket.conn_handler = listen;
    server->listen_socket.accept_handler = nullptr;
    server->listen_socket.is_bound = 1;
    server->listen_socket.callbacks[CB_CONNECT] = connected;
    server->listen_socket.callbacks[CB_RECEIVE] = received;
    server->listen_socket.callbacks[CB_DISCONNECT] = disconnected;
    server->listen_socket.arg = arg;
    for (int i = 0; i < WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS; i++) {
        server->accept_socket_state[i] = WICED_SOCKET_CLOSED;
        server->accept_socket[i].is_bound = 0;
        server->accept_socket[i].conn_handler = listen;
        server->accept_socket[i].accept_handler = nullptr;
        server->accept_socket[i].tls_context = nullptr;
    }
    server->data_pending_on_socket = -1;
    uint8_t p[2] = {(uint8_t)port, (uint8_t)(port >> 8)};
    link_send(MSG_LISTEN, server->listener_id, p, 2);
    return WICED_SUCCESS;
}

wiced_result_t wiced_tcp_server_stop(struct wiced_tcp_server_t *server)
{
    for (int i = 0; i < WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS; i++) {
        netconn_delete(server->accept_socket[i].accept_handler);
        server->accept_socket[i].accept_handler = nullptr;
        server->accept_socket[i].conn_handler = nullptr;
        server->accept_socket[i].is_bound = 0;
    }
    netconn_delete(server->listen_socket.conn_handler);
    /* WICED clears the whole server list here, not only this server's entry */
    for (int i = 0; i < MAX_SERVERS; i++)
        server_list[i] = nullptr;
    return WICED_SUCCESS;
}

/* Take the connection waiting on the listen netconn (netconn_accept on conn_handler). */
wiced_result_t wiced_tcp_accept(struct wiced_tcp_socket_t *socket)
{
    if (socket->accept_handler != nullptr) {
        netconn_delete(socket->accept_handler);
        socket->accept_handler = nullptr;
    }
    struct netconn *c = acceptmbox;
    acceptmbox = nullptr;
    if (c == nullptr)
        return WICED_ERROR;
    socket->accept_handler = c;
    return WICED_SUCCESS;
}

static void tls_close_notify(struct wiced_tcp_socket_t *socket)
{
    /* wiced_tls_close_notify(): reads the TLS context's state (sim: one word) */
    (void)*(volatile uint32_t *)socket->tls_context;
}

wiced_result_t wiced_tcp_disconnect(struct wiced_tcp_socket_t *socket)
{
    if (socket->tls_context != nullptr)
        tls_close_notify(socket);
    if (socket->accept_handler != nullptr) {
        netconn_delete(socket->accept_handler);
        socket->accept_handler = nullptr;
    } else {
        netconn_delete(socket->conn_handler);
        socket->conn_handler = nullptr;
        socket->is_bound = 0;
    }
    return WICED_SUCCESS;
}

static int socket_index_for_server(struct wiced_tcp_server_t *server,
                                   struct wiced_tcp_socket_t *socket)
{
    for (int i = 0; i < WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS; i++)
        if (&server->accept_socket[i] == socket)
            return i;
    return -1;
}

wiced_result_t wiced_tcp_server_disconnect_socket(struct wiced_tcp_server_t *server,
                                                  struct wiced_tcp_socket_t *socket)
{
    int index = socket_index_for_server(server, socket);
    if (socket->accept_handler != nullptr) {
        netconn_delete(socket->accept_handler);
        socket->accept_handler = nullptr;
        socket->is_bound = 0;
        socket->conn_handler = server->listen_socket.conn_handler;
    }
    if (index >= 0 && index < WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS) {
        server->accept_socket_state[index] = WICED_SOCKET_CLOSED;
        return WICED_SUCCESS;
    }
    return WICED_ERROR;
}

static struct netconn *data_conn(struct wiced_tcp_socket_t *socket)
{
    return socket->accept_handler ? socket->accept_handler : socket->conn_handler;
}

wiced_result_t wiced_tcp_receive(struct wiced_tcp_socket_t *socket, wiced_packet_t **packet,
                                 uint32_t timeout)
{
    (void)timeout;   /* sim: non-blocking, as the HAL calls it with 0 */
    struct netconn *c = data_conn(socket);
    if (c == nullptr)
        return WICED_NOT_CONNECTED;
    if (c->recv_count == 0)
        return c->last_err < 0 ? WICED_CONNECTION_CLOSED : WICED_TIMEOUT;
    struct netbuf *nb = c->recvmbox[c->recv_head % RECVMBOX_SIZE];
    c->recv_head = (uint8_t)(c->recv_head + 1);
    c->recv_count = (uint8_t)(c->recv_count - 1);
    /* netconn_recv -> tcp_recved: the window opens by what the application took */
    if (nb && nb->p && netif_up && c->link_id && by_link[c->link_id] == c) {
        uint16_t n = nb->p->tot_len;
        uint8_t ack[2] = {(uint8_t)n, (uint8_t)(n >> 8)};
        link_send(MSG_ACK, c->link_id, ack, 2);
    }
    *packet = nb;
    return WICED_SUCCESS;
}

wiced_result_t wiced_tcp_send_buffer_ex(struct wiced_tcp_socket_t *socket, const void *buffer,
                                        uint16_t *len)
{
    struct netconn *c = data_conn(socket);
    uint16_t want = *len;
    *len = 0;
    if (c == nullptr || !netif_up)
        return WICED_NOT_CONNECTED;
    if (c->last_err < 0 || c->link_id == 0 || by_link[c->link_id] != c)
        return WICED_CONNECTION_CLOSED;
    uint16_t room = (uint16_t)(LINK_WINDOW - c->tx_unacked);
    if (room == 0)
        return WICED_TCPIP_BUFFER_FULL;
    if (want > room)
        want = room;
    for (uint16_t sent = 0; sent < want;) {
        uint16_t n = (uint16_t)((want - sent) > LINK_MAX_PAYLOAD ? LINK_MAX_PAYLOAD : want - sent);
        link_send(MSG_DATA, c->link_id, (const uint8_t *)buffer + sent, n);
        sent = (uint16_t)(sent + n);
    }
    c->tx_unacked = (uint16_t)(c->tx_unacked + want);
    *len = want;
    return WICED_SUCCESS;
}

wiced_result_t wiced_packet_delete(wiced_packet_t *packet)
{
    netbuf_delete(packet);
    return WICED_SUCCESS;
}

wiced_result_t wiced_packet_get_data(wiced_packet_t *packet, uint16_t offset, uint8_t **data,
                                     uint16_t *fragment, uint16_t *total)
{
    packet->ptr = packet->p;   /* netbuf_first */
    *total = (uint16_t)(packet->p->tot_len - offset);
    while (packet->ptr != nullptr) {
        uint16_t frag = packet->ptr->len;
        *data = (uint8_t *)packet->ptr->payload;
        if (frag == 0) {
            *data = nullptr;
            *fragment = 0;
            *total = 0;
            return WICED_SUCCESS;
        }
        if (offset < frag) {
            *data += offset;
            *fragment = (uint16_t)(frag - offset);
            return WICED_SUCCESS;
        }
        offset = (uint16_t)(offset - frag);
        packet->ptr = packet->ptr->next;   /* netbuf_next */
    }
    return WICED_ERROR;   /* WICED_CORRUPT_PACKET_BUFFER */
}

/* sim: the peer's address is kept beside the pcb stand-in */
static uint8_t peer_ip[LINK_IDS][4];
static uint16_t peer_port[LINK_IDS];

wiced_result_t wiced_tcp_server_peer(struct wiced_tcp_socket_t *socket, uint8_t ip[4],
                                     uint16_t *port)
{
    struct netconn *c = socket->accept_handler;
    if (c == nullptr)
        return WICED_ERROR;
    memcpy(ip, peer_ip[c->link_id], 4);
    if (port)
        *port = peer_port[c->link_id];
    return WICED_SUCCESS;
}

wiced_result_t wiced_last_error(struct wiced_tcp_socket_t *socket)
{
    struct netconn *c = data_conn(socket);
    return (c && c->last_err < 0) ? WICED_CONNECTION_CLOSED : WICED_SUCCESS;
}

/* ---- the network thread: frames from the bridge --------------------------------------- */

static struct wiced_tcp_server_t *server_by_listener(uint8_t lid)
{
    for (int i = 0; i < MAX_SERVERS; i++)
        if (server_list[i] && server_list[i]->listener_id == lid)
            return server_list[i];
    return nullptr;
}

/* internal_tcp_server_find_free_socket: the lowest slot not in use */
static int find_free_socket(struct wiced_tcp_server_t *server)
{
    for (int i = 0; i < WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS; i++)
        if (server->accept_socket_state[i] == WICED_SOCKET_CLOSED)
            return i;
    return -1;
}

/* A connection to a listening server arrived (the pcb's accept callback, then WICED's async
 * server callback). */
static void on_accept(uint8_t id, const uint8_t *p, uint16_t len)
{
    struct wiced_tcp_server_t *server = len >= 7 ? server_by_listener(p[0]) : nullptr;
    int slot = server ? find_free_socket(server) : -1;
    struct netconn *c = (slot >= 0 && !by_link[id]) ? netconn_alloc(NETCONN_WRITE) : nullptr;
    if (c == nullptr) {
        link_send(MSG_CLOSE, id, nullptr, 0);
        return;
    }
    c->link_id = id;
    by_link[id] = c;
    memcpy(peer_ip[id], p + 1, 4);
    peer_port[id] = (uint16_t)(p[5] | p[6] << 8);
    acceptmbox = c;
    struct wiced_tcp_socket_t *s = &server->accept_socket[slot];
    server->accept_socket_state[slot] = WICED_SOCKET_CONNECTED;
    wiced_socket_callback_t cb = server->listen_socket.callbacks[CB_CONNECT];
    wiced_result_t r = cb ? cb(s, server->listen_socket.arg) : WICED_ERROR;
    if (acceptmbox != nullptr) {   /* nobody took it */
        acceptmbox = nullptr;
        if (r != WICED_SUCCESS)
            server->accept_socket_state[slot] = WICED_SOCKET_CLOSED;
        netconn_delete(c);
    }
}

/* The connection is gone from the other side: the pcb's error/recv(NULL) callback, then the
 * server socket's disconnect callback. */
static void on_peer_gone(struct netconn *c, err_t why)
{
    c->last_err = why;
    for (int i = 0; i < MAX_SERVERS; i++) {
        struct wiced_tcp_server_t *server = server_list[i];
        if (server == nullptr)
            continue;
        for (int k = 0; k < WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS; k++)
            if (server->accept_socket[k].accept_handler == c) {
                wiced_socket_callback_t cb = server->listen_socket.callbacks[CB_DISCONNECT];
                if (cb)
                    cb(&server->accept_socket[k], server->listen_socket.arg);
                return;
            }
    }
}

void lwip_link_event(uint8_t type, uint8_t id, const uint8_t *p, uint16_t len)
{
    struct netconn *c = by_link[id];
    switch (type) {
    case MSG_LISTEN_OK: {
        struct wiced_tcp_server_t *server = server_by_listener(id);
        if (server && len >= 3) {
            if (p[0] == 0)
                console_printf("@listen port=%u\r\n", server->port);
            else
                console_printf("listen on port %u refused (%u)\r\n", server->port, p[0]);
        }
        break;
    }
    case MSG_ACCEPT:
        on_accept(id, p, len);
        break;
    case MSG_DATA: {
        if (c == nullptr || c->last_err < 0 || len == 0)
            break;
        struct netbuf *nb = (struct netbuf *)memp_malloc(MEMP_NETBUF);
        struct pbuf *pb = len <= PBUF_POOL_BUFSIZE ? pbuf_alloc_pool(len) : nullptr;
        if (nb == nullptr || pb == nullptr || c->recv_count >= RECVMBOX_SIZE) {
            /* out of pool (sim: the segment is dropped and never ACKed) */
            memp_free(MEMP_NETBUF, nb);
            pbuf_free(pb);
            break;
        }
        memcpy(pb->payload, p, len);
        nb->p = nb->ptr = pb;
        nb->addr = 0;
        nb->port = 0;
        c->recvmbox[(c->recv_head + c->recv_count) % RECVMBOX_SIZE] = nb;
        c->recv_count = (uint8_t)(c->recv_count + 1);
        break;
    }
    case MSG_ACK:
        if (c && len >= 2) {
            uint16_t n = (uint16_t)(p[0] | p[1] << 8);
            c->tx_unacked = n > c->tx_unacked ? 0 : (uint16_t)(c->tx_unacked - n);
        }
        break;
    case MSG_CLOSE:
        if (c && c->last_err == ERR_OK)
            on_peer_gone(c, ERR_CLSD);
        break;
    }
}

void lwip_netif_down(void)
{
    netif_up = 0;
    for (int id = 1; id < LINK_IDS; id++) {
        struct netconn *c = by_link[id];
        if (c == nullptr)
            continue;
        by_link[id] = nullptr;          /* tcp_abort: the pcb is gone */
        c->link_id = 0;
        if (c->last_err == ERR_OK)
            on_peer_gone(c, ERR_ABRT);
    }
}

void lwip_netif_up(void)
{
    netif_up = 1;
    for (int i = 0; i < MAX_SERVERS; i++) {
        struct wiced_tcp_server_t *server = server_list[i];
        if (server && server->listen_socket.conn_handler) {
            uint8_t p[2] = {(uint8_t)server->port, (uint8_t)(server->port >> 8)};
            link_send(MSG_LISTEN, server->listener_id, p, 2);
        }
    }
}

int lwip_netif_is_up(void) { return netif_up; }
