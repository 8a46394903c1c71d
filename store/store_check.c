/* etcd's request checks before proposing (v3rpc key.go): empty keys, ignore_* misuse, ops
 * per txn and the rule against writing one key twice in a txn; and the quota cost. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

int store_check_range(const Etcdserverpb__RangeRequest *req)
{
    return req->key.len == 0 ? CAIRN_EEMPTYKEY : 0;
}

int store_check_put(const Etcdserverpb__PutRequest *req)
{
    if (req->key.len == 0)
        return CAIRN_EEMPTYKEY;
    if (req->ignore_value && req->value.len != 0)
        return CAIRN_EVALUEPROVIDED;
    if (req->ignore_lease && req->lease != 0)
        return CAIRN_ELEASEPROVIDED;
    return 0;
}

int store_check_delete_range(const Etcdserverpb__DeleteRangeRequest *req)
{
    return req->key.len == 0 ? CAIRN_EEMPTYKEY : 0;
}

static int check_txn(const Etcdserverpb__TxnRequest *r, size_t max_ops, int depth);

static int check_op(const Etcdserverpb__RequestOp *op, size_t max_ops, int depth)
{
    switch (op->request_case) {
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
        return store_check_range(op->request_range);
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
        return store_check_put(op->request_put);
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
        return store_check_delete_range(op->request_delete_range);
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
        return check_txn(op->request_txn, max_ops, depth + 1);
    default:
        return CAIRN_EKEYNOTFOUND; /* etcd: an empty op */
    }
}

static int check_txn(const Etcdserverpb__TxnRequest *r, size_t max_ops, int depth)
{
    if (depth > STORE_TXN_DEPTH_MAX)
        return CAIRN_ELIMIT;
    size_t opc = r->n_compare;
    if (opc < r->n_success)
        opc = r->n_success;
    if (opc < r->n_failure)
        opc = r->n_failure;
    if (opc > max_ops)
        return CAIRN_ETOOMANYOPS;
    for (size_t i = 0; i < r->n_compare; i++)
        if (r->compare[i]->key.len == 0)
            return CAIRN_EEMPTYKEY;
    /* etcd hands nested txns what is left of the budget (maxTxnOps - opc). */
    for (size_t i = 0; i < r->n_success; i++) {
        int rc = check_op(r->success[i], max_ops - opc, depth);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < r->n_failure; i++) {
        int rc = check_op(r->failure[i], max_ops - opc, depth);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- etcd's checkIntervals ---- */

struct ivl {
    const uint8_t *b, *e;
    size_t bl, el; /* el == 0: the point b */
};

struct keyset {
    ProtobufCBinaryData *v;
    size_t n, cap;
};

struct ivlset {
    struct ivl *v;
    size_t n, cap;
};

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 8;
    void *nv = realloc(*v, c * elem);
    if (nv == NULL)
        return CAIRN_ENOMEM;
    *v = nv;
    *cap = c;
    return 0;
}

static int keyset_has(const struct keyset *s, const ProtobufCBinaryData *k)
{
    for (size_t i = 0; i < s->n; i++)
        if (store_bytes_cmp(s->v[i].data, s->v[i].len, k->data, k->len) == 0)
            return 1;
    return 0;
}

static int keyset_add(struct keyset *s, const ProtobufCBinaryData *k)
{
    if (keyset_has(s, k))
        return 0;
    int rc = grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v));
    if (rc == 0)
        s->v[s->n++] = *k;
    return rc;
}

static int ivl_add(struct ivlset *s, struct ivl iv)
{
    int rc = grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v));
    if (rc == 0)
        s->v[s->n++] = iv;
    return rc;
}

/* The point k lies in a delete: [b, e) with plain byte order, or the point b. */
static int dels_hit(const struct ivlset *s, const ProtobufCBinaryData *k)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct ivl *iv = &s->v[i];
        int lo = store_bytes_cmp(iv->b, iv->bl, k->data, k->len);
        if (iv->el == 0 ? lo == 0
                        : (lo <= 0 && store_bytes_cmp(k->data, k->len, iv->e, iv->el) < 0))
            return 1;
    }
    return 0;
}

static int check_intervals(Etcdserverpb__RequestOp **ops, size_t n, struct keyset *puts,
                           struct ivlset *dels);

static int merge_child(const Etcdserverpb__TxnRequest *t, struct keyset *puts, struct ivlset *dels)
{
    struct keyset pthen = {0}, pelse = {0};
    struct ivlset dthen = {0}, delse = {0};
    int rc = check_intervals(t->success, t->n_success, &pthen, &dthen);
    if (rc == 0)
        rc = check_intervals(t->failure, t->n_failure, &pelse, &delse);
    for (size_t i = 0; rc == 0 && i < pthen.n; i++) {
        if (keyset_has(puts, &pthen.v[i]) || dels_hit(dels, &pthen.v[i]))
            rc = CAIRN_EDUPKEY;
        else
            rc = keyset_add(puts, &pthen.v[i]);
    }
    for (size_t i = 0; rc == 0 && i < pelse.n; i++) {
        /* then and else exclude each other: the same key in both is fine */
        if ((keyset_has(puts, &pelse.v[i]) && !keyset_has(&pthen, &pelse.v[i])) ||
            dels_hit(dels, &pelse.v[i]))
            rc = CAIRN_EDUPKEY;
        else
            rc = keyset_add(puts, &pelse.v[i]);
    }
    for (size_t i = 0; rc == 0 && i < dthen.n; i++)
        rc = ivl_add(dels, dthen.v[i]);
    for (size_t i = 0; rc == 0 && i < delse.n; i++)
        rc = ivl_add(dels, delse.v[i]);
    free(pthen.v);
    free(pelse.v);
    free(dthen.v);
    free(delse.v);
    return rc;
}

static int check_intervals(Etcdserverpb__RequestOp **ops, size_t n, struct keyset *puts,
                           struct ivlset *dels)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (ops[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE)
            continue;
        const Etcdserverpb__DeleteRangeRequest *d = ops[i]->request_delete_range;
        rc = ivl_add(dels,
                     (struct ivl){d->key.data, d->range_end.data, d->key.len, d->range_end.len});
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        if (ops[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN)
            rc = merge_child(ops[i]->request_txn, puts, dels);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (ops[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
            continue;
        const ProtobufCBinaryData *k = &ops[i]->request_put->key;
        if (keyset_has(puts, k) || dels_hit(dels, k))
            rc = CAIRN_EDUPKEY;
        else
            rc = keyset_add(puts, k);
    }
    return rc;
}

int store_check_txn(const Etcdserverpb__TxnRequest *req, size_t max_ops)
{
    CAIRN_ASSERT(req != NULL);
    int rc = check_txn(req, max_ops, 0);
    for (int branch = 0; branch < 2 && rc == 0; branch++) {
        struct keyset puts = {0};
        struct ivlset dels = {0};
        rc = branch ? check_intervals(req->failure, req->n_failure, &puts, &dels)
                    : check_intervals(req->success, req->n_success, &puts, &dels);
        free(puts.v);
        free(dels.v);
    }
    return rc;
}

/* ---- quota ---- */

static uint64_t cost_put(const Etcdserverpb__PutRequest *p)
{
    return STORE_QUOTA_KV_OVERHEAD + p->key.len + p->value.len;
}

static uint64_t cost_ops(Etcdserverpb__RequestOp **ops, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
            c += cost_put(ops[i]->request_put);
    return c;
}

uint64_t store_quota_cost(const struct store_op *op)
{
    CAIRN_ASSERT(op != NULL);
    switch (op->kind) {
    case STORE_OP_PUT:
        return cost_put(op->put);
    case STORE_OP_TXN: {
        uint64_t s = cost_ops(op->txn->success, op->txn->n_success);
        uint64_t f = cost_ops(op->txn->failure, op->txn->n_failure);
        return s > f ? s : f;
    }
    case STORE_OP_LEASE_GRANT:
        return STORE_QUOTA_LEASE_OVERHEAD;
    default:
        return 0;
    }
}
