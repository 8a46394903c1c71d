/*
 * Events per minute (reclaim cycles), from 60 one-second slots stamped with their second:
 * a slot whose stamp is older than a minute counts as empty. Bounded, allocation-free.
 */
#include "alloc_int.h"

#define NS_PER_S 1000000000u

void alloc_rate_add(struct alloc_rate *r, uint64_t now_ns)
{
    uint64_t sec = now_ns / NS_PER_S;
    size_t slot = (size_t)(sec % ALLOC_RATE_SLOTS);
    CAIRN_ASSERT(slot < ALLOC_RATE_SLOTS);
    if (atomic_load_explicit(&r->second[slot], memory_order_relaxed) != sec) {
        /* first event of this second: the slot still holds a minute-old count */
        atomic_store_explicit(&r->count[slot], 0, memory_order_relaxed);
        atomic_store_explicit(&r->second[slot], sec, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&r->count[slot], 1, memory_order_relaxed);
}

double alloc_rate_per_min(const struct alloc_rate *r, uint64_t start_ns, uint64_t now_ns)
{
    uint64_t now_sec = now_ns / NS_PER_S;
    uint64_t events = 0;
    for (size_t i = 0; i < ALLOC_RATE_SLOTS; i++) {
        uint64_t sec = atomic_load_explicit(&r->second[i], memory_order_relaxed);
        if (sec <= now_sec && now_sec - sec < ALLOC_RATE_SLOTS)
            events += atomic_load_explicit(&r->count[i], memory_order_relaxed);
    }
    /* the window is the last minute, or the time since start when that is shorter */
    uint64_t span_ns = now_ns > start_ns ? now_ns - start_ns : 0;
    if (span_ns > (uint64_t)ALLOC_RATE_SLOTS * NS_PER_S)
        span_ns = (uint64_t)ALLOC_RATE_SLOTS * NS_PER_S;
    if (span_ns < NS_PER_S)
        span_ns = NS_PER_S;
    double per_min = (double)events * 60.0 * (double)NS_PER_S / (double)span_ns;
    CAIRN_ASSERT(per_min >= 0.0);
    return per_min;
}

void alloc_rate_clear(struct alloc_rate *r)
{
    for (size_t i = 0; i < ALLOC_RATE_SLOTS; i++) {
        atomic_store(&r->second[i], 0);
        atomic_store(&r->count[i], 0);
    }
    CAIRN_ASSERT(atomic_load(&r->count[0]) == 0);
}
