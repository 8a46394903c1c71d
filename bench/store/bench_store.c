/*
 * bench_store — what store/ costs over raw LMDB.
 *
 * For batches of 1, 100 and 1000 puts per write transaction (fsync on, as in production):
 *   raw     LMDB puts of the same keys and values into one plain database
 *   apply   store_batch_apply of PutRequests (MVCC index + history + meta), one commit
 *   full    the node's path: append the raft entries (the packed requests) + hard state +
 *           apply, one commit
 * and the ratio raw/apply. Then range-scan keys/s over a loaded store (and a raw cursor).
 * Each figure is the median of --runs runs of --seconds each.
 *
 * Usage: bench_store [--seconds S] [--runs R] [--value-bytes N] [--scan-keys N] [--dir D]
 */
#include "store.h"

#include "common.h"

#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KEY_BYTES 19
#define RUNS_MAX  15

static double g_seconds = 2.0;
static int g_runs = 3;
static size_t g_value_bytes = 100;
static size_t g_scan_keys = 200000;
static const char *g_base = "/tmp";
static uint64_t g_rng = 0x2545F4914F6CDD1DULL;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* Random 19-byte keys: "k-" + 17 hex digits (spread over the whole tree, like the
 * LMDB figures in TOOLCHAIN.md). */
static void rand_key(char out[KEY_BYTES + 1])
{
    snprintf(out, KEY_BYTES + 1, "k-%017" PRIx64, (uint64_t)(rnd() & 0x0FFFFFFFFFFFFFFFULL));
}

static char *mkdir_tmp(const char *tag)
{
    char *p = malloc(512);
    CAIRN_ASSERT(p != NULL);
    snprintf(p, 512, "%s/cairn-bench-store-%s-XXXXXX", g_base, tag);
    CAIRN_ASSERT(mkdtemp(p) != NULL);
    return p;
}

static void rm_tmp(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- raw LMDB ---- */

static double run_raw(int batch, const char *value)
{
    char *dir = mkdir_tmp("raw");
    char path[600];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    CAIRN_ASSERT(mdb_env_create(&env) == 0);
    CAIRN_ASSERT(mdb_env_set_mapsize(env, 8ULL << 30) == 0);
    CAIRN_ASSERT(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOTLS, 0644) == 0);
    CAIRN_ASSERT(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CAIRN_ASSERT(mdb_dbi_open(txn, NULL, 0, &dbi) == 0);
    CAIRN_ASSERT(mdb_txn_commit(txn) == 0);
    uint64_t puts = 0;
    double t0 = now_s(), t1;
    do {
        CAIRN_ASSERT(mdb_txn_begin(env, NULL, 0, &txn) == 0);
        for (int i = 0; i < batch; i++) {
            char key[KEY_BYTES + 1];
            rand_key(key);
            MDB_val k = {KEY_BYTES, key}, d = {g_value_bytes, (void *)value};
            CAIRN_ASSERT(mdb_put(txn, dbi, &k, &d, 0) == 0);
        }
        CAIRN_ASSERT(mdb_txn_commit(txn) == 0);
        puts += (uint64_t)batch;
        t1 = now_s();
    } while (t1 - t0 < g_seconds);
    mdb_env_close(env);
    rm_tmp(dir);
    return (double)puts / (t1 - t0);
}

/* ---- store ---- */

struct put_batch {
    int n;
    char (*keys)[KEY_BYTES + 1];
    Etcdserverpb__PutRequest *reqs;
    struct store_op *ops;
    struct store_result *res;
    struct raft_entry *ents;
    uint8_t *payload; /* n packed requests */
    size_t payload_stride;
};

static void batch_init(struct put_batch *pb, int n, const char *value)
{
    pb->n = n;
    pb->keys = calloc((size_t)n, sizeof(*pb->keys));
    pb->reqs = calloc((size_t)n, sizeof(*pb->reqs));
    pb->ops = calloc((size_t)n, sizeof(*pb->ops));
    pb->res = calloc((size_t)n, sizeof(*pb->res));
    pb->ents = calloc((size_t)n, sizeof(*pb->ents));
    pb->payload_stride = g_value_bytes + KEY_BYTES + 16;
    pb->payload = calloc((size_t)n, pb->payload_stride);
    CAIRN_ASSERT(pb->keys && pb->reqs && pb->ops && pb->res && pb->ents && pb->payload);
    for (int i = 0; i < n; i++) {
        etcdserverpb__put_request__init(&pb->reqs[i]);
        pb->reqs[i].key.data = (uint8_t *)pb->keys[i];
        pb->reqs[i].key.len = KEY_BYTES;
        pb->reqs[i].value.data = (uint8_t *)value;
        pb->reqs[i].value.len = g_value_bytes;
        pb->ops[i].kind = STORE_OP_PUT;
        pb->ops[i].put = &pb->reqs[i];
    }
}

static void batch_free(struct put_batch *pb)
{
    free(pb->keys);
    free(pb->reqs);
    free(pb->ops);
    free(pb->res);
    free(pb->ents);
    free(pb->payload);
}

static struct store *open_store(const char *dir)
{
    struct store_config cfg = {0};
    cfg.dir = dir;
    struct store *s;
    int rc = store_open(&cfg, &s);
    if (rc != 0) {
        fprintf(stderr, "store_open: %s\n", cairn_strerror(rc));
        exit(1);
    }
    return s;
}

/* One batch of puts: with_log also appends the raft entries and the hard state. */
static void store_batch_once(struct store *s, struct put_batch *pb, uint64_t *index,
                             struct store_arena *ar, int with_log)
{
    struct store_batch *b;
    CAIRN_ASSERT(store_batch_begin(s, 0, &b) == 0);
    uint64_t first = *index + 1;
    for (int i = 0; i < pb->n; i++) {
        rand_key(pb->keys[i]);
        if (with_log) {
            uint8_t *p = pb->payload + (size_t)i * pb->payload_stride;
            size_t len = etcdserverpb__put_request__pack(&pb->reqs[i], p);
            CAIRN_ASSERT(len <= pb->payload_stride);
            pb->ents[i] =
                (struct raft_entry){1, first + (uint64_t)i, RAFT_ENTRY_NORMAL, (uint32_t)len, p};
        }
    }
    if (with_log) {
        struct raft_hard_state hs = {1, 1, first + (uint64_t)pb->n - 1};
        CAIRN_ASSERT(store_batch_append(b, pb->ents, (size_t)pb->n) == 0);
        CAIRN_ASSERT(store_batch_set_hard_state(b, &hs) == 0);
    }
    for (int i = 0; i < pb->n; i++)
        CAIRN_ASSERT(store_batch_apply(b, first + (uint64_t)i, 1, &pb->ops[i],
                                       store_arena_allocator(ar), &pb->res[i]) == 0);
    CAIRN_ASSERT(store_batch_commit(b) == 0);
    for (int i = 0; i < pb->n; i++)
        CAIRN_ASSERT(pb->res[i].err == 0);
    *index += (uint64_t)pb->n;
    store_arena_reset(ar);
}

static double run_store(int batch, const char *value, int with_log)
{
    char *dir = mkdir_tmp("store");
    struct store *s = open_store(dir);
    struct put_batch pb;
    batch_init(&pb, batch, value);
    struct store_arena ar;
    store_arena_init(&ar, 1 << 20);
    uint64_t index = 0;
    double t0 = now_s(), t1;
    do {
        store_batch_once(s, &pb, &index, &ar, with_log);
        t1 = now_s();
    } while (t1 - t0 < g_seconds);
    double rate = (double)index / (t1 - t0);
    store_close(s);
    store_arena_destroy(&ar);
    batch_free(&pb);
    rm_tmp(dir);
    return rate;
}

/* ---- range scans ---- */

static void run_scans(const char *value)
{
    char *dir = mkdir_tmp("scan");
    struct store *s = open_store(dir);
    struct put_batch pb;
    batch_init(&pb, 1000, value);
    struct store_arena ar;
    store_arena_init(&ar, 1 << 20);
    uint64_t index = 0;
    double tl = now_s();
    while (index < g_scan_keys)
        store_batch_once(s, &pb, &index, &ar, 0);
    tl = now_s() - tl;
    /* every key: "k-" .. "k." */
    Etcdserverpb__RangeRequest q = ETCDSERVERPB__RANGE_REQUEST__INIT;
    q.key.data = (uint8_t *)"k-";
    q.key.len = 2;
    q.range_end.data = (uint8_t *)"k.";
    q.range_end.len = 2;
    double full[RUNS_MAX], page[RUNS_MAX], raw[RUNS_MAX];
    int64_t count = 0;
    for (int run = 0; run < g_runs; run++) {
        struct store_read *r;
        Etcdserverpb__RangeResponse *resp;
        double t0 = now_s();
        CAIRN_ASSERT(store_read_begin(s, &r) == 0);
        q.limit = 0;
        CAIRN_ASSERT(store_range(r, &q, store_arena_allocator(&ar), &resp) == 0);
        store_read_end(r);
        full[run] = (double)resp->n_kvs / (now_s() - t0);
        count = resp->count;
        store_arena_reset(&ar);
        /* pages of 1000 from random starting keys: each response also counts the range,
         * as etcd does, so this is the cost a paginating client pays */
        Etcdserverpb__RangeRequest pq = ETCDSERVERPB__RANGE_REQUEST__INIT;
        char start[KEY_BYTES + 1];
        uint64_t got = 0;
        t0 = now_s();
        for (int i = 0; i < 20; i++) {
            rand_key(start);
            pq.key.data = (uint8_t *)start;
            pq.key.len = KEY_BYTES;
            pq.range_end = q.range_end;
            pq.limit = 1000;
            CAIRN_ASSERT(store_read_begin(s, &r) == 0);
            CAIRN_ASSERT(store_range(r, &pq, store_arena_allocator(&ar), &resp) == 0);
            got += resp->n_kvs;
            store_read_end(r);
            store_arena_reset(&ar);
        }
        page[run] = (double)got / (now_s() - t0);
        raw[run] = 0;
    }
    /* raw cursor over a plain LMDB copy of the same keys, for scale */
    {
        char *rdir = mkdir_tmp("rawscan");
        char path[600];
        snprintf(path, sizeof(path), "%s/data.mdb", rdir);
        MDB_env *env;
        MDB_dbi dbi;
        MDB_txn *txn;
        CAIRN_ASSERT(mdb_env_create(&env) == 0);
        CAIRN_ASSERT(mdb_env_set_mapsize(env, 8ULL << 30) == 0);
        CAIRN_ASSERT(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC, 0644) == 0);
        CAIRN_ASSERT(mdb_txn_begin(env, NULL, 0, &txn) == 0);
        CAIRN_ASSERT(mdb_dbi_open(txn, NULL, 0, &dbi) == 0);
        for (size_t i = 0; i < g_scan_keys; i++) {
            char key[KEY_BYTES + 1];
            rand_key(key);
            MDB_val k = {KEY_BYTES, key}, d = {g_value_bytes, (void *)value};
            CAIRN_ASSERT(mdb_put(txn, dbi, &k, &d, 0) == 0);
        }
        CAIRN_ASSERT(mdb_txn_commit(txn) == 0);
        for (int run = 0; run < g_runs; run++) {
            double t0 = now_s();
            MDB_cursor *c;
            MDB_val k, d;
            uint64_t n = 0, sum = 0;
            CAIRN_ASSERT(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
            CAIRN_ASSERT(mdb_cursor_open(txn, dbi, &c) == 0);
            for (int rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
                 rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
                sum += ((const uint8_t *)d.mv_data)[0];
                n++;
            }
            mdb_cursor_close(c);
            mdb_txn_abort(txn);
            raw[run] = (double)n / (now_s() - t0);
            CAIRN_ASSERT(sum > 0);
        }
        mdb_env_close(env);
        rm_tmp(rdir);
    }
    printf("\nrange scans over %" PRId64 " keys (%zu-byte values; loaded in %.1f s):\n", count,
           g_value_bytes, tl);
    printf("  store_range, whole range (count + %" PRId64 " kvs)  %12.0f keys/s\n", count,
           median(full, g_runs));
    printf("  store_range, pages of 1000 (+ count of the rest) %12.0f keys/s\n",
           median(page, g_runs));
    printf("  raw LMDB cursor walk (for scale)                 %12.0f keys/s\n",
           median(raw, g_runs));
    store_close(s);
    store_arena_destroy(&ar);
    batch_free(&pb);
    rm_tmp(dir);
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            g_seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--runs") == 0)
            g_runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--value-bytes") == 0)
            g_value_bytes = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "--scan-keys") == 0)
            g_scan_keys = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "--dir") == 0)
            g_base = argv[i + 1];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (g_runs < 1 || g_runs > RUNS_MAX || g_seconds <= 0) {
        fprintf(stderr, "bad --runs or --seconds\n");
        return 2;
    }
    char *value = malloc(g_value_bytes + 1);
    CAIRN_ASSERT(value != NULL);
    for (size_t i = 0; i < g_value_bytes; i++)
        value[i] = (char)('a' + i % 26);
    printf("bench_store: %d-byte random keys, %zu-byte values, fsync per commit, median of %d "
           "runs x %.1f s\n\n",
           KEY_BYTES, g_value_bytes, g_runs, g_seconds);
    printf("%-6s %14s %14s %14s %10s %10s\n", "batch", "raw LMDB/s", "store apply/s", "log+apply/s",
           "raw/apply", "raw/full");
    const int batches[] = {1, 100, 1000};
    for (size_t b = 0; b < CAIRN_ARRAY_LEN(batches); b++) {
        double raw[RUNS_MAX], app[RUNS_MAX], full[RUNS_MAX];
        for (int r = 0; r < g_runs; r++) {
            raw[r] = run_raw(batches[b], value);
            app[r] = run_store(batches[b], value, 0);
            full[r] = run_store(batches[b], value, 1);
        }
        double mr = median(raw, g_runs), ma = median(app, g_runs), mf = median(full, g_runs);
        printf("%-6d %14.0f %14.0f %14.0f %10.2f %10.2f\n", batches[b], mr, ma, mf, mr / ma,
               mr / mf);
        fflush(stdout);
    }
    run_scans(value);
    free(value);
    return 0;
}
