/* SIM-ONLY INSTRUMENTATION, built only with HEAP_TRACE=1 (`photondbg capture-fault
 * --track-heap`): not part of Device OS. The linker wraps newlib-nano's two entry points
 * (-Wl,--wrap=_malloc_r,--wrap=_free_r; malloc, calloc, realloc, free and operator new/delete
 * all end in them) and every call is recorded in a ring in RAM that the capture's RAM dump
 * holds: photondbg reads it to say who freed a stale object and who reused its memory.
 * Per call (20 bytes, the last 1024 calls kept): a sequence number, malloc/free, size, pointer,
 * the caller (LR) and the next word on the stack that looks like a return address. Cost: a
 * short stack scan per call plus a few stores with interrupts masked, and 20 KiB of RAM (the
 * heap region is that much smaller than in the plain build). */
#if defined(HEAP_TRACE)
#include <reent.h>
#include <stddef.h>
#include <stdint.h>

#define HEAP_TRACE_ENTRIES 1024u
#define HEAP_TRACE_SCAN    24u          /* stack words searched for the caller's caller */
#define HEAP_TRACE_FREE    0x80000000u

typedef struct heap_trace_entry {
    uint32_t seq;                       /* 1, 2, ...; 0: slot never used */
    uint32_t op_size;                   /* HEAP_TRACE_FREE | 0, and the size asked for */
    uint32_t ptr;                       /* malloc's result / the pointer freed */
    uint32_t caller;                    /* the allocator's return address */
    uint32_t caller2;                   /* the next stack word that looks like a return
                                           address (a code address with the Thumb bit) */
} heap_trace_entry_t;

volatile uint32_t heap_trace_seq;
heap_trace_entry_t heap_trace[HEAP_TRACE_ENTRIES];

void *__real__malloc_r(struct _reent *r, size_t n);
void __real__free_r(struct _reent *r, void *p);
/* end of RAM; end of .text + .rodata (photon.ld) */
extern char _estack[], __preinit_array_start[];

__attribute__((noinline)) static void record(uint32_t op_size, void *ptr, void *caller,
                                             const uint32_t *sp)
{
    uint32_t primask, above = 0;
    for (unsigned i = 0; i < HEAP_TRACE_SCAN && (uint32_t)(sp + i) < (uint32_t)_estack; i++) {
        uint32_t w = sp[i];
        if ((w & 1u) && w >= 0x08000000u && w < (uint32_t)__preinit_array_start
                && w != ((uint32_t)caller | 1u)) {
            above = w;
            break;
        }
    }
    __asm volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask) :: "memory");
    uint32_t seq = ++heap_trace_seq;
    heap_trace_entry_t *e = &heap_trace[seq % HEAP_TRACE_ENTRIES];
    e->seq = seq;
    e->op_size = op_size;
    e->ptr = (uint32_t)ptr;
    e->caller = (uint32_t)caller;
    e->caller2 = above;
    __asm volatile("msr primask, %0" :: "r"(primask) : "memory");
}

static inline const uint32_t *stack_pointer(void)
{
    const uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

void *__wrap__malloc_r(struct _reent *r, size_t n)
{
    void *p = __real__malloc_r(r, n);
    record((uint32_t)n & ~HEAP_TRACE_FREE, p, __builtin_return_address(0), stack_pointer());
    return p;
}

void __wrap__free_r(struct _reent *r, void *p)
{
    if (p != NULL)
        record(HEAP_TRACE_FREE, p, __builtin_return_address(0), stack_pointer());
    __real__free_r(r, p);
}
#endif
