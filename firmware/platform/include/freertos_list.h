/* FreeRTOS's list, as a debugger's kernel awareness reads it (list.h's layout) and as list.c
 * maintains it: one copy for the simulated Photon's scheduler (concurrent_hal.c) and the test
 * fixtures' minimal kernels (tests/firmware/faults/rtos_task.c, threads.c). Our own code,
 * written from list.h/list.c's documented behaviour, not FreeRTOS's source.
 *
 * Layout: a list item (sort key, next, previous, owner = the TCB, the list holding it), the end
 * marker (a "mini" item: key 0xFFFFFFFF, next, previous), a list (item count, the round-robin
 * index pxIndex, the end marker). Both the v8+ type names (ListItem_t, MiniListItem_t, List_t)
 * and 7.5.2's (xListItem, xMiniListItem, xList) are given. The member naming the holding list
 * is pvContainer (v7/v8, WICED's 7.5.2 on the Photon) unless the including file defines
 * FREERTOS_LIST_CONTAINER (pxContainer: v10+) first.
 *
 * Operations (list.c's rules):
 *  - list_init: empty, pxIndex at the end marker;
 *  - list_insert_end (vListInsertEnd): just before pxIndex, the last one round robin reaches;
 *  - list_insert (vListInsert): sorted by xItemValue, after the items of equal value;
 *  - list_remove (uxListRemove): unlinked, pxIndex stepped back if it pointed at it; an item
 *    in no list is left alone. */
#ifndef PHOTONDBG_FREERTOS_LIST_H
#define PHOTONDBG_FREERTOS_LIST_H
#include <stddef.h>
#include <stdint.h>

#ifndef FREERTOS_LIST_CONTAINER
#define FREERTOS_LIST_CONTAINER pvContainer
#endif

struct xLIST;
typedef struct xLIST_ITEM {
    uint32_t xItemValue;            /* sort key: wake tick, or configMAX_PRIORITIES - priority */
    struct xLIST_ITEM *pxNext;
    struct xLIST_ITEM *pxPrevious;
    void *pvOwner;                  /* the TCB */
    struct xLIST *FREERTOS_LIST_CONTAINER; /* the list holding it, NULL when in none */
} ListItem_t;
typedef struct xMINI_LIST_ITEM {
    uint32_t xItemValue;
    struct xLIST_ITEM *pxNext;
    struct xLIST_ITEM *pxPrevious;
} MiniListItem_t;
typedef struct xLIST {
    volatile uint32_t uxNumberOfItems;
    ListItem_t *pxIndex;            /* round robin among equal priorities walks this */
    MiniListItem_t xListEnd;
} List_t;
typedef ListItem_t xListItem;       /* 7.5.2's names */
typedef MiniListItem_t xMiniListItem;
typedef List_t xList;

/* plain static functions (not inline: the sim's code stays as it was compiled from its own
 * copy); unused ones are dropped without a warning */
#define LIST_FN static __attribute__((unused))

LIST_FN void list_init(List_t *l)
{
    l->pxIndex = (ListItem_t *)&l->xListEnd;
    l->xListEnd.xItemValue = 0xFFFFFFFFu;
    l->xListEnd.pxNext = (ListItem_t *)&l->xListEnd;
    l->xListEnd.pxPrevious = (ListItem_t *)&l->xListEnd;
    l->uxNumberOfItems = 0;
}

LIST_FN void list_insert_end(List_t *l, ListItem_t *it)
{
    ListItem_t *idx = l->pxIndex;
    it->pxNext = idx;
    it->pxPrevious = idx->pxPrevious;
    idx->pxPrevious->pxNext = it;
    idx->pxPrevious = it;
    it->FREERTOS_LIST_CONTAINER = l;
    l->uxNumberOfItems++;
}

LIST_FN void list_insert(List_t *l, ListItem_t *it)
{
    ListItem_t *at = (ListItem_t *)&l->xListEnd;
    while (at->pxNext != (ListItem_t *)&l->xListEnd && at->pxNext->xItemValue <= it->xItemValue)
        at = at->pxNext;
    it->pxNext = at->pxNext;
    it->pxNext->pxPrevious = it;
    it->pxPrevious = at;
    at->pxNext = it;
    it->FREERTOS_LIST_CONTAINER = l;
    l->uxNumberOfItems++;
}

LIST_FN void list_remove(ListItem_t *it)
{
    List_t *l = it->FREERTOS_LIST_CONTAINER;
    if (l == NULL)
        return;
    it->pxNext->pxPrevious = it->pxPrevious;
    it->pxPrevious->pxNext = it->pxNext;
    if (l->pxIndex == it)
        l->pxIndex = it->pxPrevious;
    it->FREERTOS_LIST_CONTAINER = NULL;
    l->uxNumberOfItems--;
}

#undef LIST_FN

#endif
