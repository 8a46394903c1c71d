/*
 * The reclaimer: registered release callbacks and the reclaim cycle.
 *
 * A cycle (one at a time, under `lock`):
 *   1. asks the callbacks, in ascending priority, for the bytes wanted: what the heap grew
 *      since the end of the previous cycle (Go's GC frees all garbage whatever triggered
 *      it; here the callbacks decide what is garbage), or the excess over the limit;
 *   2. asks every registered thread to collect its heaps (a flag their loops poll) and
 *      collects the calling thread's own heaps at once;
 *   3. records the live heap that survived the cycle (the next percent goal grows from it), times
 *      the pause, charges the CPU budget, and schedules a second collect after mimalloc's
 *      decommit delay, because the last pages go back to the OS only then.
 * alloc_maybe_reclaim decides whether to run one; it costs a clock read and a few atomic
 * loads when the heap is under its goal.
 */
#include "alloc_int.h"

struct entry {
    struct alloc_reclaimer r;
    int id;
    pthread_t owner;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* under lock: */
static struct entry entries[ALLOC_RECLAIMERS_MAX]; /* sorted by (priority, registration) */
static size_t n_entries;
static int next_id;
static struct alloc_budget budget;
static bool budget_ready;

static _Atomic uint32_t n_registered;
static _Atomic int cycle_requested;
static _Atomic uint64_t requested_bytes;    /* what skipped owner-only callbacks still owe */
static _Atomic uint64_t page_return_due_ns; /* 0 = none */
static _Atomic uint64_t debt_ns;            /* collects on other threads, not yet charged */
static _Thread_local bool in_cycle;

#define BURST_NS ((int64_t)ALLOC_CPU_BURST_MS * 1000000)

bool alloc_reclaim_in_cycle(void)
{
    return in_cycle;
}

uint32_t alloc_reclaimer_count(void)
{
    return atomic_load_explicit(&n_registered, memory_order_relaxed);
}

int alloc_reclaimer_register(const struct alloc_reclaimer *r, int *id_out)
{
    CAIRN_ASSERT(!in_cycle);
    if (r == NULL || r->release == NULL || r->name == NULL ||
        (unsigned)r->subsys >= ALLOC_SUBSYS_COUNT || id_out == NULL)
        return CAIRN_EINVAL;
    pthread_mutex_lock(&lock);
    if (n_entries == ALLOC_RECLAIMERS_MAX) {
        pthread_mutex_unlock(&lock);
        return CAIRN_ELIMIT;
    }
    size_t at = n_entries; /* after every entry of lower or equal priority */
    while (at > 0 && entries[at - 1].r.priority > r->priority)
        at--;
    for (size_t i = n_entries; i > at; i--)
        entries[i] = entries[i - 1];
    entries[at] = (struct entry){.r = *r, .id = next_id++, .owner = pthread_self()};
    n_entries++;
    *id_out = entries[at].id;
    atomic_store(&n_registered, (uint32_t)n_entries);
    CAIRN_ASSERT(n_entries <= ALLOC_RECLAIMERS_MAX && *id_out >= 0);
    pthread_mutex_unlock(&lock);
    return 0;
}

int alloc_reclaimer_unregister(int id)
{
    CAIRN_ASSERT(!in_cycle);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_entries; i++) {
        if (entries[i].id != id)
            continue;
        for (size_t j = i; j + 1 < n_entries; j++)
            entries[j] = entries[j + 1];
        n_entries--;
        atomic_store(&n_registered, (uint32_t)n_entries);
        pthread_mutex_unlock(&lock);
        return 0;
    }
    pthread_mutex_unlock(&lock);
    return CAIRN_ENOTFOUND;
}

/* Under lock: bring the budget up to date, charging other threads' collects. */
static void budget_update(uint64_t now)
{
    if (!budget_ready) {
        alloc_budget_init(&budget, now, BURST_NS);
        budget_ready = true;
    }
    alloc_budget_refill(&budget, now);
    alloc_budget_charge(&budget, atomic_exchange(&debt_ns, 0));
}

/* Under lock: call the callbacks in order until bytes_wanted is met. */
static size_t call_releasers(size_t bytes_wanted)
{
    size_t released = 0, remaining = bytes_wanted;
    bool skipped = false;
    pthread_t me = pthread_self();
    in_cycle = true;
    for (size_t i = 0; i < n_entries && remaining > 0; i++) {
        const struct entry *e = &entries[i];
        if (!(e->r.flags & ALLOC_RELEASE_ANY_THREAD) && !pthread_equal(e->owner, me)) {
            skipped = true;
            continue;
        }
        size_t got = e->r.release(e->r.arg, remaining);
        released = released + got < released ? SIZE_MAX : released + got;
        remaining = got >= remaining ? 0 : remaining - got;
    }
    in_cycle = false;
    if (skipped && remaining > 0) {
        /* the owners' turn, at their next check, for what is still wanted */
        uint64_t owed = atomic_load(&requested_bytes);
        while (owed < remaining &&
               !atomic_compare_exchange_weak(&requested_bytes, &owed, remaining)) {
        }
        atomic_store(&cycle_requested, 1);
    }
    CAIRN_ASSERT(remaining <= bytes_wanted);
    return released;
}

static uint64_t decommit_delay_ns(void)
{
    long ms = mi_option_get(mi_option_decommit_delay);
    return (uint64_t)(ms > 0 ? ms : 0) * 1000000u;
}

/* Under lock: one cycle. Returns the bytes the callbacks released. */
static size_t cycle_locked(enum alloc_cycle_reason reason, size_t bytes_wanted, uint64_t t0)
{
    CAIRN_ASSERT(!in_cycle);
    CAIRN_ASSERT((unsigned)reason < ALLOC_CYCLE_REASON_COUNT);
    uint64_t heap_start = alloc_live_total_bytes();
    size_t released = bytes_wanted > 0 ? call_releasers(bytes_wanted) : 0;
    alloc_thread_request_collect();
    alloc_thread_collect_self();
    /* what survived of the heap the cycle started with (Go's "marked"): allocations
     * made by other threads during the pause are growth toward the next goal, not live
     * data, or the goal would ratchet up by one pause's allocation every cycle */
    uint64_t heap_now = alloc_live_total_bytes();
    uint64_t survived = heap_start > released ? heap_start - released : 0;
    alloc_pacer_cycle_end(survived < heap_now ? survived : heap_now);
    uint64_t t1 = alloc_now_ns();
    uint64_t pause = t1 > t0 ? t1 - t0 : 0;
    alloc_budget_charge(&budget, pause);
    alloc_stats_cycle(reason, pause, released, t1);
    /* + 1 ms so that the delay has surely passed when the second collect runs */
    atomic_store(&page_return_due_ns, t1 + decommit_delay_ns() + 1000000u);
    return released;
}

/* What a triggered cycle asks for: the growth since the last cycle, or the excess over
 * the limit (less headroom) if that is more. */
static size_t wanted_for(uint64_t heap, uint64_t now)
{
    uint64_t marked = alloc_pacer_live_after_cycle();
    uint64_t want = heap > marked ? heap - marked : 0;
    int64_t limit = alloc_get_memory_limit();
    if (limit != ALLOC_NO_LIMIT) {
        struct alloc_goal g;
        alloc_pacer_goal(heap, now, &g);
        uint64_t in_use = alloc_pacer_in_use(heap, now, false);
        uint64_t target =
            (uint64_t)limit > g.headroom_bytes ? (uint64_t)limit - g.headroom_bytes : 0;
        if (in_use > target && in_use - target > want)
            want = in_use - target;
    }
    return want > SIZE_MAX ? SIZE_MAX : (size_t)want;
}

/* The second collect, once the decommit delay has passed: no lock needed. */
static void maybe_return_pages(uint64_t now)
{
    uint64_t due = atomic_load_explicit(&page_return_due_ns, memory_order_relaxed);
    if (due == 0 || now < due)
        return;
    if (!atomic_compare_exchange_strong(&page_return_due_ns, &due, 0))
        return; /* another thread took it */
    alloc_thread_request_collect();
    alloc_thread_collect_self();
    uint64_t t1 = alloc_now_ns();
    atomic_fetch_add(&debt_ns, t1 > now ? t1 - now : 0);
    alloc_stats_page_return();
}

int alloc_maybe_reclaim(void)
{
    if (in_cycle)
        return 0;
    uint64_t now = alloc_now_ns();
    uint64_t heap = alloc_live_total_bytes();
    struct alloc_goal g;
    alloc_pacer_goal(heap, now, &g);
    if (g.limit_goal_bytes != UINT64_MAX || alloc_pacer_in_pressure())
        alloc_pacer_pressure_update(alloc_pacer_in_use(heap, now, false));
    bool requested = atomic_load_explicit(&cycle_requested, memory_order_relaxed) != 0;
    if (!requested && heap < g.goal_bytes) {
        maybe_return_pages(now);
        return 0;
    }
    if (pthread_mutex_trylock(&lock) != 0)
        return 0; /* a cycle is running elsewhere */
    /* re-check under the lock: a cycle that just ended may have done the work */
    heap = alloc_live_total_bytes();
    alloc_pacer_goal(heap, now, &g);
    requested = atomic_exchange(&cycle_requested, 0) != 0;
    if (!requested && heap < g.goal_bytes) {
        pthread_mutex_unlock(&lock);
        return 0;
    }
    budget_update(now);
    if (!alloc_budget_allows(&budget)) {
        if (requested)
            atomic_store(&cycle_requested, 1);
        pthread_mutex_unlock(&lock);
        alloc_stats_cpu_capped();
        return 0;
    }
    enum alloc_cycle_reason reason = requested ? ALLOC_CYCLE_REQUESTED
                                     : g.limit_goal_bytes < g.percent_goal_bytes
                                         ? ALLOC_CYCLE_MEMORY_LIMIT
                                         : ALLOC_CYCLE_HEAP_PERCENT;
    size_t wanted = wanted_for(heap, now);
    if (requested) {
        uint64_t owed = atomic_exchange(&requested_bytes, 0);
        if (owed > wanted)
            wanted = owed > SIZE_MAX ? SIZE_MAX : (size_t)owed;
    }
    (void)cycle_locked(reason, wanted, now);
    pthread_mutex_unlock(&lock);
    return 1;
}

size_t alloc_reclaim_now(size_t bytes_wanted)
{
    CAIRN_ASSERT(!in_cycle); /* not from a release callback */
    alloc_init_once();
    pthread_mutex_lock(&lock);
    uint64_t now = alloc_now_ns();
    budget_update(now);
    size_t released = cycle_locked(ALLOC_CYCLE_FORCED, bytes_wanted, now);
    pthread_mutex_unlock(&lock);
    return released;
}

bool alloc_reclaim_for_admission(size_t bytes_wanted)
{
    if (in_cycle)
        return false;
    uint64_t cycles_before = alloc_stats_cycles();
    pthread_mutex_lock(&lock); /* waits out a cycle in progress */
    if (alloc_stats_cycles() != cycles_before) {
        pthread_mutex_unlock(&lock);
        return true; /* one finished while we waited: its result is what we wanted */
    }
    uint64_t now = alloc_now_ns();
    uint64_t last = alloc_stats_last_cycle_end_ns();
    if (last != 0 && now >= last && now - last < (uint64_t)ALLOC_RSS_SAMPLE_MS * 1000000u) {
        /* a cycle just ran; another before the next sample could not show any effect */
        pthread_mutex_unlock(&lock);
        return false;
    }
    budget_update(now);
    if (!alloc_budget_allows(&budget)) {
        pthread_mutex_unlock(&lock);
        alloc_stats_cpu_capped();
        return false;
    }
    (void)cycle_locked(ALLOC_CYCLE_ADMISSION, bytes_wanted, now);
    pthread_mutex_unlock(&lock);
    return true;
}

void alloc_reclaim_reset(void)
{
    CAIRN_ASSERT(!in_cycle);
    pthread_mutex_lock(&lock);
    n_entries = 0;
    next_id = 0;
    budget_ready = false;
    atomic_store(&n_registered, 0);
    atomic_store(&cycle_requested, 0);
    atomic_store(&requested_bytes, 0);
    atomic_store(&page_return_due_ns, 0);
    atomic_store(&debt_ns, 0);
    pthread_mutex_unlock(&lock);
}

void alloc_reclaim_charge(uint64_t ns)
{
    atomic_fetch_add_explicit(&debt_ns, ns, memory_order_relaxed);
}
