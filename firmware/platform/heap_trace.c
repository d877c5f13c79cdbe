/* SIM-ONLY INSTRUMENTATION, built only with HEAP_TRACE=1 (`photondbg capture-fault
 * --track-heap`): not part of Device OS. The linker wraps newlib-nano's two entry points
 * (-Wl,--wrap=_malloc_r,--wrap=_free_r; malloc, calloc, realloc, free and operator new/delete
 * all end in them) and every call is recorded in a ring in RAM that the capture's RAM dump
 * holds: photondbg reads it to say who freed a stale object and who reused its memory.
 * Per call (20 bytes, the last 1024 calls kept): a sequence number, malloc/free, size, pointer,
 * the caller (LR) and the next word on the stack that looks like a return address; and every
 * free in a table by address (below). Cost: a short stack scan per call plus a few stores
 * with interrupts masked, and 30 KiB of RAM (the heap region is that much smaller than in
 * the plain build). */
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

/* The ring forgets after 1024 calls; a stale object was often freed long before the fault.
 * So every free is also kept in a small set-associative table by address: 4 ways per bucket,
 * a newer free of the same address and chunk size replaces the older one (for that object
 * type only the latest matters), else the oldest way goes. */
#define HEAP_FREES_BUCKETS 128u
#define HEAP_FREES_WAYS    4u
typedef struct heap_free_entry {
    uint32_t seq;
    uint32_t ptr;
    uint32_t chunk_size;                /* newlib-nano's chunk size (header included) */
    uint32_t caller;
    uint32_t caller2;
} heap_free_entry_t;
heap_free_entry_t heap_trace_frees[HEAP_FREES_BUCKETS][HEAP_FREES_WAYS];

void *__real__malloc_r(struct _reent *r, size_t n);
void __real__free_r(struct _reent *r, void *p);
/* end of RAM; end of .text + .rodata (photon.ld) */
extern char _estack[], __preinit_array_start[];

static void keep_free(void *p, uint32_t seq, uint32_t caller, uint32_t caller2)
{
    /* newlib-nano: the chunk starts 4 bytes before the pointer, or a negative offset stored
     * there leads to it (aligned allocations) */
    int32_t *chunk = (int32_t *)((char *)p - 4);
    if (*chunk < 0)
        chunk = (int32_t *)((char *)chunk + *chunk);
    uint32_t size = (uint32_t)*chunk;
    heap_free_entry_t *set = heap_trace_frees[((uint32_t)p >> 3) % HEAP_FREES_BUCKETS];
    heap_free_entry_t *victim = &set[0];
    for (unsigned w = 0; w < HEAP_FREES_WAYS; w++) {
        if (set[w].ptr == (uint32_t)p && set[w].chunk_size == size) {
            victim = &set[w];
            break;
        }
        if (set[w].seq < victim->seq)
            victim = &set[w];
    }
    victim->seq = seq;
    victim->ptr = (uint32_t)p;
    victim->chunk_size = size;
    victim->caller = caller;
    victim->caller2 = caller2;
}

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
    if (op_size & HEAP_TRACE_FREE)
        keep_free(ptr, seq, (uint32_t)caller, above);
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
