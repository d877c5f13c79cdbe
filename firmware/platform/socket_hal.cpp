/* Socket layer of the simulated Photon, modeled on Device OS 0.6.x (hal/src/photon/socket_hal.cpp).
 *
 *  - socket_t: heap object, type tag + union; the handle *is* its address.  Every live socket_t
 *    is on one of two lists (servers, clients); socket_handle_valid() searches them.
 *  - tcp_server_t: one listening port with SERVER_SOCKET_SLOTS per-socket slots, as a WICED
 *    server has; `clients[slot]` points at the tcp_server_client_t accepted on that slot.
 *  - tcp_server_client_t: one accepted connection; its received data are packet buffers
 *    (pbuf_t) on the heap, freed once the application has read them.
 *
 * The 0.6.x defect (fixed by PR #1250, build option FIX_CLIENTS): when a client socket is closed
 * and disposed, its tcp_server_client_t is deleted but its pointer is left in clients[].  On
 * WiFi loss socket_close_all() disposes the server, whose close() walks clients[] and calls
 * close() on every non-NULL entry -- through pointers to freed memory.
 */
#include <new>
#include <stdlib.h>
#include <string.h>
#include "console.h"
#include "link.h"
#include "socket_hal.h"

enum socket_type_t : uint8_t { SOCKET_TCP_SERVER = 1, SOCKET_TCP_SERVER_CLIENT = 2 };
enum slot_state_t : uint8_t { SLOT_LISTENING = 0, SLOT_CONNECTED = 1 };
enum client_state_t : uint8_t { CLIENT_OPEN = 1, CLIENT_PEER_CLOSED = 2, CLIENT_CLOSED = 3 };

static bool link_up = false;   /* frames to the bridge only while the WiFi is up */

/* a received packet: header, then the bytes (like a WICED/lwIP packet buffer) */
struct pbuf_t {
    uint16_t len;
    uint16_t off;
    pbuf_t *next;
    uint8_t data[];
};

struct tcp_server_t;

/* What a server slot points at.  close() is the virtual call made through clients[]. */
struct tcp_server_client_t {
    tcp_server_t *server;
    uint8_t conn;          /* link connection id */
    uint8_t slot;
    uint8_t state;
    uint8_t ip[4];
    uint16_t port;
    uint16_t tx_unacked;   /* bytes sent and not yet ACKed by the bridge */
    pbuf_t *rx_head, *rx_tail;
    uint32_t rx_total;

    tcp_server_client_t(tcp_server_t *s, uint8_t c, uint8_t sl, const uint8_t *addr, uint16_t p)
        : server(s), conn(c), slot(sl), state(CLIENT_OPEN), port(p), tx_unacked(0),
          rx_head(nullptr), rx_tail(nullptr), rx_total(0)
    {
        memcpy(ip, addr, 4);
    }
    virtual ~tcp_server_client_t();
    virtual void close();
    virtual void notify_data(const uint8_t *p, uint16_t len);
};

static tcp_server_client_t *conn_table[256];   /* live connections by link id */

struct tcp_server_t {
    uint16_t port;
    uint8_t listener;
    uint8_t next_slot;
    uint8_t slot_state[SERVER_SOCKET_SLOTS];
    tcp_server_client_t *clients[SERVER_SOCKET_SLOTS];
    tcp_server_client_t *pending[SERVER_SOCKET_SLOTS];   /* accepted, not yet socket_accept()ed */
    uint8_t npending;

    explicit tcp_server_t(uint16_t p, uint8_t id)
        : port(p), listener(id), next_slot(0), slot_state(), clients(), pending(), npending(0) {}

    /* A connection arrived: take the next listening slot, round robin as the WICED sockets do. */
    bool accept(uint8_t conn, const uint8_t *ip, uint16_t rport)
    {
        for (int k = 0; k < SERVER_SOCKET_SLOTS; k++) {
            uint8_t i = (uint8_t)((next_slot + k) % SERVER_SOCKET_SLOTS);
            if (slot_state[i] != SLOT_LISTENING || npending >= SERVER_SOCKET_SLOTS)
                continue;
            tcp_server_client_t *c = new (std::nothrow) tcp_server_client_t(this, conn, i, ip, rport);
            if (c == nullptr)
                return false;
            slot_state[i] = SLOT_CONNECTED;
            clients[i] = c;
            pending[npending++] = c;
            conn_table[conn] = c;
            next_slot = (uint8_t)((i + 1) % SERVER_SOCKET_SLOTS);
            return true;
        }
        return false;
    }

    tcp_server_client_t *next_pending()
    {
        if (npending == 0)
            return nullptr;
        tcp_server_client_t *c = pending[0];
        memmove(pending, pending + 1, sizeof pending[0] * --npending);
        return c;
    }

    /* The client on `c->slot` went away: its WICED socket listens again. */
    void disconnect(tcp_server_client_t *c)
    {
        slot_state[c->slot] = SLOT_LISTENING;
#ifdef FIX_CLIENTS
        clients[c->slot] = nullptr;   /* PR #1250 */
#endif
    }

    void close()
    {
        for (int i = 0; i < SERVER_SOCKET_SLOTS; i++) {
            if (clients[i]) {
                clients[i]->close();
                clients[i] = nullptr;
            }
        }
        /* accepted but never handed to the application: nobody else owns them */
        while (tcp_server_client_t *c = next_pending())
            delete c;
        if (link_up)
            link_send(MSG_UNLISTEN, listener, nullptr, 0);
    }
};

static tcp_server_t *listeners[16];

tcp_server_client_t::~tcp_server_client_t()
{
    close();
    while (rx_head) {
        pbuf_t *p = rx_head;
        rx_head = p->next;
        free(p);
    }
    if (conn_table[conn] == this)
        conn_table[conn] = nullptr;
}

void tcp_server_client_t::close()
{
    if (state == CLIENT_CLOSED)
        return;
    if (state == CLIENT_OPEN && link_up)
        link_send(MSG_CLOSE, conn, nullptr, 0);
    state = CLIENT_CLOSED;
    server->disconnect(this);
}

void tcp_server_client_t::notify_data(const uint8_t *data, uint16_t len)
{
    pbuf_t *p = static_cast<pbuf_t *>(malloc(sizeof(pbuf_t) + len));
    if (p == nullptr)
        return; /* dropped: never ACKed, the bridge's window stays closed */
    p->len = len;
    p->off = 0;
    p->next = nullptr;
    memcpy(p->data, data, len);
    if (rx_tail)
        rx_tail->next = p;
    else
        rx_head = p;
    rx_tail = p;
    rx_total += len;
}

struct socket_t {
    uint8_t type;
    bool closed;
    union {
        tcp_server_t *tcp_server;
        tcp_server_client_t *tcp_client;
    } s;
    socket_t *next;

    void dispose()
    {
        switch (type) {
        case SOCKET_TCP_SERVER:
            if (s.tcp_server) {
                listeners[s.tcp_server->listener] = nullptr;
                s.tcp_server->close();
                delete s.tcp_server;
                s.tcp_server = nullptr;
            }
            break;
        case SOCKET_TCP_SERVER_CLIENT:
            if (s.tcp_client) {
                s.tcp_client->close();
                delete s.tcp_client;
                s.tcp_client = nullptr;
            }
            break;
        }
        closed = true;
    }
};

struct socket_list_t {
    socket_t *head;
    void add(socket_t *s) { s->next = head; head = s; }
    bool remove(socket_t *s)
    {
        for (socket_t **pp = &head; *pp; pp = &(*pp)->next)
            if (*pp == s) {
                *pp = s->next;
                return true;
            }
        return false;
    }
    bool contains(const socket_t *s) const
    {
        for (socket_t *it = head; it; it = it->next)
            if (it == s)
                return true;
        return false;
    }
    int close_all()
    {
        int n = 0;
        while (socket_t *s = head) {
            head = s->next;
            s->dispose();
            delete s;
            n++;
        }
        return n;
    }
};

static socket_list_t servers, clients;

static socket_t *from_handle(sock_handle_t h)
{
    socket_t *s = reinterpret_cast<socket_t *>(h);
    if (h == SOCKET_INVALID || !(servers.contains(s) || clients.contains(s)))
        return nullptr;
    return s;
}

static tcp_server_client_t *client_of(sock_handle_t h)
{
    socket_t *s = from_handle(h);
    return (s && s->type == SOCKET_TCP_SERVER_CLIENT) ? s->s.tcp_client : nullptr;
}

extern "C" {

sock_handle_t socket_handle_invalid(void) { return SOCKET_INVALID; }

int socket_handle_valid(sock_handle_t h) { return from_handle(h) != nullptr; }

sock_handle_t socket_create_tcp_server(uint16_t port)
{
    if (!link_up)
        return SOCKET_INVALID;
    uint8_t id = 1;
    while (id < 16 && listeners[id])
        id++;
    if (id == 16)
        return SOCKET_INVALID;
    socket_t *s = new (std::nothrow) socket_t();
    tcp_server_t *srv = new (std::nothrow) tcp_server_t(port, id);
    if (!s || !srv) {
        delete s;
        delete srv;
        return SOCKET_INVALID;
    }
    s->type = SOCKET_TCP_SERVER;
    s->s.tcp_server = srv;
    servers.add(s);
    listeners[id] = srv;
    uint8_t p[2] = {(uint8_t)port, (uint8_t)(port >> 8)};
    link_send(MSG_LISTEN, id, p, 2);
    return reinterpret_cast<sock_handle_t>(s);
}

sock_handle_t socket_accept(sock_handle_t h)
{
    link_poll();
    socket_t *srv = from_handle(h);
    if (!srv || srv->type != SOCKET_TCP_SERVER || !srv->s.tcp_server)
        return SOCKET_INVALID;
    tcp_server_client_t *c = srv->s.tcp_server->next_pending();
    if (!c)
        return SOCKET_INVALID;
    socket_t *s = new (std::nothrow) socket_t();
    if (!s) {
        delete c;
        return SOCKET_INVALID;
    }
    s->type = SOCKET_TCP_SERVER_CLIENT;
    s->s.tcp_client = c;
    clients.add(s);
    return reinterpret_cast<sock_handle_t>(s);
}

sock_result_t socket_receive(sock_handle_t h, void *buf, size_t len)
{
    link_poll();   /* the network stack runs whenever the application asks it for something */
    tcp_server_client_t *c = client_of(h);
    if (!c)
        return SOCKET_ERROR_CLOSED;
    uint8_t *out = static_cast<uint8_t *>(buf);
    size_t got = 0;
    while (got < len && c->rx_head) {
        pbuf_t *p = c->rx_head;
        size_t n = p->len - p->off;
        if (n > len - got)
            n = len - got;
        memcpy(out + got, p->data + p->off, n);
        p->off = (uint16_t)(p->off + n);
        got += n;
        if (p->off == p->len) {
            /* packet consumed: free it and open the bridge's window by its size */
            c->rx_head = p->next;
            if (!c->rx_head)
                c->rx_tail = nullptr;
            uint8_t ack[2] = {(uint8_t)p->len, (uint8_t)(p->len >> 8)};
            free(p);
            if (c->state == CLIENT_OPEN && link_up)
                link_send(MSG_ACK, c->conn, ack, 2);
        }
    }
    if (got == 0 && c->state != CLIENT_OPEN)
        return SOCKET_ERROR_CLOSED;
    return (sock_result_t)got;
}

sock_result_t socket_send(sock_handle_t h, const void *buf, size_t len)
{
    link_poll();
    tcp_server_client_t *c = client_of(h);
    if (!c || c->state != CLIENT_OPEN || !link_up)
        return SOCKET_ERROR_CLOSED;
    size_t room = LINK_WINDOW - c->tx_unacked;
    if (room == 0)
        return SOCKET_BUFFER_FULL;
    if (len > room)
        len = room;
    size_t sent = 0;
    while (sent < len) {
        uint16_t n = (uint16_t)((len - sent) > LINK_MAX_PAYLOAD ? LINK_MAX_PAYLOAD : (len - sent));
        link_send(MSG_DATA, c->conn, static_cast<const uint8_t *>(buf) + sent, n);
        sent += n;
    }
    c->tx_unacked = (uint16_t)(c->tx_unacked + sent);
    return (sock_result_t)sent;
}

sock_result_t socket_close(sock_handle_t h)
{
    socket_t *s = from_handle(h);
    if (!s)
        return SOCKET_ERROR_CLOSED;
    (s->type == SOCKET_TCP_SERVER ? servers : clients).remove(s);
    s->dispose();
    delete s;
    return 0;
}

uint8_t socket_active_status(sock_handle_t h)
{
    socket_t *s = from_handle(h);
    if (!s)
        return SOCKET_STATUS_INACTIVE;
    if (s->type == SOCKET_TCP_SERVER)
        return SOCKET_STATUS_ACTIVE;
    return (s->s.tcp_client && s->s.tcp_client->state == CLIENT_OPEN) ? SOCKET_STATUS_ACTIVE
                                                                       : SOCKET_STATUS_INACTIVE;
}

int socket_available(sock_handle_t h)
{
    link_poll();
    tcp_server_client_t *c = client_of(h);
    int n = 0;
    if (c)
        for (pbuf_t *p = c->rx_head; p; p = p->next)
            n += p->len - p->off;
    return n;
}

int socket_remote(sock_handle_t h, uint8_t ip[4], uint16_t *port)
{
    tcp_server_client_t *c = client_of(h);
    if (!c)
        return -1;
    memcpy(ip, c->ip, 4);
    if (port)
        *port = c->port;
    return 0;
}

/* Device OS socket_close_all(): dispose every socket, servers first. */
int socket_close_all(void)
{
    int n = servers.close_all();
    n += clients.close_all();
    console_printf("@close_all sockets=%d\r\n", n);
    return n;
}

void socket_link_down(void) { link_up = false; }
void socket_link_up(void) { link_up = true; }

void socket_link_event(uint8_t type, uint8_t conn, const uint8_t *p, uint16_t len)
{
    switch (type) {
    case MSG_LISTEN_OK:
        if (len >= 3 && listeners[conn & 15]) {
            if (p[0] == 0)
                console_printf("@listen port=%u\r\n", listeners[conn & 15]->port);
            else
                console_printf("listen on port %u refused (%u)\r\n", listeners[conn & 15]->port, p[0]);
        }
        break;
    case MSG_ACCEPT: {
        tcp_server_t *srv = (len >= 7 && p[0] < 16) ? listeners[p[0]] : nullptr;
        if (!srv || conn_table[conn] || !srv->accept(conn, p + 1, (uint16_t)(p[5] | p[6] << 8)))
            link_send(MSG_CLOSE, conn, nullptr, 0);
        break;
    }
    case MSG_DATA:
        if (conn_table[conn] && conn_table[conn]->state == CLIENT_OPEN)
            conn_table[conn]->notify_data(p, len);
        break;
    case MSG_ACK:
        if (conn_table[conn] && len >= 2) {
            uint16_t n = (uint16_t)(p[0] | p[1] << 8);
            tcp_server_client_t *c = conn_table[conn];
            c->tx_unacked = n > c->tx_unacked ? 0 : (uint16_t)(c->tx_unacked - n);
        }
        break;
    case MSG_CLOSE:
        if (conn_table[conn] && conn_table[conn]->state == CLIENT_OPEN)
            conn_table[conn]->state = CLIENT_PEER_CLOSED;
        break;
    }
}

} // extern "C"
