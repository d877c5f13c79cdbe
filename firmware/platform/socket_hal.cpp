/* The Photon socket HAL as in Device OS v0.6.4, hal/src/photon/socket_hal.cpp (facts read there
 * and at v0.7.0 / 0.8.0; written here in our own words), over our WICED/LwIP model
 * (lwip_model.cpp).
 *
 *  - A handle is the address of a heap socket_t (type tag + union); socket_handle_valid() is
 *    only `handle < SOCKET_MAX` and from_handle() a cast: a handle whose socket_t was freed is
 *    still "valid" and is dereferenced (v0.6.4 is_valid/from_handle).
 *  - tcp_server_client_t has no virtual functions: socket (points into the server's WICED
 *    accept_socket[]), server, closed, and a packet (netbuf, offset).  close() is
 *    `if (socket && server) { server->disconnect(socket); server = socket = NULL; }` and then
 *    disposes the packet (v0.6.4 tcp_server_client_t::close).
 *  - tcp_server_t derives from wiced_tcp_server_t and keeps clients[] (one per accept socket),
 *    `clients[idx] = new tcp_server_client_t` on accept, an accept queue, and close() walks
 *    clients[] calling close() on every non-NULL entry (v0.6.4 tcp_server_t).
 *  - socket_close_all() deletes every client socket, then every server socket (v0.6.4, around
 *    line 686: close_all(clients); close_all(servers)).
 *
 * The fixes, each a build option of the variants (firmware/Makefile):
 *  FIX_CLIENTS      PR #1250 (commit 78beeb290, released in 0.7.0): disconnect() clears the
 *                   client's slot in clients[].
 *  FIX_CLOSE_ALL    PR #1500 commit 080456b33 "Fixes a hardfault due to socket destruction in
 *                   socket_close_all()": close_all only closes; the socket_t stays until its
 *                   owner calls socket_close().
 *  FIX_SOCKET_LOCK  PR #1500 commit 72fd3e917: socket calls thread-safe (the lists and the
 *                   socket objects are used under one lock).
 *  (FIX_SERVER_STOP, 633af5437, is in wiring.cpp; FIX_WLAN_KEEPS_SOCKETS, 9748b3f8b, in
 *   system.cpp.) */
#include <new>
#include <stdlib.h>
#include <string.h>
#include "console.h"
#include "hw.h"
#include "link.h"
#include "lwip_model.h"
#include "socket_hal.h"

#ifdef FIX_SOCKET_LOCK
/* Device OS 0.8.0 takes a recursive mutex; on one core with no other lock users a critical
 * section is the same exclusion (sim choice). */
struct socket_lock_t {
    uint32_t saved;
    socket_lock_t() : saved(irq_save()) {}
    ~socket_lock_t() { irq_restore(saved); }
};
#define SOCKET_LOCK() socket_lock_t socket_lock_
#else
#define SOCKET_LOCK() do { } while (0)
#endif

static const sock_handle_t SOCKET_MAX = 0x7FFFFFFF;

/* hal/src/photon/socket_hal.cpp tcp_packet_t: a netbuf being read, and how far */
struct tcp_packet_t {
    wiced_packet_t *packet;
    unsigned offset;

    void dispose_packet()
    {
        if (packet) {
            wiced_packet_delete(packet);
            packet = nullptr;
            offset = 0;
        }
    }
};

/* outgoing TCP is not part of the sim; the type sizes the socket_t union as on the board */
struct tcp_socket_t : wiced_tcp_socket_t {
    tcp_packet_t packet;
    bool open;
    volatile bool closed_externally;
};

struct tcp_server_t;

class tcp_server_client_t {
    wiced_tcp_socket_t *socket;
    tcp_server_t *server;
    volatile bool closed;

public:
    tcp_packet_t packet;

    tcp_server_client_t(tcp_server_t *srv, wiced_tcp_socket_t *s)
        : socket(s), server(srv), closed(false), packet{nullptr, 0} {}
    ~tcp_server_client_t() { close(); }

    wiced_tcp_socket_t *get_socket() { return socket; }

    wiced_result_t write(const void *buf, size_t len, size_t *written)
    {
        wiced_result_t result = WICED_TCPIP_INVALID_SOCKET;
        if (socket) {
            uint16_t n = (uint16_t)len;
            result = wiced_tcp_send_buffer_ex(socket, buf, &n);
            *written = n;
        }
        return result;
    }

    bool isClosed()
    {
        if (closed)
            close();
        return closed;
    }

    void close();

    /* from the network side: flag it, clean up on the next isClosed() */
    void notify_disconnected() { closed = true; }
};

/* an int queue on the heap, as spark::Vector<int> (grows by realloc) */
struct int_queue_t {
    int *data;
    int size, capacity;

    bool append(int v)
    {
        if (size + 1 > capacity) {
            int *d = static_cast<int *>(realloc(data, sizeof(int) * (size_t)(size + 1)));
            if (!d)
                return false;
            data = d;
            capacity = size + 1;
        }
        data[size++] = v;
        return true;
    }
    int take_first()
    {
        int v = data[0];
        memmove(data, data + 1, sizeof(int) * (size_t)--size);
        return v;
    }
};

#define OS_MUTEX_BYTES 80   /* a FreeRTOS mutex (xQUEUE) as os_mutex_create allocates it */

struct tcp_server_t : public wiced_tcp_server_t {
    tcp_server_t() : wiced_tcp_server_t(), clients(), to_accept{nullptr, 0, 0}
    {
        accept_lock = malloc(OS_MUTEX_BYTES);   /* os_mutex_create (sim: never contended) */
    }
    ~tcp_server_t()
    {
        free(accept_lock);
        free(to_accept.data);
    }

    int index(wiced_tcp_socket_t *s) { return is_client(s) ? (int)(s - accept_socket) : -1; }

    bool is_client(wiced_tcp_socket_t *s)
    {
        return accept_socket <= s && s < accept_socket + WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS;
    }

    wiced_result_t accept(wiced_tcp_socket_t *s)
    {
        wiced_result_t result = wiced_tcp_accept(s);
        if (result == WICED_SUCCESS) {
            int idx = index(s);
            if (idx >= 0) {
                clients[idx] = new tcp_server_client_t(this, s);
                to_accept.append(idx);
            }
        }
        return result;
    }

    tcp_server_client_t *next_accept()
    {
        int idx = to_accept.size ? to_accept.take_first() : -1;
        return idx >= 0 ? clients[idx] : nullptr;
    }

    wiced_result_t notify_disconnected(wiced_tcp_socket_t *s)
    {
        int idx = index(s);
        tcp_server_client_t *client = clients[idx];
        if (client)
            client->notify_disconnected();
        return WICED_SUCCESS;
    }

    wiced_result_t disconnect(wiced_tcp_socket_t *s)
    {
        wiced_tcp_disconnect(s);
#ifdef FIX_CLIENTS
        /* PR #1250: the socket is being closed and then destroyed: forget its client */
        int idx = index(s);
        if (idx >= 0)
            clients[idx] = nullptr;
#endif
        return wiced_tcp_server_disconnect_socket(this, s);
    }

    void close()
    {
        for (int i = 0; i < WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS; i++) {
            tcp_server_client_t *client = clients[i];
            if (client) {
                client->close();
                clients[i] = nullptr;
            }
        }
        wiced_tcp_server_stop(this);
    }

private:
    tcp_server_client_t *clients[WICED_MAXIMUM_NUMBER_OF_ACCEPT_SOCKETS];
    void *accept_lock;
    int_queue_t to_accept;
};

void tcp_server_client_t::close()
{
    if (socket && server) {
        server->disconnect(socket);
        server = nullptr;
        socket = nullptr;
    }
    packet.dispose_packet();
}

class socket_t {
    uint8_t type;
    bool closed;

public:
    union all {
        tcp_socket_t tcp;
        tcp_server_t *tcp_server;
        tcp_server_client_t *tcp_client;
        all() {}
        ~all() {}
    } s;
    socket_t *next;

    enum socket_type_t { NONE, TCP, UDP, TCP_SERVER, TCP_CLIENT };

    socket_t() { memset(static_cast<void *>(this), 0, sizeof(*this)); }
    ~socket_t() { dispose(); }

    bool is_type(socket_type_t t) { return t == type; }
    uint8_t get_type() { return type; }
    void set_server(tcp_server_t *server)
    {
        type = TCP_SERVER;
        s.tcp_server = server;
    }
    void set_client(tcp_server_client_t *client)
    {
        type = TCP_CLIENT;
        s.tcp_client = client;
    }

    void dispose()
    {
        close();
        switch (type) {
        case TCP_SERVER:
            delete s.tcp_server;
            break;
        case TCP_CLIENT:
            delete s.tcp_client;
            break;
        }
        type = NONE;
    }

    void close()
    {
        if (!closed) {
            switch (type) {
            case TCP_SERVER:
                s.tcp_server->close();
                break;
            case TCP_CLIENT:
                s.tcp_client->close();
                break;
            }
            closed = true;
        }
    }

    bool is_inner_open()
    {
        return type == TCP_CLIENT ? !s.tcp_client->isClosed() : true;
    }
    bool isOpen() { return !closed && is_inner_open(); }
};

struct SocketList {
    socket_t *items;

    void add(socket_t *item)
    {
        item->next = items;
        items = item;
    }

    bool remove(socket_t *item)
    {
        if (items == item) {
            items = item->next;
            return true;
        }
        for (socket_t *current = items; current; current = current->next)
            if (current->next == item) {
                current->next = item->next;
                return true;
            }
        return false;
    }

    void close_all()
    {
#ifdef FIX_CLOSE_ALL
        /* 0.8.0: only close; the owner of the handle deletes it with socket_close() */
        for (socket_t *current = items; current; current = current->next)
            current->close();
#else
        /* v0.6.4: every socket_t is deleted, though TCPClient/TCPServer still hold handles */
        socket_t *current = items;
        while (current) {
            socket_t *next = current->next;
            delete current;
            current = next;
        }
        items = nullptr;
#endif
    }

    int count() const
    {
        int n = 0;
        for (socket_t *s = items; s; s = s->next)
            n++;
        return n;
    }
};

/* servers and clients: the whole socket layer, so it can be shut down with the interface */
static SocketList servers, clients;

static SocketList &list_for(socket_t *socket)
{
    return socket->get_type() == socket_t::TCP_SERVER ? servers : clients;
}

static inline bool is_valid(sock_handle_t handle) { return handle < SOCKET_MAX; }
static socket_t *from_handle(sock_handle_t handle)
{
    return is_valid(handle) ? reinterpret_cast<socket_t *>(handle) : nullptr;
}
static inline bool is_client(socket_t *s) { return s && s->is_type(socket_t::TCP_CLIENT); }
static inline bool is_server(socket_t *s) { return s && s->is_type(socket_t::TCP_SERVER); }
static inline bool is_open(socket_t *s) { return s && s->isOpen(); }
static inline tcp_server_client_t *client(socket_t *s)
{
    return is_client(s) ? s->s.tcp_client : nullptr;
}

/* WICED callbacks of the listening server (run by the network side) */
static tcp_server_t *server_for_socket(wiced_tcp_socket_t *s)
{
    for (socket_t *server = servers.items; server; server = server->next)
        if (server->s.tcp_server->is_client(s))
            return server->s.tcp_server;
    return nullptr;
}

static wiced_result_t server_connected(wiced_tcp_socket_t *s, void *)
{
    SOCKET_LOCK();
    tcp_server_t *server = server_for_socket(s);
    return server ? server->accept(s) : WICED_ERROR;
}

static wiced_result_t server_received(wiced_tcp_socket_t *, void *) { return WICED_SUCCESS; }

static wiced_result_t server_disconnected(wiced_tcp_socket_t *s, void *)
{
    SOCKET_LOCK();
    tcp_server_t *server = server_for_socket(s);
    return server ? server->notify_disconnected(s) : WICED_ERROR;
}

static int read_packet_and_dispose(tcp_packet_t &packet, void *buffer, int len,
                                   wiced_tcp_socket_t *tcp_socket)
{
    int bytes_read = 0;
    if (!packet.packet) {
        packet.offset = 0;
        wiced_result_t result = wiced_tcp_receive(tcp_socket, &packet.packet, 0);
        if (result != WICED_SUCCESS && result != WICED_TIMEOUT)
            return -(int)result;
    }
    uint8_t *data;
    uint16_t available, total;
    bool dispose = true;
    if (packet.packet &&
        wiced_packet_get_data(packet.packet, (uint16_t)packet.offset, &data, &available,
                              &total) == WICED_SUCCESS) {
        int read = len < available ? len : available;
        packet.offset += (unsigned)read;
        memcpy(buffer, data, (size_t)read);
        dispose = (total == read);
        bytes_read = read;
    }
    if (dispose)
        packet.dispose_packet();
    return bytes_read;
}

extern "C" {

sock_handle_t socket_handle_invalid(void) { return SOCKET_INVALID; }

uint8_t socket_handle_valid(sock_handle_t handle) { return is_valid(handle); }

sock_handle_t socket_create_tcp_server(uint16_t port)
{
    SOCKET_LOCK();
    socket_t *socket = new (std::nothrow) socket_t();
    tcp_server_t *server = new (std::nothrow) tcp_server_t();
    wiced_result_t result = WICED_ERROR;   /* WICED_OUT_OF_HEAP_SPACE */
    if (socket && server)
        result = wiced_tcp_server_start(server, port, server_connected, server_received,
                                        server_disconnected, nullptr);
    if (result != WICED_SUCCESS) {
        delete socket;
        if (server) {
            if (server->listen_socket.conn_handler)
                server->close();
            delete server;
        }
        return (sock_handle_t)(-(int32_t)result);   /* >= SOCKET_MAX: not a handle */
    }
    socket->set_server(server);
    servers.add(socket);
    return reinterpret_cast<sock_handle_t>(socket);
}

sock_handle_t socket_accept(sock_handle_t sock)
{
    link_poll();   /* the network side runs whenever the application asks it for something */
    SOCKET_LOCK();
    sock_handle_t result = SOCKET_INVALID;
    socket_t *socket = from_handle(sock);
    if (is_open(socket) && is_server(socket)) {
        tcp_server_client_t *c = socket->s.tcp_server->next_accept();
        if (c) {
            socket_t *s = new socket_t();
            s->set_client(c);
            clients.add(s);
            result = reinterpret_cast<sock_handle_t>(s);
        }
    }
    return result;
}

sock_result_t socket_receive(sock_handle_t sd, void *buffer, size_t len)
{
    link_poll();
    SOCKET_LOCK();
    sock_result_t bytes_read = -1;
    socket_t *socket = from_handle(sd);
    if (is_open(socket) && is_client(socket)) {
        tcp_server_client_t *c = client(socket);
        bytes_read = read_packet_and_dispose(c->packet, buffer, (int)len, c->get_socket());
    }
    return bytes_read;
}

sock_result_t socket_send(sock_handle_t sd, const void *buffer, size_t len)
{
    link_poll();
    SOCKET_LOCK();
    sock_result_t result = SOCKET_ERROR_CLOSED;
    socket_t *socket = from_handle(sd);
    if (is_open(socket) && is_client(socket)) {
        size_t written = 0;
        wiced_result_t r = client(socket)->write(buffer, len, &written);
        result = r ? -(sock_result_t)r : (sock_result_t)written;
    }
    return result;
}

/* socket_dispose(): delete the socket_t if it is (still) on its list */
sock_result_t socket_close(sock_handle_t sock)
{
    SOCKET_LOCK();
    socket_t *socket = from_handle(sock);
    if (socket) {
        SocketList &list = list_for(socket);
        if (list.remove(socket))
            delete socket;
    }
    return 0;
}

uint8_t socket_active_status(sock_handle_t sd)
{
    SOCKET_LOCK();
    socket_t *socket = from_handle(sd);
    return (socket && socket->isOpen()) ? SOCKET_STATUS_ACTIVE : SOCKET_STATUS_INACTIVE;
}

int socket_remote(sock_handle_t h, uint8_t ip[4], uint16_t *port)
{
    SOCKET_LOCK();
    tcp_server_client_t *c = client(from_handle(h));
    if (!c || !c->get_socket())
        return -1;
    return wiced_tcp_server_peer(c->get_socket(), ip, port) == WICED_SUCCESS ? 0 : -1;
}

int socket_close_all(void)
{
    SOCKET_LOCK();
    int n = clients.count() + servers.count();
    clients.close_all();
    servers.close_all();
    console_printf("@close_all sockets=%d\r\n", n);
    return n;
}

void socket_link_down(void) { lwip_netif_down(); }
void socket_link_up(void) { lwip_netif_up(); }

void socket_link_event(uint8_t type, uint8_t conn, const uint8_t *p, uint16_t len)
{
    lwip_link_event(type, conn, p, len);
}

void socket_init(void) { lwip_model_init(); }

} // extern "C"
