/* A healthy heap and a fault that has nothing to do with it (integer divide by zero). */
#include <stdlib.h>
#include <string.h>
#include "../faults/faults.h"
#include "clients.h"

struct server *listeners[2];
volatile int divisor;

NOINLINE static int ratio(int a) { return a / divisor; }

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    SCB_CCR |= CCR_DIV_0_TRP;
    struct server *s = calloc(1, sizeof *s);
    s->port = 80;
    listeners[0] = s;
    for (int i = 0; i < 3; i++) {
        struct client *c = malloc(sizeof *c);
        c->server = s;
        c->sock = i;
        c->on_close = NULL;
        strcpy(c->peer, "10.0.0.1");
        s->clients[s->nclients++] = c;
    }
    free(s->clients[2]);
    s->clients[2] = NULL;               /* the fix: the slot is cleared */
    s->nclients--;
    return ratio(7);
}
