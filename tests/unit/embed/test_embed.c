/* The embedded API (include/cairn.h, embed/): one member in this process, no listeners. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cairn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static cairn_node *open_node(void)
{
    cairn_config *c;
    assert_int_equal(cairn_config_new(&c), 0);
    assert_int_equal(cairn_config_set(c, "data-dir", dir), 0);
    assert_int_equal(cairn_config_set(c, "log-level", "warn"), 0); /* no "member ..." lines */
    cairn_node *n = NULL;
    int rc = cairn_open(c, &n);
    if (rc != 0)
        fail_msg("cairn_open: %s: %s", cairn_strerror(rc), cairn_errmsg());
    cairn_config_free(c);
    return n;
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/cairn-embed-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    *state = open_node();
    return 0;
}

static int teardown(void **state)
{
    assert_int_equal(cairn_close(*state), 0);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void put_str(cairn_node *n, const char *k, const char *v, int64_t *rev)
{
    int rc = cairn_put(n, k, strlen(k), v, strlen(v), 0, rev);
    if (rc != 0)
        fail_msg("put %s: %s (%s)", k, cairn_strerror(rc), cairn_errmsg());
}

static void test_config_errors(void **state)
{
    (void)state;
    cairn_config *c;
    assert_int_equal(cairn_config_new(&c), 0);
    assert_int_equal(cairn_config_set(c, "no-such-option", "1"), CAIRN_ENOTFOUND);
    assert_non_null(strstr(cairn_errmsg(), "no-such-option"));
    assert_int_equal(cairn_config_set(c, "snapshot-count", "lots"), CAIRN_EINVAL);
    assert_true(cairn_errmsg()[0] != '\0');
    /* a bad level is refused at open (the config checks it as a whole there) */
    assert_int_equal(cairn_config_set(c, "log-level", "loud"), 0);
    cairn_node *none = NULL;
    assert_int_equal(cairn_open(c, &none), CAIRN_EINVAL);
    assert_non_null(strstr(cairn_errmsg(), "--log-level"));
    assert_int_equal(cairn_config_set(c, "log-level", "info"), 0);
    const char *argv[] = {"prog", "--name=x", "--bogus", "1"};
    assert_int_equal(cairn_config_parse_args(c, 4, argv), CAIRN_EINVAL);
    assert_int_equal(cairn_config_load_file(c, "/nonexistent/cairn.yaml"), CAIRN_EINVAL);
    /* the data dir is a file: open fails with a message and nothing is left running */
    char path[300];
    snprintf(path, sizeof(path), "%s-file", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(cairn_config_set(c, "data-dir", path), 0);
    cairn_node *n = (cairn_node *)1;
    assert_true(cairn_open(c, &n) < 0);
    assert_null(n);
    assert_true(cairn_errmsg()[0] != '\0');
    unlink(path);
    cairn_config_free(c);
    assert_int_equal(cairn_listen_port(*state, 0), CAIRN_ENOTFOUND);
}

static void test_put_get_delete(void **state)
{
    cairn_node *n = *state;
    int64_t r1 = 0, r2 = 0;
    put_str(n, "a", "1", &r1);
    put_str(n, "a", "22", &r2);
    assert_int_equal(r2, r1 + 1);
    void *v = NULL;
    size_t vlen = 0;
    struct cairn_kv kv;
    assert_int_equal(cairn_get(n, "a", 1, &v, &vlen, &kv), 0);
    assert_int_equal(vlen, 2);
    assert_string_equal(v, "22");
    assert_int_equal(kv.version, 2);
    assert_int_equal(kv.mod_revision, r2);
    assert_int_equal(kv.create_revision, r1);
    cairn_free(v);
    assert_int_equal(cairn_get(n, "missing", 7, &v, &vlen, NULL), CAIRN_ENOTFOUND);
    assert_null(v);
    assert_int_equal(cairn_put(n, "", 0, "x", 1, 0, NULL), CAIRN_EEMPTYKEY);
    assert_string_equal(cairn_errmsg(), "etcdserver: key is not provided");
    int64_t deleted = 0, rev = 0;
    assert_int_equal(cairn_delete(n, "a", 1, NULL, 0, &deleted, &rev), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(rev, r2 + 1);
    assert_int_equal(cairn_get(n, "a", 1, &v, &vlen, NULL), CAIRN_ENOTFOUND);
    /* a lease that does not exist */
    assert_int_equal(cairn_put(n, "b", 1, "x", 1, 12345, NULL), CAIRN_ELEASENOTFOUND);
}

static void test_range_iterator(void **state)
{
    cairn_node *n = *state;
    char k[32], val[32];
    for (int i = 0; i < 2500; i++) {
        snprintf(k, sizeof(k), "r/%05d", i);
        snprintf(val, sizeof(val), "v%d", i);
        put_str(n, k, val, NULL);
    }
    put_str(n, "r0", "outside", NULL);
    put_str(n, "q", "outside", NULL);
    struct cairn_range_options o = {.prefix = 1, .page_size = 300};
    cairn_iter *it;
    assert_int_equal(cairn_range(n, "r/", 2, &o, &it), 0);
    int64_t rev = cairn_iter_revision(it);
    assert_int_equal(cairn_iter_count(it), 2500);
    /* writes after the first page do not show: the iteration reads at one revision */
    put_str(n, "r/00001", "changed", NULL);
    put_str(n, "r/99999", "new", NULL);
    struct cairn_kv kv;
    int i = 0, rc;
    while ((rc = cairn_iter_next(it, &kv)) == 1) {
        snprintf(k, sizeof(k), "r/%05d", i);
        snprintf(val, sizeof(val), "v%d", i);
        assert_int_equal(kv.key_len, strlen(k));
        assert_memory_equal(kv.key, k, kv.key_len);
        assert_int_equal(kv.value_len, strlen(val));
        assert_memory_equal(kv.value, val, kv.value_len);
        assert_true(kv.mod_revision <= rev);
        i++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, 2500);
    cairn_iter_free(it);
    /* limit, keys only, explicit range end, serializable */
    struct cairn_range_options o2 = {.range_end = "r/00100",
                                     .range_end_len = 7,
                                     .limit = 42,
                                     .keys_only = 1,
                                     .serializable = 1,
                                     .page_size = 10};
    assert_int_equal(cairn_range(n, "r/00050", 7, &o2, &it), 0);
    assert_int_equal(cairn_iter_count(it), 50);
    for (i = 0; (rc = cairn_iter_next(it, &kv)) == 1; i++) {
        snprintf(k, sizeof(k), "r/%05d", 50 + i);
        assert_memory_equal(kv.key, k, kv.key_len);
        assert_int_equal(kv.value_len, 0);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, 42);
    cairn_iter_free(it);
    /* a single key; a missing one */
    assert_int_equal(cairn_range(n, "q", 1, NULL, &it), 0);
    assert_int_equal(cairn_iter_next(it, &kv), 1);
    assert_memory_equal(kv.value, "outside", 7);
    assert_int_equal(cairn_iter_next(it, &kv), 0);
    cairn_iter_free(it);
    assert_int_equal(cairn_range(n, "nope", 4, NULL, &it), 0);
    assert_int_equal(cairn_iter_next(it, &kv), 0);
    cairn_iter_free(it);
    /* an old revision, then compacted away */
    assert_int_equal(
        cairn_range(n, "r/00001", 7, &(struct cairn_range_options){.revision = rev}, &it), 0);
    assert_int_equal(cairn_iter_next(it, &kv), 1);
    assert_memory_equal(kv.value, "v1", 2);
    cairn_iter_free(it);
    assert_int_equal(cairn_compact(n, rev + 1, 1), 0);
    assert_int_equal(
        cairn_range(n, "r/00001", 7, &(struct cairn_range_options){.revision = rev}, &it),
        CAIRN_ECOMPACTED);
    assert_string_equal(cairn_errmsg(), "etcdserver: mvcc: required revision has been compacted");
    assert_int_equal(cairn_compact(n, rev, 0), CAIRN_ECOMPACTED);
    assert_int_equal(cairn_compact(n, rev + 1000000, 0), CAIRN_EFUTUREREV);
    int64_t deleted = 0;
    assert_int_equal(cairn_delete(n, "r/", 2, "r0", 2, &deleted, NULL), 0);
    assert_int_equal(deleted, 2501); /* 2500 + r/99999 */
}

static void test_txn(void **state)
{
    cairn_node *n = *state;
    int64_t rev = 0;
    put_str(n, "t", "old", &rev);
    cairn_txn *t;
    assert_int_equal(cairn_txn_new(&t), 0);
    assert_int_equal(cairn_txn_compare(t, "t", 1, CAIRN_CMP_VALUE, CAIRN_CMP_EQ, 0, "old", 3), 0);
    assert_int_equal(cairn_txn_compare(t, "t", 1, CAIRN_CMP_MOD, CAIRN_CMP_EQ, rev, NULL, 0), 0);
    assert_int_equal(cairn_txn_put(t, 1, "t", 1, "new", 3, 0), 0);
    assert_int_equal(cairn_txn_get(t, 1, "t", 1, NULL, 0), 0);
    assert_int_equal(cairn_txn_get(t, 0, "t", 1, NULL, 0), 0);
    int ok = -1;
    int64_t trev = 0;
    assert_int_equal(cairn_txn_commit(n, t, &ok, &trev), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(trev, rev + 1);
    assert_int_equal(cairn_txn_result_count(t, 0), 0); /* the put */
    assert_int_equal(cairn_txn_result_count(t, 1), 1);
    struct cairn_kv kv;
    assert_int_equal(cairn_txn_result_kv(t, 1, 0, &kv), 0);
    assert_memory_equal(kv.value, "new", 3);
    assert_int_equal(cairn_txn_result_kv(t, 1, 1, &kv), CAIRN_ENOTFOUND);
    assert_int_equal(cairn_txn_commit(n, t, &ok, NULL), CAIRN_EINVAL); /* once */
    cairn_txn_free(t);
    /* the same compare fails now: the else branch runs */
    assert_int_equal(cairn_txn_new(&t), 0);
    assert_int_equal(cairn_txn_compare(t, "t", 1, CAIRN_CMP_VALUE, CAIRN_CMP_EQ, 0, "old", 3), 0);
    assert_int_equal(cairn_txn_delete(t, 1, "t", 1, NULL, 0), 0);
    assert_int_equal(cairn_txn_get(t, 0, "t", 1, NULL, 0), 0);
    assert_int_equal(cairn_txn_commit(n, t, &ok, NULL), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(cairn_txn_result_kv(t, 0, 0, &kv), 0);
    assert_memory_equal(kv.value, "new", 3);
    cairn_txn_free(t);
    /* etcd's rules: a key written twice in one txn */
    assert_int_equal(cairn_txn_new(&t), 0);
    assert_int_equal(cairn_txn_put(t, 1, "d", 1, "1", 1, 0), 0);
    assert_int_equal(cairn_txn_put(t, 1, "d", 1, "2", 1, 0), 0);
    assert_int_equal(cairn_txn_commit(n, t, &ok, NULL), CAIRN_EDUPKEY);
    cairn_txn_free(t);
}

/* ---- watches ---- */

struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int events, batches, ends, end_code;
    int64_t end_compact_rev;
    int64_t last_rev;
    int order_ok;
    int slow_ms;
    char first_key[32];
    int prev_ok;
};

static void on_batch(void *arg, const struct cairn_watch_batch *b)
{
    struct seen *s = arg;
    if (s->slow_ms)
        usleep((useconds_t)s->slow_ms * 1000); /* a deliberately slow consumer */
    pthread_mutex_lock(&s->mu);
    s->batches++;
    for (size_t i = 0; i < b->n_events; i++) {
        const struct cairn_event *e = &b->events[i];
        if (e->kv.mod_revision <= s->last_rev)
            s->order_ok = 0;
        s->last_rev = e->kv.mod_revision;
        if (s->events == 0)
            snprintf(s->first_key, sizeof(s->first_key), "%.*s", (int)e->kv.key_len,
                     (const char *)e->kv.key);
        if (e->has_prev_kv && e->type == CAIRN_EVENT_PUT && e->prev_kv.value_len > 0)
            s->prev_ok++;
        s->events++;
    }
    if (b->end) {
        s->ends++;
        s->end_code = b->end;
        s->end_compact_rev = b->compact_revision;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void seen_init(struct seen *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->order_ok = 1;
}

/* Wait until at least want events arrived (the callback signals each batch). */
static void wait_events(struct seen *s, int want)
{
    pthread_mutex_lock(&s->mu);
    while (s->events < want)
        pthread_cond_wait(&s->cv, &s->mu); /* the test's timeout bounds this */
    pthread_mutex_unlock(&s->mu);
}

static void test_watch(void **state)
{
    cairn_node *n = *state;
    struct seen s;
    seen_init(&s);
    cairn_watcher *w;
    struct cairn_watch_options o = {.prefix = 1, .prev_kv = 1};
    assert_int_equal(cairn_watch(n, "w/", 2, &o, on_batch, &s, &w), 0);
    put_str(n, "w/a", "1", NULL);
    put_str(n, "x", "not watched", NULL);
    put_str(n, "w/a", "2", NULL);
    assert_int_equal(cairn_delete(n, "w/a", 3, NULL, 0, NULL, NULL), 0);
    wait_events(&s, 3);
    assert_int_equal(s.events, 3);
    assert_true(s.order_ok);
    assert_string_equal(s.first_key, "w/a");
    assert_int_equal(s.prev_ok, 1); /* the second put saw "1" before it */
    cairn_watch_cancel(w);
    /* after cancel, nothing more arrives */
    int before = s.events;
    put_str(n, "w/b", "1", NULL);
    /* a second watcher from an old revision replays history, then sees new writes */
    struct seen s2;
    seen_init(&s2);
    struct cairn_watch_options o2 = {.prefix = 1, .start_revision = 1};
    assert_int_equal(cairn_watch(n, "w/", 2, &o2, on_batch, &s2, &w), 0);
    wait_events(&s2, 4);
    assert_true(s2.order_ok);
    cairn_watch_cancel(w);
    assert_int_equal(s.events, before);
}

static void test_watch_slow_consumer(void **state)
{
    cairn_node *n = *state;
    struct seen s;
    seen_init(&s);
    s.slow_ms = 2;
    cairn_watcher *w;
    assert_int_equal(cairn_watch(n, "slow", 4, NULL, on_batch, &s, &w), 0);
    /* many single-event batches: far more than the watcher's queue holds */
    enum { N = 400 };
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        put_str(n, "slow", v, NULL);
    }
    wait_events(&s, N); /* none lost: the overflow came back from history */
    assert_int_equal(s.events, N);
    assert_true(s.order_ok);
    cairn_watch_cancel(w);
}

static void test_watch_compacted_start(void **state)
{
    cairn_node *n = *state;
    int64_t rev = 0;
    put_str(n, "c", "1", &rev);
    put_str(n, "c", "2", &rev);
    assert_int_equal(cairn_compact(n, rev, 1), 0);
    struct seen s;
    seen_init(&s);
    cairn_watcher *w = NULL;
    struct cairn_watch_options o = {.start_revision = 1};
    /* as etcd: the watch is created, then ends at once, saying where history starts */
    assert_int_equal(cairn_watch(n, "c", 1, &o, on_batch, &s, &w), 0);
    pthread_mutex_lock(&s.mu);
    while (s.ends == 0)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    assert_int_equal(s.end_code, CAIRN_ECOMPACTED);
    assert_int_equal(s.end_compact_rev, rev);
    assert_int_equal(s.events, 0);
    cairn_watch_cancel(w);
}

static cairn_watcher *self_cancel_w;
static void cancel_self(void *arg, const struct cairn_watch_batch *b)
{
    on_batch(arg, b);
    cairn_watch_cancel(self_cancel_w);
}

static void test_watch_cancel_in_callback_and_close(void **state)
{
    cairn_node *n = *state;
    struct seen s;
    seen_init(&s);
    assert_int_equal(cairn_watch(n, "k", 1, NULL, cancel_self, &s, &self_cancel_w), 0);
    put_str(n, "k", "1", NULL);
    wait_events(&s, 1);
    put_str(n, "k", "2", NULL);
    /* a watch left open when the node closes hears CAIRN_ESTOPPED */
    struct seen s2;
    seen_init(&s2);
    cairn_watcher *w;
    assert_int_equal(cairn_watch(n, "k", 1, NULL, on_batch, &s2, &w), 0);
    assert_int_equal(cairn_close(n), 0);
    assert_int_equal(s2.ends, 1);
    assert_int_equal(s2.end_code, CAIRN_ESTOPPED);
    assert_int_equal(s.events, 1); /* the self-cancelled watch heard one event only */
    *state = open_node();
}

static void test_leases(void **state)
{
    cairn_node *n = *state;
    int64_t id = 0, ttl = 0;
    assert_int_equal(cairn_lease_grant(n, 60, &id, &ttl), 0);
    assert_true(id != 0);
    assert_int_equal(ttl, 60);
    assert_int_equal(cairn_put(n, "leased", 6, "v", 1, id, NULL), 0);
    int64_t remaining = 0, granted = 0;
    assert_int_equal(cairn_lease_ttl(n, id, &remaining, &granted), 0);
    assert_int_equal(granted, 60);
    assert_true(remaining > 0 && remaining <= 60);
    assert_int_equal(cairn_lease_keepalive(n, id, &ttl), 0);
    assert_int_equal(ttl, 60);
    assert_int_equal(cairn_lease_revoke(n, id), 0);
    void *v;
    size_t vlen;
    assert_int_equal(cairn_get(n, "leased", 6, &v, &vlen, NULL), CAIRN_ENOTFOUND);
    assert_int_equal(cairn_lease_ttl(n, id, &remaining, NULL), CAIRN_ELEASENOTFOUND);
    assert_int_equal(cairn_lease_keepalive(n, id, &ttl), CAIRN_ELEASENOTFOUND);
    assert_int_equal(cairn_lease_revoke(n, id), CAIRN_ELEASENOTFOUND);
    int64_t want = 777;
    assert_int_equal(cairn_lease_grant(n, 30, &want, NULL), 0);
    assert_int_equal(want, 777);
    want = 777;
    assert_int_equal(cairn_lease_grant(n, 30, &want, NULL), CAIRN_ELEASEEXISTS);
}

static void test_status_memory(void **state)
{
    cairn_node *n = *state;
    int64_t rev = 0;
    put_str(n, "s", "1", &rev);
    struct cairn_status st;
    assert_int_equal(cairn_status(n, &st), 0);
    assert_true(st.member_id != 0);
    assert_int_equal(st.leader, st.member_id);
    assert_int_equal(st.revision, rev);
    assert_true(st.raft_index >= st.raft_applied_index && st.raft_applied_index > 0);
    assert_true(st.db_size_bytes > 0);
    uint32_t h1 = 0, h2 = 0;
    int64_t hrev = 0;
    assert_int_equal(cairn_hash_kv(n, 0, &h1, &hrev), 0);
    assert_int_equal(hrev, rev);
    put_str(n, "s", "2", NULL);
    assert_int_equal(cairn_hash_kv(n, 0, &h2, NULL), 0);
    assert_true(h1 != h2);
    assert_int_equal(cairn_hash_kv(n, rev, &h2, NULL), 0);
    assert_int_equal(h1, h2);
    struct cairn_memory_stats ms;
    assert_int_equal(cairn_memory_set("150", "8GiB"), 0);
    assert_int_equal(cairn_memory_stats(&ms), 0);
    assert_int_equal(ms.heap_percent, 150);
    assert_int_equal(ms.limit_bytes, 8LL << 30);
    assert_true(ms.rss_bytes > 0);
    assert_int_equal(cairn_memory_set("lots", "1GiB"), CAIRN_EINVAL);
    assert_int_equal(cairn_memory_stats(&ms), 0);
    assert_int_equal(ms.limit_bytes, 8LL << 30); /* unchanged: nothing applied */
    assert_int_equal(cairn_memory_set("off", "off"), 0);
}

/* Close loses nothing acknowledged: every key written from several threads is there after a
 * reopen. */
struct writer {
    cairn_node *n;
    int id, count, rc;
};

static void *write_keys(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < w->count && w->rc == 0; i++) {
        char k[32];
        snprintf(k, sizeof(k), "p/%d/%05d", w->id, i);
        w->rc = cairn_put(w->n, k, strlen(k), k, strlen(k), 0, NULL);
    }
    return NULL;
}

static void test_reopen(void **state)
{
    cairn_node *n = *state;
    enum { THREADS = 4, EACH = 500 };
    pthread_t th[THREADS];
    struct writer w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){.n = n, .id = i, .count = EACH};
        assert_int_equal(pthread_create(&th[i], NULL, write_keys, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].rc, 0);
    }
    assert_int_equal(cairn_close(n), 0);
    n = open_node();
    *state = n;
    cairn_iter *it;
    struct cairn_range_options o = {.prefix = 1};
    assert_int_equal(cairn_range(n, "p/", 2, &o, &it), 0);
    assert_int_equal(cairn_iter_count(it), THREADS * EACH);
    struct cairn_kv kv;
    int got = 0;
    while (cairn_iter_next(it, &kv) == 1) {
        assert_int_equal(kv.key_len, kv.value_len);
        assert_memory_equal(kv.key, kv.value, kv.key_len);
        got++;
    }
    assert_int_equal(got, THREADS * EACH);
    cairn_iter_free(it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_get_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_iterator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_slow_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_compacted_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_cancel_in_callback_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
