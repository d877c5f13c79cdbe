/* A corrupted heap: a buffer overrun rewrites the next chunk's size, and a stray write puts
 * a wild link into a free chunk; then a NULL call faults. The analysis must report the heap
 * as corrupt without following the bad link. */
#include <stdlib.h>
#include <string.h>
#include "../faults/faults.h"
#include "clients.h"

struct server *listeners[2];
char *buffers[4];
volatile uint32_t wild = 0x2000beefu;
struct nano_chunk { long size; struct nano_chunk *next; };
extern struct nano_chunk *__malloc_free_list;   /* newlib-nano's free list head */

int main(void)
{
    SCB_SHCSR |= SHCSR_ALL_FAULTS;
    for (int i = 0; i < 4; i++)
        buffers[i] = malloc(24);
    free(buffers[1]);
    buffers[1] = NULL;
    __malloc_free_list->next = (struct nano_chunk *)wild;    /* free chunk's link: wild */
    memset(buffers[2] + 24, 0x41, 12);                        /* overrun: next chunk's size */
    ((void (*)(void))0)();
    for (;;) {}
}
