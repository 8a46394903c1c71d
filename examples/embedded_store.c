/*
 * embedded_store — cairn inside your program: open a store in a directory, load it, close it,
 * open it again and read everything back.
 *
 *   embedded_store [DATA_DIR [COUNT]]
 *
 * Writes COUNT keys (default 100000) as "key/NNNNNNNN" = "value-NNNNNNNN" from 4 threads,
 * 100 puts per transaction (etcd's --max-txn-ops allows 128), closes the store, reopens it and
 * checks every key with one range iteration plus a few single gets. Exits 0 when every value
 * reads back, 1 otherwise. DATA_DIR defaults to ./embedded_store.cairn; a second run on the
 * same directory overwrites the same keys (new revisions) and checks again.
 *
 * Why transactions and threads: each acknowledged write is on disk (one fsync per batch),
 * so one thread doing one put at a time pays one fsync per put. Concurrent callers share a
 * flush (group commit) and a transaction carries many puts in one log entry.
 */
#include <cairn.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS    4
#define TXN_PUTS   100
#define KEY_FORMAT "key/%08ld"
#define VAL_FORMAT "value-%08ld"

struct loader {
    cairn_node *node;
    long first, count; /* this thread's keys: [first, first + count) */
    int rc;
};

static void *load(void *arg)
{
    struct loader *l = arg;
    for (long i = l->first; i < l->first + l->count && l->rc == 0; i += TXN_PUTS) {
        cairn_txn *t;
        l->rc = cairn_txn_new(&t);
        if (l->rc < 0)
            break;
        long end = i + TXN_PUTS < l->first + l->count ? i + TXN_PUTS : l->first + l->count;
        for (long k = i; k < end && l->rc == 0; k++) {
            char key[32], val[32];
            snprintf(key, sizeof(key), KEY_FORMAT, k);
            snprintf(val, sizeof(val), VAL_FORMAT, k);
            l->rc = cairn_txn_put(t, 1, key, strlen(key), val, strlen(val), 0);
        }
        if (l->rc == 0)
            l->rc = cairn_txn_commit(l->node, t, NULL, NULL);
        if (l->rc < 0)
            fprintf(stderr, "embedded_store: txn at key %ld: %s\n", i, cairn_errmsg());
        cairn_txn_free(t);
    }
    return NULL;
}

static cairn_node *open_store(const char *dir)
{
    cairn_config *cfg;
    cairn_node *node = NULL;
    if (cairn_config_new(&cfg) < 0)
        return NULL;
    if (cairn_config_set(cfg, "data-dir", dir) < 0 || cairn_open(cfg, &node) < 0)
        fprintf(stderr, "embedded_store: open %s: %s\n", dir, cairn_errmsg());
    cairn_config_free(cfg);
    return node;
}

/* Every key once, in order, with its value; then a few single gets. */
static int verify(cairn_node *node, long count)
{
    struct cairn_range_options o = {.prefix = 1};
    cairn_iter *it;
    if (cairn_range(node, "key/", 4, &o, &it) < 0) {
        fprintf(stderr, "embedded_store: range: %s\n", cairn_errmsg());
        return -1;
    }
    long n = 0;
    int bad = 0, rc;
    struct cairn_kv kv;
    while ((rc = cairn_iter_next(it, &kv)) == 1) {
        char key[32], val[32];
        snprintf(key, sizeof(key), KEY_FORMAT, n);
        snprintf(val, sizeof(val), VAL_FORMAT, n);
        if (kv.key_len != strlen(key) || memcmp(kv.key, key, kv.key_len) != 0 ||
            kv.value_len != strlen(val) || memcmp(kv.value, val, kv.value_len) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "embedded_store: pair %ld is %.*s=%.*s, want %s=%s\n", n,
                        (int)kv.key_len, (const char *)kv.key, (int)kv.value_len,
                        (const char *)kv.value, key, val);
        }
        n++;
    }
    printf("read %ld keys back at revision %" PRId64 "\n", n, cairn_iter_revision(it));
    cairn_iter_free(it);
    if (rc < 0 || n != count || bad) {
        fprintf(stderr, "embedded_store: %ld keys read, %ld expected, %d wrong (%s)\n", n, count,
                bad, rc < 0 ? cairn_errmsg() : "iteration complete");
        return -1;
    }
    for (long k = 0; k < count; k += count / 7 + 1) {
        char key[32], want[32];
        snprintf(key, sizeof(key), KEY_FORMAT, k);
        snprintf(want, sizeof(want), VAL_FORMAT, k);
        void *v = NULL;
        size_t vlen = 0;
        if (cairn_get(node, key, strlen(key), &v, &vlen, NULL) < 0 || strcmp(v, want) != 0) {
            fprintf(stderr, "embedded_store: get %s: %s\n", key, v ? (char *)v : cairn_errmsg());
            cairn_free(v);
            return -1;
        }
        cairn_free(v);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "embedded_store.cairn";
    long count = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
    if (count <= 0) {
        fprintf(stderr, "usage: embedded_store [DATA_DIR [COUNT]]  (COUNT > 0)\n");
        return 2;
    }
    cairn_node *node = open_store(dir);
    if (!node)
        return 1;
    pthread_t th[THREADS];
    struct loader l[THREADS];
    long per = (count + THREADS - 1) / THREADS;
    for (int i = 0; i < THREADS; i++) {
        long first = i * per;
        l[i] = (struct loader){
            .node = node,
            .first = first,
            .count = first >= count ? 0 : (first + per > count ? count - first : per)};
        pthread_create(&th[i], NULL, load, &l[i]);
    }
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        failed |= l[i].rc < 0;
    }
    struct cairn_status st;
    if (!failed && cairn_status(node, &st) == 0)
        printf("wrote %ld keys, store revision %" PRId64 ", db %" PRId64 " bytes\n", count,
               st.revision, st.db_size_bytes);
    cairn_close(node); /* everything acknowledged is on disk */
    if (failed)
        return 1;

    node = open_store(dir);
    if (!node)
        return 1;
    int rc = verify(node, count);
    cairn_close(node);
    if (rc == 0)
        printf("ok: all %ld keys survived close and reopen\n", count);
    return rc == 0 ? 0 : 1;
}
