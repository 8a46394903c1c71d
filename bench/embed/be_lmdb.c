/*
 * bench_embed: the raw LMDB side. The environment is opened as cairn's store opens its own
 * (store/store_env.c: MDB_NOSUBDIR | MDB_NOTLS, no NOSYNC / NOMETASYNC / WRITEMAP, so every
 * commit is an fdatasync of the data file plus an O_DSYNC meta page write), on the same
 * filesystem. Differences kept on purpose: the map is sized once (4 GiB of address space)
 * where the store starts at 64 MiB and doubles, and there is one writer thread, since LMDB
 * has one writer anyway.
 */
#include "bench_embed.h"

#include "common.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_BYTES    (4ULL << 30)
#define READERS_MAX  (BE_THREADS_MAX + 16)
#define LOG_HDR_SIZE 2 /* u16 key length, then key, then value */

struct be_lmdb {
    MDB_env *env;
    MDB_dbi kv;
    MDB_dbi log;
    int with_log;
    uint64_t next_index; /* the next log index to append */
};

static void check(int rc, const char *what)
{
    if (rc != 0)
        be_die("%s: %s", what, mdb_strerror(rc));
}

struct be_lmdb *be_lmdb_open(const char *dir, int with_log)
{
    CAIRN_ASSERT(dir != NULL);
    struct be_lmdb *l = calloc(1, sizeof(*l));
    CAIRN_ASSERT(l != NULL);
    l->with_log = with_log;
    l->next_index = 1;
    size_t n = strlen(dir) + 16;
    char *path = malloc(n);
    CAIRN_ASSERT(path != NULL);
    snprintf(path, n, "%s/data.mdb", dir);
    check(mdb_env_create(&l->env), "mdb_env_create");
    check(mdb_env_set_maxdbs(l->env, 4), "mdb_env_set_maxdbs");
    check(mdb_env_set_maxreaders(l->env, READERS_MAX), "mdb_env_set_maxreaders");
    check(mdb_env_set_mapsize(l->env, MAP_BYTES), "mdb_env_set_mapsize");
    check(mdb_env_open(l->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0644), "mdb_env_open");
    free(path);
    MDB_txn *txn;
    check(mdb_txn_begin(l->env, NULL, 0, &txn), "mdb_txn_begin");
    check(mdb_dbi_open(txn, "kv", MDB_CREATE, &l->kv), "mdb_dbi_open kv");
    if (with_log)
        check(mdb_dbi_open(txn, "log", MDB_CREATE, &l->log), "mdb_dbi_open log");
    check(mdb_txn_commit(txn), "mdb_txn_commit");
    return l;
}

void be_lmdb_close(struct be_lmdb *l)
{
    if (!l)
        return;
    mdb_env_close(l->env);
    free(l);
}

/* One put: the pair, and with the log the record (key, value) at the next index. */
static void put_one(struct be_lmdb *l, MDB_txn *txn, uint64_t i, uint8_t *value, size_t vbytes,
                    uint8_t *rec)
{
    char key[BE_KEY_BYTES];
    be_key(i, key);
    be_value(i, value, vbytes);
    MDB_val k = {sizeof(key), key}, v = {vbytes, value};
    check(mdb_put(txn, l->kv, &k, &v, 0), "mdb_put kv");
    if (!l->with_log)
        return;
    uint8_t idx[8];
    for (int b = 0; b < 8; b++) /* big-endian: appends stay in key order */
        idx[b] = (uint8_t)(l->next_index >> (56 - 8 * b));
    rec[0] = (uint8_t)(BE_KEY_BYTES >> 8);
    rec[1] = (uint8_t)BE_KEY_BYTES;
    memcpy(rec + LOG_HDR_SIZE, key, BE_KEY_BYTES);
    memcpy(rec + LOG_HDR_SIZE + BE_KEY_BYTES, value, vbytes);
    MDB_val lk = {sizeof(idx), idx}, lv = {LOG_HDR_SIZE + BE_KEY_BYTES + vbytes, rec};
    check(mdb_put(txn, l->log, &lk, &lv, MDB_APPEND), "mdb_put log");
    l->next_index++;
}

void be_lmdb_puts(struct be_lmdb *l, const struct be_opts *o, uint64_t first_key, uint64_t n_puts,
                  uint64_t n_txns, struct be_result *out)
{
    CAIRN_ASSERT(l != NULL && o != NULL && out != NULL);
    CAIRN_ASSERT(n_txns >= 1 && n_txns <= n_puts);
    size_t vbytes = o->value_bytes;
    uint8_t *value = malloc(vbytes + 1);
    uint8_t *rec = malloc(LOG_HDR_SIZE + BE_KEY_BYTES + vbytes);
    struct be_hist *h = calloc(1, sizeof(*h));
    CAIRN_ASSERT(value != NULL && rec != NULL && h != NULL);
    memset(out, 0, sizeof(*out));
    be_mem_begin(out);
    uint64_t syncs0 = be_syncs(), disk0 = be_disk_bytes();
    struct be_cpu cpu0 = be_cpu_now();
    uint64_t t0 = be_now_ns(), t = t0;
    uint64_t i = first_key, acc = 0;
    for (uint64_t j = 0; j < n_txns; j++) {
        /* sizes floor/ceil of n_puts / n_txns, summing to n_puts exactly */
        acc += n_puts;
        uint64_t size = acc / n_txns;
        acc -= size * n_txns;
        MDB_txn *txn;
        check(mdb_txn_begin(l->env, NULL, 0, &txn), "mdb_txn_begin");
        for (uint64_t k = 0; k < size; k++)
            put_one(l, txn, i++, value, vbytes, rec);
        check(mdb_txn_commit(txn), "mdb_txn_commit");
        uint64_t t1 = be_now_ns();
        /* each put of the txn is acknowledged at its commit */
        if (size > 0)
            be_hist_add(h, t1 - t, size);
        t = t1;
    }
    CAIRN_ASSERT(i - first_key == n_puts && acc == 0);
    out->ops = n_puts;
    out->txns = n_txns;
    out->seconds = (double)(be_now_ns() - t0) / 1e9;
    out->syncs = be_syncs() - syncs0;
    out->disk_bytes = be_disk_bytes() - disk0;
    be_cpu_per_op(&cpu0, n_puts, out);
    be_mem_end(out);
    out->ops_per_s = (double)n_puts / out->seconds;
    out->p50_us = be_hist_quantile_us(h, 0.50);
    out->p99_us = be_hist_quantile_us(h, 0.99);
    free(h);
    free(rec);
    free(value);
}

/* ---- gets ---- */

struct reader {
    struct be_lmdb *l;
    const struct be_opts *o;
    pthread_barrier_t *start;
    const uint64_t *deadline_ns;
    uint64_t n_keys;
    uint64_t seed;
    uint64_t ops, bad;
    struct be_hist hist;
};

static void *get_worker(void *arg)
{
    struct reader *r = arg;
    size_t vbytes = r->o->value_bytes;
    uint8_t *buf = malloc(vbytes + 1);
    MDB_txn *txn;
    CAIRN_ASSERT(buf != NULL && r->n_keys > 0);
    check(mdb_txn_begin(r->l->env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin read");
    mdb_txn_reset(txn); /* a reset handle: each get renews it (a fresh snapshot) */
    pthread_barrier_wait(r->start);
    uint64_t deadline = *r->deadline_ns, t = be_now_ns();
    while (t < deadline && r->ops < BE_OPS_MAX) {
        uint64_t i = be_rand(&r->seed) % r->n_keys;
        char key[BE_KEY_BYTES];
        be_key(i, key);
        check(mdb_txn_renew(txn), "mdb_txn_renew");
        MDB_val k = {sizeof(key), key}, v;
        int rc = mdb_get(txn, r->l->kv, &k, &v);
        size_t len = 0;
        if (rc == 0) {
            len = v.mv_size; /* copied out: the pointer dies with the txn, as cairn's does */
            memcpy(buf, v.mv_data, len <= vbytes ? len : vbytes);
        } else if (rc != MDB_NOTFOUND) {
            check(rc, "mdb_get");
        }
        mdb_txn_reset(txn);
        uint64_t t1 = be_now_ns();
        be_hist_add(&r->hist, t1 - t, 1);
        r->ops++;
        r->bad += !(rc == 0 && be_value_ok(i, buf, len, vbytes));
        t = t1;
    }
    mdb_txn_abort(txn);
    free(buf);
    return NULL;
}

void be_lmdb_gets(struct be_lmdb *l, const struct be_opts *o, int threads, uint64_t n_keys,
                  struct be_result *out)
{
    CAIRN_ASSERT(l != NULL && threads >= 1 && threads <= BE_THREADS_MAX && n_keys > 0);
    struct reader *rs = calloc((size_t)threads, sizeof(*rs));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    struct be_hist *all = calloc(1, sizeof(*all));
    CAIRN_ASSERT(rs != NULL && tids != NULL && all != NULL);
    pthread_barrier_t start;
    uint64_t deadline_ns = 0;
    CAIRN_ASSERT(pthread_barrier_init(&start, NULL, (unsigned)threads + 1) == 0);
    for (int i = 0; i < threads; i++) {
        rs[i] = (struct reader){.l = l, .o = o, .start = &start, .deadline_ns = &deadline_ns};
        rs[i].n_keys = n_keys;
        rs[i].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) + 1; /* as be_cairn.c */
        if (pthread_create(&tids[i], NULL, get_worker, &rs[i]) != 0)
            be_die("pthread_create");
    }
    memset(out, 0, sizeof(*out));
    be_mem_begin(out);
    struct be_cpu cpu0 = be_cpu_now();
    uint64_t t0 = be_now_ns();
    deadline_ns = t0 + (uint64_t)(o->get_seconds * 1e9);
    pthread_barrier_wait(&start);
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        be_hist_merge(all, &rs[i].hist);
        out->ops += rs[i].ops;
        out->bad += rs[i].bad;
    }
    out->seconds = (double)(be_now_ns() - t0) / 1e9;
    be_cpu_per_op(&cpu0, out->ops, out);
    be_mem_end(out);
    out->ops_per_s = (double)out->ops / out->seconds;
    out->p50_us = be_hist_quantile_us(all, 0.50);
    out->p99_us = be_hist_quantile_us(all, 0.99);
    pthread_barrier_destroy(&start);
    free(all);
    free(rs);
    free(tids);
}
