/* A full heap for the analysis benchmark: a few thousand linked objects (each with a pointer
 * back to its list, a callback and text) fill most of the 128 KiB RAM; every third one is
 * freed and unlinked, one freed object stays linked (stale); then a NULL call faults. */
#include <stdlib.h>
#include <string.h>
#include "../faults/faults.h"

struct node {
    struct node *next;
    struct list *owner;
    void (*cb)(struct node *);
    char text[20];
};
struct list {
    struct node *head;
    unsigned count;
};

struct list lists[8];

NOINLINE static void touch(struct node *n) { n->text[0] = 'x'; }

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    for (unsigned i = 0;; i++) {
        struct node *n = malloc(sizeof *n);
        if (n == NULL || i >= 3000)
            break;
        struct list *l = &lists[i % 8];
        n->owner = l;
        n->cb = touch;
        strcpy(n->text, "GET /sensors HTTP");
        n->next = l->head;
        l->head = n;
        l->count++;
    }
    for (unsigned k = 0; k < 8; k++) {
        struct node **pp = &lists[k].head;
        unsigned j = 0;
        while (*pp) {
            struct node *n = *pp;
            if (j++ % 3 == 0) {
                *pp = n->next;
                free(n);
            } else {
                pp = &n->next;
            }
        }
    }
    free(lists[5].head);               /* stale: still the list head */
    ((void (*)(void))0)();
    for (;;) {}
}
