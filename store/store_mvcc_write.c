/* MVCC writes with etcd's semantics: put, delete range and txn (compares, checks, nested
 * txns), each change at revision (main, sub) with events for the watch hub. */
#include "store_wtx.h"

#include <stdlib.h>
#include <string.h>

#define TXN_DEPTH_MAX STORE_TXN_DEPTH_MAX
#define TXN_ABORT     (-42989) /* internal: a guarded txn must be rolled back */

void wtx_write_begin(struct store_wtx *w)
{
    CAIRN_ASSERT(w->op_sub == 0);
    w->op_main = w->rev + 1;
}

void wtx_write_end(struct store_wtx *w)
{
    CAIRN_ASSERT(w->op_main == w->rev + 1);
    if (w->op_sub > 0)
        w->rev = w->op_main; /* one main revision per write that changed something */
    w->op_sub = 0;
}

static int ev_push(struct store_wtx *w, Mvccpb__Event__EventType type, Mvccpb__KeyValue *kv,
                   const struct store_kv_ref *prev)
{
    Mvccpb__Event *e = store_alloc(w->arena, sizeof(*e));
    if (e == NULL)
        return CAIRN_ENOMEM;
    mvccpb__event__init(e);
    e->type = type;
    e->kv = kv;
    if (prev != NULL && (w->flags & STORE_BATCH_EVENTS_PREV_KV)) {
        e->prev_kv = store_kv_make(w->arena, 1, prev, 0);
        if (e->prev_kv == NULL)
            return CAIRN_ENOMEM;
    }
    if (w->n_ev == w->cap_ev) {
        size_t cap = w->cap_ev ? w->cap_ev * 2 : 16;
        Mvccpb__Event **nv = realloc(w->ev, cap * sizeof(*nv));
        if (nv == NULL)
            return CAIRN_ENOMEM;
        w->ev = nv;
        w->cap_ev = cap;
    }
    w->ev[w->n_ev++] = e;
    return 0;
}

static int rev_put(struct store_wtx *w, struct store_rev rev, uint8_t flags, const uint8_t *key,
                   size_t klen)
{
    uint8_t rbuf[STORE_REV_BYTES];
    store_rev_encode(rev, rbuf);
    MDB_val rk = {STORE_REV_BYTES, rbuf}, rd = {1 + klen, NULL};
    /* Revisions only grow: the history database is appended to, never inserted into. */
    int rc = mdb_put(w->txn, w->db->rev, &rk, &rd, MDB_APPEND | MDB_RESERVE);
    if (rc == MDB_KEYEXIST)
        return CAIRN_ECORRUPT;
    if (rc != 0)
        return store_lmdb_err(rc);
    uint8_t *p = rd.mv_data;
    p[0] = flags;
    if (klen)
        memcpy(p + 1, key, klen);
    return 0;
}

static int idx_put(struct store_wtx *w, const uint8_t *key, size_t klen, struct store_rev rev,
                   uint8_t flags, int64_t create, int64_t version, int64_t lease,
                   const uint8_t *val, size_t vlen)
{
    uint8_t kbuf[STORE_MAX_KEY_BYTES + STORE_REV_BYTES];
    store_kidx_key(key, klen, rev, kbuf);
    MDB_val k = {klen + STORE_REV_BYTES, kbuf}, d = {STORE_REC_HDR_BYTES + vlen, NULL};
    int rc = mdb_put(w->txn, w->db->kidx, &k, &d, MDB_RESERVE);
    if (rc != 0)
        return store_lmdb_err(rc);
    uint8_t *p = d.mv_data;
    p[0] = flags;
    store_u64_encode((uint64_t)create, p + 1);
    store_u64_encode((uint64_t)version, p + 9);
    store_u64_encode((uint64_t)lease, p + 17);
    if (vlen)
        memcpy(p + STORE_REC_HDR_BYTES, val, vlen);
    return 0;
}

static int leasekey_op(struct store_wtx *w, int64_t lease, const uint8_t *key, size_t klen,
                       int attach)
{
    uint8_t buf[STORE_U64_BYTES + STORE_MAX_KEY_BYTES];
    store_lease_key(lease, buf);
    memcpy(buf + STORE_U64_BYTES, key, klen);
    MDB_val k = {STORE_U64_BYTES + klen, buf}, d = {0, NULL};
    int rc = attach ? mdb_put(w->txn, w->db->leasekey, &k, &d, 0)
                    : mdb_del(w->txn, w->db->leasekey, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
}

/* Writes key = val at the write's next sub revision. key and val must stay valid as long as
 * the arena (they back the event). prev: the key's live value, NULL if absent or deleted. */
static int put_kv(struct store_wtx *w, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, int64_t lease, const struct store_kv_ref *prev)
{
    CAIRN_ASSERT(klen > 0 && klen <= STORE_MAX_KEY_BYTES);
    CAIRN_ASSERT(w->op_main == w->rev + 1);
    struct store_rev rev = {w->op_main, w->op_sub};
    int64_t create = prev ? prev->create_rev : w->op_main;
    int64_t version = prev ? prev->version + 1 : 1;
    int64_t old_lease = prev ? prev->lease : 0;
    int rc = 0;
    if (w->flags & STORE_BATCH_EVENTS) {
        /* Built before the write: prev points into pages the write may move. */
        Mvccpb__KeyValue *kv = store_alloc(w->arena, sizeof(*kv));
        if (kv == NULL)
            return CAIRN_ENOMEM;
        mvccpb__key_value__init(kv);
        kv->key.data = (uint8_t *)key;
        kv->key.len = klen;
        kv->value.data = vlen ? (uint8_t *)val : NULL;
        kv->value.len = vlen;
        kv->create_revision = create;
        kv->mod_revision = w->op_main;
        kv->version = version;
        kv->lease = lease;
        rc = ev_push(w, MVCCPB__EVENT__EVENT_TYPE__PUT, kv, prev);
    }
    if (rc == 0)
        rc = idx_put(w, key, klen, rev, 0, create, version, lease, val, vlen);
    if (rc == 0)
        rc = rev_put(w, rev, 0, key, klen);
    if (rc == 0 && old_lease != 0 && old_lease != lease)
        rc = leasekey_op(w, old_lease, key, klen, 0);
    if (rc == 0 && lease != 0 && lease != old_lease)
        rc = leasekey_op(w, lease, key, klen, 1);
    if (rc == 0)
        w->op_sub++;
    return rc;
}

int wtx_delete_key(struct store_wtx *w, const uint8_t *key, size_t klen,
                   const struct store_kv_ref *prev)
{
    CAIRN_ASSERT(prev != NULL && !prev->tombstone);
    CAIRN_ASSERT(w->op_main == w->rev + 1 && klen <= STORE_MAX_KEY_BYTES);
    struct store_rev rev = {w->op_main, w->op_sub};
    int rc = 0;
    if (w->flags & STORE_BATCH_EVENTS) {
        Mvccpb__KeyValue *kv = store_alloc(w->arena, sizeof(*kv));
        if (kv == NULL)
            return CAIRN_ENOMEM;
        mvccpb__key_value__init(kv); /* etcd: only the key and the deletion revision */
        kv->key.data = (uint8_t *)key;
        kv->key.len = klen;
        kv->mod_revision = w->op_main;
        rc = ev_push(w, MVCCPB__EVENT__EVENT_TYPE__DELETE, kv, prev);
    }
    int64_t lease = prev->lease;
    if (rc == 0)
        rc = idx_put(w, key, klen, rev, STORE_REC_TOMBSTONE, 0, 0, 0, NULL, 0);
    if (rc == 0)
        rc = rev_put(w, rev, STORE_REC_TOMBSTONE, key, klen);
    if (rc == 0 && lease != 0)
        rc = leasekey_op(w, lease, key, klen, 0);
    if (rc == 0)
        w->op_sub++;
    return rc;
}

/* The key's live value at the current revision: 0 with *live set, or an error. */
static int live_value(struct store_wtx *w, const uint8_t *key, size_t klen, struct store_kv_ref *kv,
                      int *live)
{
    int rc = store_kv_latest(w->kc, key, klen, INT64_MAX, kv);
    *live = rc == 0 && !kv->tombstone;
    return rc == CAIRN_ENOTFOUND ? 0 : rc;
}

/* etcd's checks before a put writes: standalone puts look up the lease first, puts inside
 * a txn the previous value first (checkRequestPut). */
static int put_check(struct store_wtx *w, const Etcdserverpb__PutRequest *req, int in_txn, int *err)
{
    *err = 0;
    if (req->key.len == 0) {
        *err = CAIRN_EEMPTYKEY;
        return 0;
    }
    if (req->key.len > STORE_MAX_KEY_BYTES) {
        *err = CAIRN_ETOOLARGE;
        return 0;
    }
    int exists = 1, rc = 0;
    if (!in_txn && req->lease != 0) {
        rc = wtx_lease_exists(w, req->lease, &exists);
        if (rc != 0 || !exists) {
            *err = exists ? 0 : CAIRN_ELEASENOTFOUND;
            return rc;
        }
    }
    if (req->ignore_value || req->ignore_lease) {
        struct store_kv_ref kv;
        int live;
        rc = live_value(w, req->key.data, req->key.len, &kv, &live);
        if (rc != 0 || !live) {
            *err = live ? 0 : CAIRN_EKEYNOTFOUND;
            return rc;
        }
    }
    if (in_txn && req->lease != 0) {
        rc = wtx_lease_exists(w, req->lease, &exists);
        if (rc == 0 && !exists)
            *err = CAIRN_ELEASENOTFOUND;
    }
    return rc;
}

/* The put itself; the write must be open. */
static int do_put(struct store_wtx *w, const Etcdserverpb__PutRequest *req,
                  Etcdserverpb__PutResponse **out)
{
    const uint8_t *key = req->key.data;
    size_t klen = req->key.len;
    struct store_kv_ref prev;
    int live;
    int rc = live_value(w, key, klen, &prev, &live);
    if (rc != 0)
        return rc;
    if (!live && (req->ignore_value || req->ignore_lease))
        return TXN_ABORT; /* deleted earlier in the same txn: only a guarded txn gets here */
    Etcdserverpb__PutResponse *resp = store_alloc(w->arena, sizeof(*resp));
    if (resp == NULL)
        return CAIRN_ENOMEM;
    etcdserverpb__put_response__init(resp);
    resp->header = store_header(w->arena, 0);
    if (resp->header == NULL)
        return CAIRN_ENOMEM;
    if (req->prev_kv && live && (resp->prev_kv = store_kv_make(w->arena, 1, &prev, 0)) == NULL)
        return CAIRN_ENOMEM;
    ProtobufCBinaryData val = req->value;
    if (req->ignore_value && store_bytes(w->arena, 1, prev.value, prev.value_len, &val) != 0)
        return CAIRN_ENOMEM;
    int64_t lease = req->ignore_lease ? prev.lease : req->lease;
    rc = put_kv(w, key, klen, val.data, val.len, lease, live ? &prev : NULL);
    resp->header->revision = w->op_main;
    *out = resp;
    return rc;
}

int wtx_op_put(struct store_wtx *w, const Etcdserverpb__PutRequest *req,
               Etcdserverpb__PutResponse **out, int *err)
{
    int rc = put_check(w, req, 0, err);
    if (rc != 0 || *err != 0)
        return rc;
    wtx_write_begin(w);
    rc = do_put(w, req, out);
    CAIRN_ASSERT(rc != TXN_ABORT); /* put_check saw the key */
    wtx_write_end(w);
    return rc;
}

/* ---- delete range ---- */

struct del_keys {
    struct store_wtx *w;
    ProtobufCBinaryData *keys;
    Mvccpb__KeyValue **prev;
    size_t n, cap;
    int want_prev;
};

static int del_collect(void *arg, const struct store_kv_ref *kv)
{
    struct del_keys *dk = arg;
    if (dk->n == dk->cap) {
        size_t cap = dk->cap ? dk->cap * 2 : 16;
        ProtobufCBinaryData *nk = realloc(dk->keys, cap * sizeof(*nk));
        if (nk == NULL)
            return CAIRN_ENOMEM;
        dk->keys = nk;
        Mvccpb__KeyValue **np = realloc(dk->prev, cap * sizeof(*np));
        if (np == NULL)
            return CAIRN_ENOMEM;
        dk->prev = np;
        dk->cap = cap;
    }
    /* Copied now: the deletes below rewrite the pages kv points into. */
    if (store_bytes(dk->w->arena, 1, kv->key, kv->key_len, &dk->keys[dk->n]) != 0)
        return CAIRN_ENOMEM;
    dk->prev[dk->n] = NULL;
    if (dk->want_prev && (dk->prev[dk->n] = store_kv_make(dk->w->arena, 1, kv, 0)) == NULL)
        return CAIRN_ENOMEM;
    dk->n++;
    return 0;
}

static int do_delete_range(struct store_wtx *w, const Etcdserverpb__DeleteRangeRequest *req,
                           Etcdserverpb__DeleteRangeResponse **out)
{
    Etcdserverpb__DeleteRangeResponse *resp = store_alloc(w->arena, sizeof(*resp));
    if (resp == NULL)
        return CAIRN_ENOMEM;
    etcdserverpb__delete_range_response__init(resp);
    resp->header = store_header(w->arena, 0);
    if (resp->header == NULL)
        return CAIRN_ENOMEM;
    struct del_keys dk = {.w = w, .want_prev = req->prev_kv};
    int rc = store_kv_scan(w->kc, req->key.data, req->key.len, req->range_end.data,
                           req->range_end.len, wtx_cur_rev(w), del_collect, &dk);
    for (size_t i = 0; rc == 0 && i < dk.n; i++) {
        struct store_kv_ref prev;
        int live;
        rc = live_value(w, dk.keys[i].data, dk.keys[i].len, &prev, &live);
        CAIRN_ASSERT(rc != 0 || live);
        if (rc == 0)
            rc = wtx_delete_key(w, dk.keys[i].data, dk.keys[i].len, &prev);
    }
    if (rc == 0 && req->prev_kv && dk.n > 0) {
        resp->prev_kvs = store_alloc(w->arena, dk.n * sizeof(*resp->prev_kvs));
        if (resp->prev_kvs == NULL)
            rc = CAIRN_ENOMEM;
        else
            memcpy(resp->prev_kvs, dk.prev, dk.n * sizeof(*resp->prev_kvs));
        resp->n_prev_kvs = dk.n;
    }
    resp->deleted = (int64_t)dk.n;
    resp->header->revision = wtx_cur_rev(w);
    free(dk.keys);
    free(dk.prev);
    *out = resp;
    return rc;
}

int wtx_op_delete_range(struct store_wtx *w, const Etcdserverpb__DeleteRangeRequest *req,
                        Etcdserverpb__DeleteRangeResponse **out)
{
    wtx_write_begin(w);
    int rc = do_delete_range(w, req, out);
    wtx_write_end(w);
    return rc;
}

/* ---- txn ---- */

struct cmp_state {
    const Etcdserverpb__Compare *c;
    int ok;
    size_t n;
};

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

/* etcd's compareKV; kv == NULL is the zero KeyValue of a missing key. */
static int compare_kv(const Etcdserverpb__Compare *c, const struct store_kv_ref *kv)
{
    int result = 0;
    int64_t want = 0;
    switch (c->target) {
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE: {
        const uint8_t *v = NULL;
        size_t vl = 0;
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE) {
            v = c->value.data;
            vl = c->value.len;
        }
        result = kv ? store_bytes_cmp(kv->value, kv->value_len, v, vl) : (vl ? -1 : 0);
        break;
    }
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE:
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION)
            want = c->create_revision;
        result = cmp_i64(kv ? kv->create_rev : 0, want);
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD:
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION)
            want = c->mod_revision;
        result = cmp_i64(kv ? kv->mod.main : 0, want);
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION:
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION)
            want = c->version;
        result = cmp_i64(kv ? kv->version : 0, want);
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE:
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE)
            want = c->lease;
        result = cmp_i64(kv ? kv->lease : 0, want);
        break;
    default:
        break;
    }
    switch (c->result) {
    case ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL:
        return result == 0;
    case ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL:
        return result != 0;
    case ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER:
        return result > 0;
    case ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS:
        return result < 0;
    default:
        return 1;
    }
}

static int cmp_each(void *arg, const struct store_kv_ref *kv)
{
    struct cmp_state *cs = arg;
    cs->n++;
    if (!compare_kv(cs->c, kv)) {
        cs->ok = 0;
        return 1;
    }
    return 0;
}

static int apply_compares(struct store_wtx *w, const Etcdserverpb__TxnRequest *t, int *ok)
{
    *ok = 1;
    for (size_t i = 0; i < t->n_compare && *ok; i++) {
        const Etcdserverpb__Compare *c = t->compare[i];
        struct cmp_state cs = {c, 1, 0};
        int rc = store_kv_scan(w->kc, c->key.data, c->key.len, c->range_end.data, c->range_end.len,
                               w->rev, cmp_each, &cs);
        if (rc != 0)
            return rc;
        if (cs.n == 0) /* a missing key: a value compare always fails */
            cs.ok =
                c->target != ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE && compare_kv(c, NULL);
        *ok = cs.ok;
    }
    return 0;
}

struct txn_path {
    uint8_t *v;
    size_t n, cap;
};

static int path_push(struct txn_path *p, uint8_t ok)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        uint8_t *nv = realloc(p->v, cap);
        if (nv == NULL)
            return CAIRN_ENOMEM;
        p->v = nv;
        p->cap = cap;
    }
    p->v[p->n++] = ok;
    return 0;
}

static void txn_branch(const Etcdserverpb__TxnRequest *t, int ok, Etcdserverpb__RequestOp ***ops,
                       size_t *n)
{
    *ops = ok ? t->success : t->failure;
    *n = ok ? t->n_success : t->n_failure;
}

/* etcd's compareToPath: every compare on the taken path, nested ones included, sees the
 * state before the txn. */
static int compare_to_path(struct store_wtx *w, const Etcdserverpb__TxnRequest *t,
                           struct txn_path *p, int depth)
{
    CAIRN_ASSERT(depth <= TXN_DEPTH_MAX);
    int ok;
    int rc = apply_compares(w, t, &ok);
    if (rc == 0)
        rc = path_push(p, (uint8_t)ok);
    Etcdserverpb__RequestOp **ops;
    size_t n;
    txn_branch(t, ok, &ops, &n);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (ops[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN)
            rc = compare_to_path(w, ops[i]->request_txn, p, depth + 1);
    return rc;
}

/* etcd's checkRequests along the path: pass 0 checks puts, pass 1 range revisions. */
static int check_path(struct store_wtx *w, const Etcdserverpb__TxnRequest *t,
                      const struct txn_path *p, size_t *pos, int pass, int *err)
{
    CAIRN_ASSERT(*pos < p->n);
    Etcdserverpb__RequestOp **ops;
    size_t n;
    txn_branch(t, p->v[(*pos)++], &ops, &n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0 && *err == 0; i++) {
        const Etcdserverpb__RequestOp *op = ops[i];
        if (op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN) {
            rc = check_path(w, op->request_txn, p, pos, pass, err);
        } else if (pass == 0 && op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT) {
            rc = put_check(w, op->request_put, 1, err);
        } else if (pass == 1 &&
                   op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE) {
            int64_t r = op->request_range->revision;
            if (r != 0 && r > w->rev)
                *err = CAIRN_EFUTUREREV;
            else if (r != 0 && r < w->compact_rev)
                *err = CAIRN_ECOMPACTED;
        }
    }
    return rc;
}

static int exec_ops(struct store_wtx *w, const Etcdserverpb__TxnRequest *t,
                    const struct txn_path *p, size_t *pos, Etcdserverpb__TxnResponse *resp)
{
    CAIRN_ASSERT(*pos < p->n);
    Etcdserverpb__RequestOp **ops;
    size_t n;
    resp->succeeded = p->v[(*pos)++];
    txn_branch(t, resp->succeeded, &ops, &n);
    if (n == 0)
        return 0;
    resp->responses = store_alloc(w->arena, n * sizeof(*resp->responses));
    if (resp->responses == NULL)
        return CAIRN_ENOMEM;
    resp->n_responses = n;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const Etcdserverpb__RequestOp *op = ops[i];
        Etcdserverpb__ResponseOp *ro = store_alloc(w->arena, sizeof(*ro));
        if (ro == NULL)
            return CAIRN_ENOMEM;
        etcdserverpb__response_op__init(ro);
        resp->responses[i] = ro;
        switch (op->request_case) {
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE: {
            struct store_view v = wtx_view(w);
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
            rc = store_view_range(&v, op->request_range, &ro->response_range);
            CAIRN_ASSERT(rc != CAIRN_ECOMPACTED && rc != CAIRN_EFUTUREREV); /* checked */
            break;
        }
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
            rc = do_put(w, op->request_put, &ro->response_put);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
            rc = do_delete_range(w, op->request_delete_range, &ro->response_delete_range);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN: {
            Etcdserverpb__TxnResponse *sub = store_alloc(w->arena, sizeof(*sub));
            if (sub == NULL)
                return CAIRN_ENOMEM;
            etcdserverpb__txn_response__init(sub);
            sub->header = store_header(w->arena, 0); /* etcd: empty header when nested */
            if (sub->header == NULL)
                return CAIRN_ENOMEM;
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
            ro->response_txn = sub;
            rc = exec_ops(w, op->request_txn, p, pos, sub);
            break;
        }
        default:
            CAIRN_ASSERT(0 && "empty op passed store_check_txn");
        }
    }
    return rc;
}

/* Any put with ignore_value / ignore_lease, and any delete, anywhere in the txn. */
static void txn_scan(const Etcdserverpb__TxnRequest *t, int *ignores, int *deletes)
{
    for (int b = 0; b < 2; b++) {
        Etcdserverpb__RequestOp **ops;
        size_t n;
        txn_branch(t, b, &ops, &n);
        for (size_t i = 0; i < n; i++) {
            const Etcdserverpb__RequestOp *op = ops[i];
            if (op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
                *ignores |= op->request_put->ignore_value || op->request_put->ignore_lease;
            else if (op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE)
                *deletes = 1;
            else if (op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN)
                txn_scan(op->request_txn, ignores, deletes);
        }
    }
}

/*
 * A put with ignore_value/ignore_lease after a delete of its key in the same txn (etcd's
 * interval check misses deletes with range_end "\0") finds no previous value halfway
 * through the writes; etcd panics there. Such txns (rare) run in a nested LMDB txn so they
 * can be refused whole with CAIRN_EKEYNOTFOUND instead.
 */
static int exec_guarded(struct store_wtx *w, const Etcdserverpb__TxnRequest *req,
                        const struct txn_path *path, Etcdserverpb__TxnResponse *resp, int *err)
{
    MDB_txn *parent = w->txn, *child;
    MDB_cursor *pkc = w->kc, *ckc;
    int rc = store_lmdb_err(mdb_txn_begin(mdb_txn_env(parent), parent, 0, &child));
    if (rc != 0)
        return rc;
    rc = store_lmdb_err(mdb_cursor_open(child, w->db->kidx, &ckc));
    if (rc != 0) {
        mdb_txn_abort(child);
        return rc;
    }
    size_t n_ev = w->n_ev;
    w->txn = child;
    w->kc = ckc;
    wtx_write_begin(w);
    size_t pos = 0;
    rc = exec_ops(w, req, path, &pos, resp);
    mdb_cursor_close(ckc);
    if (rc == 0) {
        wtx_write_end(w);
        rc = store_lmdb_err(mdb_txn_commit(child));
    } else {
        w->op_sub = 0; /* nothing of it happened */
        w->n_ev = n_ev;
        mdb_txn_abort(child);
        if (rc == TXN_ABORT) {
            *err = CAIRN_EKEYNOTFOUND;
            rc = 0;
        }
    }
    w->txn = parent;
    w->kc = pkc;
    return rc;
}

int wtx_op_txn(struct store_wtx *w, const Etcdserverpb__TxnRequest *req,
               Etcdserverpb__TxnResponse **out, int *err)
{
    /* The front end checks these; repeating them here means no request can fail halfway
     * through its writes (etcd would panic there). */
    *err = store_check_txn(req, SIZE_MAX);
    if (*err != 0)
        return 0;
    struct txn_path path = {0};
    int rc = compare_to_path(w, req, &path, 0);
    size_t pos = 0;
    for (int pass = 0; pass < 2 && rc == 0 && *err == 0; pass++, pos = 0)
        rc = check_path(w, req, &path, &pos, pass, err);
    Etcdserverpb__TxnResponse *resp = NULL;
    if (rc == 0 && *err == 0) {
        resp = store_alloc(w->arena, sizeof(*resp));
        rc = resp ? 0 : CAIRN_ENOMEM;
    }
    if (rc == 0 && *err == 0) {
        etcdserverpb__txn_response__init(resp);
        resp->header = store_header(w->arena, 0);
        rc = resp->header ? 0 : CAIRN_ENOMEM;
    }
    int ignores = 0, deletes = 0;
    txn_scan(req, &ignores, &deletes);
    if (rc == 0 && *err == 0 && ignores && deletes) {
        rc = exec_guarded(w, req, &path, resp, err);
    } else if (rc == 0 && *err == 0) {
        wtx_write_begin(w);
        pos = 0;
        rc = exec_ops(w, req, &path, &pos, resp);
        CAIRN_ASSERT(rc != TXN_ABORT);
        CAIRN_ASSERT(rc != 0 || pos == path.n);
        wtx_write_end(w);
    }
    if (rc == 0 && *err == 0) {
        resp->header->revision = w->rev;
        *out = resp;
    }
    free(path.v);
    return rc;
}
