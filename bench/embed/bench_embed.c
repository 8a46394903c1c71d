/*
 * bench_embed — embedded cairn puts and gets (cairn_put / cairn_get, no gRPC) beside raw
 * LMDB with the same batching, in one process, on the same filesystem.
 *
 *   bench_embed [--quick] [--runs R] [--threads 1,16,64] [--put-seconds S]
 *               [--get-seconds S] [--value-bytes N] [--dir D]
 *
 * Each run, on fresh directories under D (default /tmp, removed afterwards):
 *  1. cairn puts: for each T, T threads each doing synchronous cairn_put of new keys
 *     (16-byte keys, N-byte values) for S seconds, on a one-member node opened with the
 *     embedded defaults. The phases follow each other on one node, so keys accumulate.
 *     Batching achieved = puts / fdatasync calls during the phase (be_util.c counts them;
 *     each LMDB write commit makes one). After the node closed, the count is checked
 *     against the LMDB transaction id of its data file.
 *  2. cairn gets from T threads: linearizable cairn_get, and serializable reads (a one-key
 *     cairn_range with serializable = 1), of random keys written in 1.
 *  3. right after each cairn put phase, raw LMDB writes the same keys in the same order in
 *     exactly as many write commits as cairn made (min(syncs, puts): a commit carries at
 *     least one put), each synced as cairn's store syncs; into two environments: "kv"
 *     (key -> value only) and "log+kv" (also a log record of (key, value) appended per
 *     put, what a minimal replicated KV must write).
 *  4. right after each cairn get phase, raw LMDB gets from T threads: one read transaction
 *     per get (renew, mdb_get, copy out).
 * Interleaving keeps a slow spell of the shared disk from favouring one side. Each phase
 * also records the process's CPU time per op (user / system, all threads) and memory: the
 * peak RSS (VmHWM, reset before the phase) and the peak anonymous RSS (sampled every 10 ms;
 * RSS proper is mostly LMDB's mapped file pages). The node and both environments stay open
 * throughout, so an LMDB phase's memory includes the idle node's. Then a table of medians
 * over the runs with the ratios cairn / LMDB (median of each run's ratio). --quick is the smoke run
 * the tests use. Exits 1 if any phase did nothing, a read returned a wrong value, or no sync was
 * counted.
 */
#include "bench_embed.h"

#include "common.h"

#include <inttypes.h>
#include <lmdb.h>
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum row { R_CPUT, R_KVPUT, R_LOGPUT, R_LIN, R_SER, R_LGET, R_COUNT };

static const char *const row_names[R_COUNT] = {
    [R_CPUT] = "cairn_put",      [R_KVPUT] = "LMDB kv",      [R_LOGPUT] = "LMDB log+kv",
    [R_LIN] = "cairn_get (lin)", [R_SER] = "cairn ser. get", [R_LGET] = "LMDB mdb_get",
};

/* results[row][thread set][run] */
static struct be_result g_res[R_COUNT][BE_TSETS_MAX][BE_RUNS_MAX];
/* data file sizes after the run: cairn, LMDB kv, LMDB log+kv */
static double g_file_mib[3][BE_RUNS_MAX];
static int g_failed;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    CAIRN_ASSERT(n >= 1 && n <= BE_RUNS_MAX);
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum field {
    F_OPS_PER_S,
    F_P50,
    F_P99,
    F_USR_US,
    F_SYS_US,
    F_RSS_MIB,
    F_ANON_MIB,
    F_PER_SYNC,
    F_DISK_KIB
};

static double field_of(const struct be_result *x, enum field f)
{
    switch (f) {
    case F_OPS_PER_S:
        return x->ops_per_s;
    case F_P50:
        return x->p50_us;
    case F_P99:
        return x->p99_us;
    case F_RSS_MIB:
        return (double)x->rss_peak_bytes / (1 << 20);
    case F_ANON_MIB:
        return (double)x->anon_peak_bytes / (1 << 20);
    case F_USR_US:
        return x->usr_us_per_op;
    case F_SYS_US:
        return x->sys_us_per_op;
    case F_DISK_KIB:
        return (double)x->disk_bytes / 1024 / (double)(x->ops ? x->ops : 1);
    case F_PER_SYNC:
        return x->syncs ? (double)x->ops / (double)x->syncs : 0;
    }
    CAIRN_ASSERT(0 && "unknown field");
    return 0;
}

/* The median over runs of one field of one cell. */
static double med(enum row row, int ts, int runs, enum field f)
{
    CAIRN_ASSERT(row < R_COUNT && ts >= 0 && ts < BE_TSETS_MAX);
    double v[BE_RUNS_MAX];
    for (int r = 0; r < runs; r++)
        v[r] = field_of(&g_res[row][ts][r], f);
    return median(v, runs);
}

/* The median over runs of each run's ops/s ratio a / b: a run's cairn phase and the LMDB
 * phase it is compared with ran back to back, so pairing them cancels slow spells of the
 * shared machine that a ratio of medians would not. */
static double ratio_med(enum row a, enum row b, int ts, int runs)
{
    CAIRN_ASSERT(a < R_COUNT && b < R_COUNT && runs >= 1);
    double v[BE_RUNS_MAX];
    for (int r = 0; r < runs; r++) {
        double d = g_res[b][ts][r].ops_per_s;
        v[r] = d > 0 ? g_res[a][ts][r].ops_per_s / d : 0;
    }
    return median(v, runs);
}

static double file_mib(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size / (1 << 20) : 0;
}

/* Write transactions LMDB committed in dir/data.mdb over its life (its last txn id). */
static uint64_t lmdb_txns(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    MDB_env *env;
    MDB_envinfo info;
    if (mdb_env_create(&env) != 0)
        return 0;
    mdb_env_set_maxdbs(env, 16);
    int rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0644);
    if (rc == 0)
        rc = mdb_env_info(env, &info);
    mdb_env_close(env);
    return rc == 0 ? (uint64_t)info.me_last_txnid : 0;
}

static void note(const char *what, int t, const struct be_result *x)
{
    printf("  %-16s T=%-3d %10.0f/s  p50 %8.1f us  p99 %8.1f us  %8" PRIu64 " ops", what, t,
           x->ops_per_s, x->p50_us, x->p99_us, x->ops);
    if (x->syncs)
        printf("  %6" PRIu64 " syncs (%.2f ops/sync, %.2f ms/sync)", x->syncs,
               (double)x->ops / (double)x->syncs, x->seconds * 1e3 / (double)x->syncs);
    if (x->disk_bytes)
        printf("  %.2f KiB written/op", (double)x->disk_bytes / 1024 / (double)x->ops);
    if (x->raft_entries)
        printf("  %" PRIu64 " raft entries", x->raft_entries);
    printf("  cpu usr %.1f sys %.1f us/op  RSS %.1f -> %.1f MiB (anon peak %.1f)\n",
           x->usr_us_per_op, x->sys_us_per_op, (double)x->rss_start_bytes / (1 << 20),
           (double)x->rss_peak_bytes / (1 << 20), (double)x->anon_peak_bytes / (1 << 20));
    fflush(stdout);
    if (x->ops == 0 || x->bad != 0) {
        fprintf(stderr, "bench_embed: %s T=%d: %" PRIu64 " ops, %" PRIu64 " wrong values\n", what,
                t, x->ops, x->bad);
        g_failed = 1;
    }
}

/* One run: the node and both LMDB environments open side by side, each phase of cairn
 * followed at once by the same phase on LMDB, so a slow spell of the shared disk hits both
 * alike. */
static void run_once(const struct be_opts *o, int r)
{
    char *dirs[3] = {be_mkdtemp(o->base_dir, "cairn"), be_mkdtemp(o->base_dir, "lmdbkv"),
                     be_mkdtemp(o->base_dir, "lmdblog")};
    struct be_lmdb *kv = be_lmdb_open(dirs[1], 0), *lg = be_lmdb_open(dirs[2], 1);
    uint64_t syncs0 = be_syncs(), lmdb_syncs = 0;
    double t0 = be_now_s();
    cairn_node *nd = be_cairn_open(dirs[0]);
    printf("run %d/%d: cairn_open %.2f s (%s)\n", r + 1, o->runs, be_now_s() - t0, dirs[0]);
    uint64_t key = 0;
    for (int ts = 0; ts < o->n_threads; ts++) {
        int t = o->threads[ts];
        struct be_result *c = &g_res[R_CPUT][ts][r];
        be_cairn_puts(nd, o, t, key, c);
        note(row_names[R_CPUT], t, c);
        if (c->syncs == 0) {
            fprintf(stderr, "bench_embed: no fdatasync counted: the counter is not in use\n");
            g_failed = 1;
        }
        /* as many commits as cairn made, each with at least one put */
        uint64_t txns = c->syncs < c->ops ? c->syncs : c->ops;
        for (int with_log = 0; with_log <= 1 && c->ops > 0; with_log++) {
            enum row row = with_log ? R_LOGPUT : R_KVPUT;
            be_lmdb_puts(with_log ? lg : kv, o, key, c->ops, txns ? txns : 1, &g_res[row][ts][r]);
            note(row_names[row], t, &g_res[row][ts][r]);
            lmdb_syncs += g_res[row][ts][r].syncs;
        }
        key += c->ops;
    }
    for (int ts = 0; ts < o->n_threads && key > 0; ts++) {
        int t = o->threads[ts];
        be_cairn_gets(nd, o, t, key, 0, &g_res[R_LIN][ts][r]);
        note(row_names[R_LIN], t, &g_res[R_LIN][ts][r]);
        be_cairn_gets(nd, o, t, key, 1, &g_res[R_SER][ts][r]);
        note(row_names[R_SER], t, &g_res[R_SER][ts][r]);
        be_lmdb_gets(kv, o, t, key, &g_res[R_LGET][ts][r]);
        note(row_names[R_LGET], t, &g_res[R_LGET][ts][r]);
    }
    cairn_close(nd);
    be_lmdb_close(kv);
    be_lmdb_close(lg);
    uint64_t syncs = be_syncs() - syncs0 - lmdb_syncs, txns = lmdb_txns(dirs[0]);
    /* a lone voter commits an append-only Ready without a sync (its apply's synced commit
     * covers both), so there may be more write txns than syncs, never fewer */
    printf("  cairn: %" PRIu64 " fdatasync calls counted, %" PRIu64
           " LMDB write txns in its data file%s\n",
           syncs, txns, syncs <= txns ? "" : "  (MISMATCH: the puts/sync figures are suspect)");
    for (int i = 0; i < 3; i++) {
        g_file_mib[i][r] = file_mib(dirs[i]);
        be_rmtree(dirs[i]);
    }
    mi_collect(true); /* the next run starts without this one's freed heap */
}

static void print_row(const struct be_opts *o, enum row row, int ts, const char *ratio)
{
    int runs = o->runs;
    double ops = med(row, ts, runs, F_OPS_PER_S);
    double p50 = med(row, ts, runs, F_P50);
    double p99 = med(row, ts, runs, F_P99);
    char rss[32];
    snprintf(rss, sizeof(rss), "%.0f (%.0f)", med(row, ts, runs, F_RSS_MIB),
             med(row, ts, runs, F_ANON_MIB));
    printf("%-16s %4d %11.0f %9.1f %9.1f", row_names[row], o->threads[ts], ops, p50, p99);
    if (row <= R_LOGPUT) {
        printf(" %10.2f %8.2f", med(row, ts, runs, F_PER_SYNC), med(row, ts, runs, F_DISK_KIB));
    } else {
        printf(" %10s %8s", "", "");
    }
    char cpu[32];
    snprintf(cpu, sizeof(cpu), "%.1f/%.1f", med(row, ts, runs, F_USR_US),
             med(row, ts, runs, F_SYS_US));
    printf(" %13s %12s   %s\n", cpu, rss, ratio);
}

static void print_table(const struct be_opts *o)
{
    int runs = o->runs;
    printf("\nbench_embed: medians of %d run%s; %d-byte keys, %zu-byte values; puts %.2f s, gets "
           "%.2f s per phase; data under %s\n",
           runs, runs > 1 ? "s" : "", BE_KEY_BYTES, o->value_bytes, o->put_seconds, o->get_seconds,
           o->base_dir);
    printf("%-16s %4s %11s %9s %9s %10s %8s %13s %12s   %s\n", "", "T", "ops/s", "p50 us", "p99 us",
           "puts/sync", "disk KiB", "CPU us/op", "peak RSS MiB", "cairn / LMDB ops/s");
    printf("%-16s %4s %11s %9s %9s %10s %8s %13s %12s   %s\n", "", "", "", "", "", "", "per put",
           "usr/sys", "(anon)", "(median of per-run ratios)");
    for (int ts = 0; ts < o->n_threads; ts++) {
        char ratio[96];
        snprintf(ratio, sizeof(ratio), "%.2f of LMDB kv, %.2f of LMDB log+kv",
                 ratio_med(R_CPUT, R_KVPUT, ts, runs), ratio_med(R_CPUT, R_LOGPUT, ts, runs));
        print_row(o, R_CPUT, ts, ratio);
        print_row(o, R_KVPUT, ts, "");
        print_row(o, R_LOGPUT, ts, "");
    }
    printf("\n");
    for (int ts = 0; ts < o->n_threads; ts++) {
        char ratio[64];
        snprintf(ratio, sizeof(ratio), "%.2f of LMDB", ratio_med(R_LIN, R_LGET, ts, runs));
        print_row(o, R_LIN, ts, ratio);
        snprintf(ratio, sizeof(ratio), "%.2f of LMDB", ratio_med(R_SER, R_LGET, ts, runs));
        print_row(o, R_SER, ts, ratio);
        print_row(o, R_LGET, ts, "");
    }
    double f[3][BE_RUNS_MAX];
    memcpy(f, g_file_mib, sizeof(f));
    printf("\ndata file after the puts (MiB): cairn %.1f, LMDB kv %.1f, LMDB log+kv %.1f\n",
           median(f[0], runs), median(f[1], runs), median(f[2], runs));
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: bench_embed [--quick] [--runs R] [--threads 1,16,64] [--put-seconds S]\n"
        "                   [--get-seconds S] [--value-bytes N] [--dir D]\n"
        "  --quick: a smoke run (1 run, threads 1,8, 0.3 s puts, 0.2 s gets); options after it\n"
        "  override it\n");
}

static int parse_threads(const char *s, struct be_opts *o)
{
    o->n_threads = 0;
    for (int i = 0; *s && i < BE_TSETS_MAX + 1; i++) {
        char *end;
        long t = strtol(s, &end, 10);
        if (end == s || t < 1 || t > BE_THREADS_MAX || o->n_threads == BE_TSETS_MAX)
            return -1;
        o->threads[o->n_threads++] = (int)t;
        s = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0')
            return -1;
    }
    return o->n_threads > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct be_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->runs = 1;
            o->put_seconds = 0.3;
            o->get_seconds = 0.2;
            (void)parse_threads("1,8", o);
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--runs") == 0)
            o->runs = atoi(v);
        else if (strcmp(a, "--put-seconds") == 0)
            o->put_seconds = atof(v);
        else if (strcmp(a, "--get-seconds") == 0)
            o->get_seconds = atof(v);
        else if (strcmp(a, "--value-bytes") == 0)
            o->value_bytes = (size_t)atol(v);
        else if (strcmp(a, "--dir") == 0)
            o->base_dir = v;
        else if (strcmp(a, "--threads") != 0 || parse_threads(v, o) < 0)
            return -1;
    }
    if (o->runs < 1 || o->runs > BE_RUNS_MAX || o->put_seconds <= 0 || o->get_seconds <= 0 ||
        o->value_bytes > (1u << 20))
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct be_opts o = {
        .runs = 3, .put_seconds = 3, .get_seconds = 2, .value_bytes = 256, .base_dir = "/tmp"};
    (void)parse_threads("1,16,64", &o);
    if (parse_args(argc, argv, &o) < 0) {
        usage();
        return 2;
    }
    be_mem_start();
    for (int r = 0; r < o.runs; r++)
        run_once(&o, r);
    be_mem_stop();
    print_table(&o);
    if (g_failed) {
        fprintf(stderr, "bench_embed: FAILED (see above)\n");
        return 1;
    }
    return 0;
}
