/* newlib's system hooks, and the heap.
 *
 * The heap is the toolchain's newlib-nano malloc/free (the Makefile links --specs=nano.specs),
 * the allocator Device OS 0.6.x links for the Photon (hal/src/photon/include.mk selects
 * newlib_nano; its mallocr.c is newlib-nano's: free() writes the free-list link into the first
 * word of the freed block, malloc() splits a chunk and hands out its high end).  What we provide
 * is what Device OS provides around it (hal/src/stm32/newlib_stubs.cpp,
 * hal/src/stm32f2xx/core_hal_stm32f2xx.c at v0.6.4):
 *  - _sbrk() grows the heap inside a region fixed by the linker script (__heap_start__ ..
 *    __heap_end__ in photon.ld; Device OS: sbrk_heap_top from link_heap_location up to
 *    link_heap_location_end) and fails with ENOMEM beyond it, without a panic: malloc then
 *    returns NULL, and operator new turns that into panic OutOfHeap (8) (wiring.cpp);
 *  - System.freeMemory() is HAL_Core_Runtime_Info's freeheap: what _sbrk has not handed out plus
 *    mallinfo().fordblks;  _exit() panics Exit (7);
 *  - __malloc_lock/__malloc_unlock take a recursive mutex (malloc_mutex), so threads can
 *    allocate.  No interrupt handler allocates. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/stat.h>
#include "concurrent_hal.h"
#include "panic.h"

extern char __heap_start__[], __heap_end__[];
char *heap_brk;   /* the program break (photondbg's heap walker reads it by name) */

void *_sbrk(int incr)
{
    if (heap_brk == NULL)
        heap_brk = __heap_start__;
    char *prev = heap_brk;
    if (incr > __heap_end__ - heap_brk || (incr < 0 && -incr > heap_brk - __heap_start__)) {
        errno = ENOMEM;
        return (void *)-1;
    }
    heap_brk += incr;
    return prev;
}

static os_mutex_recursive_t malloc_mutex;
void __malloc_lock(struct _reent *r) { (void)r; os_mutex_recursive_lock(&malloc_mutex); }
void __malloc_unlock(struct _reent *r) { (void)r; os_mutex_recursive_unlock(&malloc_mutex); }

/* System.freeMemory(): bytes on newlib's free list plus what _sbrk has not handed out yet */
uint32_t system_free_memory(void)
{
    struct mallinfo mi = mallinfo();
    char *brk = heap_brk ? heap_brk : __heap_start__;
    return (uint32_t)mi.fordblks + (uint32_t)(__heap_end__ - brk);
}

/* no files, no processes */
int _close(int fd) { (void)fd; return -1; }
int _fstat(int fd, struct stat *st) { (void)fd; st->st_mode = S_IFCHR; return 0; }
int _isatty(int fd) { (void)fd; return 1; }
int _lseek(int fd, int off, int whence) { (void)fd; (void)off; (void)whence; return 0; }
int _read(int fd, char *p, int n) { (void)fd; (void)p; (void)n; return 0; }
int _write(int fd, const char *p, int n)
{
    extern void console_write(const char *s, unsigned n);
    (void)fd;
    console_write(p, (unsigned)n);
    return n;
}
int _getpid(void) { return 1; }
int _kill(int pid, int sig) { (void)pid; (void)sig; errno = EINVAL; return -1; }
void _exit(int code) { (void)code; panic_(Exit, NULL, 0, 0); }   /* PANIC(Exit, "Exit Called") */
