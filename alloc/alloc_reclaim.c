/*
 * The reclaim cycle: when to run one, and running it in bounded steps.
 *
 * A cycle (one at a time, under `lock`):
 *   1. asks the release callbacks (alloc_registry.c), in priority order, for the bytes
 *      wanted: what the heap grew since the previous cycle ended (Go's GC frees all
 *      garbage whatever triggered it; here the callbacks decide what is garbage), or the
 *      excess over the memory limit if that is more. It does so in steps of about
 *      STEP_TARGET_NS each (the step size adapts to how fast the callbacks free), one
 *      step per alloc_maybe_reclaim call, so the node thread never stalls for long
 *      between raft batches. Steps are 4× larger in pressure mode; at or over the memory
 *      limit, for admission and when forced, the rest is asked for in one go;
 *   2. when the callbacks have given what was wanted (or all they could), asks every
 *      registered thread to collect its heaps (a flag their loops poll) and collects the
 *      calling thread's own at once;
 *   3. records the heap that survived (the next percent goal grows from it) and
 *      schedules a second collect after mimalloc's decommit delay, when the last pages
 *      can go back to the OS.
 * Every step is timed (the pause histogram is of steps: each is a stall of the thread
 * running it) and charged to the CPU budget. alloc_maybe_reclaim costs a clock read and
 * a few atomic loads when no cycle is due.
 */
#include "alloc_int.h"

#define BURST_NS            ((int64_t)ALLOC_CPU_BURST_MS * 1000000)
#define STEP_TARGET_NS      (2u * 1000000u)
#define STEP_MIN_BYTES      ((size_t)1 << 20)
#define STEP_MAX_BYTES      ((size_t)1 << 30)
#define STEP_INITIAL_BYTES  ((size_t)16 << 20)
#define PRESSURE_STEP_SCALE 4u /* steps this many times larger in pressure mode */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* under lock: */
static struct alloc_budget budget;
static bool budget_ready;
static size_t step_bytes = STEP_INITIAL_BYTES;
static struct {
    bool active;
    enum alloc_cycle_reason reason;
    uint64_t heap_start; /* accounted heap when the cycle began */
    size_t owed;         /* bytes still wanted from the callbacks */
    size_t released;     /* bytes they gave so far */
} cycle;

static _Atomic int cycle_active;            /* cycle.active, for the lock-free check */
static _Atomic int cycle_requested;         /* owner-only callbacks were skipped */
static _Atomic uint64_t requested_bytes;    /* ...and still owe this much */
static _Atomic uint64_t page_return_due_ns; /* 0 = none */
static _Atomic uint64_t debt_ns;            /* collects on other threads, not yet charged */

static size_t add_sat(size_t a, size_t b)
{
    return a + b < a ? SIZE_MAX : a + b;
}

void alloc_reclaim_charge(uint64_t ns)
{
    atomic_fetch_add_explicit(&debt_ns, ns, memory_order_relaxed);
}

/* Under lock: bring the budget up to date, charging other threads' collects. */
static bool budget_allows(uint64_t now)
{
    if (!budget_ready) {
        alloc_budget_init(&budget, now, BURST_NS);
        budget_ready = true;
    }
    alloc_budget_refill(&budget, now);
    alloc_budget_charge(&budget, atomic_exchange(&debt_ns, 0));
    return alloc_budget_allows(&budget);
}

static uint64_t decommit_delay_ns(void)
{
    long ms = mi_option_get(mi_option_decommit_delay);
    return (uint64_t)(ms > 0 ? ms : 0) * 1000000u;
}

static void start_cycle(enum alloc_cycle_reason reason, size_t bytes_wanted)
{
    CAIRN_ASSERT(!cycle.active);
    CAIRN_ASSERT((unsigned)reason < ALLOC_CYCLE_REASON_COUNT);
    cycle.active = true;
    cycle.reason = reason;
    cycle.heap_start = alloc_live_total_bytes();
    cycle.owed = bytes_wanted;
    cycle.released = 0;
    atomic_store(&cycle_active, 1);
}

/* Under lock: steps 2 and 3. Returns the time it finished. */
static uint64_t finish_cycle(uint64_t t_released)
{
    CAIRN_ASSERT(cycle.active && cycle.owed == 0);
    alloc_thread_request_collect();
    alloc_thread_collect_self();
    /* what survived of the heap the cycle started with (Go's "marked"): allocations
     * made by other threads meanwhile are growth toward the next goal, not live data,
     * or the goal would ratchet up by one cycle's allocation every cycle */
    uint64_t heap_now = alloc_live_total_bytes();
    uint64_t survived = cycle.heap_start > cycle.released ? cycle.heap_start - cycle.released : 0;
    alloc_pacer_cycle_end(survived < heap_now ? survived : heap_now);
    uint64_t t1 = alloc_now_ns();
    alloc_stats_cycle(cycle.reason, cycle.released, t1);
    alloc_stats_cycle_parts(0, t1 > t_released ? t1 - t_released : 0);
    /* + 1 ms so that the delay has surely passed when the second collect runs */
    atomic_store(&page_return_due_ns, t1 + decommit_delay_ns() + 1000000u);
    cycle.active = false;
    atomic_store(&cycle_active, 0);
    return t1;
}

/* Under lock: one step of an active cycle (all that is owed if `whole`; `scale` steps'
 * worth under pressure). */
static void step_locked(uint64_t t0, bool whole, size_t scale)
{
    CAIRN_ASSERT(cycle.active);
    CAIRN_ASSERT(scale >= 1 && scale <= PRESSURE_STEP_SCALE);
    size_t quota = step_bytes * scale;
    size_t ask = whole || cycle.owed < quota ? cycle.owed : quota;
    bool skipped = false;
    size_t got = ask > 0 ? alloc_registry_release(ask, &skipped) : 0;
    cycle.released = add_sat(cycle.released, got);
    if (got < ask) {
        /* the callbacks gave all they could: the cycle has what it will get */
        if (skipped) {
            uint64_t owe = ask - got, prev = atomic_load(&requested_bytes);
            while (prev < owe && !atomic_compare_exchange_weak(&requested_bytes, &prev, owe)) {
            }
            atomic_store(&cycle_requested, 1); /* the owners' turn, at their next check */
        }
        cycle.owed = 0;
    } else {
        cycle.owed -= got < cycle.owed ? got : cycle.owed;
    }
    uint64_t t1 = alloc_now_ns();
    uint64_t took = t1 > t0 ? t1 - t0 : 1;
    alloc_stats_cycle_parts(took, 0);
    if (!whole && got >= ask && ask == quota) {
        /* aim the next step at STEP_TARGET_NS, smoothing over one step */
        double next = (double)step_bytes * STEP_TARGET_NS / (double)took;
        next = next < (double)STEP_MIN_BYTES ? (double)STEP_MIN_BYTES : next;
        next = next > (double)STEP_MAX_BYTES ? (double)STEP_MAX_BYTES : next;
        step_bytes = (step_bytes + (size_t)next) / 2;
    }
    if (cycle.owed == 0)
        t1 = finish_cycle(t1);
    uint64_t pause = t1 > t0 ? t1 - t0 : 0;
    alloc_stats_pause(pause);
    alloc_budget_charge(&budget, pause);
    CAIRN_ASSERT(step_bytes >= STEP_MIN_BYTES && step_bytes <= STEP_MAX_BYTES);
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
    alloc_reclaim_charge(t1 > now ? t1 - now : 0);
    alloc_stats_page_return();
}

/* Under lock, no cycle active: start one if due. Returns false if none is. */
static bool start_if_due(uint64_t now)
{
    uint64_t heap = alloc_live_total_bytes();
    struct alloc_goal g;
    alloc_pacer_goal(heap, now, &g);
    bool requested = atomic_exchange(&cycle_requested, 0) != 0;
    if (!requested && heap < g.goal_bytes)
        return false; /* a cycle that just ended did the work */
    if (!budget_allows(now)) {
        if (requested)
            atomic_store(&cycle_requested, 1);
        alloc_stats_cpu_capped();
        return false;
    }
    size_t wanted = wanted_for(heap, now);
    enum alloc_cycle_reason reason = ALLOC_CYCLE_HEAP_PERCENT;
    if (requested) {
        reason = ALLOC_CYCLE_REQUESTED;
        uint64_t owed = atomic_exchange(&requested_bytes, 0);
        if (owed > wanted)
            wanted = owed > SIZE_MAX ? SIZE_MAX : (size_t)owed;
    } else if (g.limit_goal_bytes < g.percent_goal_bytes) {
        reason = ALLOC_CYCLE_MEMORY_LIMIT;
    }
    start_cycle(reason, wanted);
    return true;
}

int alloc_maybe_reclaim(void)
{
    if (alloc_reclaim_in_cycle())
        return 0;
    uint64_t now = alloc_now_ns();
    uint64_t heap = alloc_live_total_bytes();
    struct alloc_goal g;
    alloc_pacer_goal(heap, now, &g);
    if (g.limit_goal_bytes != UINT64_MAX || alloc_pacer_in_pressure())
        alloc_pacer_pressure_update(alloc_pacer_in_use(heap, now, false));
    bool busy = atomic_load_explicit(&cycle_active, memory_order_relaxed) != 0 ||
                atomic_load_explicit(&cycle_requested, memory_order_relaxed) != 0;
    if (!busy && heap < g.goal_bytes) {
        maybe_return_pages(now);
        return 0;
    }
    if (pthread_mutex_trylock(&lock) != 0)
        return 0; /* a step is running elsewhere */
    if (!cycle.active) {
        if (!start_if_due(now)) { /* checks the budget */
            pthread_mutex_unlock(&lock);
            return 0;
        }
    } else if (!budget_allows(now)) {
        pthread_mutex_unlock(&lock); /* a cycle under way waits for budget too */
        alloc_stats_cpu_capped();
        return 0;
    }
    /* at or over the limit: the rest at once; near it (pressure): bigger steps */
    int64_t limit = alloc_get_memory_limit();
    bool over = limit != ALLOC_NO_LIMIT &&
                alloc_pacer_in_use(alloc_live_total_bytes(), now, false) >= (uint64_t)limit;
    step_locked(now, over, alloc_pacer_in_pressure() ? PRESSURE_STEP_SCALE : 1);
    pthread_mutex_unlock(&lock);
    return 1;
}

size_t alloc_reclaim_now(size_t bytes_wanted)
{
    CAIRN_ASSERT(!alloc_reclaim_in_cycle()); /* not from a release callback */
    alloc_init_once();
    pthread_mutex_lock(&lock);
    uint64_t now = alloc_now_ns();
    (void)budget_allows(now); /* charged, not asked */
    if (cycle.active)         /* finish the cycle under way, asking for this much more */
        cycle.owed = add_sat(cycle.owed, bytes_wanted);
    else
        start_cycle(ALLOC_CYCLE_FORCED, bytes_wanted);
    step_locked(now, true, 1);
    size_t released = cycle.released;
    CAIRN_ASSERT(!cycle.active);
    pthread_mutex_unlock(&lock);
    return released;
}

bool alloc_reclaim_for_admission(size_t bytes_wanted)
{
    if (alloc_reclaim_in_cycle())
        return false;
    uint64_t cycles_before = alloc_stats_cycles();
    pthread_mutex_lock(&lock); /* waits out a step in progress */
    if (alloc_stats_cycles() != cycles_before) {
        pthread_mutex_unlock(&lock);
        return true; /* one finished while we waited: its result is what we wanted */
    }
    uint64_t now = alloc_now_ns();
    uint64_t last = alloc_stats_last_cycle_end_ns();
    if (!cycle.active && last != 0 && now >= last &&
        now - last < (uint64_t)ALLOC_RSS_SAMPLE_MS * 1000000u) {
        /* a cycle just ended; another before the next sample could not show any effect */
        pthread_mutex_unlock(&lock);
        return false;
    }
    if (!budget_allows(now)) {
        pthread_mutex_unlock(&lock);
        alloc_stats_cpu_capped();
        return false;
    }
    if (cycle.active) /* the request needs room now: finish the cycle under way */
        cycle.owed = cycle.owed > bytes_wanted ? cycle.owed : bytes_wanted;
    else
        start_cycle(ALLOC_CYCLE_ADMISSION, bytes_wanted);
    step_locked(now, true, 1);
    pthread_mutex_unlock(&lock);
    return true;
}

void alloc_reclaim_reset(void)
{
    CAIRN_ASSERT(!alloc_reclaim_in_cycle());
    alloc_registry_reset();
    pthread_mutex_lock(&lock);
    budget_ready = false;
    step_bytes = STEP_INITIAL_BYTES;
    cycle.active = false;
    atomic_store(&cycle_active, 0);
    atomic_store(&cycle_requested, 0);
    atomic_store(&requested_bytes, 0);
    atomic_store(&page_return_due_ns, 0);
    atomic_store(&debt_ns, 0);
    pthread_mutex_unlock(&lock);
}
