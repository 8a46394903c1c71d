/*
 * The reclaimer: callbacks run in priority order until satisfied; owner-only callbacks
 * wait for their thread; alloc_maybe_reclaim triggers on the percent goal and the limit
 * goal and is idle otherwise; the CPU budget postpones cycles; cycles ask registered
 * threads to collect and those threads really return their pages; the delayed second
 * collect runs. Time and RSS are faked where the test needs them exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc_int.h"

#include <string.h>

#define MiB (1ull << 20)
#define MS  1000000ull

static uint64_t fake_now = 1000 * MS;
static uint64_t fake_anon = 64 * MiB;
static uint64_t clock_fake(void)
{
    return fake_now;
}
static int rss_fake(uint64_t *rss, uint64_t *anon)
{
    *anon = fake_anon;
    *rss = fake_anon;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    alloc_testing_set_clock(clock_fake);
    alloc_testing_set_rss(rss_fake);
    fake_now = 1000 * MS;
    fake_anon = 64 * MiB;
    alloc_testing_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    alloc_testing_reset();
    alloc_testing_set_clock(NULL);
    alloc_testing_set_rss(NULL);
    return 0;
}

/* A fake cache: holds `held` bytes charged to its subsystem; gives back up to `give`. */
struct cache {
    const char *name;
    enum alloc_subsys subsys;
    size_t held;
    size_t give_max;
    size_t last_wanted;
    unsigned calls;
    uint64_t advance_clock_ns; /* simulated pause */
};

static char order[64];
static size_t n_order;

static size_t cache_release(void *arg, size_t wanted)
{
    struct cache *c = arg;
    CAIRN_ASSERT(alloc_reclaim_in_cycle());
    c->calls++;
    c->last_wanted = wanted;
    if (n_order < sizeof(order) - 1)
        order[n_order++] = c->name[0];
    fake_now += c->advance_clock_ns;
    size_t give = wanted < c->give_max ? wanted : c->give_max;
    if (give > c->held)
        give = c->held;
    c->held -= give;
    alloc_account_sub(c->subsys, give);
    return give;
}

static void cache_fill(struct cache *c, size_t bytes)
{
    c->held += bytes;
    alloc_account_add(c->subsys, bytes);
}

static int reg(struct cache *c, int priority, unsigned flags)
{
    struct alloc_reclaimer r = {.name = c->name,
                                .subsys = c->subsys,
                                .priority = priority,
                                .release = cache_release,
                                .arg = c,
                                .flags = flags};
    int id = -1;
    assert_int_equal(alloc_reclaimer_register(&r, &id), 0);
    assert_true(id >= 0);
    return id;
}

static void test_register_rules(void **state)
{
    (void)state;
    struct alloc_reclaimer r = {.name = "x", .subsys = ALLOC_SUBSYS_OTHER};
    int id = -1;
    assert_int_equal(alloc_reclaimer_register(&r, &id), CAIRN_EINVAL); /* no callback */
    r.release = cache_release;
    r.subsys = ALLOC_SUBSYS_COUNT;
    assert_int_equal(alloc_reclaimer_register(&r, &id), CAIRN_EINVAL);
    r.subsys = ALLOC_SUBSYS_OTHER;
    r.name = NULL;
    assert_int_equal(alloc_reclaimer_register(&r, &id), CAIRN_EINVAL);
    r.name = "x";
    int ids[ALLOC_RECLAIMERS_MAX];
    for (int i = 0; i < ALLOC_RECLAIMERS_MAX; i++)
        assert_int_equal(alloc_reclaimer_register(&r, &ids[i]), 0);
    assert_int_equal(alloc_reclaimer_register(&r, &id), CAIRN_ELIMIT);
    assert_int_equal(alloc_reclaimer_count(), ALLOC_RECLAIMERS_MAX);
    assert_int_equal(alloc_reclaimer_unregister(ids[3]), 0);
    assert_int_equal(alloc_reclaimer_unregister(ids[3]), CAIRN_ENOTFOUND);
    assert_int_equal(alloc_reclaimer_register(&r, &id), 0); /* room again */
    assert_int_equal(alloc_reclaimer_unregister(12345), CAIRN_ENOTFOUND);
}

static void test_priority_order(void **state)
{
    (void)state;
    struct cache a = {.name = "a", .subsys = ALLOC_SUBSYS_GRPC_BUFFERS, .give_max = SIZE_MAX};
    struct cache b = {.name = "b", .subsys = ALLOC_SUBSYS_RAFT_ENTRY_CACHE, .give_max = SIZE_MAX};
    struct cache c = {.name = "c", .subsys = ALLOC_SUBSYS_WATCH_BUFFERS, .give_max = SIZE_MAX};
    struct cache d = {.name = "d", .subsys = ALLOC_SUBSYS_RAFT_ENTRY_CACHE, .give_max = SIZE_MAX};
    /* registered out of order; b and d tie and keep registration order */
    reg(&c, 30, 0);
    reg(&b, 20, 0);
    reg(&a, 10, 0);
    int id_d = reg(&d, 20, 0);
    cache_fill(&a, 1 * MiB);
    cache_fill(&b, 1 * MiB);
    cache_fill(&c, 1 * MiB);
    cache_fill(&d, 1 * MiB);
    n_order = 0;
    /* everything: all four, in priority order */
    assert_true(alloc_reclaim_now(SIZE_MAX) == 4 * MiB);
    order[n_order] = '\0';
    assert_string_equal(order, "abdc");
    assert_true(alloc_live_total_bytes() == 0);
    /* a cycle stops once it has what it wants: the later callbacks are not called */
    cache_fill(&a, 1 * MiB);
    cache_fill(&b, 1 * MiB);
    cache_fill(&c, 1 * MiB);
    n_order = 0;
    assert_true(alloc_reclaim_now(1536 * 1024) == 1536 * 1024);
    order[n_order] = '\0';
    assert_string_equal(order, "ab");
    assert_true(b.last_wanted == 512 * 1024); /* each is asked only for what is left */
    assert_true(a.held == 0 && b.held == 512 * 1024 && c.held == 1 * MiB);
    /* unregistered: never called again */
    assert_int_equal(alloc_reclaimer_unregister(id_d), 0);
    unsigned d_calls = d.calls;
    n_order = 0;
    (void)alloc_reclaim_now(SIZE_MAX);
    assert_int_equal(d.calls, d_calls);
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.cycles == 3);
    assert_true(st.cycles_by_reason[ALLOC_CYCLE_FORCED] == 3);
    assert_true(st.bytes_released == 4 * MiB + 1536 * 1024 + 1536 * 1024);
    assert_true(alloc_live_total_bytes() == 0);
}

/* --- owner-only callbacks --- */

struct other_cycle {
    size_t released;
};

static void *cycle_elsewhere(void *arg)
{
    struct other_cycle *oc = arg;
    oc->released = alloc_reclaim_now(SIZE_MAX);
    return NULL;
}

static void test_owner_only_callbacks(void **state)
{
    (void)state;
    struct cache mine = {
        .name = "mine", .subsys = ALLOC_SUBSYS_RAFT_ENTRY_CACHE, .give_max = SIZE_MAX};
    struct cache any = {.name = "any", .subsys = ALLOC_SUBSYS_GRPC_BUFFERS, .give_max = SIZE_MAX};
    reg(&mine, 1, 0);                       /* owned by this (the "node") thread */
    reg(&any, 2, ALLOC_RELEASE_ANY_THREAD); /* thread-safe */
    cache_fill(&mine, 2 * MiB);
    cache_fill(&any, 2 * MiB);
    /* a cycle on another thread skips ours and asks for a cycle on the owner */
    struct other_cycle oc = {0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cycle_elsewhere, &oc), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(oc.released == 2 * MiB);
    assert_int_equal(mine.calls, 0);
    assert_int_equal(any.calls, 1);
    /* our next check runs the requested cycle, even though the heap is under its goal */
    assert_true(alloc_live_total_bytes() < ALLOC_HEAP_MINIMUM_BYTES);
    assert_int_equal(alloc_maybe_reclaim(), 1);
    assert_int_equal(mine.calls, 1);
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.cycles_by_reason[ALLOC_CYCLE_REQUESTED] == 1);
    assert_int_equal(alloc_maybe_reclaim(), 0); /* the request was consumed */
}

/* --- triggers --- */

static void test_percent_trigger(void **state)
{
    (void)state;
    struct cache c = {
        .name = "cache", .subsys = ALLOC_SUBSYS_RAFT_ENTRY_CACHE, .give_max = SIZE_MAX};
    reg(&c, 0, 0);
    /* under the 4 MiB floor: nothing to do, and it stays cheap (no cycle, no statm) */
    cache_fill(&c, 3 * MiB);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(alloc_maybe_reclaim(), 0);
    assert_int_equal(c.calls, 0);
    /* at the floor: a cycle asks for the growth since the (empty) previous cycle */
    cache_fill(&c, 1 * MiB);
    assert_int_equal(alloc_maybe_reclaim(), 1);
    assert_int_equal(c.calls, 1);
    assert_true(c.last_wanted == 4 * MiB);
    /* a cache that keeps 10 MiB: the live heap after the cycle sets the next goal */
    c.give_max = 0;
    cache_fill(&c, 10 * MiB);
    assert_int_equal(alloc_maybe_reclaim(), 1);
    assert_true(alloc_pacer_live_after_cycle() == 10 * MiB);
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.goal_bytes == 20 * MiB); /* 100 %: twice the live heap */
    cache_fill(&c, 9 * MiB);
    assert_int_equal(alloc_maybe_reclaim(), 0);
    cache_fill(&c, 1 * MiB);
    assert_int_equal(alloc_maybe_reclaim(), 1);
    assert_true(c.last_wanted == 10 * MiB); /* growth since the last cycle */
    /* 500 %: the same growth no longer triggers */
    c.give_max = SIZE_MAX;
    (void)alloc_reclaim_now(10 * MiB); /* back to 10 MiB live */
    assert_int_equal(alloc_set_heap_percent(500), 100);
    cache_fill(&c, 40 * MiB);
    assert_int_equal(alloc_maybe_reclaim(), 0);
    cache_fill(&c, 10 * MiB);
    assert_int_equal(alloc_maybe_reclaim(), 1);
    /* 50 MiB wanted: more than one step; keep checking until the cycle is over */
    for (int i = 0; i < 100 && alloc_maybe_reclaim() == 1; i++) {
    }
    assert_true(c.held == 10 * MiB);
    /* off: never, however large */
    assert_int_equal(alloc_set_heap_percent(ALLOC_HEAP_PERCENT_OFF), 500);
    cache_fill(&c, 1000 * MiB);
    assert_int_equal(alloc_maybe_reclaim(), 0);
    alloc_stats_get(&st);
    assert_true(st.goal_bytes == UINT64_MAX);
    assert_true(st.cycles_by_reason[ALLOC_CYCLE_HEAP_PERCENT] == 4);
    alloc_account_sub(c.subsys, c.held);
}

static void test_limit_trigger(void **state)
{
    (void)state;
    struct cache c = {.name = "cache", .subsys = ALLOC_SUBSYS_WATCH_BUFFERS, .give_max = SIZE_MAX};
    reg(&c, 0, 0);
    assert_int_equal(alloc_set_heap_percent(ALLOC_HEAP_PERCENT_OFF), 100);
    (void)alloc_set_memory_limit((int64_t)(256 * MiB));
    /* in use = 64 MiB sampled with nothing accounted: 64 MiB of non-heap memory */
    assert_int_equal(alloc_maybe_reclaim(), 0);
    cache_fill(&c, 150 * MiB); /* in use estimate: 214 MiB */
    assert_int_equal(alloc_maybe_reclaim(), 0);
    /* the goal is 256 − 64 − 3 % ≈ 186 MiB of heap */
    cache_fill(&c, 40 * MiB);
    assert_int_equal(alloc_maybe_reclaim(), 1);
    /* in use 254 MiB ≥ 90 %: pressure mode, steps of 4 × 16 MiB */
    assert_true(c.last_wanted == 64 * MiB);
    for (int i = 0; i < 10 && alloc_maybe_reclaim() == 1; i++) {
    }
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.pressure_entries == 1);
    assert_int_equal(st.memory_pressure, 0); /* left again: in use fell back to 64 MiB */
    assert_true(st.cycles_by_reason[ALLOC_CYCLE_MEMORY_LIMIT] == 1);
    assert_true(c.held == 0); /* asked for all growth since the last (no) cycle */
    /* the limit goal never drops below the live heap: an unreleasable heap over the
     * limit cycles at every check, until the CPU budget says stop */
    c.give_max = 0;
    cache_fill(&c, 300 * MiB);
    fake_anon = 400 * MiB;
    fake_now += 20 * MS; /* past the sample interval */
    unsigned cycles = 0;
    for (int i = 0; i < 50; i++)
        cycles += (unsigned)alloc_maybe_reclaim();
    assert_true(cycles == 50); /* the fake clock stands still: pauses cost nothing */
    alloc_stats_get(&st);
    assert_true(st.cycles_by_reason[ALLOC_CYCLE_MEMORY_LIMIT] == 51); /* whole: over it */
    alloc_account_sub(c.subsys, c.held);
}

static struct cache slow = {.name = "slow",
                            .subsys = ALLOC_SUBSYS_OTHER,
                            .give_max = 0,
                            .advance_clock_ns = 60 * MS}; /* every cycle "takes" 60 ms */

/* Grow the heap a little (so a cycle has something to ask for), then check. */
static int grow_and_check(void)
{
    cache_fill(&slow, 1 * MiB);
    return alloc_maybe_reclaim();
}

static void test_cpu_budget_postpones(void **state)
{
    (void)state;
    slow.held = 0;
    reg(&slow, 0, 0);
    assert_int_equal(alloc_set_heap_percent(0), 100); /* goal = live: always due */
    /* the budget earns half of the time that passes, and the clock moves only inside
     * cycles here: 100 → 40 → 70−60=10 → 40−60=−20 → 10−60=−50 → (+30) still below 0 */
    assert_int_equal(grow_and_check(), 1);
    assert_int_equal(grow_and_check(), 1);
    assert_int_equal(grow_and_check(), 1);
    assert_int_equal(grow_and_check(), 1);
    assert_int_equal(grow_and_check(), 0); /* postponed */
    assert_int_equal(grow_and_check(), 0);
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.cpu_capped == 2);
    assert_true(st.cycles == 4);
    assert_true(st.pause_max_ns >= 60 * MS && st.pause_p50_ns >= 60 * MS);
    assert_true(st.pause_p99_ns <= st.pause_max_ns);
    /* half of wall time comes back: 20 ms of debt needs 40 ms */
    fake_now += 30 * MS;
    assert_int_equal(grow_and_check(), 0);
    fake_now += 12 * MS;
    assert_int_equal(grow_and_check(), 1);
    /* a forced cycle ignores the budget (and is charged to it) */
    assert_int_equal(grow_and_check(), 0);
    (void)alloc_reclaim_now(1);
    alloc_stats_get(&st);
    assert_true(st.cycles == 6);
    alloc_account_sub(slow.subsys, slow.held);
}

/* A cache that costs 1 µs of (fake) time per KiB released. */
static struct cache costly = {
    .name = "costly", .subsys = ALLOC_SUBSYS_WATCH_BUFFERS, .give_max = SIZE_MAX};
static size_t costly_release(void *arg, size_t wanted)
{
    size_t got = cache_release(arg, wanted);
    fake_now += got / 1024 * 1000;
    return got;
}

static void test_incremental_steps(void **state)
{
    (void)state;
    costly.held = 0;
    costly.calls = 0;
    struct alloc_reclaimer r = {
        .name = "costly", .subsys = costly.subsys, .release = costly_release, .arg = &costly};
    int id = 0;
    assert_int_equal(alloc_reclaimer_register(&r, &id), 0);
    cache_fill(&costly, 100 * MiB);
    /* the first step asks for 16 MiB: 16 ms here; the next ones aim at ~2 ms */
    assert_int_equal(alloc_maybe_reclaim(), 1);
    assert_true(costly.last_wanted == 16 * MiB);
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.cycles == 0); /* under way */
    assert_true(st.pauses == 1);
    assert_int_equal(alloc_maybe_reclaim(), 1);
    assert_true(costly.last_wanted < 16 * MiB && costly.last_wanted > 2 * MiB); /* smoothed */
    int steps = 2;
    while (alloc_maybe_reclaim() == 1 && steps < 1000)
        steps++;
    assert_true(costly.held == 0);
    alloc_stats_get(&st);
    assert_true(st.cycles == 1);
    assert_true(st.pauses == (uint64_t)steps);
    assert_true(steps > 10); /* 100 MiB at ~2 MiB per step after the first */
    assert_true(costly.last_wanted <= 4 * MiB);
    assert_true(st.pause_max_ns >= 16 * MS && st.pause_max_ns < 17 * MS);
    assert_true(st.pause_p50_ns <= 3 * MS); /* most steps are short */
    assert_true(st.bytes_released == 100 * MiB);
    /* pressure mode, or a forced cycle, does it all at once */
    cache_fill(&costly, 40 * MiB);
    assert_true(alloc_reclaim_now(SIZE_MAX) == 40 * MiB);
    alloc_stats_get(&st);
    assert_true(st.cycles == 2 && st.pauses == (uint64_t)steps + 1);
}

static void test_delayed_page_return(void **state)
{
    (void)state;
    (void)alloc_reclaim_now(0);
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.page_returns == 0);
    assert_int_equal(alloc_maybe_reclaim(), 0);
    alloc_stats_get(&st);
    assert_true(st.page_returns == 0); /* not yet: the decommit delay has not passed */
    fake_now += (uint64_t)mi_option_get(mi_option_decommit_delay) * MS + 2 * MS;
    assert_int_equal(alloc_maybe_reclaim(), 0); /* not a cycle, but... */
    alloc_stats_get(&st);
    assert_true(st.page_returns == 1); /* ...the second collect ran, once */
    fake_now += 1000 * MS;
    (void)alloc_maybe_reclaim();
    alloc_stats_get(&st);
    assert_true(st.page_returns == 1);
}

static void test_pressure_mode(void **state)
{
    (void)state;
    long normal = mi_option_get(mi_option_decommit_delay);
    assert_true(normal > 0); /* mimalloc's default (25 ms) */
    (void)alloc_set_memory_limit((int64_t)(100 * MiB));
    fake_anon = 85 * MiB; /* under 90 %: normal */
    assert_int_equal(alloc_maybe_reclaim(), 0);
    assert_int_equal(mi_option_get(mi_option_decommit_delay), normal);
    fake_anon = 91 * MiB; /* over 90 %: eager page return */
    fake_now += 20 * MS;
    (void)alloc_maybe_reclaim();
    assert_int_equal(mi_option_get(mi_option_decommit_delay), 0);
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_int_equal(st.memory_pressure, 1);
    assert_true(st.pressure_entries == 1);
    fake_anon = 85 * MiB; /* hysteresis: still above 80 % */
    fake_now += 20 * MS;
    (void)alloc_maybe_reclaim();
    assert_int_equal(mi_option_get(mi_option_decommit_delay), 0);
    fake_anon = 79 * MiB; /* under 80 %: back to normal */
    fake_now += 20 * MS;
    (void)alloc_maybe_reclaim();
    assert_int_equal(mi_option_get(mi_option_decommit_delay), normal);
    /* removing the limit leaves pressure mode too */
    fake_anon = 95 * MiB;
    fake_now += 20 * MS;
    (void)alloc_maybe_reclaim();
    assert_int_equal(mi_option_get(mi_option_decommit_delay), 0);
    (void)alloc_set_memory_limit(ALLOC_NO_LIMIT);
    (void)alloc_maybe_reclaim();
    assert_int_equal(mi_option_get(mi_option_decommit_delay), normal);
    alloc_stats_get(&st);
    assert_int_equal(st.memory_pressure, 0);
    assert_true(st.pressure_entries == 2);
}

/* --- collection on the owning threads, with the real clock and RSS --- */

struct worker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int phase; /* 1: worker freed its memory; 2: main ran a cycle; 3: polled */
    int polled_first, polled_second;
    uint64_t anon_freed, anon_polled;
};

static void phase_set(struct worker *w, int phase)
{
    pthread_mutex_lock(&w->mu);
    w->phase = phase;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void phase_wait(struct worker *w, int phase)
{
    pthread_mutex_lock(&w->mu);
    while (w->phase < phase)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

#define WORKER_BYTES (96u << 20)

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    CAIRN_ASSERT(alloc_thread_register("worker") == 0);
    struct alloc_arena_config cfg = {.subsys = ALLOC_SUBSYS_REQUEST_ARENAS};
    struct alloc_arena *a = NULL;
    CAIRN_ASSERT(alloc_arena_create(&cfg, &a) == 0);
    /* 96 MiB of small request data in the arena's heap, touched, then reset: the
     * chunks go back to the heap but their pages stay resident until this thread
     * collects */
    for (size_t i = 0; i < WORKER_BYTES / 1024; i++) {
        unsigned char *p = alloc_arena_alloc(a, 1000);
        CAIRN_ASSERT(p != NULL);
        memset(p, 0x5a, 1000);
    }
    alloc_arena_reset(a);
    uint64_t rss = 0;
    CAIRN_ASSERT(alloc_rss_sample(&rss, &w->anon_freed) == 0);
    w->polled_first = alloc_thread_poll(); /* nothing requested yet */
    phase_set(w, 1);
    phase_wait(w, 2);
    w->polled_first += 10 * alloc_thread_poll(); /* the cycle's request: collect now */
    w->polled_second = alloc_thread_poll();
    CAIRN_ASSERT(alloc_rss_sample(&rss, &w->anon_polled) == 0);
    alloc_arena_destroy(a);
    alloc_thread_unregister();
    phase_set(w, 3);
    return NULL;
}

static void test_collect_on_owning_thread(void **state)
{
    (void)state;
    alloc_testing_set_clock(NULL); /* real time and RSS for this one */
    alloc_testing_set_rss(NULL);
    alloc_testing_reset();
    struct worker w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker_main, &w), 0);
    phase_wait(&w, 1);
    (void)alloc_reclaim_now(0); /* the main thread's cycle asks the worker to collect */
    phase_set(&w, 2);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.polled_first, 10); /* 0 before the cycle, 1 after it */
    assert_int_equal(w.polled_second, 0); /* answered once */
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.thread_collects == 1);
    /* the worker's own collect returned most of the freed 96 MiB to the OS */
    assert_true(w.anon_freed > w.anon_polled);
    assert_true(w.anon_freed - w.anon_polled > WORKER_BYTES / 2);
    assert_true(alloc_live_total_bytes() == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priority_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_only_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_percent_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cpu_budget_postpones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delayed_page_return, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pressure_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collect_on_owning_thread, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
