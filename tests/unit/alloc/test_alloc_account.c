/* Accounting: per-subsystem counters, the accounted malloc family, names, and counters
 * that stay exact when two threads charge and credit concurrently. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc_int.h"

#include <string.h>

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(alloc_subsys_name(ALLOC_SUBSYS_RAFT_ENTRY_CACHE), "raft_entry_cache");
    assert_string_equal(alloc_subsys_name(ALLOC_SUBSYS_REQUEST_ARENAS), "request_arenas");
    assert_string_equal(alloc_subsys_name(ALLOC_SUBSYS_OTHER), "other");
    assert_string_equal(alloc_subsys_name(ALLOC_SUBSYS_COUNT), "invalid");
    /* every name is distinct and non-empty: they are metric labels */
    for (int i = 0; i < ALLOC_SUBSYS_COUNT; i++) {
        assert_true(strlen(alloc_subsys_name(i)) > 0);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(alloc_subsys_name(i), alloc_subsys_name(j));
    }
    for (int i = 0; i < ALLOC_CYCLE_REASON_COUNT; i++)
        assert_string_not_equal(alloc_cycle_reason_name(i), "invalid");
    assert_string_equal(alloc_cycle_reason_name(ALLOC_CYCLE_REASON_COUNT), "invalid");
}

static void test_malloc_free_accounting(void **state)
{
    (void)state;
    alloc_testing_reset();
    void *a = alloc_malloc(ALLOC_SUBSYS_LEASES, 100);
    assert_non_null(a);
    size_t ua = mi_usable_size(a);
    assert_true(ua >= 100);
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_LEASES) == ua);
    void *b = alloc_calloc(ALLOC_SUBSYS_WATCH_BUFFERS, 10, 1000);
    assert_non_null(b);
    for (size_t i = 0; i < 10000; i++)
        assert_int_equal(((unsigned char *)b)[i], 0);
    size_t ub = mi_usable_size(b);
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_WATCH_BUFFERS) == ub);
    assert_true(alloc_live_total_bytes() == ua + ub);
    /* growing and shrinking with realloc moves the charge by the difference */
    a = alloc_realloc(ALLOC_SUBSYS_LEASES, a, 100000);
    assert_non_null(a);
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_LEASES) == mi_usable_size(a));
    a = alloc_realloc(ALLOC_SUBSYS_LEASES, a, 10);
    assert_non_null(a);
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_LEASES) == mi_usable_size(a));
    void *c = alloc_realloc(ALLOC_SUBSYS_OTHER, NULL, 64); /* realloc(NULL) = malloc */
    assert_non_null(c);
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_OTHER) == mi_usable_size(c));
    alloc_free(ALLOC_SUBSYS_LEASES, a);
    alloc_free(ALLOC_SUBSYS_WATCH_BUFFERS, b);
    alloc_free(ALLOC_SUBSYS_OTHER, c);
    alloc_free(ALLOC_SUBSYS_OTHER, NULL);
    assert_true(alloc_live_total_bytes() == 0);
    /* impossible sizes fail without charging anything */
    assert_null(alloc_malloc(ALLOC_SUBSYS_OTHER, SIZE_MAX));
    assert_null(alloc_calloc(ALLOC_SUBSYS_OTHER, SIZE_MAX / 2, 4));
    assert_true(alloc_live_total_bytes() == 0);
}

static void test_manual_charges(void **state)
{
    (void)state;
    alloc_testing_reset();
    alloc_account_add(ALLOC_SUBSYS_GRPC_BUFFERS, 4096);
    alloc_account_add(ALLOC_SUBSYS_PROPOSALS, 10);
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_GRPC_BUFFERS) == 4096);
    assert_true(alloc_live_total_bytes() == 4106);
    alloc_account_sub(ALLOC_SUBSYS_GRPC_BUFFERS, 4096);
    alloc_account_sub(ALLOC_SUBSYS_PROPOSALS, 10);
    assert_true(alloc_live_total_bytes() == 0);
}

#define THREAD_OPS 20000

static void *churn(void *arg)
{
    enum alloc_subsys s = (enum alloc_subsys)(uintptr_t)arg;
    void *keep[16] = {0};
    for (unsigned i = 0; i < THREAD_OPS; i++) {
        unsigned slot = i % 16;
        alloc_free(s, keep[slot]);
        keep[slot] = alloc_malloc(s, 16 + (i * 37) % 3000);
        CAIRN_ASSERT(keep[slot] != NULL);
    }
    for (unsigned slot = 0; slot < 16; slot++)
        alloc_free(s, keep[slot]);
    return NULL;
}

static void test_concurrent_counters(void **state)
{
    (void)state;
    alloc_testing_reset();
    pthread_t t[4];
    /* two threads share one subsystem, two others have their own */
    uintptr_t subs[4] = {ALLOC_SUBSYS_PROPOSALS, ALLOC_SUBSYS_PROPOSALS, ALLOC_SUBSYS_LEASES,
                         ALLOC_SUBSYS_OTHER};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)subs[i]), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_true(alloc_live_total_bytes() == 0);
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_PROPOSALS) == 0);
}

static void *free_there(void *p)
{
    alloc_free(ALLOC_SUBSYS_WATCH_BUFFERS, p);
    return NULL;
}

static void test_cross_thread_free(void **state)
{
    (void)state;
    alloc_testing_reset();
    /* a block allocated here and freed by another thread credits the same amount */
    void *p = alloc_malloc(ALLOC_SUBSYS_WATCH_BUFFERS, 5000);
    assert_non_null(p);
    assert_true(alloc_live_total_bytes() >= 5000);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_there, p), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(alloc_live_total_bytes() == 0);
}

/* Blocks of different subsystems live on different pages, so freeing one subsystem's
 * blocks frees whole pages even when the allocations were interleaved. */
#define SEG_BLOCKS 40000 /* × 1 KiB per subsystem */

struct seg_result {
    uint64_t anon_before, anon_after;
};

static void *segregation_thread(void *arg)
{
    struct seg_result *r = arg;
    static void *cache[SEG_BLOCKS], *leases[SEG_BLOCKS];
    for (size_t i = 0; i < SEG_BLOCKS; i++) { /* interleaved, as on a node thread */
        cache[i] = alloc_malloc(ALLOC_SUBSYS_RAFT_ENTRY_CACHE, 1000);
        leases[i] = alloc_malloc(ALLOC_SUBSYS_LEASES, 1000);
        CAIRN_ASSERT(cache[i] != NULL && leases[i] != NULL);
        memset(cache[i], 1, 1000);
        memset(leases[i], 2, 1000);
    }
    uint64_t rss = 0;
    CAIRN_ASSERT(alloc_rss_sample(&rss, &r->anon_before) == 0);
    for (size_t i = 0; i < SEG_BLOCKS; i++) /* the cache is trimmed, the leases stay */
        alloc_free(ALLOC_SUBSYS_RAFT_ENTRY_CACHE, cache[i]);
    alloc_thread_collect_self();
    CAIRN_ASSERT(alloc_rss_sample(&rss, &r->anon_after) == 0);
    for (size_t i = 0; i < SEG_BLOCKS; i++)
        alloc_free(ALLOC_SUBSYS_LEASES, leases[i]);
    return NULL;
}

static void test_subsystems_do_not_share_pages(void **state)
{
    (void)state;
    alloc_testing_reset();
    /* eager page return (what pressure mode does), so the collect's effect is visible */
    long delay = mi_option_get(mi_option_decommit_delay);
    mi_option_set(mi_option_decommit_delay, 0);
    struct seg_result r = {0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, segregation_thread, &r), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    mi_option_set(mi_option_decommit_delay, delay);
    uint64_t freed = (uint64_t)SEG_BLOCKS * 1000;
    assert_true(r.anon_before > r.anon_after);
    /* most of the trimmed cache's memory went back to the OS despite the interleaving */
    assert_true(r.anon_before - r.anon_after > freed / 2);
    assert_true(alloc_live_total_bytes() == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_malloc_free_accounting),
        cmocka_unit_test(test_manual_charges),
        cmocka_unit_test(test_concurrent_counters),
        cmocka_unit_test(test_cross_thread_free),
        cmocka_unit_test(test_subsystems_do_not_share_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
