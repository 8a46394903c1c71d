/*
 * bench_embed — embedded cairn (cairn_put / cairn_get, no gRPC) beside raw LMDB with the
 * same batching. Shared pieces of the benchmark: options, results, a latency histogram,
 * the key and value generator, the sync counter and RSS readings.
 *
 * Files: bench_embed.c (driver, runs, medians, table), be_cairn.c (the embedded node's
 * phases), be_lmdb.c (the raw LMDB phases), be_util.c (this header's helpers and the
 * fdatasync counter).
 */
#ifndef BENCH_EMBED_H
#define BENCH_EMBED_H

#include <cairn.h>

#include <stddef.h>
#include <stdint.h>

#define BE_KEY_BYTES    16  /* "k" + 15 hex digits of a bijective mix of the key number */
#define BE_THREADS_MAX  256 /* writer or reader threads per phase */
#define BE_TSETS_MAX    8   /* thread counts per invocation (--threads 1,16,64) */
#define BE_RUNS_MAX     15
#define BE_HIST_SUB     32 /* sub-buckets per power of two: about 3% resolution */
#define BE_HIST_BUCKETS (60 * BE_HIST_SUB)
#define BE_OPS_MAX      (1ULL << 40) /* bound on any phase's loop; never reached */

/* Latency histogram (ns), log-linear. Adding is O(1); one per thread, merged after. */
struct be_hist {
    uint64_t n;
    uint64_t b[BE_HIST_BUCKETS];
};

void be_hist_add(struct be_hist *h, uint64_t ns, uint64_t weight);
void be_hist_merge(struct be_hist *into, const struct be_hist *from);
/* The q-quantile (0 < q < 1) in microseconds; 0 for an empty histogram. */
double be_hist_quantile_us(const struct be_hist *h, double q);

/* What one phase measured. */
struct be_result {
    uint64_t ops;          /* puts or gets done */
    double seconds;        /* wall time of the phase */
    double ops_per_s;      /* ops / seconds */
    double p50_us, p99_us; /* per-op latency */
    uint64_t syncs;        /* fdatasync calls during the phase (LMDB: one per write commit) */
    uint64_t disk_bytes;   /* bytes the process sent to the disk (/proc/self/io write_bytes) */
    uint64_t txns;         /* LMDB phases: write transactions committed */
    uint64_t raft_entries; /* cairn puts: raft index advance during the phase */
    double usr_us_per_op;  /* process CPU time per op (all threads): user, */
    double sys_us_per_op;  /* and system (fsync, futex, page faults) */
    uint64_t rss_start_bytes;
    uint64_t rss_peak_bytes;  /* the process's peak RSS during the phase (VmHWM after reset) */
    uint64_t anon_peak_bytes; /* peak anonymous RSS (heap, stacks; no mapped file pages) */
    uint64_t bad;             /* gets that returned the wrong value (must stay 0) */
};

struct be_opts {
    int runs;
    double put_seconds;
    double get_seconds;
    size_t value_bytes;
    int threads[BE_TSETS_MAX];
    int n_threads;
    const char *base_dir;
    int verbose;
};

double be_now_s(void);
uint64_t be_now_ns(void);

/* Key number i as BE_KEY_BYTES bytes (no NUL): distinct for distinct i below 2^60, spread
 * over the key space so inserts land all over the B-tree, as application keys do. */
void be_key(uint64_t i, char out[BE_KEY_BYTES]);
/* Value of key i: value_bytes bytes starting with i (8 bytes, when there is room), so a read
 * can check it got the right key's value. */
void be_value(uint64_t i, uint8_t *out, size_t value_bytes);
/* 1 if v (len bytes) is key i's value. */
int be_value_ok(uint64_t i, const uint8_t *v, size_t len, size_t value_bytes);

/* xorshift64: per-thread random key choice for the read phases. */
uint64_t be_rand(uint64_t *state);

/* fdatasync calls made by this process so far (LMDB calls it once per synced write commit;
 * be_util.c counts them by defining fdatasync, which liblmdb.so's calls bind to). */
uint64_t be_syncs(void);

/* Bytes this process has caused to be written to storage (/proc/self/io write_bytes: data
 * and meta pages of every LMDB commit, counted when they are dirtied). 0 if unavailable. */
uint64_t be_disk_bytes(void);

/* Process CPU time (all threads) in seconds: user and system. */
struct be_cpu {
    double usr_s, sys_s;
};
struct be_cpu be_cpu_now(void);
/* Fill out's per-op CPU figures from the CPU used since start. */
void be_cpu_per_op(const struct be_cpu *start, uint64_t ops, struct be_result *out);

/* Memory of one phase. be_mem_begin resets the kernel's RSS high-water mark
 * (/proc/self/clear_refs) and the sampled anonymous peak, and notes the start; be_mem_end
 * fills rss_start/rss_peak/anon_peak. Anonymous RSS (resident minus file-backed, from
 * /proc/self/statm) has no kernel high-water mark, so a sampler thread reads it every
 * 10 ms between be_mem_start and be_mem_stop (once per program). */
void be_mem_start(void);
void be_mem_stop(void);
void be_mem_begin(struct be_result *out);
void be_mem_end(struct be_result *out);

/* A fresh directory base/cairn-bench-embed-<tag>-XXXXXX (malloc'd), and its removal. */
char *be_mkdtemp(const char *base, const char *tag);
void be_rmtree(char *dir);

/* A fatal setup or API failure: message and exit(1) (a benchmark has nothing to recover). */
__attribute__((noreturn, format(printf, 1, 2))) void be_die(const char *fmt, ...);

/* ---- be_cairn.c: the embedded node ---- */

cairn_node *be_cairn_open(const char *dir);
/* threads writers, each doing synchronous cairn_put of keys first_key, first_key+1, ... (a
 * shared counter) for seconds. */
void be_cairn_puts(cairn_node *nd, const struct be_opts *o, int threads, uint64_t first_key,
                   struct be_result *out);
/* threads readers, each doing cairn_get (linearizable) or a serializable one-key
 * cairn_range of random keys below n_keys, for seconds. */
void be_cairn_gets(cairn_node *nd, const struct be_opts *o, int threads, uint64_t n_keys,
                   int serializable, struct be_result *out);

/* ---- be_lmdb.c: raw LMDB, the same durability as cairn's store ---- */

struct be_lmdb;
/* with_log = 0: one database, key -> value. 1: also a log database, 8-byte big-endian
 * index -> (key, value) record appended (MDB_APPEND) in the same transaction. */
struct be_lmdb *be_lmdb_open(const char *dir, int with_log);
void be_lmdb_close(struct be_lmdb *l);
/* One writer: keys first_key .. first_key+n_puts-1 in n_txns commits (sizes differ by at
 * most one, so the average is exactly n_puts / n_txns). */
void be_lmdb_puts(struct be_lmdb *l, const struct be_opts *o, uint64_t first_key, uint64_t n_puts,
                  uint64_t n_txns, struct be_result *out);
/* threads readers, one read transaction per get (renew, mdb_get, copy out, reset). */
void be_lmdb_gets(struct be_lmdb *l, const struct be_opts *o, int threads, uint64_t n_keys,
                  struct be_result *out);

#endif /* BENCH_EMBED_H */
