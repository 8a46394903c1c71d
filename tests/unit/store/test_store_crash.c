/*
 * Crash test: a child process writes batches (log entries + hard state + applied entries
 * in one commit, fsync on) and reports each batch number through a pipe after commit
 * returns; the parent kills it with SIGKILL at a random moment, reopens the store and
 * checks that no reported batch is lost, that batches are atomic (log, hard state and
 * applied index agree), and that the key-value state equals the reference model replayed
 * to the applied index. Physical compaction, log compaction, map growth and defragment
 * run in the child too, so kills land inside them as well.
 *
 * Replay: test_store_crash [seed [iterations]] or CAIRN_STORE_SEED / CAIRN_STORE_ITERS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "store.h"
#include "store_model.h"
#include "store_test_util.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PER_BATCH 8 /* entries per batch */
#define KEYS      40

static uint64_t g_seed;
static int g_iters = 100;

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct rng {
    uint64_t s;
};

static uint64_t below(struct rng *r, uint64_t n)
{
    r->s += 0x9E3779B97F4A7C15ULL;
    return mix(r->s) % n;
}

/* prefix followed by v, zero-padded to width digits (0 = no padding). */
static ProtobufCBinaryData text(struct store_arena *a, const char *prefix, uint64_t v, int width)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%s%0*llu", prefix, width, (unsigned long long)v);
    ProtobufCBinaryData d = {(size_t)n, store_arena_alloc(a, (size_t)n + 1)};
    memcpy(d.data, buf, (size_t)n + 1);
    return d;
}

/* The request of entry index: a pure function of (seed, index). */
static void op_for(uint64_t index, struct store_arena *a, struct store_op *op)
{
    struct rng r = {mix(g_seed ^ (index * 0x9E3779B97F4A7C15ULL))};
    unsigned k = (unsigned)below(&r, 100);
    memset(op, 0, sizeof(*op));
    if (k < 55) {
        Etcdserverpb__PutRequest *p = store_arena_alloc(a, sizeof(*p));
        etcdserverpb__put_request__init(p);
        p->key = text(a, "c", below(&r, KEYS), 2);
        size_t len = below(&r, 4) ? below(&r, 40) : 500 + below(&r, 3000);
        p->value.len = len;
        p->value.data = store_arena_alloc(a, len + 1);
        for (size_t i = 0; i < len; i++)
            p->value.data[i] = (uint8_t)(index + i);
        p->lease = below(&r, 5) == 0 ? (int64_t)(1 + below(&r, 3)) : 0;
        op->kind = STORE_OP_PUT;
        op->put = p;
    } else if (k < 68) {
        Etcdserverpb__DeleteRangeRequest *d = store_arena_alloc(a, sizeof(*d));
        etcdserverpb__delete_range_request__init(d);
        uint64_t x = below(&r, KEYS / 10);
        d->key = text(a, "c", x, 0);
        if (below(&r, 2))
            d->range_end = text(a, "c", x + 1, 0); /* a prefix of ten keys */
        else
            d->key = text(a, "c", below(&r, KEYS), 2);
        op->kind = STORE_OP_DELETE_RANGE;
        op->delete_range = d;
    } else if (k < 82) {
        Etcdserverpb__TxnRequest *t = store_arena_alloc(a, sizeof(*t));
        etcdserverpb__txn_request__init(t);
        Etcdserverpb__Compare *c = store_arena_alloc(a, sizeof(*c));
        etcdserverpb__compare__init(c);
        c->key = text(a, "c", below(&r, KEYS), 2);
        c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
        c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER;
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
        t->compare = store_arena_alloc(a, sizeof(*t->compare));
        t->compare[0] = c;
        t->n_compare = 1;
        Etcdserverpb__RequestOp *ops[2];
        for (int i = 0; i < 2; i++) {
            ops[i] = store_arena_alloc(a, sizeof(*ops[i]));
            etcdserverpb__request_op__init(ops[i]);
            Etcdserverpb__PutRequest *p = store_arena_alloc(a, sizeof(*p));
            etcdserverpb__put_request__init(p);
            p->key = text(a, i ? "t" : "c", below(&r, KEYS), i ? 0 : 2);
            p->value = text(a, "txn-", index, 0);
            ops[i]->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
            ops[i]->request_put = p;
        }
        t->success = store_arena_alloc(a, sizeof(*t->success));
        t->success[0] = ops[0];
        t->n_success = 1;
        t->failure = store_arena_alloc(a, sizeof(*t->failure));
        t->failure[0] = ops[1];
        t->n_failure = 1;
        op->kind = STORE_OP_TXN;
        op->txn = t;
    } else if (k < 85) {
        Etcdserverpb__CompactionRequest *c = store_arena_alloc(a, sizeof(*c));
        etcdserverpb__compaction_request__init(c);
        c->revision = (int64_t)(index / 2);
        op->kind = STORE_OP_COMPACT;
        op->compact = c;
    } else if (k < 92) {
        Etcdserverpb__LeaseGrantRequest *g = store_arena_alloc(a, sizeof(*g));
        etcdserverpb__lease_grant_request__init(g);
        g->id = (int64_t)(1 + below(&r, 3));
        g->ttl = 10;
        op->kind = STORE_OP_LEASE_GRANT;
        op->lease_grant = g;
    } else if (k < 96) {
        Etcdserverpb__LeaseRevokeRequest *v = store_arena_alloc(a, sizeof(*v));
        etcdserverpb__lease_revoke_request__init(v);
        v->id = (int64_t)(1 + below(&r, 3));
        op->kind = STORE_OP_LEASE_REVOKE;
        op->lease_revoke = v;
    } else {
        op->kind = STORE_OP_NOOP;
    }
}

/* Entry payload: the index and a filler of a size that varies per entry. */
static uint32_t payload_len(uint64_t index)
{
    return 8 + (uint32_t)(mix(index ^ g_seed) % 300);
}

static void payload_fill(uint64_t index, uint8_t *p)
{
    store_u64_encode(index, p);
    for (uint32_t i = 8; i < payload_len(index); i++)
        p[i] = (uint8_t)(index * 31 + i);
}

static struct store *open_store(const char *dir, int sync)
{
    struct store_config cfg = {0};
    cfg.dir = dir;
    cfg.map_initial_bytes = 512 << 10; /* small: growth happens under the knife */
    cfg.unsafe_no_sync = !sync;
    struct store *s = NULL;
    int rc = store_open(&cfg, &s);
    if (rc != 0) {
        fprintf(stderr, "store_open: %s\n", cairn_strerror(rc));
        return NULL;
    }
    return s;
}

static void report(int fd, uint64_t batch)
{
    ssize_t n;
    do
        n = write(fd, &batch, sizeof(batch));
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(batch))
        _exit(3);
}

/* The writer: continues from the applied index, forever (until SIGKILL). */
static void child(const char *dir, int fd)
{
    struct store *s = open_store(dir, 1);
    if (s == NULL)
        _exit(2);
    uint64_t applied = tu_applied(s);
    if (applied % PER_BATCH != 0)
        _exit(4);
    struct store_arena a;
    store_arena_init(&a, 1 << 16);
    struct raft_entry e[PER_BATCH];
    uint8_t data[PER_BATCH][320];
    struct store_op ops[PER_BATCH];
    struct store_result res[PER_BATCH];
    for (uint64_t batch = applied / PER_BATCH + 1;; batch++) {
        uint64_t first = (batch - 1) * PER_BATCH + 1;
        struct store_batch *b;
        if (store_batch_begin(s, 0, &b) != 0)
            _exit(5);
        for (int i = 0; i < PER_BATCH; i++) {
            e[i].index = first + (uint64_t)i;
            e[i].term = 1;
            e[i].type = RAFT_ENTRY_NORMAL;
            e[i].len = payload_len(e[i].index);
            payload_fill(e[i].index, data[i]);
            e[i].data = data[i];
            op_for(e[i].index, &a, &ops[i]);
        }
        struct raft_hard_state hs = {1, 1, first + PER_BATCH - 1};
        int rc = store_batch_append(b, e, PER_BATCH);
        rc = rc ? rc : store_batch_set_hard_state(b, &hs);
        for (int i = 0; i < PER_BATCH && rc == 0; i++)
            rc = store_batch_apply(b, e[i].index, 1, &ops[i], store_arena_allocator(&a), &res[i]);
        if (rc == 0 && batch % 16 == 0 && first > 64)
            rc = store_batch_log_compact(b, first - 64);
        if (rc != 0 || store_batch_commit(b) != 0)
            _exit(6);
        report(fd, batch); /* only after commit returned */
        store_arena_reset(&a);
        int done;
        if (store_compact_work(s, 16, &done) != 0)
            _exit(7);
        if (batch % 97 == 0) {
            struct store_defrag_report rep;
            if (store_defrag(s, &rep) != 0)
                _exit(8);
        }
    }
}

static void *ent_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static void ent_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

struct checker {
    struct model *m;
    uint64_t applied; /* the model has applied entries 1..applied */
    struct store_arena a;
    uint64_t max_reported;
    uint64_t ahead;    /* kills after a commit and before its report */
    uint64_t tmp_left; /* kills that left a defragment copy behind */
};

static void model_to(struct checker *ck, uint64_t applied)
{
    struct store_arena req;
    store_arena_init(&req, 1 << 16);
    for (uint64_t i = ck->applied + 1; i <= applied; i++) {
        struct store_op op;
        struct store_result res;
        op_for(i, &req, &op);
        model_apply(ck->m, &op, store_arena_allocator(&ck->a), &res);
        store_arena_reset(&ck->a);
        store_arena_reset(&req);
    }
    store_arena_destroy(&req);
    ck->applied = applied;
}

static int has_tmp(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ls %s | grep -q data.mdb.tmp", dir);
    return system(cmd) == 0;
}

static void verify(struct checker *ck, const char *dir, int iter)
{
    ck->tmp_left += has_tmp(dir);
    struct store *s = open_store(dir, 0);
    assert_false(has_tmp(dir)); /* open removed it */
    assert_non_null(s);
    struct store_read *r;
    assert_int_equal(store_read_begin(s, &r), 0);
    struct store_state st;
    assert_int_equal(store_read_state(r, &st), 0);
    store_read_end(r);
    uint64_t applied = st.applied_index;
    if (applied < ck->max_reported * PER_BATCH) {
        fprintf(stderr,
                "iteration %d: applied %" PRIu64 " but batch %" PRIu64
                " was reported committed (seed %" PRIu64 ")\n",
                iter, applied, ck->max_reported, g_seed);
        fail_msg("a committed batch was lost");
    }
    assert_int_equal(applied % PER_BATCH, 0); /* a batch is all or nothing */
    ck->ahead += applied > ck->max_reported * PER_BATCH;
    assert_true(applied >= ck->applied); /* nothing committed disappears later */
    struct raft_storage rst;
    store_raft_storage(s, &rst);
    uint64_t li, fi;
    struct raft_hard_state hs;
    struct raft_conf_state cs;
    assert_int_equal(rst.last_index(rst.ctx, &li), 0);
    assert_int_equal(rst.first_index(rst.ctx, &fi), 0);
    assert_int_equal(rst.initial_state(rst.ctx, &hs, &cs), 0);
    assert_int_equal(li, applied); /* log and apply went to disk together */
    assert_int_equal(hs.commit, applied);
    if (applied > 0 && fi <= applied) {
        /* the last batch's entries, payloads intact */
        uint64_t lo = applied - PER_BATCH + 1 > fi ? applied - PER_BATCH + 1 : fi;
        struct raft_allocator al = {NULL, ent_alloc, ent_free};
        struct raft_entries out;
        assert_int_equal(rst.entries(rst.ctx, lo, applied + 1, UINT64_MAX, &al, &out), 0);
        assert_int_equal(out.n, applied + 1 - lo);
        for (size_t i = 0; i < out.n; i++) {
            uint8_t want[320];
            assert_int_equal(out.e[i].index, lo + i);
            assert_int_equal(out.e[i].term, 1);
            assert_int_equal(out.e[i].len, payload_len(lo + i));
            payload_fill(lo + i, want);
            assert_memory_equal(out.e[i].data, want, out.e[i].len);
        }
        free(out.mem);
    }
    model_to(ck, applied);
    assert_int_equal(st.revision, model_rev(ck->m));
    assert_int_equal(st.compact_revision, model_compact_rev(ck->m));
    /* every key, at the current revision and at one older revision */
    uint8_t zero = 0;
    Etcdserverpb__RangeRequest q = ETCDSERVERPB__RANGE_REQUEST__INIT;
    q.key.data = &zero;
    q.key.len = 1;
    q.range_end.data = &zero;
    q.range_end.len = 1;
    ProtobufCAllocator *pa = store_arena_allocator(&ck->a);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            int64_t lo = st.compact_revision > 1 ? st.compact_revision : 1;
            q.revision = lo + (st.revision - lo) / 2;
        }
        Etcdserverpb__RangeResponse *sr, *mr;
        assert_int_equal(store_read_begin(s, &r), 0);
        assert_int_equal(store_range(r, &q, pa, &sr), 0);
        assert_int_equal(model_range(ck->m, &q, pa, &mr), 0);
        if (!tu_msg_equal(&sr->base, &mr->base)) {
            fprintf(stderr, "iteration %d (seed %" PRIu64 "): state differs at rev %" PRId64 "\n",
                    iter, g_seed, q.revision);
            fail_msg("store state differs from the model");
        }
        store_read_end(r);
    }
    uint32_t sh, mh;
    int64_t cr, hr;
    assert_int_equal(store_read_begin(s, &r), 0);
    assert_int_equal(store_hash_kv(r, 0, &sh, &cr, &hr), 0);
    store_read_end(r);
    assert_int_equal(model_hash(ck->m, 0, &mh), 0);
    assert_int_equal(sh, mh);
    store_arena_reset(&ck->a);
    store_close(s);
}

static void test_crash(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("crash");
    struct checker ck = {0};
    ck.m = model_new(0);
    store_arena_init(&ck.a, 1 << 16);
    struct rng r = {g_seed};
    uint64_t kills = 0, batches = 0;
    for (int iter = 0; iter < g_iters; iter++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child(dir, fds[1]);
            _exit(9);
        }
        close(fds[1]);
        /* Wait for some commits, then kill at a random moment of the next ones. */
        uint64_t want = 1 + below(&r, 24), got = 0, b;
        while (got < want) {
            ssize_t n = read(fds[0], &b, sizeof(b));
            if (n < 0 && errno == EINTR)
                continue;
            assert_int_equal(n, sizeof(b));
            ck.max_reported = b > ck.max_reported ? b : ck.max_reported;
            got++;
        }
        struct timespec ts = {0, (long)below(&r, 3000) * 1000}; /* picks the kill point */
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("writer exited by itself (status %d): a store call failed", status);
        for (;;) { /* reports written before the kill count too */
            ssize_t n = read(fds[0], &b, sizeof(b));
            if (n <= 0)
                break;
            ck.max_reported = b > ck.max_reported ? b : ck.max_reported;
        }
        close(fds[0]);
        kills++;
        verify(&ck, dir, iter);
        batches = ck.applied / PER_BATCH;
    }
    printf("store crash: seed %" PRIu64 ": %" PRIu64 " kills, %" PRIu64
           " batches committed and verified, revision %" PRId64 "; %" PRIu64
           " kills between a commit and its report, %" PRIu64 " inside a defragment\n",
           g_seed, kills, batches, model_rev(ck.m), ck.ahead, ck.tmp_left);
    model_free(ck.m);
    store_arena_destroy(&ck.a);
    tu_rmdir(dir);
}

int main(int argc, char **argv)
{
    const char *seed = argc > 1 ? argv[1] : getenv("CAIRN_STORE_SEED");
    const char *iters = argc > 2 ? argv[2] : getenv("CAIRN_STORE_ITERS");
    g_seed = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL);
    if (iters)
        g_iters = atoi(iters);
    printf("store crash: seed %" PRIu64 " iterations %d (replay: %s %" PRIu64 " %d)\n", g_seed,
           g_iters, argv[0], g_seed, g_iters);
    fflush(stdout);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_crash)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
