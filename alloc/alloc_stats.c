/*
 * Reclaimer statistics and the one snapshot struct that metrics and the CLI read.
 * Counters are relaxed atomics; cycles are recorded under the reclaim lock, refusals and
 * thread collects from any thread.
 */
#include "alloc_int.h"

#include <string.h>

static struct alloc_hist pauses;
static struct alloc_rate cycle_rate;
static _Atomic uint64_t cycles, by_reason[ALLOC_CYCLE_REASON_COUNT];
static _Atomic uint64_t bytes_released, refusals, refusals_by[ALLOC_SUBSYS_COUNT];
static _Atomic uint64_t cpu_capped, thread_collects, thread_collect_ns, page_returns;
static _Atomic uint64_t last_cycle_end_ns;
static _Atomic uint64_t release_ns, cycle_collect_ns;

void alloc_stats_cycle_parts(uint64_t release, uint64_t collect)
{
    atomic_fetch_add_explicit(&release_ns, release, memory_order_relaxed);
    atomic_fetch_add_explicit(&cycle_collect_ns, collect, memory_order_relaxed);
    CAIRN_ASSERT(atomic_load_explicit(&release_ns, memory_order_relaxed) >= release);
}

void alloc_stats_cycle(enum alloc_cycle_reason reason, uint64_t released, uint64_t now_ns)
{
    CAIRN_ASSERT((unsigned)reason < ALLOC_CYCLE_REASON_COUNT);
    alloc_rate_add(&cycle_rate, now_ns);
    atomic_fetch_add_explicit(&by_reason[reason], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes_released, released, memory_order_relaxed);
    atomic_store_explicit(&last_cycle_end_ns, now_ns, memory_order_relaxed);
    /* last: alloc_reclaim_for_admission watches this count */
    uint64_t n = atomic_fetch_add_explicit(&cycles, 1, memory_order_release);
    CAIRN_ASSERT(n + 1 > n);
}

void alloc_stats_pause(uint64_t pause_ns)
{
    alloc_hist_add(&pauses, pause_ns);
    CAIRN_ASSERT(atomic_load_explicit(&pauses.total, memory_order_relaxed) > 0);
}

void alloc_stats_refusal(enum alloc_subsys subsys)
{
    CAIRN_ASSERT((unsigned)subsys < ALLOC_SUBSYS_COUNT);
    atomic_fetch_add_explicit(&refusals, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&refusals_by[subsys], 1, memory_order_relaxed);
}

void alloc_stats_cpu_capped(void)
{
    atomic_fetch_add_explicit(&cpu_capped, 1, memory_order_relaxed);
}

void alloc_stats_thread_collect(uint64_t ns)
{
    atomic_fetch_add_explicit(&thread_collects, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&thread_collect_ns, ns, memory_order_relaxed);
}

void alloc_stats_page_return(void)
{
    atomic_fetch_add_explicit(&page_returns, 1, memory_order_relaxed);
}

uint64_t alloc_stats_cycles(void)
{
    return atomic_load_explicit(&cycles, memory_order_acquire);
}

uint64_t alloc_stats_last_cycle_end_ns(void)
{
    return atomic_load_explicit(&last_cycle_end_ns, memory_order_relaxed);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void alloc_stats_get(struct alloc_stats *out)
{
    CAIRN_ASSERT(out != NULL);
    memset(out, 0, sizeof(*out));
    uint64_t now = alloc_now_ns();
    for (size_t i = 0; i < ALLOC_SUBSYS_COUNT; i++) {
        out->live_bytes[i] = alloc_live_bytes((enum alloc_subsys)i);
        out->refusals_by_subsys[i] = LOAD(refusals_by[i]);
    }
    out->live_total_bytes = alloc_live_total_bytes();
    out->live_after_last_cycle_bytes = alloc_pacer_live_after_cycle();
    struct alloc_goal g;
    alloc_pacer_goal(out->live_total_bytes, now, &g);
    out->goal_bytes = g.goal_bytes;
    out->heap_percent = alloc_get_heap_percent();
    out->memory_limit_bytes = alloc_get_memory_limit();
    (void)alloc_rss_read(&out->rss_bytes, &out->rss_anon_bytes);
    out->rss_peak_bytes = alloc_pacer_rss_peak();
    if (out->rss_anon_bytes > out->rss_peak_bytes)
        out->rss_peak_bytes = out->rss_anon_bytes;
    out->cycles = LOAD(cycles);
    for (size_t i = 0; i < ALLOC_CYCLE_REASON_COUNT; i++)
        out->cycles_by_reason[i] = LOAD(by_reason[i]);
    out->cycles_per_min = alloc_rate_per_min(&cycle_rate, alloc_epoch_ns(), now);
    out->pause_p50_ns = alloc_hist_quantile(&pauses, 0.50);
    out->pause_p99_ns = alloc_hist_quantile(&pauses, 0.99);
    out->pause_max_ns = LOAD(pauses.max);
    out->pause_total_ns = LOAD(pauses.sum);
    out->pauses = LOAD(pauses.total);
    out->pause_release_ns = LOAD(release_ns);
    out->pause_collect_ns = LOAD(cycle_collect_ns);
    out->bytes_released = LOAD(bytes_released);
    out->refusals = LOAD(refusals);
    out->cpu_capped = LOAD(cpu_capped);
    out->thread_collects = LOAD(thread_collects);
    out->thread_collect_ns = LOAD(thread_collect_ns);
    out->page_returns = LOAD(page_returns);
    out->pressure_entries = alloc_pacer_pressure_entries();
    out->memory_pressure = alloc_pacer_in_pressure() ? 1 : 0;
    out->threads_registered = alloc_thread_count();
    out->reclaimers_registered = alloc_reclaimer_count();
    CAIRN_ASSERT(out->pause_p50_ns <= out->pause_max_ns);
}

void alloc_stats_reset(void)
{
    alloc_hist_clear(&pauses);
    alloc_rate_clear(&cycle_rate);
    atomic_store(&cycles, 0);
    for (size_t i = 0; i < ALLOC_CYCLE_REASON_COUNT; i++)
        atomic_store(&by_reason[i], 0);
    atomic_store(&bytes_released, 0);
    atomic_store(&refusals, 0);
    for (size_t i = 0; i < ALLOC_SUBSYS_COUNT; i++)
        atomic_store(&refusals_by[i], 0);
    atomic_store(&cpu_capped, 0);
    atomic_store(&thread_collects, 0);
    atomic_store(&thread_collect_ns, 0);
    atomic_store(&page_returns, 0);
    atomic_store(&last_cycle_end_ns, 0);
    atomic_store(&release_ns, 0);
    atomic_store(&cycle_collect_ns, 0);
    CAIRN_ASSERT(alloc_stats_cycles() == 0);
}
