/*
 * Goal arithmetic: the percent goal and its floor, off, the memory-limit goal with its
 * headroom, a limit below the live heap, non-heap memory over the limit, saturation, and
 * runtime changes of both settings seen by the pacer at the next check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc_int.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static struct alloc_goal goal_of(int32_t pct, int64_t limit, uint64_t marked, uint64_t heap,
                                 uint64_t mapped)
{
    struct alloc_goal_input in = {.heap_percent = pct,
                                  .memory_limit_bytes = limit,
                                  .live_after_cycle_bytes = marked,
                                  .heap_bytes = heap,
                                  .mapped_bytes = mapped};
    struct alloc_goal g;
    alloc_goal_compute(&in, &g);
    return g;
}

static void test_percent_goal(void **state)
{
    (void)state;
    /* live + live × pct / 100 */
    struct alloc_goal g = goal_of(100, ALLOC_NO_LIMIT, 100 * MiB, 0, 0);
    assert_true(g.percent_goal_bytes == 200 * MiB);
    assert_true(g.limit_goal_bytes == UINT64_MAX);
    assert_true(g.goal_bytes == 200 * MiB);
    assert_true(g.headroom_bytes == 0);
    g = goal_of(500, ALLOC_NO_LIMIT, 100 * MiB, 0, 0);
    assert_true(g.goal_bytes == 600 * MiB);
    g = goal_of(50, ALLOC_NO_LIMIT, 100 * MiB, 0, 0);
    assert_true(g.goal_bytes == 150 * MiB);
    /* odd sizes: integer arithmetic exactly as Go's (floor of the growth) */
    g = goal_of(33, ALLOC_NO_LIMIT, 100000001, 0, 0);
    assert_true(g.goal_bytes == 100000001 + 100000001ull * 33 / 100);
}

static void test_percent_floor(void **state)
{
    (void)state;
    /* the floor is 4 MiB × pct / 100: small heaps do not cycle constantly */
    struct alloc_goal g = goal_of(100, ALLOC_NO_LIMIT, 0, 0, 0);
    assert_true(g.goal_bytes == 4 * MiB);
    g = goal_of(100, ALLOC_NO_LIMIT, 1 * MiB, 0, 0);
    assert_true(g.goal_bytes == 4 * MiB); /* 2 MiB would be under the floor */
    g = goal_of(500, ALLOC_NO_LIMIT, 1 * MiB, 0, 0);
    assert_true(g.goal_bytes == 20 * MiB);
    g = goal_of(50, ALLOC_NO_LIMIT, 0, 0, 0);
    assert_true(g.goal_bytes == 2 * MiB);
    /* at 0 % there is no floor: the goal is the live heap, a cycle at every check */
    g = goal_of(0, ALLOC_NO_LIMIT, 10 * MiB, 0, 0);
    assert_true(g.goal_bytes == 10 * MiB);
    g = goal_of(0, ALLOC_NO_LIMIT, 0, 0, 0);
    assert_true(g.goal_bytes == 0);
    /* just above the floor the percent rule takes over */
    g = goal_of(100, ALLOC_NO_LIMIT, 2 * MiB + 1, 0, 0);
    assert_true(g.goal_bytes == 4 * MiB + 2);
}

static void test_off(void **state)
{
    (void)state;
    struct alloc_goal g = goal_of(ALLOC_HEAP_PERCENT_OFF, ALLOC_NO_LIMIT, 100 * MiB, 0, 0);
    assert_true(g.percent_goal_bytes == UINT64_MAX);
    assert_true(g.goal_bytes == UINT64_MAX); /* never cycles */
    /* off + limit: only the limit paces (Go: "maximization of resource economy") */
    g = goal_of(ALLOC_HEAP_PERCENT_OFF, (int64_t)(1 * GiB), 100 * MiB, 100 * MiB, 100 * MiB);
    assert_true(g.goal_bytes == g.limit_goal_bytes);
    assert_true(g.goal_bytes < 1 * GiB);
}

static void test_limit_goal_headroom(void **state)
{
    (void)state;
    /* 1 GiB limit, no non-heap memory: goal = limit − 3 % */
    struct alloc_goal g = goal_of(ALLOC_HEAP_PERCENT_OFF, (int64_t)GiB, 0, 100 * MiB, 100 * MiB);
    uint64_t headroom = GiB / 100 * 3;
    assert_true(g.headroom_bytes == headroom);
    assert_true(g.limit_goal_bytes == GiB - headroom);
    /* non-heap memory (in use − heap) comes off the limit first */
    g = goal_of(ALLOC_HEAP_PERCENT_OFF, (int64_t)GiB, 0, 100 * MiB, 300 * MiB);
    uint64_t base = GiB - 200 * MiB;
    assert_true(g.limit_goal_bytes == base - base / 100 * 3);
    /* small limits: the headroom is at least 1 MiB */
    g = goal_of(ALLOC_HEAP_PERCENT_OFF, (int64_t)(16 * MiB), 0, 0, 0);
    assert_true(g.headroom_bytes == MiB);
    assert_true(g.limit_goal_bytes == 15 * MiB);
    /* tiny limits: at least one headroom of heap is left */
    g = goal_of(ALLOC_HEAP_PERCENT_OFF, (int64_t)(MiB + MiB / 2), 0, 0, 0);
    assert_true(g.limit_goal_bytes == MiB);
    /* the percent goal wins when it is lower */
    g = goal_of(100, (int64_t)GiB, 100 * MiB, 100 * MiB, 100 * MiB);
    assert_true(g.goal_bytes == 200 * MiB);
    assert_true(g.goal_bytes == g.percent_goal_bytes);
    /* ...and the limit goal when that is lower */
    g = goal_of(500, (int64_t)(256 * MiB), 100 * MiB, 100 * MiB, 100 * MiB);
    assert_true(g.goal_bytes == g.limit_goal_bytes);
    assert_true(g.goal_bytes < 256 * MiB && g.goal_bytes > 200 * MiB);
}

static void test_limit_below_live(void **state)
{
    (void)state;
    /* live heap already over the limit: the goal never drops under the live heap, so the
     * reclaimer cycles continuously (the CPU budget reins it in) */
    struct alloc_goal g = goal_of(100, (int64_t)(64 * MiB), 200 * MiB, 220 * MiB, 230 * MiB);
    assert_true(g.limit_goal_bytes == 200 * MiB);
    assert_true(g.goal_bytes == 200 * MiB);
    /* overage (in use − limit) also comes off, pushing the goal down to the live heap */
    g = goal_of(100, (int64_t)(512 * MiB), 100 * MiB, 400 * MiB, 600 * MiB);
    /* non-heap 200, overage 88: 512 − 288 = 224, less 3 %, above live 100 */
    uint64_t base = 512 * MiB - (200 * MiB + 88 * MiB);
    assert_true(g.limit_goal_bytes == base - base / 100 * 3);
    /* non-heap memory alone over the limit: goal = live heap */
    g = goal_of(100, (int64_t)(64 * MiB), 10 * MiB, 10 * MiB, 80 * MiB);
    assert_true(g.limit_goal_bytes == 10 * MiB);
    /* a limit of zero: everything is over */
    g = goal_of(100, 0, 5 * MiB, 5 * MiB, 50 * MiB);
    assert_true(g.goal_bytes == 5 * MiB);
}

static void test_saturation(void **state)
{
    (void)state;
    assert_true(alloc_mul_percent(UINT64_MAX, 100) == UINT64_MAX);
    assert_true(alloc_mul_percent(1000, 250) == 2500);
    assert_true(alloc_mul_percent(UINT64_MAX, 200) == UINT64_MAX);
    assert_true(alloc_mul_percent(1000, INT32_MAX) == 1000ull * INT32_MAX / 100);
    assert_true(alloc_mul_percent(0, INT32_MAX) == 0);
    struct alloc_goal g = goal_of(INT32_MAX, ALLOC_NO_LIMIT, 1ull << 62, 0, 0);
    assert_true(g.goal_bytes == UINT64_MAX);
    g = goal_of(INT32_MAX, ALLOC_NO_LIMIT, 0, 0, 0); /* floor 4 MiB × 2^31 / 100: no wrap */
    assert_true(g.goal_bytes == (4 * MiB / 100) * (uint64_t)INT32_MAX +
                                    (4 * MiB % 100) * (uint64_t)INT32_MAX / 100);
}

static uint64_t fake_now;
static uint64_t fake_anon;
static uint64_t clock_fake(void)
{
    return fake_now;
}
static int rss_fake(uint64_t *rss, uint64_t *anon)
{
    *anon = fake_anon;
    *rss = fake_anon + 4 * MiB;
    return 0;
}

static void test_runtime_changes(void **state)
{
    (void)state;
    alloc_testing_reset();
    alloc_testing_set_clock(clock_fake);
    alloc_testing_set_rss(rss_fake);
    fake_now = 1000000000;
    fake_anon = 50 * MiB;
    /* a cycle at 40 MiB live: the pacer's goal follows each setter at the next check */
    alloc_account_add(ALLOC_SUBSYS_OTHER, 40 * MiB);
    alloc_pacer_cycle_end(40 * MiB);
    struct alloc_goal g;
    alloc_pacer_goal(40 * MiB, fake_now, &g);
    assert_true(g.goal_bytes == 80 * MiB);
    assert_int_equal(alloc_set_heap_percent(500), 100);
    alloc_pacer_goal(40 * MiB, fake_now, &g);
    assert_true(g.goal_bytes == 240 * MiB);
    assert_true(alloc_set_memory_limit((int64_t)(128 * MiB)) == ALLOC_NO_LIMIT);
    alloc_pacer_goal(40 * MiB, fake_now, &g);
    /* in use 50 MiB, heap 40: non-heap 10 → 118 MiB less 3 % */
    uint64_t base = 118 * MiB;
    assert_true(g.goal_bytes == base - base / 100 * 3);
    /* growth after the sample counts as in use right away (before the next sample) */
    uint64_t in_use = alloc_pacer_in_use(60 * MiB, fake_now + 1, false);
    assert_true(in_use == 70 * MiB);
    /* the next sample after ALLOC_RSS_SAMPLE_MS replaces the estimate */
    fake_anon = 90 * MiB;
    in_use = alloc_pacer_in_use(60 * MiB, fake_now + ALLOC_RSS_SAMPLE_MS * 1000000ull, false);
    assert_true(in_use == 90 * MiB);
    assert_int_equal(alloc_set_heap_percent(ALLOC_HEAP_PERCENT_OFF), 500);
    assert_true(alloc_set_memory_limit(ALLOC_NO_LIMIT) == (int64_t)(128 * MiB));
    alloc_pacer_goal(40 * MiB, fake_now, &g);
    assert_true(g.goal_bytes == UINT64_MAX);
    alloc_account_sub(ALLOC_SUBSYS_OTHER, 40 * MiB);
    alloc_testing_set_clock(NULL);
    alloc_testing_set_rss(NULL);
    alloc_testing_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_goal),
        cmocka_unit_test(test_percent_floor),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_limit_goal_headroom),
        cmocka_unit_test(test_limit_below_live),
        cmocka_unit_test(test_saturation),
        cmocka_unit_test(test_runtime_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
