/* The module's clock, epoch and test hooks for time and RSS. */
#include "alloc_int.h"

#include <time.h>

static alloc_clock_fn test_clock;
static alloc_rss_fn test_rss;
static pthread_once_t epoch_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t epoch_ns;

uint64_t alloc_now_ns(void)
{
    if (CAIRN_UNLIKELY(test_clock != NULL))
        return test_clock();
    struct timespec ts;
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    CAIRN_ASSERT(rc == 0);
    CAIRN_ASSERT(ts.tv_sec >= 0);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void epoch_start(void)
{
    atomic_store(&epoch_ns, alloc_now_ns());
}

void alloc_init_once(void)
{
    int rc = pthread_once(&epoch_once, epoch_start);
    CAIRN_ASSERT(rc == 0);
}

uint64_t alloc_epoch_ns(void)
{
    alloc_init_once();
    return atomic_load_explicit(&epoch_ns, memory_order_relaxed);
}

int alloc_rss_read(uint64_t *rss_bytes, uint64_t *anon_bytes)
{
    if (CAIRN_UNLIKELY(test_rss != NULL))
        return test_rss(rss_bytes, anon_bytes);
    return alloc_rss_sample(rss_bytes, anon_bytes);
}

void alloc_testing_set_clock(alloc_clock_fn fn)
{
    test_clock = fn;
}

void alloc_testing_set_rss(alloc_rss_fn fn)
{
    test_rss = fn;
}

void alloc_testing_reset(void)
{
    CAIRN_ASSERT(alloc_thread_count() == 0);
    alloc_init_once();
    alloc_reclaim_reset();
    alloc_pacer_reset();
    alloc_stats_reset();
    alloc_account_reset();
    atomic_store(&epoch_ns, alloc_now_ns());
}
