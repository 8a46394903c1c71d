/*
 * alloc/ — cairn's memory manager on mimalloc.
 *
 * Promises: request- and batch-scoped arenas, per-subsystem byte accounting, a reclaimer
 * paced by a heap-growth percent (like GOGC) and a memory limit (like GOMEMLIMIT), and a
 * hard stop that refuses memory-growing work instead of letting the process be OOM-killed.
 * Owns: the accounting counters, the reclaimer's state (settings, registered release
 * callbacks, registered threads, the CPU budget) and its statistics. All of it is process
 * global: there is one heap per process, so there is one memory manager.
 * Never: calls into raft/, store/ or server/ (subsystems register callbacks instead);
 * allocates on behalf of a thread that does not own the heap (mimalloc heaps are
 * thread-owned); blocks waiting for another thread to collect (collection is requested
 * through a flag that the owning thread's loop polls); aborts on a refused allocation.
 *
 * Measures (docs/memory.md explains them for operators):
 *  - heap: the bytes cairn's subsystems hold, counted by cairn itself (mimalloc 2.0.9 has
 *    no byte counters) from mi_usable_size() of every accounted block or arena chunk.
 *  - memory in use: the process's anonymous resident memory (resident minus file-backed
 *    pages from /proc/self/statm), the figure the memory limit is checked against. LMDB's
 *    mapped file pages are page cache, not cairn's heap, and are not counted.
 *
 * Thread-safety: every function may be called from any thread unless it says otherwise.
 * Counters are C11 atomics; reclaim cycles are serialized by one lock and may run on the
 * node thread (alloc_maybe_reclaim), on a thread asking for admission (alloc_admit) or on
 * a caller of alloc_reclaim_now().
 */
#ifndef CAIRN_ALLOC_H
#define CAIRN_ALLOC_H

#include <stddef.h>
#include <stdint.h>

struct ProtobufCAllocator; /* protobuf-c/protobuf-c.h */

/* ---------------------------------------------------------------- subsystems -------- */

/* Every holder of heap memory accounts under one of these. Values index the statistics
 * arrays; alloc_subsys_name() gives the metric label. */
enum alloc_subsys {
    ALLOC_SUBSYS_RAFT_ENTRY_CACHE = 0,
    ALLOC_SUBSYS_PROPOSALS,
    ALLOC_SUBSYS_WATCH_BUFFERS,
    ALLOC_SUBSYS_LEASES,
    ALLOC_SUBSYS_REQUEST_ARENAS,
    ALLOC_SUBSYS_GRPC_BUFFERS,
    ALLOC_SUBSYS_OTHER,
    ALLOC_SUBSYS_COUNT
};

/* "raft_entry_cache", "proposals", "watch_buffers", "leases", "request_arenas",
 * "grpc_buffers", "other": static strings, usable as metric label values.
 * Returns "invalid" for a value outside the enum. */
const char *alloc_subsys_name(enum alloc_subsys subsys);

/* ---------------------------------------------------------------- accounting -------- */

/* alloc_account_add / _sub — charge or credit bytes held outside alloc_malloc (a gRPC
 * slice, an LMDB-sized buffer). Every add must be matched by a sub of the same size and
 * subsystem; a sub that would take a counter below zero is a bug and fails an assertion. */
void alloc_account_add(enum alloc_subsys subsys, size_t bytes);
void alloc_account_sub(enum alloc_subsys subsys, size_t bytes);

/* Bytes currently accounted to one subsystem / to all of them. Relaxed reads. */
uint64_t alloc_live_bytes(enum alloc_subsys subsys);
uint64_t alloc_live_total_bytes(void);

/* alloc_malloc / _calloc / _realloc / _free — mimalloc allocation accounted by its
 * usable size, for long-lived objects (a lease, a watcher, a cached entry). Each thread
 * allocates each subsystem's blocks from a mimalloc heap of its own, so one subsystem's
 * frees empty whole pages (registered threads collect those heaps on request). Any thread
 * may free a block; pass the same subsystem as at allocation. NULL on out-of-memory
 * (nothing is accounted then); alloc_free(subsys, NULL) is a no-op. About 27 ns per
 * malloc+free pair against mimalloc's 10. These never consult the memory limit: call
 * alloc_admit() before memory-growing work. */
void *alloc_malloc(enum alloc_subsys subsys, size_t size_bytes);
void *alloc_calloc(enum alloc_subsys subsys, size_t count, size_t size_bytes);
void *alloc_realloc(enum alloc_subsys subsys, void *ptr, size_t size_bytes);
void alloc_free(enum alloc_subsys subsys, void *ptr);

/* ---------------------------------------------------------------- arenas ------------ */

/*
 * An arena is a request- or batch-scoped region: many small allocations, freed all at
 * once by alloc_arena_reset() or alloc_arena_destroy(). It owns a mimalloc heap created by
 * the thread that called alloc_arena_create(); that thread is the arena's owner and the
 * only one that may allocate, reset or destroy it (asserted on the slow paths). Memory is
 * taken from the heap in chunks and handed out by bumping a pointer, so an allocation is a
 * few instructions and individual frees do nothing.
 *
 * Accounting: every chunk (and the arena itself) is charged to the arena's subsystem when
 * taken and credited when released; reset keeps one chunk so the next request reuses it.
 * Collection: if the owner registered itself (alloc_thread_register), the arena's heap is
 * collected whenever the thread answers a reclaim cycle in alloc_thread_poll().
 * Sanitizers: under ASan every allocation is unpoisoned exactly and followed by a poisoned
 * redzone, and reset poisons the kept chunk; under valgrind the arena is a memcheck
 * mempool. So overruns and use-after-reset are reported despite the bump allocator.
 */
struct alloc_arena;

struct alloc_arena_config {
    enum alloc_subsys subsys; /* usually ALLOC_SUBSYS_REQUEST_ARENAS */
    size_t chunk_bytes;       /* 0 → ALLOC_ARENA_CHUNK_DEFAULT; at least 4 KiB */
    size_t max_bytes;         /* 0 → unbounded; else allocations fail (NULL) once the
                                 chunks held would exceed this many bytes */
};

#define ALLOC_ARENA_CHUNK_DEFAULT (64u << 10)
#define ALLOC_ARENA_ALIGN         16u /* every allocation is aligned to this */

/* alloc_arena_create — make an arena owned by the calling thread.
 * Returns 0 and *out; CAIRN_EINVAL for a bad config (subsystem out of range, chunk_bytes
 * below 4 KiB or above 64 MiB), CAIRN_ENOMEM, or CAIRN_ELIMIT when the calling thread is
 * registered and already owns ALLOC_THREAD_ARENAS_MAX arenas. */
int alloc_arena_create(const struct alloc_arena_config *config, struct alloc_arena **out);

/* alloc_arena_alloc — size_bytes of uninitialized memory, aligned to ALLOC_ARENA_ALIGN,
 * valid until the next reset/destroy. size 0 gives a unique non-NULL pointer. NULL when
 * max_bytes would be exceeded or mimalloc is out of memory; the arena stays usable. */
void *alloc_arena_alloc(struct alloc_arena *arena, size_t size_bytes);

/* alloc_arena_memdup — copy of [src, src+size_bytes) in the arena, or NULL as above. */
void *alloc_arena_memdup(struct alloc_arena *arena, const void *src, size_t size_bytes);

/* alloc_arena_reset — invalidate everything allocated; keep one chunk for reuse and give
 * the others back to the arena's heap (their pages return to the OS at the next collect).
 * Owner thread only. */
void alloc_arena_reset(struct alloc_arena *arena);

/* alloc_arena_destroy — free the arena and its heap. Owner thread only. NULL is a no-op. */
void alloc_arena_destroy(struct alloc_arena *arena);

/* Bytes handed out since the last reset (alignment and redzones included). */
size_t alloc_arena_used_bytes(const struct alloc_arena *arena);
/* Bytes the arena holds and has charged to its subsystem (chunks plus the arena). */
size_t alloc_arena_held_bytes(const struct alloc_arena *arena);

/* alloc_arena_protobuf — a protobuf-c allocator view of the arena, valid as long as the
 * arena: protobuf_c_message_unpack(desc, alloc_arena_protobuf(a), len, data) decodes into
 * the arena, and the message is freed by the next reset (its free callback is a no-op, so
 * protobuf_c_message_free_unpacked with this allocator is harmless but unnecessary).
 * Decoding fails cleanly (unpack returns NULL) when the arena hits max_bytes. */
struct ProtobufCAllocator *alloc_arena_protobuf(struct alloc_arena *arena);

/* ---------------------------------------------------------------- threads ----------- */

/*
 * Threads that allocate a lot (gRPC threads, the node thread) register so that a reclaim
 * cycle can ask them to collect their own mimalloc heaps: freed pages go back to the OS
 * only when the owning thread runs a collect. The cycle never waits for them; it bumps a
 * generation counter that alloc_thread_poll() compares with the thread's last answer.
 */
#define ALLOC_THREADS_MAX       64
#define ALLOC_THREAD_ARENAS_MAX 64
#define ALLOC_THREAD_NAME_MAX   24 /* longer names are truncated */

/* alloc_thread_register — register the calling thread under name (for statistics).
 * Returns 0, CAIRN_EEXIST if the thread is already registered, or CAIRN_ELIMIT when
 * ALLOC_THREADS_MAX threads are registered. */
int alloc_thread_register(const char *name);

/* alloc_thread_unregister — the calling thread leaves the registry. Arenas it owns must
 * have been destroyed (asserted). No-op for an unregistered thread. */
void alloc_thread_unregister(void);

/* alloc_thread_poll — call from the thread's loop (each completion-queue wakeup, each
 * batch). If a cycle asked for a collect since the last poll, collect this thread's heaps
 * (its arenas' heaps, its per-subsystem heaps and its default heap) and return 1;
 * otherwise return 0 after one atomic load (~3 ns). Unregistered threads always get 0.
 * Poll at least every 100 ms or so: a thread that sleeps longer holds its freed pages that
 * much longer. */
int alloc_thread_poll(void);

/* ---------------------------------------------------------------- pacer settings ---- */

#define ALLOC_HEAP_PERCENT_DEFAULT 100
#define ALLOC_HEAP_PERCENT_OFF     (-1)
#define ALLOC_NO_LIMIT             INT64_MAX
#define ALLOC_HEAP_MINIMUM_BYTES   (4u << 20) /* percent goal floor at heap_percent 100 */

/* alloc_set_heap_percent — a cycle starts when the heap reaches
 * live_after_last_cycle × (1 + percent/100), and never below 4 MiB × percent/100.
 * Any negative value means off (stored as ALLOC_HEAP_PERCENT_OFF): then only the memory
 * limit starts cycles. Returns the previous setting. Takes effect at the next check. */
int32_t alloc_set_heap_percent(int32_t percent);
int32_t alloc_get_heap_percent(void);

/* alloc_set_memory_limit — soft limit on memory in use (bytes); ALLOC_NO_LIMIT disables.
 * A negative value changes nothing (like Go's SetMemoryLimit) and just returns the current
 * setting. Returns the previous setting. */
int64_t alloc_set_memory_limit(int64_t limit_bytes);
int64_t alloc_get_memory_limit(void);

/* ---------------------------------------------------------------- parsing ----------- */

/*
 * Two forms, as in Go. The environment form (CAIRN_HEAP_PERCENT, CAIRN_MEMORY_LIMIT)
 * follows Go's readGOGC / readGOMEMLIMIT exactly; the flag/setter form (--heap-percent,
 * --memory-limit, `cairnctl memory set`) is strict: a malformed value is an error.
 *
 * Integers follow Go's strconv.ParseInt(s, 10, bits): optional '+' or '-', ASCII digits
 * only, no spaces, no underscores, no base prefixes, out of range is an error.
 * Byte counts follow Go's parseByteCount: ^[+-]?[0-9]+(([KMGT]i)?B)?$ (case-sensitive,
 * powers of two, no fractions, no space before the unit), not negative ("-0" is 0), and
 * the result must fit in int64 (no PiB or EiB; "8388608TiB" overflows).
 * Go releases before 1.26 parsed GOGC with a runtime-private atoi that rejected '+' and
 * read a lone "-" as 0; cairn follows the current rules (strconv.ParseInt).
 */

/* Flag form: "off" → ALLOC_HEAP_PERCENT_OFF; an int32 → itself (negative → OFF).
 * Anything else, including "" and "OFF", is CAIRN_EINVAL (and *out is untouched). */
int alloc_parse_heap_percent(const char *text, int32_t *out);

/* Env form (Go's readGOGC): NULL or "" → 100; "off" → OFF; an int32 → itself (negative →
 * OFF); anything else → 100, silently — exactly what Go does with a bad GOGC. */
int32_t alloc_env_heap_percent(const char *value);

/* Flag form: "off" → ALLOC_NO_LIMIT; a byte count → bytes; else CAIRN_EINVAL. */
int alloc_parse_memory_limit(const char *text, int64_t *out);

/* Env form (Go's readGOMEMLIMIT): NULL, "" or "off" → ALLOC_NO_LIMIT; a byte count →
 * bytes; malformed → CAIRN_EINVAL (Go aborts at startup; cairnd refuses to start). */
int alloc_env_memory_limit(const char *value, int64_t *out);

/* alloc_configure — apply settings in precedence flag > environment > default.
 * flag_* may be NULL (flag not given). On error nothing is applied and err (if cap > 0)
 * holds a one-line message naming the flag or variable and the bad value.
 * Returns 0 or CAIRN_EINVAL. */
int alloc_configure(const char *flag_heap_percent, const char *flag_memory_limit, char *err,
                    size_t err_cap);

/* alloc_format_bytes — IEC text for a byte count: "512 B", "1.5 KiB", "256 MiB",
 * one decimal at most; "unlimited" for values ≥ 2^63−1 (ALLOC_NO_LIMIT, UINT64_MAX).
 * Returns snprintf's result. */
int alloc_format_bytes(uint64_t bytes, char *buf, size_t cap);

/* ---------------------------------------------------------------- reclaimer --------- */

/*
 * A release callback gives memory back: trim a cache, drop pooled buffers, move slow
 * watchers to catch-up-from-disk. It is asked for bytes_wanted (a hint: give what can be
 * given cheaply, up to that), and returns the bytes it actually released (and credited to
 * its subsystem). Callbacks run in ascending priority (lower number first, ties in
 * registration order) until the cycle has what it wants.
 *
 * Which thread: a callback registered without ALLOC_RELEASE_ANY_THREAD runs only in
 * cycles on the thread that registered it (the node thread, for subsystems it owns); a
 * cycle on another thread skips it and asks for a full cycle at the next
 * alloc_maybe_reclaim() instead. With ALLOC_RELEASE_ANY_THREAD it must be thread-safe.
 * Callbacks run with the reclaim lock held: they must not register, unregister, or call
 * alloc_reclaim_now (asserted); alloc_admit and alloc_maybe_reclaim return at once inside.
 */
typedef size_t (*alloc_release_fn)(void *arg, size_t bytes_wanted);

#define ALLOC_RELEASE_ANY_THREAD 1u
#define ALLOC_RECLAIMERS_MAX     32

struct alloc_reclaimer {
    const char *name; /* static string, for statistics and logs */
    enum alloc_subsys subsys;
    int priority;
    alloc_release_fn release;
    void *arg;
    unsigned flags; /* ALLOC_RELEASE_* */
};

/* Returns 0 and an id (≥ 0) in *id_out; CAIRN_EINVAL (NULL release or name, subsystem out
 * of range) or CAIRN_ELIMIT (ALLOC_RECLAIMERS_MAX registered). The struct is copied. */
int alloc_reclaimer_register(const struct alloc_reclaimer *reclaimer, int *id_out);
/* Returns 0 or CAIRN_ENOTFOUND. After it returns, the callback is not running and will
 * not be called again. */
int alloc_reclaimer_unregister(int id);

/* alloc_maybe_reclaim — the node thread calls this between batches. Cheap (a clock read
 * and a few atomic loads) when the heap is under its goal; refreshes the memory-in-use
 * sample every ALLOC_RSS_SAMPLE_MS when a limit is set; starts a cycle when the heap
 * reached the goal or a cycle was requested and the CPU budget allows. A cycle runs in
 * steps of about 2 ms, one per call (4× that in pressure mode, all at once when memory in
 * use is at the limit), so keep calling;
 * between cycles it also runs the delayed second collect. Returns 1 if it did a step of
 * reclaim work, else 0. */
int alloc_maybe_reclaim(void);

/* alloc_reclaim_now — run a whole cycle now, asking the callbacks for bytes_wanted
 * (SIZE_MAX: everything they can give); a cycle under way is finished with that much more
 * asked. Ignores the CPU budget (but is charged to it). For `cairnctl memory reclaim` and
 * tests. Returns the bytes the callbacks released in the cycle. */
size_t alloc_reclaim_now(size_t bytes_wanted);

/* Memory in use is read from /proc/self/statm at most this often (in between, it is the
 * last sample plus the accounted heap's growth). */
#define ALLOC_RSS_SAMPLE_MS 10
/* Pressure mode: from this share of the memory limit up, mimalloc returns freed pages to
 * the OS at once instead of after its decommit delay; back to normal under the second. */
#define ALLOC_PRESSURE_ON_PERCENT  90
#define ALLOC_PRESSURE_OFF_PERCENT 80
/* CPU budget: reclaim work earns half of wall-clock time and may save up this much, so
 * over any span T it uses at most T/2 + 100 ms. */
#define ALLOC_CPU_BURST_MS 100

/* ---------------------------------------------------------------- admission --------- */

/* alloc_admit — may subsystem grow by about bytes? Returns 0 (go ahead) or
 * CAIRN_EMEMLIMIT. Without a memory limit: always 0, one atomic load. With one: 0 while
 * memory in use + bytes stays within the limit; otherwise it first runs a reclaim cycle
 * (or waits for the one in progress) if the CPU budget allows, then checks again.
 * A refusal is counted; nothing is allocated or freed for the caller. The server maps
 * CAIRN_EMEMLIMIT to gRPC RESOURCE_EXHAUSTED with alloc_memlimit_message(). */
int alloc_admit(enum alloc_subsys subsys, size_t bytes);

/* alloc_memlimit_message — the refusal text, naming the limit and what is in use:
 * "memory limit reached: 251.2 MiB in use of the 256 MiB memory limit (--memory-limit /
 * CAIRN_MEMORY_LIMIT); proposals asked for 1.5 MiB more". Returns snprintf's result. */
int alloc_memlimit_message(enum alloc_subsys subsys, size_t bytes, char *buf, size_t cap);

/* ---------------------------------------------------------------- statistics -------- */

enum alloc_cycle_reason {
    ALLOC_CYCLE_HEAP_PERCENT = 0, /* heap reached the heap_percent goal */
    ALLOC_CYCLE_MEMORY_LIMIT,     /* heap reached the memory-limit goal */
    ALLOC_CYCLE_ADMISSION,        /* alloc_admit found the limit would be crossed */
    ALLOC_CYCLE_REQUESTED,        /* a cycle elsewhere skipped owner-only callbacks */
    ALLOC_CYCLE_FORCED,           /* alloc_reclaim_now */
    ALLOC_CYCLE_REASON_COUNT
};

/* "heap_percent", "memory_limit", "admission", "requested", "forced". */
const char *alloc_cycle_reason_name(enum alloc_cycle_reason reason);

struct alloc_stats {
    uint64_t live_bytes[ALLOC_SUBSYS_COUNT];
    uint64_t live_total_bytes;
    uint64_t live_after_last_cycle_bytes;
    uint64_t goal_bytes;        /* heap size that starts the next cycle; UINT64_MAX = none */
    int32_t heap_percent;       /* ALLOC_HEAP_PERCENT_OFF when off */
    int64_t memory_limit_bytes; /* ALLOC_NO_LIMIT when none */
    uint64_t rss_bytes;         /* resident set, all pages (sampled now) */
    uint64_t rss_anon_bytes;    /* anonymous resident = memory in use (sampled now) */
    uint64_t rss_peak_bytes;    /* largest memory-in-use sample seen by the reclaimer */
    uint64_t cycles;            /* completed cycles */
    uint64_t cycles_by_reason[ALLOC_CYCLE_REASON_COUNT];
    double cycles_per_min; /* over the last minute (or since the first use, if less) */
    uint64_t pauses;       /* reclaim steps run: each is a stall of the thread running it */
    uint64_t pause_p50_ns; /* step pauses, from a log histogram (≤ 12.5 % high) */
    uint64_t pause_p99_ns;
    uint64_t pause_max_ns; /* exact */
    uint64_t pause_total_ns;
    uint64_t pause_release_ns; /* ...of which in release callbacks */
    uint64_t pause_collect_ns; /* ...and in the cycling thread's own collect */
    uint64_t bytes_released;   /* sum of what release callbacks reported */
    uint64_t refusals;         /* alloc_admit → CAIRN_EMEMLIMIT */
    uint64_t refusals_by_subsys[ALLOC_SUBSYS_COUNT];
    uint64_t cpu_capped;        /* triggered cycles the CPU budget postponed */
    uint64_t thread_collects;   /* collects run by registered threads on request */
    uint64_t thread_collect_ns; /* their total time */
    uint64_t page_returns;      /* delayed second collects after a cycle */
    uint64_t pressure_entries;  /* times memory in use crossed into pressure mode */
    int memory_pressure;        /* 1 while in pressure mode (eager page return) */
    uint32_t threads_registered;
    uint32_t reclaimers_registered;
};

/* alloc_stats_get — fill *out. Takes no lock held by cycles; values are read one by one,
 * so they may be a few operations apart. Reads /proc/self/statm once. */
void alloc_stats_get(struct alloc_stats *out);

/* ---------------------------------------------------------------- RSS --------------- */

/* alloc_rss_bytes — resident set size of this process from /proc/self/statm.
 * Returns 0 and sets *rss_bytes, or CAIRN_EIO when statm cannot be read. */
int alloc_rss_bytes(uint64_t *rss_bytes);

/* alloc_rss_sample — resident and anonymous-resident (resident minus file-backed and
 * shared pages) bytes, from one read of /proc/self/statm. No allocation, so it works at
 * the memory limit. Returns 0 or CAIRN_EIO. */
int alloc_rss_sample(uint64_t *rss_bytes, uint64_t *anon_bytes);

#endif /* CAIRN_ALLOC_H */
