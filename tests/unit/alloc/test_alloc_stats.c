/* The statistics' building blocks: the pause histogram's buckets and quantiles, the
 * cycles-per-minute ring, the CPU budget, and the snapshot struct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc_int.h"

#include <string.h>

#define MS 1000000ull
#define S  1000000000ull

static struct alloc_hist hist; /* large: keep it off the stack */

static void test_hist_buckets(void **state)
{
    (void)state;
    /* every value lies in its bucket, and buckets tile the line without gaps */
    uint64_t samples[] = {
        0,         1, 7, 8, 9, 15, 16, 17, 100, 1000, 123456789, 1ull << 40, (1ull << 63) + 12345,
        UINT64_MAX};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(samples); i++) {
        size_t b = alloc_hist_index(samples[i]);
        assert_true(b < ALLOC_HIST_BUCKETS);
        assert_true(samples[i] <= alloc_hist_bucket_max(b));
        if (b > 0)
            assert_true(samples[i] > alloc_hist_bucket_max(b - 1));
    }
    for (size_t b = 1; b < ALLOC_HIST_BUCKETS; b++) {
        uint64_t lo = alloc_hist_bucket_max(b - 1) + 1;
        assert_int_equal(alloc_hist_index(lo), b);
        /* width ≤ 1/8 of the bucket's lower bound (past the exact ones) */
        if (lo >= ALLOC_HIST_SUB)
            assert_true(alloc_hist_bucket_max(b) - lo <= lo / ALLOC_HIST_SUB);
    }
    assert_true(alloc_hist_bucket_max(ALLOC_HIST_BUCKETS - 1) == UINT64_MAX);
}

static void test_hist_quantiles(void **state)
{
    (void)state;
    alloc_hist_clear(&hist);
    assert_true(alloc_hist_quantile(&hist, 0.99) == 0);
    /* 1..1000 µs: p50 ≈ 500 µs, p99 ≈ 990 µs, within one bucket (12.5 %) above */
    for (uint64_t v = 1; v <= 1000; v++)
        alloc_hist_add(&hist, v * 1000);
    uint64_t p50 = alloc_hist_quantile(&hist, 0.5);
    uint64_t p99 = alloc_hist_quantile(&hist, 0.99);
    assert_true(p50 >= 500000 && p50 <= 500000 + 500000 / 8);
    assert_true(p99 >= 990000 && p99 <= 1000000);
    assert_true(alloc_hist_quantile(&hist, 1.0) == 1000000); /* clamped to the exact max */
    assert_true(atomic_load(&hist.max) == 1000000);
    assert_true(atomic_load(&hist.total) == 1000);
    assert_true(atomic_load(&hist.sum) == 1000ull * 1001 / 2 * 1000);
    /* one outlier moves the max and p100, not p50 */
    alloc_hist_add(&hist, 5 * S);
    assert_true(alloc_hist_quantile(&hist, 0.5) == p50);
    assert_true(atomic_load(&hist.max) == 5 * S);
    alloc_hist_clear(&hist);
    assert_true(atomic_load(&hist.total) == 0);
}

static struct alloc_rate rate;

static void test_rate(void **state)
{
    (void)state;
    alloc_rate_clear(&rate);
    uint64_t start = 1000 * S;
    /* 2 events per second for 30 s: 120/min over the 30 s since start */
    for (uint64_t s = 0; s < 30; s++) {
        alloc_rate_add(&rate, start + s * S + 100 * MS);
        alloc_rate_add(&rate, start + s * S + 600 * MS);
    }
    double r = alloc_rate_per_min(&rate, start, start + 30 * S);
    assert_true(r > 119.0 && r < 121.0);
    /* 90 more seconds of 1 per second: the window is now the last minute only */
    for (uint64_t s = 30; s < 120; s++)
        alloc_rate_add(&rate, start + s * S + 100 * MS);
    r = alloc_rate_per_min(&rate, start, start + 120 * S);
    assert_true(r > 58.0 && r < 62.0);
    /* silence for two minutes: nothing left in the window */
    r = alloc_rate_per_min(&rate, start, start + 240 * S);
    assert_true(r == 0.0);
    /* right after start, the window is at least one second */
    alloc_rate_clear(&rate);
    alloc_rate_add(&rate, start + 10 * MS);
    r = alloc_rate_per_min(&rate, start, start + 20 * MS);
    assert_true(r == 60.0);
}

static void test_budget(void **state)
{
    (void)state;
    struct alloc_budget b;
    alloc_budget_init(&b, 0, 100 * MS);
    assert_true(alloc_budget_allows(&b));
    /* a 150 ms pause overdraws the 100 ms burst */
    alloc_budget_charge(&b, 150 * MS);
    assert_false(alloc_budget_allows(&b));
    /* earned at half of wall time: 50 ms debt needs 100 ms, plus a bit to be positive */
    alloc_budget_refill(&b, 100 * MS);
    assert_false(alloc_budget_allows(&b));
    alloc_budget_refill(&b, 102 * MS);
    assert_true(alloc_budget_allows(&b));
    /* a long wait repays a deep debt only in part: 1 s of debt, 1.2 s idle → +600 ms */
    alloc_budget_charge(&b, 1000 * MS + (uint64_t)b.tokens_ns);
    assert_true(b.tokens_ns == -(int64_t)(1000 * MS));
    alloc_budget_refill(&b, 102 * MS + 1200 * MS);
    assert_true(b.tokens_ns == -(int64_t)(400 * MS));
    /* never more than the burst, however long it was idle */
    alloc_budget_refill(&b, 3600 * S);
    assert_true(b.tokens_ns == (int64_t)(100 * MS));
    /* steady state: back-to-back 10 ms cycles whenever allowed use ≈ 50 % of time */
    uint64_t now = 3600 * S, work = 0, end = now + 10 * S;
    for (unsigned i = 0; i < 100000 && now < end; i++) {
        alloc_budget_refill(&b, now);
        if (alloc_budget_allows(&b)) {
            alloc_budget_charge(&b, 10 * MS);
            work += 10 * MS;
            now += 10 * MS; /* the cycle itself takes time */
        } else {
            now += 1 * MS; /* the node loop's next check */
        }
    }
    double share = (double)work / (double)(10 * S);
    assert_true(share > 0.45 && share < 0.56); /* half, plus the initial burst */
    /* a clock read older than the last one changes nothing */
    int64_t before = b.tokens_ns;
    alloc_budget_refill(&b, now - 5 * MS);
    assert_true(b.tokens_ns == before);
    /* absurd charges saturate rather than wrap */
    alloc_budget_charge(&b, UINT64_MAX);
    alloc_budget_charge(&b, UINT64_MAX);
    assert_false(alloc_budget_allows(&b));
}

static void test_snapshot_defaults(void **state)
{
    (void)state;
    alloc_testing_reset();
    struct alloc_stats st;
    alloc_stats_get(&st);
    assert_int_equal(st.heap_percent, 100);
    assert_true(st.memory_limit_bytes == ALLOC_NO_LIMIT);
    assert_true(st.goal_bytes == ALLOC_HEAP_MINIMUM_BYTES); /* floor, nothing live yet */
    assert_true(st.cycles == 0 && st.refusals == 0 && st.pause_max_ns == 0);
    assert_true(st.rss_bytes > 0 && st.rss_anon_bytes > 0 && st.rss_anon_bytes <= st.rss_bytes);
    assert_true(st.cycles_per_min == 0.0);
    void *p = alloc_malloc(ALLOC_SUBSYS_PROPOSALS, 1000);
    assert_non_null(p);
    alloc_stats_get(&st);
    assert_true(st.live_bytes[ALLOC_SUBSYS_PROPOSALS] == mi_usable_size(p));
    assert_true(st.live_total_bytes == mi_usable_size(p));
    alloc_free(ALLOC_SUBSYS_PROPOSALS, p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_hist_quantiles),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_snapshot_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
