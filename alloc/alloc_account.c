/*
 * Per-subsystem byte counters and the accounted malloc family.
 *
 * Counters are relaxed atomics, one cache line each so that two threads charging
 * different subsystems do not bounce a line. A block's size is its mi_usable_size, the
 * same at allocation and at free, so charges and credits always match.
 *
 * Each thread allocates each subsystem's blocks from a mimalloc heap of its own (created
 * on first use). Segregation is what lets a release callback give memory back to the OS:
 * mimalloc returns only whole free pages, and a trimmed cache whose entries shared pages
 * with long-lived proposals or leases would free no page at all (TOOLCHAIN.md §4: "50 %
 * live kept 100 % RSS"). mimalloc deletes a thread's heaps when it exits, moving live
 * blocks to the backing heap, so blocks outlive their allocating thread as usual.
 */
#include "alloc_int.h"

#include <string.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define ACCOUNT_VALGRIND 1
#endif
#endif

struct counter {
    _Alignas(64) _Atomic int64_t bytes;
};

static struct counter live[ALLOC_SUBSYS_COUNT];
static _Thread_local mi_heap_t *thread_heap[ALLOC_SUBSYS_COUNT];
static _Atomic int system_malloc = -1; /* -1: not decided yet */

bool alloc_use_system_malloc(void)
{
    int v = atomic_load_explicit(&system_malloc, memory_order_relaxed);
    if (CAIRN_LIKELY(v >= 0))
        return v != 0;
#ifdef ACCOUNT_VALGRIND
    v = RUNNING_ON_VALGRIND != 0;
#else
    v = 0;
#endif
    atomic_store(&system_malloc, v);
    return v != 0;
}

/* The calling thread's heap for subsys; NULL means "use mi_malloc" (under valgrind,
 * where mi_heap_* and the redirected mi_malloc family cannot be mixed, or if a heap
 * could not be made). */
static mi_heap_t *heap_for(enum alloc_subsys subsys)
{
    mi_heap_t *h = thread_heap[subsys];
    if (CAIRN_LIKELY(h != NULL))
        return h;
    if (alloc_use_system_malloc())
        return NULL;
    h = mi_heap_new();
    thread_heap[subsys] = h;
    return h;
}

void alloc_account_collect_thread(void)
{
    for (size_t i = 0; i < ALLOC_SUBSYS_COUNT; i++)
        if (thread_heap[i] != NULL)
            mi_heap_collect(thread_heap[i], true);
}

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
    mi_heap_t *h = heap_for(subsys);
    void *p = h != NULL ? mi_heap_malloc(h, size_bytes) : mi_malloc(size_bytes);
    if (p == NULL)
        return NULL;
    alloc_account_add(subsys, mi_usable_size(p));
    return p;
}

void *alloc_calloc(enum alloc_subsys subsys, size_t count, size_t size_bytes)
{
    check_subsys(subsys);
    mi_heap_t *h = heap_for(subsys);
    /* both check count * size for overflow */
    void *p = h != NULL ? mi_heap_calloc(h, count, size_bytes) : mi_calloc(count, size_bytes);
    if (p == NULL)
        return NULL;
    alloc_account_add(subsys, mi_usable_size(p));
    return p;
}

void *alloc_realloc(enum alloc_subsys subsys, void *ptr, size_t size_bytes)
{
    check_subsys(subsys);
    size_t before = ptr != NULL ? mi_usable_size(ptr) : 0;
    mi_heap_t *h = heap_for(subsys);
    void *p = h != NULL ? mi_heap_realloc(h, ptr, size_bytes) : mi_realloc(ptr, size_bytes);
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
