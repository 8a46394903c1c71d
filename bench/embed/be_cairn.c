/* bench_embed: the embedded node's phases (synchronous puts and gets from T threads). */
#include "bench_embed.h"

#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cairn_node *be_cairn_open(const char *dir)
{
    CAIRN_ASSERT(dir != NULL);
    cairn_config *cfg;
    cairn_node *nd = NULL;
    if (cairn_config_new(&cfg) < 0)
        be_die("cairn_config_new: %s", cairn_errmsg());
    /* the embedded defaults otherwise: one member, no listener, fsync on every commit */
    if (cairn_config_set(cfg, "data-dir", dir) < 0)
        be_die("data-dir: %s", cairn_errmsg());
    if (cairn_open(cfg, &nd) < 0)
        be_die("cairn_open %s: %s", dir, cairn_errmsg());
    cairn_config_free(cfg);
    CAIRN_ASSERT(nd != NULL);
    return nd;
}

static uint64_t raft_index(cairn_node *nd)
{
    struct cairn_status st;
    if (cairn_status(nd, &st) < 0)
        be_die("cairn_status: %s", cairn_errmsg());
    return st.raft_index;
}

/* One phase's shared state: threads start together and stop at the deadline. */
struct phase {
    cairn_node *nd;
    const struct be_opts *o;
    pthread_barrier_t start;
    uint64_t deadline_ns;          /* written before the barrier */
    atomic_uint_fast64_t next_key; /* puts: the next key number to write */
    uint64_t n_keys;               /* gets: keys 0 .. n_keys-1 exist */
    int serializable;
};

struct worker {
    struct phase *ph;
    uint64_t seed;
    uint64_t ops;
    uint64_t bad;
    struct be_hist hist;
};

static void *put_worker(void *arg)
{
    struct worker *w = arg;
    struct phase *ph = w->ph;
    size_t vbytes = ph->o->value_bytes;
    uint8_t *value = malloc(vbytes + 1);
    CAIRN_ASSERT(value != NULL);
    pthread_barrier_wait(&ph->start);
    uint64_t t = be_now_ns();
    while (t < ph->deadline_ns && w->ops < BE_OPS_MAX) {
        uint64_t i = atomic_fetch_add(&ph->next_key, 1);
        char key[BE_KEY_BYTES];
        be_key(i, key);
        be_value(i, value, vbytes);
        int rc = cairn_put(ph->nd, key, sizeof(key), value, vbytes, 0, NULL);
        if (rc < 0)
            be_die("cairn_put: %s (%s)", cairn_strerror(rc), cairn_errmsg());
        uint64_t t1 = be_now_ns();
        be_hist_add(&w->hist, t1 - t, 1);
        w->ops++;
        t = t1;
    }
    free(value);
    return NULL;
}

/* A serializable read of one key: the embedded API has it as a one-key range. */
static int get_serializable(cairn_node *nd, const char *key, uint8_t *buf, size_t cap, size_t *len)
{
    struct cairn_range_options ro;
    memset(&ro, 0, sizeof(ro));
    ro.serializable = 1;
    cairn_iter *it;
    int rc = cairn_range(nd, key, BE_KEY_BYTES, &ro, &it);
    if (rc < 0)
        return rc;
    struct cairn_kv kv;
    rc = cairn_iter_next(it, &kv);
    if (rc == 1) {
        *len = kv.value_len;
        memcpy(buf, kv.value, kv.value_len < cap ? kv.value_len : cap);
        rc = 0;
    } else if (rc == 0) {
        rc = CAIRN_ENOTFOUND;
    }
    cairn_iter_free(it);
    return rc;
}

static void *get_worker(void *arg)
{
    struct worker *w = arg;
    struct phase *ph = w->ph;
    size_t vbytes = ph->o->value_bytes;
    uint8_t *buf = malloc(vbytes + 1);
    CAIRN_ASSERT(buf != NULL && ph->n_keys > 0);
    pthread_barrier_wait(&ph->start);
    uint64_t t = be_now_ns();
    while (t < ph->deadline_ns && w->ops < BE_OPS_MAX) {
        uint64_t i = be_rand(&w->seed) % ph->n_keys;
        char key[BE_KEY_BYTES];
        be_key(i, key);
        int rc;
        int ok;
        if (ph->serializable) {
            size_t len = 0;
            rc = get_serializable(ph->nd, key, buf, vbytes + 1, &len);
            ok = rc == 0 && be_value_ok(i, buf, len, vbytes);
        } else {
            void *v = NULL;
            size_t len = 0;
            rc = cairn_get(ph->nd, key, sizeof(key), &v, &len, NULL);
            ok = rc == 0 && be_value_ok(i, v, len, vbytes);
            cairn_free(v);
        }
        if (rc < 0)
            be_die("cairn get: %s (%s)", cairn_strerror(rc), cairn_errmsg());
        uint64_t t1 = be_now_ns();
        be_hist_add(&w->hist, t1 - t, 1);
        w->ops++;
        w->bad += !ok;
        t = t1;
    }
    free(buf);
    return NULL;
}

/* Start threads workers on fn, release them together, join, and sum up into out. */
static void run_phase(struct phase *ph, int threads, double seconds, void *(*fn)(void *),
                      struct be_result *out)
{
    CAIRN_ASSERT(threads >= 1 && threads <= BE_THREADS_MAX && seconds > 0);
    struct worker *ws = calloc((size_t)threads, sizeof(*ws));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    CAIRN_ASSERT(ws != NULL && tids != NULL);
    CAIRN_ASSERT(pthread_barrier_init(&ph->start, NULL, (unsigned)threads + 1) == 0);
    for (int i = 0; i < threads; i++) {
        ws[i].ph = ph;
        ws[i].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) + 1;
        if (pthread_create(&tids[i], NULL, fn, &ws[i]) != 0)
            be_die("pthread_create");
    }
    memset(out, 0, sizeof(*out));
    be_mem_begin(out);
    uint64_t syncs0 = be_syncs(), disk0 = be_disk_bytes();
    struct be_cpu cpu0 = be_cpu_now();
    uint64_t t0 = be_now_ns();
    ph->deadline_ns = t0 + (uint64_t)(seconds * 1e9);
    pthread_barrier_wait(&ph->start);
    struct be_hist *all = calloc(1, sizeof(*all));
    CAIRN_ASSERT(all != NULL);
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        be_hist_merge(all, &ws[i].hist);
        out->ops += ws[i].ops;
        out->bad += ws[i].bad;
    }
    out->seconds = (double)(be_now_ns() - t0) / 1e9;
    out->syncs = be_syncs() - syncs0;
    out->disk_bytes = be_disk_bytes() - disk0;
    be_cpu_per_op(&cpu0, out->ops, out);
    be_mem_end(out);
    out->ops_per_s = (double)out->ops / out->seconds;
    out->p50_us = be_hist_quantile_us(all, 0.50);
    out->p99_us = be_hist_quantile_us(all, 0.99);
    CAIRN_ASSERT(all->n == out->ops);
    pthread_barrier_destroy(&ph->start);
    free(all);
    free(ws);
    free(tids);
}

void be_cairn_puts(cairn_node *nd, const struct be_opts *o, int threads, uint64_t first_key,
                   struct be_result *out)
{
    CAIRN_ASSERT(nd != NULL && o != NULL);
    struct phase ph;
    memset(&ph, 0, sizeof(ph));
    ph.nd = nd;
    ph.o = o;
    atomic_init(&ph.next_key, first_key);
    uint64_t idx0 = raft_index(nd);
    run_phase(&ph, threads, o->put_seconds, put_worker, out);
    out->raft_entries = raft_index(nd) - idx0;
    /* every key number handed out was written (a failed put ends the program) */
    CAIRN_ASSERT(atomic_load(&ph.next_key) - first_key == out->ops);
}

void be_cairn_gets(cairn_node *nd, const struct be_opts *o, int threads, uint64_t n_keys,
                   int serializable, struct be_result *out)
{
    CAIRN_ASSERT(nd != NULL && n_keys > 0);
    struct phase ph;
    memset(&ph, 0, sizeof(ph));
    ph.nd = nd;
    ph.o = o;
    ph.n_keys = n_keys;
    ph.serializable = serializable;
    run_phase(&ph, threads, o->get_seconds, get_worker, out);
}
