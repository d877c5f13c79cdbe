/* Use-after-free through a stale pointer in a global structure, as in Device OS 0.6.x:
 * listeners[0]->clients[3] is freed but stays in clients[]; its memory is then reused for HTTP
 * text and the server "closes" it by calling through the stale pointer. clients[1] is freed
 * too and its memory left free: a second dangling pointer, into a free block. */
#include <stdlib.h>
#include <string.h>
#include "../faults/faults.h"
#include "clients.h"

struct server *listeners[2];
char *date_header;

NOINLINE static void client_closed(struct client *c) { c->sock = -1; }

NOINLINE static struct client *accept_client(struct server *s, int sock)
{
    struct client *c = malloc(sizeof *c);
    c->server = s;
    c->sock = sock;
    c->on_close = client_closed;
    strcpy(c->peer, "10.0.0.9");
    s->clients[s->nclients++] = c;
    return c;
}

NOINLINE static void close_all(struct server *s)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (s->clients[i])
            s->clients[i]->on_close(s->clients[i]);
}

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    struct server *s = calloc(1, sizeof *s);
    s->port = 7123;
    listeners[0] = s;
    for (int i = 0; i < 4; i++)
        accept_client(s, 10 + i);
    free(s->clients[3]);                /* the bug: the slot is not cleared */
    date_header = malloc(sizeof(struct client));
    strcpy(date_header, "Wed, 30 Nov 2026 2");
    free(s->clients[1]);                /* stale too, its memory stays free */
    close_all(s);
    for (;;) {}
}
