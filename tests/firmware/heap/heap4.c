/* TEST FIXTURE, not FreeRTOS: a small first-fit allocator written here that keeps FreeRTOS
 * heap_4's documented block layout and variable names (portable/MemMang/heap_4.c), so that the
 * heap_4 walker can be tested on a real firmware without vendoring FreeRTOS:
 *   - the arena is ucHeap[], its start rounded up to 8 bytes;
 *   - each block is preceded by BlockLink_t { next free block; size }, 8 bytes;
 *   - the top bit of size (xBlockAllocatedBit) marks an allocated block, whose link is NULL;
 *   - free blocks are on a list from xStart in address order, ending at pxEnd, a zero-size
 *     marker at the top of the arena; free neighbours are merged;
 *   - xFreeBytesRemaining is the sum of the free blocks' sizes. */
#include <stddef.h>
#include <stdint.h>

#define HEAP_SIZE 4096u
#define ALIGNMENT 8u
#define HEADER    8u
#define MIN_BLOCK (2u * HEADER)

typedef struct A_BLOCK_LINK {
    struct A_BLOCK_LINK *pxNextFreeBlock;
    size_t xBlockSize;
} BlockLink_t;

uint8_t ucHeap[HEAP_SIZE];
BlockLink_t xStart;
BlockLink_t *pxEnd;
size_t xFreeBytesRemaining, xMinimumEverFreeBytesRemaining, xBlockAllocatedBit;

static void heap_init(void)
{
    uintptr_t lo = ((uintptr_t)ucHeap + ALIGNMENT - 1) & ~(uintptr_t)(ALIGNMENT - 1);
    uintptr_t hi = ((uintptr_t)ucHeap + HEAP_SIZE - HEADER) & ~(uintptr_t)(ALIGNMENT - 1);
    pxEnd = (BlockLink_t *)hi;
    pxEnd->pxNextFreeBlock = NULL;
    pxEnd->xBlockSize = 0;
    BlockLink_t *first = (BlockLink_t *)lo;
    first->xBlockSize = hi - lo;
    first->pxNextFreeBlock = pxEnd;
    xStart.pxNextFreeBlock = first;
    xStart.xBlockSize = 0;
    xFreeBytesRemaining = xMinimumEverFreeBytesRemaining = first->xBlockSize;
    xBlockAllocatedBit = (size_t)1 << 31;
}

static void insert_free(BlockLink_t *b)
{
    BlockLink_t *it = &xStart;
    while (it->pxNextFreeBlock < b)
        it = it->pxNextFreeBlock;
    if (it != &xStart && (uint8_t *)it + it->xBlockSize == (uint8_t *)b) {
        it->xBlockSize += b->xBlockSize;
        b = it;
    }
    if (it->pxNextFreeBlock != pxEnd
            && (uint8_t *)b + b->xBlockSize == (uint8_t *)it->pxNextFreeBlock) {
        b->xBlockSize += it->pxNextFreeBlock->xBlockSize;
        b->pxNextFreeBlock = it->pxNextFreeBlock->pxNextFreeBlock;
    } else {
        b->pxNextFreeBlock = it->pxNextFreeBlock;
    }
    if (it != b)
        it->pxNextFreeBlock = b;
}

void *pvPortMalloc(size_t wanted)
{
    if (pxEnd == NULL)
        heap_init();
    if (wanted == 0)
        return NULL;
    wanted = (wanted + HEADER + ALIGNMENT - 1) & ~(size_t)(ALIGNMENT - 1);
    BlockLink_t *prev = &xStart, *b = xStart.pxNextFreeBlock;
    while (b->xBlockSize < wanted && b->pxNextFreeBlock != NULL) {
        prev = b;
        b = b->pxNextFreeBlock;
    }
    if (b == pxEnd)
        return NULL;
    prev->pxNextFreeBlock = b->pxNextFreeBlock;
    if (b->xBlockSize - wanted > MIN_BLOCK) {
        BlockLink_t *rest = (BlockLink_t *)((uint8_t *)b + wanted);
        rest->xBlockSize = b->xBlockSize - wanted;
        b->xBlockSize = wanted;
        insert_free(rest);
    }
    xFreeBytesRemaining -= b->xBlockSize;
    if (xFreeBytesRemaining < xMinimumEverFreeBytesRemaining)
        xMinimumEverFreeBytesRemaining = xFreeBytesRemaining;
    b->xBlockSize |= xBlockAllocatedBit;
    b->pxNextFreeBlock = NULL;
    return (uint8_t *)b + HEADER;
}

void vPortFree(void *p)
{
    if (p == NULL)
        return;
    BlockLink_t *b = (BlockLink_t *)((uint8_t *)p - HEADER);
    b->xBlockSize &= ~xBlockAllocatedBit;
    xFreeBytesRemaining += b->xBlockSize;
    insert_free(b);
}
