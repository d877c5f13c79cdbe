#ifndef PHOTONDBG_HEAP_H
#define PHOTONDBG_HEAP_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct { size_t total, free, min_free, allocations; } heap_stats_t;
void *heap_alloc(size_t n);
void heap_free(void *p);
size_t heap_block_size(const void *p);
void heap_stats(heap_stats_t *st);
#ifdef __cplusplus
}
#endif
#endif
