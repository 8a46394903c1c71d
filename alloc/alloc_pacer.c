/*
 * The pacer's state: the two settings, the live heap after the last cycle, and the
 * sampled memory in use. Settings are atomics that any thread may change at any time;
 * the goal is recomputed from them at every check, so a change takes effect at once.
 *
 * Memory in use is sampled from /proc/self/statm at most every ALLOC_RSS_SAMPLE_MS (a
 * syscall of a few µs); in between it is estimated as the sample plus the accounted
 * heap's growth since, so a fast-growing heap is seen without waiting for the next sample.
 *
 * Pressure mode, near the limit: mimalloc 2.0.9 delays returning a freed span to the OS
 * (decommit_delay, 25 ms) and then does it only when the thread next allocates a page
 * from that segment; a collect does not. Far from the limit that saves syscalls; near it,
 * freed pages may stay resident indefinitely. So while memory in use is above
 * ALLOC_PRESSURE_ON_PERCENT of the limit, mimalloc returns spans eagerly (delay 0), until
 * use falls under ALLOC_PRESSURE_OFF_PERCENT. Go's scavenger likewise works harder as the
 * heap nears GOMEMLIMIT.
 */
#include "alloc_int.h"

#define SAMPLE_NS ((uint64_t)ALLOC_RSS_SAMPLE_MS * 1000000u)

static _Atomic int32_t heap_percent = ALLOC_HEAP_PERCENT_DEFAULT;
static _Atomic int64_t memory_limit = ALLOC_NO_LIMIT;
static _Atomic uint64_t live_after_cycle;

static _Atomic uint64_t sample_ns;   /* 0 = never sampled */
static _Atomic uint64_t sample_anon; /* memory in use at the sample */
static _Atomic uint64_t sample_heap; /* accounted heap at the sample */
static _Atomic uint64_t rss_peak;
static _Atomic int sampling;              /* one sampler at a time */
static _Atomic int pressure;              /* 1: mimalloc decommits eagerly */
static _Atomic long normal_delay_ms = -1; /* mimalloc's delay before pressure mode */
static _Atomic uint64_t pressure_entries;

int32_t alloc_set_heap_percent(int32_t percent)
{
    alloc_init_once();
    int32_t v = percent < 0 ? ALLOC_HEAP_PERCENT_OFF : percent;
    int32_t prev = atomic_exchange(&heap_percent, v);
    CAIRN_ASSERT(prev >= ALLOC_HEAP_PERCENT_OFF);
    return prev;
}

int32_t alloc_get_heap_percent(void)
{
    return atomic_load_explicit(&heap_percent, memory_order_relaxed);
}

int64_t alloc_set_memory_limit(int64_t limit_bytes)
{
    alloc_init_once();
    if (limit_bytes < 0)
        return atomic_load(&memory_limit); /* Go: a negative limit only reads */
    int64_t prev = atomic_exchange(&memory_limit, limit_bytes);
    /* a new limit deserves a fresh sample before it is compared with anything */
    atomic_store(&sample_ns, 0);
    CAIRN_ASSERT(prev >= 0);
    return prev;
}

int64_t alloc_get_memory_limit(void)
{
    return atomic_load_explicit(&memory_limit, memory_order_relaxed);
}

static void resample(uint64_t heap_now, uint64_t now_ns)
{
    uint64_t rss = 0, anon = 0;
    if (alloc_rss_read(&rss, &anon) != 0)
        return; /* keep the previous sample: statm does not fail on Linux in practice */
    CAIRN_ASSERT(anon <= rss);
    atomic_store_explicit(&sample_anon, anon, memory_order_relaxed);
    atomic_store_explicit(&sample_heap, heap_now, memory_order_relaxed);
    atomic_store_explicit(&sample_ns, now_ns == 0 ? 1 : now_ns, memory_order_release);
    uint64_t peak = atomic_load_explicit(&rss_peak, memory_order_relaxed);
    while (anon > peak && !atomic_compare_exchange_weak(&rss_peak, &peak, anon)) {
    }
}

uint64_t alloc_pacer_in_use(uint64_t heap_now, uint64_t now_ns, bool force)
{
    uint64_t at = atomic_load_explicit(&sample_ns, memory_order_acquire);
    if (force || at == 0 || now_ns < at || now_ns - at >= SAMPLE_NS) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&sampling, &expected, 1)) {
            resample(heap_now, now_ns);
            atomic_store(&sampling, 0);
        }
    }
    uint64_t anon = atomic_load_explicit(&sample_anon, memory_order_relaxed);
    uint64_t heap_then = atomic_load_explicit(&sample_heap, memory_order_relaxed);
    /* growth since the sample is charged at once; shrinkage waits for the next sample
     * (freed pages are resident until their owner collects) */
    uint64_t in_use = heap_now > heap_then ? anon + (heap_now - heap_then) : anon;
    CAIRN_ASSERT(in_use >= anon);
    return in_use;
}

void alloc_pacer_goal(uint64_t heap_now, uint64_t now_ns, struct alloc_goal *out)
{
    struct alloc_goal_input in = {
        .heap_percent = alloc_get_heap_percent(),
        .memory_limit_bytes = alloc_get_memory_limit(),
        .live_after_cycle_bytes = atomic_load_explicit(&live_after_cycle, memory_order_relaxed),
        .heap_bytes = heap_now,
        .mapped_bytes = 0,
    };
    if (in.memory_limit_bytes != ALLOC_NO_LIMIT)
        in.mapped_bytes = alloc_pacer_in_use(heap_now, now_ns, false);
    alloc_goal_compute(&in, out);
    CAIRN_ASSERT(out->goal_bytes <= out->percent_goal_bytes);
}

static void set_pressure(bool on)
{
    int was = !on;
    if (!atomic_compare_exchange_strong(&pressure, &was, on))
        return; /* another thread switched it already */
    if (on) {
        atomic_store(&normal_delay_ms, mi_option_get(mi_option_decommit_delay));
        mi_option_set(mi_option_decommit_delay, 0);
        atomic_fetch_add(&pressure_entries, 1);
    } else {
        long normal = atomic_load(&normal_delay_ms);
        CAIRN_ASSERT(normal >= 0);
        mi_option_set(mi_option_decommit_delay, normal);
    }
}

void alloc_pacer_pressure_update(uint64_t in_use)
{
    int64_t limit = alloc_get_memory_limit();
    bool on = atomic_load_explicit(&pressure, memory_order_relaxed) != 0;
    if (limit == ALLOC_NO_LIMIT) {
        if (on)
            set_pressure(false);
        return;
    }
    CAIRN_ASSERT(limit >= 0);
    uint64_t enter = (uint64_t)limit / 100 * ALLOC_PRESSURE_ON_PERCENT;
    uint64_t leave = (uint64_t)limit / 100 * ALLOC_PRESSURE_OFF_PERCENT;
    if (!on && in_use >= enter)
        set_pressure(true);
    else if (on && in_use < leave)
        set_pressure(false);
}

bool alloc_pacer_in_pressure(void)
{
    return atomic_load_explicit(&pressure, memory_order_relaxed) != 0;
}

uint64_t alloc_pacer_pressure_entries(void)
{
    return atomic_load_explicit(&pressure_entries, memory_order_relaxed);
}

void alloc_pacer_cycle_end(uint64_t heap_after)
{
    atomic_store_explicit(&live_after_cycle, heap_after, memory_order_relaxed);
}

uint64_t alloc_pacer_live_after_cycle(void)
{
    return atomic_load_explicit(&live_after_cycle, memory_order_relaxed);
}

uint64_t alloc_pacer_rss_peak(void)
{
    return atomic_load_explicit(&rss_peak, memory_order_relaxed);
}

void alloc_pacer_reset(void)
{
    if (atomic_load(&pressure))
        set_pressure(false);
    atomic_store(&pressure_entries, 0);
    atomic_store(&heap_percent, ALLOC_HEAP_PERCENT_DEFAULT);
    atomic_store(&memory_limit, ALLOC_NO_LIMIT);
    atomic_store(&live_after_cycle, 0);
    atomic_store(&sample_ns, 0);
    atomic_store(&sample_anon, 0);
    atomic_store(&sample_heap, 0);
    atomic_store(&rss_peak, 0);
    CAIRN_ASSERT(atomic_load(&sampling) == 0);
}
