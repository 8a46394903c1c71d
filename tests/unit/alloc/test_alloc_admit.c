/*
 * Admission (the hard limit): free pass without a limit; within the limit, yes; over it,
 * a cycle first and yes if it made room; else CAIRN_EMEMLIMIT, counted, with a message
 * naming the limit. No second cycle within one RSS sample interval; none when the CPU
 * budget is spent; none (and no deadlock) from inside a release callback.
 * Memory in use is faked so each case is exact.
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

static uint64_t fake_now;
static uint64_t fake_anon;
static uint64_t clock_fake(void)
{
    return fake_now;
}
static int rss_fake(uint64_t *rss, uint64_t *anon)
{
    *anon = fake_anon;
    *rss = fake_anon + 8 * MiB;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    alloc_testing_set_clock(clock_fake);
    alloc_testing_set_rss(rss_fake);
    fake_now = 5000 * MS;
    fake_anon = 100 * MiB;
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

/* A cache whose release also returns its pages (lowers the fake RSS), as a cycle with
 * the owners' collects would. */
struct cache {
    size_t held;
    size_t give_max;
    unsigned calls;
    int admit_inside; /* result of alloc_admit called from inside the callback */
    int64_t cost_ns;
};

static size_t release(void *arg, size_t wanted)
{
    struct cache *c = arg;
    c->calls++;
    c->admit_inside = alloc_admit(ALLOC_SUBSYS_OTHER, 1000 * MiB); /* no cycle in here */
    CAIRN_ASSERT(alloc_maybe_reclaim() == 0);
    fake_now += (uint64_t)c->cost_ns;
    size_t give = wanted < c->give_max ? wanted : c->give_max;
    if (give > c->held)
        give = c->held;
    c->held -= give;
    alloc_account_sub(ALLOC_SUBSYS_WATCH_BUFFERS, give);
    fake_anon -= give;
    return give;
}

static void fill(struct cache *c, size_t bytes)
{
    c->held += bytes;
    alloc_account_add(ALLOC_SUBSYS_WATCH_BUFFERS, bytes);
    fake_anon += bytes;
}

static void reg(struct cache *c)
{
    struct alloc_reclaimer r = {.name = "watch",
                                .subsys = ALLOC_SUBSYS_WATCH_BUFFERS,
                                .release = release,
                                .arg = c,
                                .flags = ALLOC_RELEASE_ANY_THREAD};
    int id = 0;
    assert_int_equal(alloc_reclaimer_register(&r, &id), 0);
}

static void test_no_limit_is_free(void **state)
{
    (void)state;
    fake_anon = UINT64_MAX / 2; /* would be over any limit */
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, SIZE_MAX), 0);
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.refusals == 0 && st.cycles == 0);
}

static void test_within_and_over(void **state)
{
    (void)state;
    (void)alloc_set_memory_limit((int64_t)(128 * MiB));
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, 0), 0);
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, 28 * MiB), 0); /* exactly at it */
    /* over, and nothing can be released: a cycle runs, then the refusal */
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, 28 * MiB + 1), CAIRN_EMEMLIMIT);
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.cycles_by_reason[ALLOC_CYCLE_ADMISSION] == 1);
    assert_true(st.refusals == 1);
    assert_true(st.refusals_by_subsys[ALLOC_SUBSYS_PROPOSALS] == 1);
    /* absurd sizes are refused, not wrapped around */
    fake_now += 20 * MS;
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, SIZE_MAX), CAIRN_EMEMLIMIT);
    alloc_stats_get(&st);
    assert_true(st.refusals == 2 && st.cycles == 2);
    /* within the same sample interval, no second (pointless) cycle */
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_LEASES, 64 * MiB), CAIRN_EMEMLIMIT);
    alloc_stats_get(&st);
    assert_true(st.cycles == 2);
    assert_true(st.refusals == 3 && st.refusals_by_subsys[ALLOC_SUBSYS_LEASES] == 1);
    /* growth counts against the limit right away, before the next sample */
    alloc_account_add(ALLOC_SUBSYS_OTHER, 20 * MiB);
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, 10 * MiB), CAIRN_EMEMLIMIT);
    alloc_account_sub(ALLOC_SUBSYS_OTHER, 20 * MiB);
    /* raising the limit at run time lets the same request through */
    assert_true(alloc_set_memory_limit((int64_t)(256 * MiB)) == (int64_t)(128 * MiB));
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, 64 * MiB), 0);
}

static void test_cycle_makes_room(void **state)
{
    (void)state;
    struct cache c = {.give_max = SIZE_MAX};
    reg(&c);
    fill(&c, 100 * MiB); /* in use: 200 MiB */
    (void)alloc_set_memory_limit((int64_t)(256 * MiB));
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, 50 * MiB), 0); /* fits: no cycle */
    assert_int_equal(c.calls, 0);
    /* 80 MiB does not fit: the cycle asks for the excess plus headroom, then it fits */
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, 80 * MiB), 0);
    assert_int_equal(c.calls, 1);
    assert_true(c.held < 100 * MiB && c.held > 50 * MiB); /* only what was needed */
    assert_int_equal(c.admit_inside, CAIRN_EMEMLIMIT);    /* checked, no recursion */
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_true(st.refusals == 1); /* the one from inside the callback */
    assert_true(st.cycles_by_reason[ALLOC_CYCLE_ADMISSION] == 1);
    alloc_account_sub(ALLOC_SUBSYS_WATCH_BUFFERS, c.held);
}

static void test_cpu_budget_refuses_without_cycle(void **state)
{
    (void)state;
    struct cache c = {.give_max = 0, .cost_ns = 300 * MS};
    reg(&c);
    fill(&c, 10 * MiB);
    (void)alloc_set_memory_limit((int64_t)(100 * MiB)); /* already over */
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, 1), CAIRN_EMEMLIMIT);
    assert_int_equal(c.calls, 1); /* one expensive cycle: budget overdrawn */
    /* 300 ms of debt less 100 of burst; 320 ms later only 160 is repaid */
    fake_now += 20 * MS;
    assert_int_equal(alloc_admit(ALLOC_SUBSYS_PROPOSALS, 1), CAIRN_EMEMLIMIT);
    assert_int_equal(c.calls, 1);
    struct alloc_stats st;
    alloc_stats_get(&st);
    /* two here, one from inside the callback */
    assert_true(st.cpu_capped == 1 && st.refusals == 3 && st.cycles == 1);
    alloc_account_sub(ALLOC_SUBSYS_WATCH_BUFFERS, c.held);
}

static void test_message(void **state)
{
    (void)state;
    (void)alloc_set_memory_limit((int64_t)(256 * MiB));
    fake_anon = 251 * MiB + 205 * 1024; /* 251.2 MiB */
    char buf[256];
    int n = alloc_memlimit_message(ALLOC_SUBSYS_PROPOSALS, 3 * MiB / 2, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    assert_non_null(strstr(buf, "251.2 MiB in use of the 256 MiB memory limit"));
    assert_non_null(strstr(buf, "--memory-limit"));
    assert_non_null(strstr(buf, "proposals asked for 1.5 MiB more"));
    /* truncation is safe */
    char small[16];
    n = alloc_memlimit_message(ALLOC_SUBSYS_PROPOSALS, 1, small, sizeof(small));
    assert_true(n > (int)sizeof(small) && strlen(small) == sizeof(small) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_limit_is_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_within_and_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycle_makes_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cpu_budget_refuses_without_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
