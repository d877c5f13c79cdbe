/* The use-after-free of uaf.c on the heap_4-layout test allocator (heap4.c): with heap_4 a
 * freed object keeps its bytes (the link is in the header before it) until it is reused. */
#include <string.h>
#include "../faults/faults.h"
#include "clients.h"

void *pvPortMalloc(size_t wanted);
void vPortFree(void *p);

struct server *listeners[2];
char *date_header;

NOINLINE static void client_closed(struct client *c) { c->sock = -1; }

NOINLINE static void close_all(struct server *s)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (s->clients[i])
            s->clients[i]->on_close(s->clients[i]);
}

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    struct server *s = pvPortMalloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->port = 7123;
    listeners[0] = s;
    for (int i = 0; i < 4; i++) {
        struct client *c = pvPortMalloc(sizeof *c);
        c->server = s;
        c->sock = 10 + i;
        c->on_close = client_closed;
        strcpy(c->peer, "10.0.0.9");
        s->clients[s->nclients++] = c;
    }
    vPortFree(s->clients[2]);           /* stale, memory left free */
    vPortFree(s->clients[0]);           /* stale, then reused for text */
    date_header = pvPortMalloc(sizeof(struct client));
    strcpy(date_header, "Wed, 30 Nov 2026 2");
    close_all(s);
    for (;;) {}
}
