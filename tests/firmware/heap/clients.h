/* A small model of the Device OS 0.6.x socket layer's objects for the heap test firmwares:
 * a server keeps one pointer per accepted client in clients[]. */
#include <stdint.h>

#define MAX_CLIENTS 5
#define NOINLINE __attribute__((noinline))

struct server;
struct client {
    struct server *server;          /* the server that accepted it */
    int sock;
    void (*on_close)(struct client *);
    char peer[12];
};
struct server {
    uint16_t port;
    uint16_t nclients;
    struct client *clients[MAX_CLIENTS];
};

extern struct server *listeners[2];
