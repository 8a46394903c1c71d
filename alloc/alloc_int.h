/*
 * alloc_int.h — what the files of alloc/ share with each other (and with the unit tests):
 * the arena's layout, the pure pieces (goal arithmetic, CPU budget, pause histogram,
 * cycles-per-minute ring), and each file's internal entry points. Not for other modules.
 */
#ifndef CAIRN_ALLOC_INT_H
#define CAIRN_ALLOC_INT_H

#include "alloc.h"
#include "common.h"

#include <mimalloc.h>
#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* ---------------------------------------------------------------- clock ------------- */

/* Monotonic nanoseconds (CLOCK_MONOTONIC), or the test clock if one is installed. */
uint64_t alloc_now_ns(void);

/* One-time start of the module's epoch (cycles-per-minute window, CPU budget). Every
 * public entry point that keeps time calls it; cheap after the first call. */
void alloc_init_once(void);
uint64_t alloc_epoch_ns(void);

/* ---------------------------------------------------------------- arena layout ------ */

struct alloc_chunk {
    struct alloc_chunk *next;
    size_t payload_bytes; /* usable bytes after the header */
    size_t held_bytes;    /* mi_usable_size of the whole block: what is accounted */
};

struct alloc_thread;

struct alloc_arena {
    mi_heap_t *heap; /* owned; created on the owner thread; NULL under valgrind */
    pthread_t owner;
    struct alloc_thread *thread; /* owner's registry record, or NULL */
    struct alloc_arena *next_in_thread;
    enum alloc_subsys subsys;
    size_t chunk_bytes;
    size_t max_bytes;           /* 0 = unbounded */
    unsigned char *cur, *end;   /* bump region inside the current chunk */
    struct alloc_chunk *chunks; /* all chunks, newest first */
    struct alloc_chunk *keep;   /* first standard chunk: kept across resets */
    size_t n_chunks;
    size_t held_bytes; /* chunks + the arena struct, charged to subsys */
    size_t used_bytes;
    ProtobufCAllocator pb;
};

/* Set up arena->pb (alloc_arena_pb.c). */
void alloc_arena_pb_init(struct alloc_arena *arena);

/* ---------------------------------------------------------------- goal (pure) ------- */

struct alloc_goal_input {
    int32_t heap_percent;            /* < 0: off */
    int64_t memory_limit_bytes;      /* ALLOC_NO_LIMIT: none */
    uint64_t live_after_cycle_bytes; /* Go's heapMarked */
    uint64_t heap_bytes;             /* accounted now: Go's heapAlloc */
    uint64_t mapped_bytes;           /* memory in use now: Go's mappedReady */
};

struct alloc_goal {
    uint64_t percent_goal_bytes; /* UINT64_MAX when heap_percent is off */
    uint64_t limit_goal_bytes;   /* UINT64_MAX when there is no limit */
    uint64_t goal_bytes;         /* min of the two */
    uint64_t headroom_bytes;     /* limit headroom taken off, 0 without a limit */
};

#define ALLOC_LIMIT_HEADROOM_PERCENT 3
#define ALLOC_LIMIT_HEADROOM_MIN     (1u << 20)

void alloc_goal_compute(const struct alloc_goal_input *in, struct alloc_goal *out);

/* a * b / 100 without overflow, saturating at UINT64_MAX. */
uint64_t alloc_mul_percent(uint64_t a, uint64_t percent);

/* ---------------------------------------------------------------- CPU budget (pure) - */

/* Token bucket: reclaim work may use half of wall-clock time, plus a saved-up burst. */
struct alloc_budget {
    int64_t tokens_ns;
    int64_t burst_ns;
    uint64_t last_ns;
};

void alloc_budget_init(struct alloc_budget *b, uint64_t now_ns, int64_t burst_ns);
void alloc_budget_refill(struct alloc_budget *b, uint64_t now_ns);
bool alloc_budget_allows(const struct alloc_budget *b);
void alloc_budget_charge(struct alloc_budget *b, uint64_t work_ns);

/* ---------------------------------------------------------------- histogram (pure) -- */

/* Log-linear: 8 exact buckets for 0..7, then 8 per power of two (≤ 12.5 % wide). */
#define ALLOC_HIST_SUB_BITS 3
#define ALLOC_HIST_SUB      (1u << ALLOC_HIST_SUB_BITS)
#define ALLOC_HIST_BUCKETS  ((64 - ALLOC_HIST_SUB_BITS + 1) * ALLOC_HIST_SUB)

struct alloc_hist {
    _Atomic uint64_t counts[ALLOC_HIST_BUCKETS];
    _Atomic uint64_t total;
    _Atomic uint64_t sum;
    _Atomic uint64_t max;
};

size_t alloc_hist_index(uint64_t value);
uint64_t alloc_hist_bucket_max(size_t index); /* largest value in the bucket */
void alloc_hist_add(struct alloc_hist *h, uint64_t value);
/* Smallest bucket bound covering fraction q of the values (clamped to the exact max);
 * 0 when empty. */
uint64_t alloc_hist_quantile(const struct alloc_hist *h, double q);
void alloc_hist_clear(struct alloc_hist *h);

/* ---------------------------------------------------------------- rate (pure) ------- */

#define ALLOC_RATE_SLOTS 60

/* Events per second over the last minute, in 60 one-second slots. */
struct alloc_rate {
    _Atomic uint64_t second[ALLOC_RATE_SLOTS];
    _Atomic uint64_t count[ALLOC_RATE_SLOTS];
};

void alloc_rate_add(struct alloc_rate *r, uint64_t now_ns);
/* Events per minute: the last 60 s, or since start_ns when that is shorter (≥ 1 s). */
double alloc_rate_per_min(const struct alloc_rate *r, uint64_t start_ns, uint64_t now_ns);
void alloc_rate_clear(struct alloc_rate *r);

/* ---------------------------------------------------------------- pacer ------------- */

/* Memory in use now: the last sample plus accounted growth since (never below the
 * sample). Resamples /proc/self/statm when the sample is ALLOC_RSS_SAMPLE_MS old or
 * force is set (one thread samples at a time; the others use the previous sample). */
uint64_t alloc_pacer_in_use(uint64_t heap_now, uint64_t now_ns, bool force);
/* The current goal for heap_now (samples memory in use only when a limit is set). */
void alloc_pacer_goal(uint64_t heap_now, uint64_t now_ns, struct alloc_goal *out);
void alloc_pacer_cycle_end(uint64_t heap_after);
/* Enter or leave pressure mode (eager decommit) for this memory-in-use figure. */
void alloc_pacer_pressure_update(uint64_t in_use);
bool alloc_pacer_in_pressure(void);
uint64_t alloc_pacer_pressure_entries(void);
uint64_t alloc_pacer_live_after_cycle(void);
uint64_t alloc_pacer_rss_peak(void);
void alloc_pacer_reset(void);

/* ---------------------------------------------------------------- threads ----------- */

/* Ask every registered thread to collect at its next poll. */
void alloc_thread_request_collect(void);
/* Collect the calling thread's heaps now (its arenas' heaps if registered, then its
 * default heap) and mark the current request answered. */
void alloc_thread_collect_self(void);
bool alloc_thread_is_registered(void);
int alloc_thread_arena_link(struct alloc_arena *arena);
void alloc_thread_arena_unlink(struct alloc_arena *arena);
uint32_t alloc_thread_count(void);

/* ---------------------------------------------------------------- reclaimer --------- */

/* The admission path's cycle: runs one to completion (or finishes the one under way)
 * unless a cycle ended in the last ALLOC_RSS_SAMPLE_MS or the budget is spent. Returns
 * true if a cycle ran or finished while waiting. */
bool alloc_reclaim_for_admission(size_t bytes_wanted);
/* Charge reclaim work done outside a cycle (a thread's requested collect) to the CPU
 * budget; it is taken off at the next budget update. */
void alloc_reclaim_charge(uint64_t ns);
void alloc_reclaim_reset(void);

/* ---------------------------------------------------------------- registry ---------- */

/* Call the release callbacks in order for up to bytes_wanted; returns what they released.
 * Owner-only callbacks of other threads are skipped (*skipped_owned set). */
size_t alloc_registry_release(size_t bytes_wanted, bool *skipped_owned);
bool alloc_reclaim_in_cycle(void); /* the calling thread is inside a release callback */
uint32_t alloc_reclaimer_count(void);
void alloc_registry_reset(void);

/* ---------------------------------------------------------------- stats ------------- */

/* A cycle finished / a step (a stall of the thread running it) took pause_ns. */
void alloc_stats_cycle(enum alloc_cycle_reason reason, uint64_t released, uint64_t now_ns);
void alloc_stats_pause(uint64_t pause_ns);
/* Where a cycle's pause went: release callbacks, and the cycling thread's own collect. */
void alloc_stats_cycle_parts(uint64_t release_ns, uint64_t collect_ns);
void alloc_stats_refusal(enum alloc_subsys subsys);
void alloc_stats_cpu_capped(void);
void alloc_stats_thread_collect(uint64_t ns);
void alloc_stats_page_return(void);
uint64_t alloc_stats_cycles(void);
uint64_t alloc_stats_last_cycle_end_ns(void);
void alloc_stats_reset(void);

/* ---------------------------------------------------------------- accounting -------- */

void alloc_account_reset(void);
/* Collect the calling thread's per-subsystem heaps (owner thread only). */
void alloc_account_collect_thread(void);
/* True under valgrind: mi_malloc/mi_free/mi_usable_size are aliases of malloc/free/
 * malloc_usable_size in Debian's libmimalloc, which valgrind redirects to its own
 * allocator, while mi_heap_* stay native; alloc/ then avoids mi_heap_* altogether. */
bool alloc_use_system_malloc(void);

/* ---------------------------------------------------------------- testing hooks ----- */

typedef uint64_t (*alloc_clock_fn)(void);
typedef int (*alloc_rss_fn)(uint64_t *rss_bytes, uint64_t *anon_bytes);

/* Install a fake clock / RSS source (NULL restores the real one). Tests only, set while
 * no other thread uses the module. */
void alloc_testing_set_clock(alloc_clock_fn fn);
void alloc_testing_set_rss(alloc_rss_fn fn);
/* Forget all state: settings to defaults, counters to zero, no reclaimers, statistics
 * cleared, a fresh epoch. No thread may be registered and no arena alive. */
void alloc_testing_reset(void);

/* The RSS source in use (alloc_rss_sample unless a test installed another). */
int alloc_rss_read(uint64_t *rss_bytes, uint64_t *anon_bytes);

#endif /* CAIRN_ALLOC_INT_H */
