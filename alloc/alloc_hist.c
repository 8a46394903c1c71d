/*
 * A bounded log-linear histogram (for cycle pauses): values 0..7 exactly, then 8 buckets
 * per power of two, so any value is reported at most 12.5 % high. 496 counters, no
 * allocation, lock-free updates (relaxed atomics; one writer at a time in practice).
 */
#include "alloc_int.h"

size_t alloc_hist_index(uint64_t value)
{
    if (value < ALLOC_HIST_SUB)
        return (size_t)value;
    unsigned e = 63u - (unsigned)__builtin_clzll(value); /* ≥ ALLOC_HIST_SUB_BITS */
    unsigned sub = (unsigned)(value >> (e - ALLOC_HIST_SUB_BITS)) & (ALLOC_HIST_SUB - 1);
    size_t index = (size_t)(e - ALLOC_HIST_SUB_BITS + 1) * ALLOC_HIST_SUB + sub;
    CAIRN_ASSERT(index < ALLOC_HIST_BUCKETS);
    return index;
}

uint64_t alloc_hist_bucket_max(size_t index)
{
    CAIRN_ASSERT(index < ALLOC_HIST_BUCKETS);
    if (index < ALLOC_HIST_SUB)
        return index;
    unsigned e = (unsigned)(index / ALLOC_HIST_SUB) + ALLOC_HIST_SUB_BITS - 1;
    uint64_t sub = index % ALLOC_HIST_SUB;
    unsigned shift = e - ALLOC_HIST_SUB_BITS;
    uint64_t next = ALLOC_HIST_SUB + sub + 1; /* first value of the next bucket, >> shift */
    if (shift > 0 && next > (UINT64_MAX >> shift))
        return UINT64_MAX;
    return (next << shift) - 1;
}

void alloc_hist_add(struct alloc_hist *h, uint64_t value)
{
    atomic_fetch_add_explicit(&h->counts[alloc_hist_index(value)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, value, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);
    while (value > max && !atomic_compare_exchange_weak_explicit(
                              &h->max, &max, value, memory_order_relaxed, memory_order_relaxed)) {
    }
    CAIRN_ASSERT(atomic_load_explicit(&h->max, memory_order_relaxed) >= value);
}

uint64_t alloc_hist_quantile(const struct alloc_hist *h, double q)
{
    CAIRN_ASSERT(q >= 0.0 && q <= 1.0);
    uint64_t total = atomic_load_explicit(&h->total, memory_order_relaxed);
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)total);
    if ((double)rank < q * (double)total || rank == 0)
        rank++; /* ceil, and at least the first value */
    uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);
    uint64_t seen = 0;
    for (size_t i = 0; i < ALLOC_HIST_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (seen >= rank) {
            uint64_t bound = alloc_hist_bucket_max(i);
            return bound < max ? bound : max;
        }
    }
    return max; /* counts raced ahead of total */
}

void alloc_hist_clear(struct alloc_hist *h)
{
    for (size_t i = 0; i < ALLOC_HIST_BUCKETS; i++)
        atomic_store(&h->counts[i], 0);
    atomic_store(&h->total, 0);
    atomic_store(&h->sum, 0);
    atomic_store(&h->max, 0);
    CAIRN_ASSERT(alloc_hist_quantile(h, 0.5) == 0);
}
