/* _sbrk for the heap test firmwares: newlib-nano's malloc grows its arena from the end of .bss
 * towards the main stack (the same contract Device OS's own _sbrk follows). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern char _ebss[], _estack[];
#define STACK_RESERVE 4096

char *heap_brk;   /* current end of the heap (the analysis may read it) */

void *_sbrk(ptrdiff_t incr)
{
    if (heap_brk == NULL)
        heap_brk = _ebss;
    if (heap_brk + incr > _estack - STACK_RESERVE) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *old = heap_brk;
    heap_brk += incr;
    return old;
}
