/*
 * Per-subsystem byte counters and the accounted malloc family.
 *
 * Counters are relaxed atomics, one cache line each so that two threads charging
 * different subsystems do not bounce a line. A block's size is its mi_usable_size, the
 * same at allocation and at free, so charges and credits always match.
 */
#include "alloc_int.h"

#include <string.h>

struct counter {
    _Alignas(64) _Atomic int64_t bytes;
};

static struct counter live[ALLOC_SUBSYS_COUNT];

static void check_subsys(enum alloc_subsys subsys)
{
    CAIRN_ASSERT((unsigned)subsys < ALLOC_SUBSYS_COUNT);
}

void alloc_account_add(enum alloc_subsys subsys, size_t bytes)
{
    check_subsys(subsys);
    CAIRN_ASSERT(bytes <= (size_t)INT64_MAX);
    atomic_fetch_add_explicit(&live[subsys].bytes, (int64_t)bytes, memory_order_relaxed);
}

void alloc_account_sub(enum alloc_subsys subsys, size_t bytes)
{
    check_subsys(subsys);
    CAIRN_ASSERT(bytes <= (size_t)INT64_MAX);
    int64_t before =
        atomic_fetch_sub_explicit(&live[subsys].bytes, (int64_t)bytes, memory_order_relaxed);
    /* a credit never precedes its charge: below zero means a double free or a block
     * freed under the wrong subsystem */
    CAIRN_ASSERT(before >= (int64_t)bytes);
}

uint64_t alloc_live_bytes(enum alloc_subsys subsys)
{
    check_subsys(subsys);
    int64_t v = atomic_load_explicit(&live[subsys].bytes, memory_order_relaxed);
    return v > 0 ? (uint64_t)v : 0;
}

uint64_t alloc_live_total_bytes(void)
{
    int64_t sum = 0;
    for (size_t i = 0; i < ALLOC_SUBSYS_COUNT; i++)
        sum += atomic_load_explicit(&live[i].bytes, memory_order_relaxed);
    /* loads are not a snapshot: a free on one counter may be seen before its peer's
     * charge elsewhere, so clamp rather than assert */
    return sum > 0 ? (uint64_t)sum : 0;
}

void *alloc_malloc(enum alloc_subsys subsys, size_t size_bytes)
{
    check_subsys(subsys);
    void *p = mi_malloc(size_bytes);
    if (p == NULL)
        return NULL;
    alloc_account_add(subsys, mi_usable_size(p));
    return p;
}

void *alloc_calloc(enum alloc_subsys subsys, size_t count, size_t size_bytes)
{
    check_subsys(subsys);
    void *p = mi_calloc(count, size_bytes); /* checks count * size for overflow */
    if (p == NULL)
        return NULL;
    alloc_account_add(subsys, mi_usable_size(p));
    return p;
}

void *alloc_realloc(enum alloc_subsys subsys, void *ptr, size_t size_bytes)
{
    check_subsys(subsys);
    size_t before = ptr != NULL ? mi_usable_size(ptr) : 0;
    void *p = mi_realloc(ptr, size_bytes);
    if (p == NULL)
        return NULL; /* mimalloc leaves the old block (and so its charge) alone */
    size_t after = mi_usable_size(p);
    if (after >= before)
        alloc_account_add(subsys, after - before);
    else
        alloc_account_sub(subsys, before - after);
    return p;
}

void alloc_free(enum alloc_subsys subsys, void *ptr)
{
    check_subsys(subsys);
    if (ptr == NULL)
        return;
    alloc_account_sub(subsys, mi_usable_size(ptr));
    mi_free(ptr);
}

void alloc_account_reset(void)
{
    for (size_t i = 0; i < ALLOC_SUBSYS_COUNT; i++)
        atomic_store(&live[i].bytes, 0);
    CAIRN_ASSERT(alloc_live_total_bytes() == 0);
}
