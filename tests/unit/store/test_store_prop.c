/*
 * Property test: random operations (puts, deletes, txns with nested txns, ranges at random
 * revisions, compactions with physical compaction steps, leases, alarms, watch history,
 * hashes, reopen, defragment, snapshot + restore) against the reference model in
 * store_model.c; every result must agree byte for byte.
 *
 * Replay: test_store_prop [seed [ops]]  or  CAIRN_STORE_SEED=... CAIRN_STORE_OPS=...
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

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_TTL     5
#define BATCH_MAX   12
#define LEASE_IDS   6
#define TXN_OPS_MAX 3

static uint64_t g_seed;
static uint64_t g_ops = 100000;

struct rng {
    uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n)
{
    return n ? rnd(r) % n : 0;
}

static int chance(struct rng *r, unsigned pct)
{
    return below(r, 100) < pct;
}

struct ctx {
    struct rng r;
    struct store *s;
    struct model *m;
    char *dir;
    struct store_arena req, sa, ma;
    ProtobufCAllocator *qa, *sa_p, *ma_p;
    uint64_t index;
    uint64_t ops;
    uint64_t stats[16];
    uint64_t errs[64];     /* refused entries by cairn code (-42000 - code) */
    uint64_t alarms[8][2]; /* (member, type) the generated ops switched on */
    size_t n_alarms;
};

static void *qalloc(struct ctx *c, size_t n)
{
    void *p = store_arena_alloc(&c->req, n);
    CAIRN_ASSERT(p != NULL);
    return p;
}

/* Keys from a 4-letter alphabet with the edge bytes 0x00 and 0xff, 1-3 long. */
static ProtobufCBinaryData gen_key(struct ctx *c)
{
    static const uint8_t alpha[] = {0x00, 'a', 'b', 0xff};
    ProtobufCBinaryData k;
    k.len = 1 + below(&c->r, 3);
    k.data = qalloc(c, k.len);
    for (size_t i = 0; i < k.len; i++)
        k.data[i] = alpha[below(&c->r, 4)];
    return k;
}

static ProtobufCBinaryData gen_value(struct ctx *c)
{
    static const char *small[] = {"", "x", "y", "xy", "yx"};
    ProtobufCBinaryData v;
    if (chance(&c->r, 70)) {
        const char *s = small[below(&c->r, 5)];
        v.len = strlen(s);
        v.data = qalloc(c, v.len + 1);
        memcpy(v.data, s, v.len + 1);
        return v;
    }
    v.len = chance(&c->r, 5) ? 500 + below(&c->r, 4000) : below(&c->r, 40);
    v.data = qalloc(c, v.len + 1);
    for (size_t i = 0; i < v.len; i++)
        v.data[i] = (uint8_t)rnd(&c->r);
    return v;
}

/* etcd's prefix end: the key with its last byte below 0xff incremented, or "\0". */
static ProtobufCBinaryData prefix_end(struct ctx *c, ProtobufCBinaryData k)
{
    ProtobufCBinaryData e;
    e.data = qalloc(c, k.len + 1);
    size_t n = k.len;
    while (n > 0 && k.data[n - 1] == 0xff)
        n--;
    if (n == 0) {
        e.data[0] = 0;
        e.len = 1;
        return e;
    }
    memcpy(e.data, k.data, n);
    e.data[n - 1]++;
    e.len = n;
    return e;
}

static void gen_range_bounds(struct ctx *c, ProtobufCBinaryData *key, ProtobufCBinaryData *end)
{
    *key = gen_key(c);
    switch (below(&c->r, 5)) {
    case 0:
    case 1:
        end->len = 0;
        end->data = NULL;
        break;
    case 2:
        *end = prefix_end(c, *key);
        break;
    case 3:
        end->data = qalloc(c, 1);
        end->data[0] = 0;
        end->len = 1;
        break;
    default:
        *end = gen_key(c);
        break;
    }
}

static int64_t gen_rev(struct ctx *c)
{
    int64_t cur = model_rev(c->m), cmp = model_compact_rev(c->m);
    if (chance(&c->r, 40))
        return 0;
    int64_t lo = cmp - 2, span = cur + 3 - lo;
    return lo + (int64_t)below(&c->r, (uint64_t)span);
}

static Etcdserverpb__RangeRequest *gen_range(struct ctx *c)
{
    Etcdserverpb__RangeRequest *q = qalloc(c, sizeof(*q));
    etcdserverpb__range_request__init(q);
    gen_range_bounds(c, &q->key, &q->range_end);
    q->revision = gen_rev(c);
    q->limit = chance(&c->r, 50) ? 0 : (int64_t)below(&c->r, 6) - 1;
    if (chance(&c->r, 30))
        q->sort_order = (Etcdserverpb__RangeRequest__SortOrder)below(&c->r, 3);
    if (chance(&c->r, 30))
        q->sort_target = (Etcdserverpb__RangeRequest__SortTarget)below(&c->r, 5);
    q->keys_only = chance(&c->r, 15);
    q->count_only = chance(&c->r, 10);
    if (chance(&c->r, 15)) {
        int64_t cur = model_rev(c->m);
        int64_t *f[] = {&q->min_mod_revision, &q->max_mod_revision, &q->min_create_revision,
                        &q->max_create_revision};
        *f[below(&c->r, 4)] = (int64_t)below(&c->r, (uint64_t)cur + 2);
    }
    return q;
}

static Etcdserverpb__PutRequest *gen_put(struct ctx *c)
{
    Etcdserverpb__PutRequest *p = qalloc(c, sizeof(*p));
    etcdserverpb__put_request__init(p);
    p->key = gen_key(c);
    p->value = gen_value(c);
    p->lease = chance(&c->r, 25) ? 1 + (int64_t)below(&c->r, LEASE_IDS) : 0;
    p->prev_kv = chance(&c->r, 50);
    if (chance(&c->r, 10)) {
        p->ignore_value = 1;
        p->value.len = 0;
    }
    if (chance(&c->r, 10)) {
        p->ignore_lease = 1;
        p->lease = 0;
    }
    return p;
}

static Etcdserverpb__DeleteRangeRequest *gen_del(struct ctx *c)
{
    Etcdserverpb__DeleteRangeRequest *d = qalloc(c, sizeof(*d));
    etcdserverpb__delete_range_request__init(d);
    gen_range_bounds(c, &d->key, &d->range_end);
    if (d->range_end.len == 1 && d->range_end.data[0] == 0 && chance(&c->r, 70))
        d->range_end.len = 0; /* deleting everything from a key on: keep it rare */
    d->prev_kv = chance(&c->r, 50);
    return d;
}

static Etcdserverpb__TxnRequest *gen_txn(struct ctx *c, int depth);

static Etcdserverpb__RequestOp *gen_op(struct ctx *c, int depth)
{
    Etcdserverpb__RequestOp *op = qalloc(c, sizeof(*op));
    etcdserverpb__request_op__init(op);
    unsigned k = (unsigned)below(&c->r, depth < 2 ? 10 : 9);
    if (k < 4) {
        op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
        op->request_put = gen_put(c);
    } else if (k < 6) {
        op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
        op->request_delete_range = gen_del(c);
    } else if (k < 9) {
        op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
        op->request_range = gen_range(c);
        if (chance(&c->r, 70))
            op->request_range->revision = 0;
    } else {
        op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
        op->request_txn = gen_txn(c, depth + 1);
    }
    return op;
}

static Etcdserverpb__Compare *gen_compare(struct ctx *c)
{
    Etcdserverpb__Compare *cmp = qalloc(c, sizeof(*cmp));
    etcdserverpb__compare__init(cmp);
    cmp->key = gen_key(c);
    if (chance(&c->r, 20))
        cmp->range_end = prefix_end(c, cmp->key);
    cmp->result = (Etcdserverpb__Compare__CompareResult)below(&c->r, 4);
    cmp->target = (Etcdserverpb__Compare__CompareTarget)below(&c->r, 5);
    int64_t cur = model_rev(c->m);
    /* usually the matching union member, sometimes another (etcd then compares with 0) */
    int tu = chance(&c->r, 90) ? (int)cmp->target : (int)below(&c->r, 5);
    switch (tu) {
    case 0:
        cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
        cmp->version = (int64_t)below(&c->r, 4);
        break;
    case 1:
        cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
        cmp->create_revision = (int64_t)below(&c->r, (uint64_t)cur + 2);
        break;
    case 2:
        cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
        cmp->mod_revision = (int64_t)below(&c->r, (uint64_t)cur + 2);
        break;
    case 3:
        cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
        cmp->value = gen_value(c);
        break;
    default:
        cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
        cmp->lease = (int64_t)below(&c->r, LEASE_IDS + 1);
        break;
    }
    if (chance(&c->r, 3))
        cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION__NOT_SET;
    return cmp;
}

static Etcdserverpb__TxnRequest *gen_txn(struct ctx *c, int depth)
{
    Etcdserverpb__TxnRequest *t = qalloc(c, sizeof(*t));
    etcdserverpb__txn_request__init(t);
    t->n_compare = below(&c->r, 3);
    t->compare = qalloc(c, (t->n_compare + 1) * sizeof(*t->compare));
    for (size_t i = 0; i < t->n_compare; i++)
        t->compare[i] = gen_compare(c);
    t->n_success = below(&c->r, TXN_OPS_MAX + 1);
    t->n_failure = below(&c->r, TXN_OPS_MAX + 1);
    t->success = qalloc(c, (t->n_success + 1) * sizeof(*t->success));
    t->failure = qalloc(c, (t->n_failure + 1) * sizeof(*t->failure));
    for (size_t i = 0; i < t->n_success; i++)
        t->success[i] = gen_op(c, depth);
    for (size_t i = 0; i < t->n_failure; i++)
        t->failure[i] = gen_op(c, depth);
    return t;
}

static void gen_write(struct ctx *c, struct store_op *op)
{
    unsigned k = (unsigned)below(&c->r, 1000);
    memset(op, 0, sizeof(*op));
    if (k < 420) {
        op->kind = STORE_OP_PUT;
        op->put = gen_put(c);
    } else if (k < 560) {
        op->kind = STORE_OP_DELETE_RANGE;
        op->delete_range = gen_del(c);
    } else if (k < 860) {
        op->kind = STORE_OP_TXN;
        op->txn = gen_txn(c, 0);
    } else if (k < 868) {
        Etcdserverpb__CompactionRequest *q = qalloc(c, sizeof(*q));
        etcdserverpb__compaction_request__init(q);
        int64_t cur = model_rev(c->m);
        q->revision = cur - (int64_t)below(&c->r, 300);
        if (chance(&c->r, 10))
            q->revision = cur + 1 - (int64_t)below(&c->r, 3);
        op->kind = STORE_OP_COMPACT;
        op->compact = q;
    } else if (k < 925) {
        Etcdserverpb__LeaseGrantRequest *g = qalloc(c, sizeof(*g));
        etcdserverpb__lease_grant_request__init(g);
        g->id = (int64_t)below(&c->r, LEASE_IDS + 1);
        g->ttl = (int64_t)below(&c->r, 20) - 1;
        if (chance(&c->r, 3))
            g->ttl = STORE_LEASE_TTL_MAX_S + 1;
        op->kind = STORE_OP_LEASE_GRANT;
        op->lease_grant = g;
    } else if (k < 955) {
        Etcdserverpb__LeaseRevokeRequest *rv = qalloc(c, sizeof(*rv));
        etcdserverpb__lease_revoke_request__init(rv);
        rv->id = 1 + (int64_t)below(&c->r, LEASE_IDS);
        op->kind = STORE_OP_LEASE_REVOKE;
        op->lease_revoke = rv;
    } else if (k < 975) {
        Etcdserverpb__LeaseCheckpointRequest *q = qalloc(c, sizeof(*q));
        etcdserverpb__lease_checkpoint_request__init(q);
        q->n_checkpoints = 1 + below(&c->r, 2);
        q->checkpoints = qalloc(c, q->n_checkpoints * sizeof(*q->checkpoints));
        for (size_t i = 0; i < q->n_checkpoints; i++) {
            q->checkpoints[i] = qalloc(c, sizeof(**q->checkpoints));
            etcdserverpb__lease_checkpoint__init(q->checkpoints[i]);
            q->checkpoints[i]->id = 1 + (int64_t)below(&c->r, LEASE_IDS);
            q->checkpoints[i]->remaining_ttl = (int64_t)below(&c->r, 30);
        }
        op->kind = STORE_OP_LEASE_CHECKPOINT;
        op->lease_checkpoint = q;
    } else if (k < 985) {
        Etcdserverpb__AlarmRequest *q = qalloc(c, sizeof(*q));
        etcdserverpb__alarm_request__init(q);
        if (c->n_alarms > 0 && chance(&c->r, 75)) {
            /* switch an active one off again: alarms refuse most writes while on */
            size_t i = below(&c->r, c->n_alarms);
            q->action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE;
            q->memberid = c->alarms[i][0];
            q->alarm = (Etcdserverpb__AlarmType)c->alarms[i][1];
            c->alarms[i][0] = c->alarms[c->n_alarms - 1][0];
            c->alarms[i][1] = c->alarms[c->n_alarms - 1][1];
            c->n_alarms--;
        } else {
            q->action = (Etcdserverpb__AlarmRequest__AlarmAction)below(&c->r, 3);
            q->memberid = 1 + below(&c->r, 2);
            q->alarm = chance(&c->r, 20) ? ETCDSERVERPB__ALARM_TYPE__CORRUPT
                                         : (Etcdserverpb__AlarmType)below(&c->r, 2);
            int known = 0;
            for (size_t i = 0; i < c->n_alarms; i++)
                known |= c->alarms[i][0] == q->memberid && c->alarms[i][1] == (uint64_t)q->alarm;
            if (q->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE &&
                q->alarm != ETCDSERVERPB__ALARM_TYPE__NONE && !known && c->n_alarms < 8) {
                c->alarms[c->n_alarms][0] = q->memberid;
                c->alarms[c->n_alarms][1] = (uint64_t)q->alarm;
                c->n_alarms++;
            }
            if (q->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE && known)
                q->action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET;
            if (q->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE && known)
                q->action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET;
            if (q->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE &&
                c->n_alarms >= 8)
                q->action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET;
        }
        op->kind = STORE_OP_ALARM;
        op->alarm = q;
    } else {
        op->kind = STORE_OP_NOOP;
    }
}

/* ---- checking ---- */

static void fail_at(struct ctx *c, const char *what)
{
    fprintf(stderr,
            "MISMATCH (%s) at op %" PRIu64 " index %" PRIu64 " seed %" PRIu64
            "; replay: test_store_prop %" PRIu64 " %" PRIu64 "\n",
            what, c->ops, c->index, g_seed, g_seed, c->ops + 1);
    fail_msg("store and model disagree: %s", what);
}

static void check_msg(struct ctx *c, const ProtobufCMessage *a, const ProtobufCMessage *b,
                      const char *what)
{
    if (!tu_msg_equal(a, b))
        fail_at(c, what);
}

static void compare_result(struct ctx *c, const struct store_op *op, struct store_result *sr,
                           struct store_result *mr)
{
    if (sr->err != mr->err) {
        fprintf(stderr, "kind %d: store err %d (%s), model err %d (%s)\n", op->kind, sr->err,
                cairn_strerror(sr->err), mr->err, cairn_strerror(mr->err));
        fail_at(c, "apply error");
    }
    if (sr->revision != mr->revision) {
        fprintf(stderr, "kind %d: store rev %" PRId64 ", model rev %" PRId64 "\n", op->kind,
                sr->revision, mr->revision);
        fail_at(c, "apply revision");
    }
    if (sr->skipped)
        fail_at(c, "skipped");
    const ProtobufCMessage *a = NULL, *b = NULL;
    switch (op->kind) {
    case STORE_OP_PUT:
        a = (const ProtobufCMessage *)sr->put;
        b = (const ProtobufCMessage *)mr->put;
        break;
    case STORE_OP_DELETE_RANGE:
        a = (const ProtobufCMessage *)sr->delete_range;
        b = (const ProtobufCMessage *)mr->delete_range;
        break;
    case STORE_OP_TXN:
        a = (const ProtobufCMessage *)sr->txn;
        b = (const ProtobufCMessage *)mr->txn;
        break;
    case STORE_OP_COMPACT:
        a = (const ProtobufCMessage *)sr->compact;
        b = (const ProtobufCMessage *)mr->compact;
        break;
    case STORE_OP_LEASE_GRANT:
        a = (const ProtobufCMessage *)sr->lease_grant;
        b = (const ProtobufCMessage *)mr->lease_grant;
        break;
    case STORE_OP_LEASE_REVOKE:
        a = (const ProtobufCMessage *)sr->lease_revoke;
        b = (const ProtobufCMessage *)mr->lease_revoke;
        break;
    case STORE_OP_LEASE_CHECKPOINT:
        a = (const ProtobufCMessage *)sr->lease_checkpoint;
        b = (const ProtobufCMessage *)mr->lease_checkpoint;
        break;
    case STORE_OP_ALARM:
        a = (const ProtobufCMessage *)sr->alarm;
        b = (const ProtobufCMessage *)mr->alarm;
        break;
    case STORE_OP_NOOP:
        break;
    }
    check_msg(c, a, b, "response");
    if (sr->n_events != mr->n_events)
        fail_at(c, "event count");
    for (size_t i = 0; i < sr->n_events; i++)
        check_msg(c, &sr->events[i]->base, &mr->events[i]->base, "event");
}

static void reset_arenas(struct ctx *c)
{
    store_arena_reset(&c->req);
    store_arena_reset(&c->sa);
    store_arena_reset(&c->ma);
}

static void do_batch(struct ctx *c)
{
    size_t n = 1 + below(&c->r, chance(&c->r, 80) ? 4 : BATCH_MAX);
    struct store_op ops[BATCH_MAX];
    struct store_result sres[BATCH_MAX], mres[BATCH_MAX];
    struct store_batch *b;
    assert_int_equal(store_batch_begin(c->s, STORE_BATCH_EVENTS_PREV_KV, &b), 0);
    for (size_t i = 0; i < n; i++) {
        gen_write(c, &ops[i]);
        if (ops[i].kind == STORE_OP_TXN && store_check_txn(ops[i].txn, 128) != 0 &&
            chance(&c->r, 70))
            ops[i].kind = STORE_OP_NOOP; /* the front end would refuse it */
        model_apply(c->m, &ops[i], c->ma_p, &mres[i]);
        assert_int_equal(store_batch_apply(b, ++c->index, 1, &ops[i], c->sa_p, &sres[i]), 0);
        c->stats[ops[i].kind]++;
    }
    assert_int_equal(store_batch_commit(b), 0);
    for (size_t i = 0; i < n; i++) {
        compare_result(c, &ops[i], &sres[i], &mres[i]);
        if (sres[i].err < -42000 && sres[i].err > -42064)
            c->errs[-42000 - sres[i].err]++;
        c->ops++;
    }
    reset_arenas(c);
}

static void do_range(struct ctx *c)
{
    Etcdserverpb__RangeRequest *q = gen_range(c);
    struct store_read *r;
    assert_int_equal(store_read_begin(c->s, &r), 0);
    Etcdserverpb__RangeResponse *sr = NULL, *mr = NULL;
    int se = store_range(r, q, c->sa_p, &sr);
    int me = model_range(c->m, q, c->ma_p, &mr);
    if (se != me)
        fail_at(c, "range error");
    if (se == 0)
        check_msg(c, &sr->base, &mr->base, "range");
    store_read_end(r);
    c->ops++;
    c->stats[10]++;
    reset_arenas(c);
}

static void do_history(struct ctx *c)
{
    ProtobufCBinaryData key, end;
    gen_range_bounds(c, &key, &end);
    int64_t cur = model_rev(c->m), cmp = model_compact_rev(c->m);
    int64_t lo = cmp + 1 > 1 ? cmp + 1 : 1;
    int64_t start = cur - (int64_t)below(&c->r, 200);
    if (start < lo)
        start = lo;
    int prev = chance(&c->r, 50);
    Mvccpb__Event **mev;
    size_t mn;
    assert_int_equal(
        model_history(c->m, key.data, key.len, end.data, end.len, prev, start, c->ma_p, &mev, &mn),
        0);
    struct store_read *r;
    assert_int_equal(store_read_begin(c->s, &r), 0);
    struct store_rev pos = {start, 0};
    size_t got = 0, per = 1 + below(&c->r, 20);
    for (int calls = 0; pos.main <= cur; calls++) {
        Mvccpb__Event **ev;
        size_t n;
        int64_t crev;
        assert_true(calls < 100000);
        assert_int_equal(store_watch_history(r, key.data, key.len, end.data, end.len, prev, &pos,
                                             per, c->sa_p, &ev, &n, &crev),
                         0);
        for (size_t i = 0; i < n; i++, got++) {
            if (got >= mn)
                fail_at(c, "history: too many events");
            check_msg(c, &ev[i]->base, &mev[got]->base, "history event");
        }
    }
    if (got != mn)
        fail_at(c, "history: events missing");
    store_read_end(r);
    c->ops++;
    c->stats[11]++;
    reset_arenas(c);
}

static void do_lease_get(struct ctx *c)
{
    int64_t id = 1 + (int64_t)below(&c->r, LEASE_IDS);
    struct store_lease sl, ml;
    ProtobufCBinaryData *sk = NULL, *mk = NULL;
    size_t sn = 0, mn = 0;
    struct store_read *r;
    assert_int_equal(store_read_begin(c->s, &r), 0);
    int se = store_lease_get(r, id, &sl, c->sa_p, 1000, &sk, &sn);
    int me = model_lease_get(c->m, id, &ml, c->ma_p, &mk, &mn);
    if (se != me)
        fail_at(c, "lease get error");
    if (se == 0) {
        if (sl.ttl_s != ml.ttl_s || sl.remaining_ttl_s != ml.remaining_ttl_s || sn != mn)
            fail_at(c, "lease get");
        for (size_t i = 0; i < sn; i++)
            if (sk[i].len != mk[i].len || memcmp(sk[i].data, mk[i].data, sk[i].len) != 0)
                fail_at(c, "lease keys");
    }
    store_read_end(r);
    c->ops++;
    reset_arenas(c);
}

static uint32_t store_hash_at(struct store *s, int64_t rev, int *err)
{
    struct store_read *r;
    CAIRN_ASSERT(store_read_begin(s, &r) == 0);
    uint32_t h = 0;
    int64_t cr, hr;
    *err = store_hash_kv(r, rev, &h, &cr, &hr);
    store_read_end(r);
    return h;
}

static void do_hash(struct ctx *c)
{
    int64_t cur = model_rev(c->m), cmp = model_compact_rev(c->m);
    int64_t rev = chance(&c->r, 30) ? 0 : cmp + (int64_t)below(&c->r, (uint64_t)(cur - cmp) + 2);
    uint32_t mh = 0;
    int me = model_hash(c->m, rev, &mh);
    int se;
    uint32_t sh = store_hash_at(c->s, rev, &se);
    if (se != me || (se == 0 && sh != mh)) {
        fprintf(stderr, "hash at %" PRId64 ": store %d/%08x model %d/%08x\n", rev, se, sh, me, mh);
        fail_at(c, "hash");
    }
    c->ops++;
    c->stats[12]++;
}

/* A restored copy must hash and read like the original. */
static void do_snapshot_restore(struct ctx *c)
{
    char *d2 = tu_tmpdir("prop2");
    struct store *s2 = tu_open(d2, 0, 0);
    struct store_snapshot *ss;
    struct raft_snapshot_meta meta;
    uint64_t size;
    assert_int_equal(store_snapshot_begin(c->s, &ss, &meta, &size), 0);
    assert_int_equal(meta.index, c->index);
    struct store_restore *rs;
    assert_int_equal(store_restore_begin(s2, &rs), 0);
    static uint8_t buf[65536];
    size_t n;
    do {
        assert_int_equal(store_snapshot_read(ss, buf, sizeof(buf), &n), 0);
        assert_int_equal(store_restore_write(rs, buf, n), 0);
    } while (n > 0);
    store_snapshot_end(ss);
    assert_int_equal(store_restore_finish(rs, NULL), 0);
    int e1, e2;
    if (store_hash_at(c->s, 0, &e1) != store_hash_at(s2, 0, &e2) || e1 || e2)
        fail_at(c, "restored hash");
    store_close(s2);
    tu_rmdir(d2);
}

static void run(void **state)
{
    (void)state;
    struct ctx *c = calloc(1, sizeof(*c));
    c->r.s = g_seed;
    c->dir = tu_tmpdir("prop");
    c->s = tu_open(c->dir, 0, 256 << 10); /* a small map: growth happens mid-run */
    c->m = model_new(0);
    store_arena_init(&c->req, 1 << 16);
    store_arena_init(&c->sa, 1 << 16);
    store_arena_init(&c->ma, 1 << 16);
    c->qa = store_arena_allocator(&c->req);
    c->sa_p = store_arena_allocator(&c->sa);
    c->ma_p = store_arena_allocator(&c->ma);
    uint64_t next_reopen = 7000, next_defrag = 25000, next_snap = 30000, next_hash = 5000;
    while (c->ops < g_ops) {
        unsigned k = (unsigned)below(&c->r, 100);
        if (k < 50)
            do_batch(c);
        else if (k < 88)
            do_range(c);
        else if (k < 91)
            do_history(c);
        else if (k < 95)
            do_lease_get(c);
        else {
            int done;
            assert_int_equal(store_compact_work(c->s, 1 + (uint32_t)below(&c->r, 40), &done), 0);
        }
        if (c->ops >= next_hash) {
            do_hash(c);
            next_hash += 5000;
        }
        if (c->ops >= next_reopen) {
            store_close(c->s);
            c->s = tu_open(c->dir, 0, 256 << 10);
            next_reopen += 7000;
        }
        if (c->ops >= next_defrag) {
            struct store_defrag_report rep;
            assert_int_equal(store_defrag(c->s, &rep), 0);
            next_defrag += 25000;
        }
        if (c->ops >= next_snap) {
            do_snapshot_restore(c);
            next_snap += 30000;
        }
    }
    do_hash(c);
    struct store_size sz;
    assert_int_equal(store_size(c->s, &sz), 0);
    printf("store prop: seed %" PRIu64 " ops %" PRIu64 " rev %" PRId64 " compact %" PRId64
           " | put %" PRIu64 " del %" PRIu64 " txn %" PRIu64 " compact %" PRIu64 " grant %" PRIu64
           " revoke %" PRIu64 " alarm %" PRIu64 " range %" PRIu64 " history %" PRIu64
           " | db %" PRIu64 " KiB map %" PRIu64 " KiB\n",
           g_seed, c->ops, model_rev(c->m), model_compact_rev(c->m), c->stats[STORE_OP_PUT],
           c->stats[STORE_OP_DELETE_RANGE], c->stats[STORE_OP_TXN], c->stats[STORE_OP_COMPACT],
           c->stats[STORE_OP_LEASE_GRANT], c->stats[STORE_OP_LEASE_REVOKE],
           c->stats[STORE_OP_ALARM], c->stats[10], c->stats[11], sz.db_bytes >> 10,
           sz.map_bytes >> 10);
    printf("store prop: refused entries:");
    for (int i = 0; i < 64; i++)
        if (c->errs[i])
            printf(" %s=%" PRIu64, cairn_strerror(-42000 - i), c->errs[i]);
    printf("\n");
    store_close(c->s);
    model_free(c->m);
    store_arena_destroy(&c->req);
    store_arena_destroy(&c->sa);
    store_arena_destroy(&c->ma);
    tu_rmdir(c->dir);
    free(c);
}

int main(int argc, char **argv)
{
    const char *seed = argc > 1 ? argv[1] : getenv("CAIRN_STORE_SEED");
    const char *ops = argc > 2 ? argv[2] : getenv("CAIRN_STORE_OPS");
    g_seed = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    if (ops)
        g_ops = strtoull(ops, NULL, 0);
    printf("store prop: seed %" PRIu64 " ops %" PRIu64 " (replay: %s %" PRIu64 " %" PRIu64 ")\n",
           g_seed, g_ops, argv[0], g_seed, g_ops);
    fflush(stdout);
    const struct CMUnitTest tests[] = {cmocka_unit_test(run)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
