/* The heap: first fit with a block header before each user area and coalescing of free
 * neighbours (the FreeRTOS heap_4 design that Device OS on the Photon uses).
 *
 * What matters for debugging use-after-free: free() only rewrites the block header that sits
 * *before* the user area, so the bytes of a freed object stay as they were until some later
 * allocation reuses that memory.  newlib's own malloc would write its free-list links into the
 * first words of the freed object instead. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <reent.h>
#include "hw.h"
#include "heap.h"
#include "panic.h"

typedef struct block {
    struct block *next;   /* next free block (address order); unused while allocated */
    size_t size;          /* whole block incl. header; top bit = allocated */
} block_t;

#define ALIGN        8u
#define HDR          ((sizeof(block_t) + ALIGN - 1) & ~(ALIGN - 1))
#define USED_BIT     ((size_t)1 << 31)
#define MIN_SPLIT    (HDR * 2)

extern uint8_t __heap_start__[], __heap_end__[];

static block_t start_;          /* list head */
static block_t *end_;           /* end marker, at the top of the heap */
static size_t free_bytes_, min_free_, alloc_count_;

static void heap_init(void)
{
    uintptr_t lo = ((uintptr_t)__heap_start__ + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    uintptr_t hi = ((uintptr_t)__heap_end__ - HDR) & ~(uintptr_t)(ALIGN - 1);
    end_ = (block_t *)hi;
    end_->next = NULL;
    end_->size = 0;
    block_t *first = (block_t *)lo;
    first->size = hi - lo;
    first->next = end_;
    start_.next = first;
    start_.size = 0;
    free_bytes_ = min_free_ = first->size;
}

static void insert_free(block_t *b)
{
    block_t *it = &start_;
    while (it->next < b)
        it = it->next;
    /* merge with the block before */
    if (it != &start_ && (uint8_t *)it + it->size == (uint8_t *)b) {
        it->size += b->size;
        b = it;
    }
    /* merge with the block after */
    if (it->next != end_ && (uint8_t *)b + b->size == (uint8_t *)it->next) {
        b->size += it->next->size;
        b->next = it->next->next;
    } else {
        b->next = it->next;
    }
    if (it != b)
        it->next = b;
}

void *heap_alloc(size_t want)
{
    if (end_ == NULL)
        heap_init();
    if (want == 0 || want > 0x100000)
        return NULL;
    size_t need = (want + HDR + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    uint32_t s = irq_save();
    block_t *prev = &start_, *b = start_.next;
    while (b != end_ && b->size < need) {
        prev = b;
        b = b->next;
    }
    if (b == end_) {
        irq_restore(s);
        return NULL;
    }
    prev->next = b->next;
    if (b->size - need >= MIN_SPLIT) {
        block_t *rest = (block_t *)((uint8_t *)b + need);
        rest->size = b->size - need;
        b->size = need;
        insert_free(rest);
    }
    free_bytes_ -= b->size;
    if (free_bytes_ < min_free_)
        min_free_ = free_bytes_;
    alloc_count_++;
    b->size |= USED_BIT;
    b->next = NULL;
    irq_restore(s);
    return (uint8_t *)b + HDR;
}

void heap_free(void *p)
{
    if (p == NULL)
        return;
    block_t *b = (block_t *)((uint8_t *)p - HDR);
    if (!(b->size & USED_BIT))
        return; /* double free: ignored, as heap_4 does with asserts off */
    uint32_t s = irq_save();
    b->size &= ~USED_BIT;
    free_bytes_ += b->size;
    alloc_count_--;
    insert_free(b);
    irq_restore(s);
}

size_t heap_block_size(const void *p)
{
    const block_t *b = (const block_t *)((const uint8_t *)p - HDR);
    return (b->size & ~USED_BIT) - HDR;
}

void heap_stats(heap_stats_t *st)
{
    if (end_ == NULL)
        heap_init();
    st->free = free_bytes_;
    st->min_free = min_free_;
    st->allocations = alloc_count_;
    st->total = (uintptr_t)end_ - (((uintptr_t)__heap_start__ + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
}

/* newlib entry points: every malloc in the firmware (C, C++, stdio) goes through the heap above */
void *malloc(size_t n) { return heap_alloc(n); }
void free(void *p) { heap_free(p); }
void *calloc(size_t n, size_t m)
{
    if (m && n > (size_t)-1 / m)
        return NULL;
    void *p = heap_alloc(n * m);
    if (p)
        memset(p, 0, n * m);
    return p;
}
void *realloc(void *p, size_t n)
{
    if (p == NULL)
        return heap_alloc(n);
    if (n == 0) {
        heap_free(p);
        return NULL;
    }
    size_t have = heap_block_size(p);
    if (n <= have)
        return p;
    void *q = heap_alloc(n);
    if (q) {
        memcpy(q, p, have);
        heap_free(p);
    }
    return q;
}
void *_malloc_r(struct _reent *r, size_t n) { (void)r; return malloc(n); }
void _free_r(struct _reent *r, void *p) { (void)r; free(p); }
void *_calloc_r(struct _reent *r, size_t n, size_t m) { (void)r; return calloc(n, m); }
void *_realloc_r(struct _reent *r, void *p, size_t n) { (void)r; return realloc(p, n); }
