/* The reference model: plain arrays, full histories, no cleverness. */
#include "store_model.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

struct mver {
    int64_t main, sub;
    int tomb;
    int64_t create, version, lease;
    uint8_t *val;
    size_t vlen;
};

struct mkey {
    uint8_t *k;
    size_t kl;
    struct mver *v;
    size_t n, cap;
};

struct mlease {
    int64_t id, ttl, remaining;
};

struct model {
    struct mkey *keys;
    size_t nkeys, capkeys;
    int64_t rev, compact;
    struct mlease *leases;
    size_t nleases, capleases;
    uint64_t alarms[64][2];
    size_t nalarms;
    int64_t min_ttl;
    /* the write in progress */
    int64_t w_main, w_sub;
    Mvccpb__Event **ev;
    size_t nev, capev;
    ProtobufCAllocator *a;
    int abort;
};

static void *xalloc(ProtobufCAllocator *a, size_t n)
{
    void *p = a->alloc(a->allocator_data, n ? n : 1);
    CAIRN_ASSERT(p != NULL);
    return p;
}

static void *xgrow(void *p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return p;
    *cap = *cap ? *cap * 2 : 8;
    p = realloc(p, *cap * elem);
    CAIRN_ASSERT(p != NULL);
    return p;
}

static int bcmp3(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return al < bl ? -1 : al > bl;
}

struct model *model_new(int64_t lease_min_ttl_s)
{
    struct model *m = calloc(1, sizeof(*m));
    CAIRN_ASSERT(m != NULL);
    m->rev = 1;
    m->compact = -1;
    m->min_ttl = lease_min_ttl_s;
    return m;
}

void model_free(struct model *m)
{
    for (size_t i = 0; i < m->nkeys; i++) {
        for (size_t j = 0; j < m->keys[i].n; j++)
            free(m->keys[i].v[j].val);
        free(m->keys[i].v);
        free(m->keys[i].k);
    }
    free(m->keys);
    free(m->leases);
    free(m->ev);
    free(m);
}

int64_t model_rev(const struct model *m)
{
    return m->rev;
}

int64_t model_compact_rev(const struct model *m)
{
    return m->compact;
}

static struct mkey *key_get(struct model *m, const uint8_t *k, size_t kl, int create)
{
    size_t lo = 0, hi = m->nkeys;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = bcmp3(m->keys[mid].k, m->keys[mid].kl, k, kl);
        if (c == 0)
            return &m->keys[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!create)
        return NULL;
    m->keys = xgrow(m->keys, &m->capkeys, m->nkeys, sizeof(*m->keys));
    memmove(&m->keys[lo + 1], &m->keys[lo], (m->nkeys - lo) * sizeof(*m->keys));
    m->nkeys++;
    struct mkey *mk = &m->keys[lo];
    memset(mk, 0, sizeof(*mk));
    mk->k = malloc(kl + 1);
    CAIRN_ASSERT(mk->k != NULL);
    if (kl)
        memcpy(mk->k, k, kl);
    mk->kl = kl;
    return mk;
}

/* The key's newest version at or below rev, NULL if none. */
static struct mver *ver_at(struct mkey *mk, int64_t rev)
{
    if (mk == NULL)
        return NULL;
    for (size_t i = mk->n; i-- > 0;)
        if (mk->v[i].main <= rev)
            return &mk->v[i];
    return NULL;
}

static struct mver *live_at(struct mkey *mk, int64_t rev)
{
    struct mver *v = ver_at(mk, rev);
    return v && !v->tomb ? v : NULL;
}

static int64_t cur_rev(const struct model *m)
{
    return m->w_sub > 0 ? m->w_main : m->rev;
}

static Mvccpb__KeyValue *mkkv(ProtobufCAllocator *a, const struct mkey *mk, const struct mver *v,
                              int keys_only)
{
    Mvccpb__KeyValue *kv = xalloc(a, sizeof(*kv));
    mvccpb__key_value__init(kv);
    kv->key.len = mk->kl;
    kv->key.data = mk->kl ? xalloc(a, mk->kl) : NULL;
    if (mk->kl)
        memcpy(kv->key.data, mk->k, mk->kl);
    kv->create_revision = v->create;
    kv->mod_revision = v->main;
    kv->version = v->version;
    kv->lease = v->lease;
    if (!keys_only && v->vlen) {
        kv->value.len = v->vlen;
        kv->value.data = xalloc(a, v->vlen);
        memcpy(kv->value.data, v->val, v->vlen);
    }
    return kv;
}

static Etcdserverpb__ResponseHeader *mkhdr(ProtobufCAllocator *a, int64_t rev)
{
    Etcdserverpb__ResponseHeader *h = xalloc(a, sizeof(*h));
    etcdserverpb__response_header__init(h);
    h->revision = rev;
    return h;
}

/* ---- writes ---- */

static void w_begin(struct model *m)
{
    m->w_main = m->rev + 1;
    m->w_sub = 0;
}

static void w_end(struct model *m)
{
    if (m->w_sub > 0)
        m->rev = m->w_main;
    m->w_sub = 0;
}

static void push_ev(struct model *m, Mvccpb__Event *e)
{
    m->ev = xgrow(m->ev, &m->capev, m->nev, sizeof(*m->ev));
    m->ev[m->nev++] = e;
}

static struct mver *add_ver(struct mkey *mk)
{
    mk->v = xgrow(mk->v, &mk->cap, mk->n, sizeof(*mk->v));
    struct mver *v = &mk->v[mk->n++];
    memset(v, 0, sizeof(*v));
    return v;
}

static void m_put(struct model *m, const uint8_t *k, size_t kl, const uint8_t *val, size_t vlen,
                  int64_t lease)
{
    struct mkey *mk = key_get(m, k, kl, 1);
    struct mver *prev = live_at(mk, INT64_MAX);
    Mvccpb__Event *e = xalloc(m->a, sizeof(*e));
    mvccpb__event__init(e);
    e->type = MVCCPB__EVENT__EVENT_TYPE__PUT;
    if (prev)
        e->prev_kv = mkkv(m->a, mk, prev, 0);
    int64_t create = prev ? prev->create : m->w_main, version = prev ? prev->version + 1 : 1;
    uint8_t *copy = NULL;
    if (vlen) {
        copy = malloc(vlen);
        CAIRN_ASSERT(copy != NULL);
        memcpy(copy, val, vlen);
    }
    struct mver *v = add_ver(mk);
    v->main = m->w_main;
    v->sub = m->w_sub++;
    v->create = create;
    v->version = version;
    v->lease = lease;
    v->val = copy;
    v->vlen = vlen;
    e->kv = mkkv(m->a, mk, v, 0);
    push_ev(m, e);
}

static void m_del(struct model *m, struct mkey *mk)
{
    struct mver *prev = live_at(mk, INT64_MAX);
    CAIRN_ASSERT(prev != NULL);
    Mvccpb__Event *e = xalloc(m->a, sizeof(*e));
    mvccpb__event__init(e);
    e->type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
    e->prev_kv = mkkv(m->a, mk, prev, 0);
    e->kv = xalloc(m->a, sizeof(*e->kv));
    mvccpb__key_value__init(e->kv);
    e->kv->key.len = mk->kl;
    e->kv->key.data = xalloc(m->a, mk->kl);
    memcpy(e->kv->key.data, mk->k, mk->kl);
    e->kv->mod_revision = m->w_main;
    struct mver *v = add_ver(mk);
    v->main = m->w_main;
    v->sub = m->w_sub++;
    v->tomb = 1;
    push_ev(m, e);
}

/* [key, end): empty end = the key alone, "\0" = from key on. */
static int in_range(const uint8_t *key, size_t kl, const uint8_t *end, size_t el,
                    const struct mkey *mk)
{
    if (el == 0)
        return bcmp3(mk->k, mk->kl, key, kl) == 0;
    if (bcmp3(mk->k, mk->kl, key, kl) < 0)
        return 0;
    if (el == 1 && end[0] == 0)
        return 1;
    return bcmp3(mk->k, mk->kl, end, el) < 0;
}

static struct mlease *lease_find(struct model *m, int64_t id)
{
    for (size_t i = 0; i < m->nleases; i++)
        if (m->leases[i].id == id)
            return &m->leases[i];
    return NULL;
}

/* ---- range ---- */

struct mref {
    struct mkey *k;
    struct mver *v;
};

static int64_t tgt(const struct mref *r, int t)
{
    switch (t) {
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VERSION:
        return r->v->version;
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE:
        return r->v->create;
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD:
        return r->v->main;
    default:
        return 0;
    }
}

static int ref_cmp(const struct mref *x, const struct mref *y, int t)
{
    if (t == ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY)
        return bcmp3(x->k->k, x->k->kl, y->k->k, y->k->kl);
    if (t == ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE)
        return bcmp3(x->v->val, x->v->vlen, y->v->val, y->v->vlen);
    int64_t a = tgt(x, t), b = tgt(y, t);
    return a < b ? -1 : a > b;
}

/* A stable insertion sort: ties stay in key order. */
static void isort(struct mref *r, size_t n, int t, int dir)
{
    for (size_t i = 1; i < n; i++) {
        struct mref x = r[i];
        size_t j = i;
        while (j > 0 && dir * ref_cmp(&r[j - 1], &x, t) > 0) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = x;
    }
}

/* Range at the model's current view (cur = newest revision visible). */
static int range_at(struct model *m, const Etcdserverpb__RangeRequest *q, int64_t cur,
                    ProtobufCAllocator *a, Etcdserverpb__RangeResponse **out)
{
    int64_t at = q->revision;
    if (at > cur)
        return CAIRN_EFUTUREREV;
    if (at <= 0)
        at = cur;
    if (at < m->compact)
        return CAIRN_ECOMPACTED;
    struct mref *refs = malloc((m->nkeys + 1) * sizeof(*refs));
    CAIRN_ASSERT(refs != NULL);
    size_t n = 0;
    for (size_t i = 0; i < m->nkeys; i++) {
        struct mkey *mk = &m->keys[i];
        if (!in_range(q->key.data, q->key.len, q->range_end.data, q->range_end.len, mk))
            continue;
        struct mver *v = live_at(mk, at);
        if (v != NULL)
            refs[n++] = (struct mref){mk, v};
    }
    int64_t count = (int64_t)n;
    if (q->count_only)
        n = 0;
    int order = q->sort_order;
    int filtered = q->min_mod_revision || q->max_mod_revision || q->min_create_revision ||
                   q->max_create_revision;
    if (q->limit > 0 && order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE && !filtered &&
        n > (size_t)q->limit + 1)
        n = (size_t)q->limit + 1; /* etcd fetches limit + 1 when it need not sort or filter */
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        struct mver *v = refs[i].v;
        if (q->max_mod_revision && v->main > q->max_mod_revision)
            continue;
        if (q->min_mod_revision && v->main < q->min_mod_revision)
            continue;
        if (q->max_create_revision && v->create > q->max_create_revision)
            continue;
        if (q->min_create_revision && v->create < q->min_create_revision)
            continue;
        refs[j++] = refs[i];
    }
    n = j;
    if (q->sort_target != ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY &&
        order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE)
        order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
    if (order != ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE)
        isort(refs, n, q->sort_target,
              order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND ? -1 : 1);
    Etcdserverpb__RangeResponse *r = xalloc(a, sizeof(*r));
    etcdserverpb__range_response__init(r);
    r->header = mkhdr(a, cur);
    r->count = count;
    if (q->limit > 0 && n > (size_t)q->limit) {
        n = (size_t)q->limit;
        r->more = 1;
    }
    if (n) {
        r->kvs = xalloc(a, n * sizeof(*r->kvs));
        for (size_t i = 0; i < n; i++)
            r->kvs[i] = mkkv(a, refs[i].k, refs[i].v, q->keys_only);
        r->n_kvs = n;
    }
    free(refs);
    *out = r;
    return 0;
}

int model_range(struct model *m, const Etcdserverpb__RangeRequest *req, ProtobufCAllocator *a,
                Etcdserverpb__RangeResponse **out)
{
    return range_at(m, req, m->rev, a, out);
}

/* ---- put / delete ---- */

static int put_errors(struct model *m, const Etcdserverpb__PutRequest *p, int in_txn)
{
    if (p->key.len == 0)
        return CAIRN_EEMPTYKEY;
    if (p->key.len > STORE_MAX_KEY_BYTES)
        return CAIRN_ETOOLARGE;
    int need_prev = p->ignore_value || p->ignore_lease;
    int has_prev = live_at(key_get(m, p->key.data, p->key.len, 0), INT64_MAX) != NULL;
    int lease_bad = p->lease != 0 && lease_find(m, p->lease) == NULL;
    if (!in_txn && lease_bad)
        return CAIRN_ELEASENOTFOUND;
    if (need_prev && !has_prev)
        return CAIRN_EKEYNOTFOUND;
    if (in_txn && lease_bad)
        return CAIRN_ELEASENOTFOUND;
    return 0;
}

static Etcdserverpb__PutResponse *do_put(struct model *m, const Etcdserverpb__PutRequest *p)
{
    Etcdserverpb__PutResponse *r = xalloc(m->a, sizeof(*r));
    etcdserverpb__put_response__init(r);
    struct mkey *mk = key_get(m, p->key.data, p->key.len, 0);
    struct mver *prev = live_at(mk, INT64_MAX);
    if (p->prev_kv && prev)
        r->prev_kv = mkkv(m->a, mk, prev, 0);
    const uint8_t *val = p->value.data;
    size_t vlen = p->value.len;
    int64_t lease = p->lease;
    if ((p->ignore_value || p->ignore_lease) && prev == NULL) {
        m->abort = 1; /* deleted earlier in this txn: the txn is refused whole */
        return r;
    }
    if (p->ignore_value) {
        val = prev->val;
        vlen = prev->vlen;
    }
    if (p->ignore_lease)
        lease = prev->lease;
    m_put(m, p->key.data, p->key.len, val, vlen, lease);
    r->header = mkhdr(m->a, m->w_main);
    return r;
}

static Etcdserverpb__DeleteRangeResponse *do_del(struct model *m,
                                                 const Etcdserverpb__DeleteRangeRequest *d)
{
    Etcdserverpb__DeleteRangeResponse *r = xalloc(m->a, sizeof(*r));
    etcdserverpb__delete_range_response__init(r);
    size_t n = 0;
    for (size_t i = 0; i < m->nkeys; i++)
        if (in_range(d->key.data, d->key.len, d->range_end.data, d->range_end.len, &m->keys[i]) &&
            live_at(&m->keys[i], INT64_MAX))
            n++;
    if (d->prev_kv && n) {
        r->prev_kvs = xalloc(m->a, n * sizeof(*r->prev_kvs));
        r->n_prev_kvs = n;
    }
    size_t j = 0;
    for (size_t i = 0; i < m->nkeys; i++) {
        struct mkey *mk = &m->keys[i];
        if (!in_range(d->key.data, d->key.len, d->range_end.data, d->range_end.len, mk))
            continue;
        struct mver *v = live_at(mk, INT64_MAX);
        if (v == NULL)
            continue;
        if (d->prev_kv)
            r->prev_kvs[j] = mkkv(m->a, mk, v, 0);
        j++;
        m_del(m, mk);
    }
    r->deleted = (int64_t)n;
    r->header = mkhdr(m->a, cur_rev(m));
    return r;
}

/* ---- txn ---- */

static int cmp_one(const Etcdserverpb__Compare *c, const struct mver *v)
{
    int64_t have = 0, want = 0;
    int result;
    if (c->target == ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE) {
        const uint8_t *w = NULL;
        size_t wl = 0;
        if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE) {
            w = c->value.data;
            wl = c->value.len;
        }
        result = bcmp3(v ? v->val : NULL, v ? v->vlen : 0, w, wl);
    } else {
        switch (c->target) {
        case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION:
            have = v ? v->version : 0;
            if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION)
                want = c->version;
            break;
        case ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE:
            have = v ? v->create : 0;
            if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION)
                want = c->create_revision;
            break;
        case ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD:
            have = v ? v->main : 0;
            if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION)
                want = c->mod_revision;
            break;
        case ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE:
            have = v ? v->lease : 0;
            if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE)
                want = c->lease;
            break;
        default:
            break;
        }
        result = have < want ? -1 : have > want;
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

static int compares_ok(struct model *m, const Etcdserverpb__TxnRequest *t)
{
    for (size_t i = 0; i < t->n_compare; i++) {
        const Etcdserverpb__Compare *c = t->compare[i];
        size_t seen = 0;
        int ok = 1;
        for (size_t j = 0; j < m->nkeys && ok; j++) {
            if (!in_range(c->key.data, c->key.len, c->range_end.data, c->range_end.len,
                          &m->keys[j]))
                continue;
            struct mver *v = live_at(&m->keys[j], m->rev);
            if (v == NULL)
                continue;
            seen++;
            ok = cmp_one(c, v);
        }
        if (seen == 0)
            ok = c->target != ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE && cmp_one(c, NULL);
        if (!ok)
            return 0;
    }
    return 1;
}

struct mpath {
    int v[4096];
    size_t n;
};

static void branch(const Etcdserverpb__TxnRequest *t, int ok, Etcdserverpb__RequestOp ***ops,
                   size_t *n)
{
    *ops = ok ? t->success : t->failure;
    *n = ok ? t->n_success : t->n_failure;
}

static void to_path(struct model *m, const Etcdserverpb__TxnRequest *t, struct mpath *p)
{
    int ok = compares_ok(m, t);
    CAIRN_ASSERT(p->n < CAIRN_ARRAY_LEN(p->v));
    p->v[p->n++] = ok;
    Etcdserverpb__RequestOp **ops;
    size_t n;
    branch(t, ok, &ops, &n);
    for (size_t i = 0; i < n; i++)
        if (ops[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN)
            to_path(m, ops[i]->request_txn, p);
}

static int check(struct model *m, const Etcdserverpb__TxnRequest *t, const struct mpath *p,
                 size_t *pos, int pass)
{
    Etcdserverpb__RequestOp **ops;
    size_t n;
    branch(t, p->v[(*pos)++], &ops, &n);
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__RequestOp *op = ops[i];
        int err = 0;
        if (op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN)
            err = check(m, op->request_txn, p, pos, pass);
        else if (pass == 0 && op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
            err = put_errors(m, op->request_put, 1);
        else if (pass == 1 && op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE) {
            int64_t r = op->request_range->revision;
            if (r != 0 && r > m->rev)
                err = CAIRN_EFUTUREREV;
            else if (r != 0 && r < m->compact)
                err = CAIRN_ECOMPACTED;
        }
        if (err)
            return err;
    }
    return 0;
}

static void exec(struct model *m, const Etcdserverpb__TxnRequest *t, const struct mpath *p,
                 size_t *pos, Etcdserverpb__TxnResponse *r)
{
    Etcdserverpb__RequestOp **ops;
    size_t n;
    r->succeeded = p->v[(*pos)++];
    branch(t, r->succeeded, &ops, &n);
    if (n == 0)
        return;
    r->responses = xalloc(m->a, n * sizeof(*r->responses));
    r->n_responses = n;
    for (size_t i = 0; i < n && !m->abort; i++) {
        const Etcdserverpb__RequestOp *op = ops[i];
        Etcdserverpb__ResponseOp *ro = xalloc(m->a, sizeof(*ro));
        etcdserverpb__response_op__init(ro);
        r->responses[i] = ro;
        switch (op->request_case) {
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
            CAIRN_ASSERT(range_at(m, op->request_range, cur_rev(m), m->a, &ro->response_range) ==
                         0);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
            ro->response_put = do_put(m, op->request_put);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
            ro->response_delete_range = do_del(m, op->request_delete_range);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN: {
            Etcdserverpb__TxnResponse *sub = xalloc(m->a, sizeof(*sub));
            etcdserverpb__txn_response__init(sub);
            sub->header = mkhdr(m->a, 0);
            ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
            ro->response_txn = sub;
            exec(m, op->request_txn, p, pos, sub);
            break;
        }
        default:
            CAIRN_ASSERT(0);
        }
    }
}

static int do_txn(struct model *m, const Etcdserverpb__TxnRequest *t,
                  Etcdserverpb__TxnResponse **out)
{
    int err = store_check_txn(t, SIZE_MAX);
    if (err)
        return err;
    struct mpath *p = calloc(1, sizeof(*p));
    CAIRN_ASSERT(p != NULL);
    to_path(m, t, p);
    size_t pos = 0;
    err = check(m, t, p, &pos, 0);
    pos = 0;
    if (!err)
        err = check(m, t, p, &pos, 1);
    if (!err) {
        Etcdserverpb__TxnResponse *r = xalloc(m->a, sizeof(*r));
        etcdserverpb__txn_response__init(r);
        r->header = mkhdr(m->a, 0);
        w_begin(m);
        pos = 0;
        m->abort = 0;
        size_t nev = m->nev;
        exec(m, t, p, &pos, r);
        if (m->abort) {
            /* roll back: drop every version this txn wrote */
            for (size_t i = 0; i < m->nkeys; i++) {
                struct mkey *mk = &m->keys[i];
                while (mk->n > 0 && mk->v[mk->n - 1].main == m->w_main)
                    free(mk->v[--mk->n].val);
            }
            m->w_sub = 0;
            m->nev = nev;
            err = CAIRN_EKEYNOTFOUND;
        } else {
            w_end(m);
            r->header->revision = m->rev;
            *out = r;
        }
    }
    free(p);
    return err;
}

/* ---- leases, alarms, compaction ---- */

static int lease_grant(struct model *m, const Etcdserverpb__LeaseGrantRequest *g,
                       struct store_result *res)
{
    if (g->id == 0)
        return CAIRN_ELEASENOTFOUND;
    if (g->ttl > STORE_LEASE_TTL_MAX_S)
        return CAIRN_ELEASETTLTOOLARGE;
    if (lease_find(m, g->id))
        return CAIRN_ELEASEEXISTS;
    int64_t ttl = g->ttl < m->min_ttl ? m->min_ttl : g->ttl;
    m->leases = xgrow(m->leases, &m->capleases, m->nleases, sizeof(*m->leases));
    m->leases[m->nleases++] = (struct mlease){g->id, ttl, 0};
    Etcdserverpb__LeaseGrantResponse *r = xalloc(m->a, sizeof(*r));
    etcdserverpb__lease_grant_response__init(r);
    r->header = mkhdr(m->a, m->rev);
    r->id = g->id;
    r->ttl = ttl;
    res->lease_grant = r;
    return 0;
}

static int lease_revoke(struct model *m, int64_t id, struct store_result *res)
{
    struct mlease *l = lease_find(m, id);
    if (l == NULL)
        return CAIRN_ELEASENOTFOUND;
    w_begin(m);
    for (size_t i = 0; i < m->nkeys; i++) {
        struct mver *v = live_at(&m->keys[i], INT64_MAX);
        if (v && v->lease == id)
            m_del(m, &m->keys[i]);
    }
    w_end(m);
    *l = m->leases[--m->nleases];
    Etcdserverpb__LeaseRevokeResponse *r = xalloc(m->a, sizeof(*r));
    etcdserverpb__lease_revoke_response__init(r);
    r->header = mkhdr(m->a, m->rev);
    res->lease_revoke = r;
    return 0;
}

static Etcdserverpb__AlarmMember *mkalarm(ProtobufCAllocator *a, uint64_t member, int type)
{
    Etcdserverpb__AlarmMember *am = xalloc(a, sizeof(*am));
    etcdserverpb__alarm_member__init(am);
    am->memberid = member;
    am->alarm = (Etcdserverpb__AlarmType)type;
    return am;
}

static int alarm_idx(struct model *m, uint64_t member, int type)
{
    for (size_t i = 0; i < m->nalarms; i++)
        if (m->alarms[i][0] == member && m->alarms[i][1] == (uint64_t)type)
            return (int)i;
    return -1;
}

static void alarm(struct model *m, const Etcdserverpb__AlarmRequest *q, struct store_result *res)
{
    Etcdserverpb__AlarmResponse *r = xalloc(m->a, sizeof(*r));
    etcdserverpb__alarm_response__init(r);
    r->header = mkhdr(m->a, m->rev);
    res->alarm = r;
    int i = alarm_idx(m, q->memberid, q->alarm);
    if (q->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET) {
        /* ordered by (member, type) */
        uint64_t sorted[64][2];
        size_t n = 0;
        for (size_t j = 0; j < m->nalarms; j++)
            if (q->alarm == ETCDSERVERPB__ALARM_TYPE__NONE || m->alarms[j][1] == (uint64_t)q->alarm)
                memcpy(sorted[n++], m->alarms[j], sizeof(sorted[0]));
        for (size_t x = 1; x < n; x++)
            for (size_t y = x;
                 y > 0 && (sorted[y - 1][0] > sorted[y][0] ||
                           (sorted[y - 1][0] == sorted[y][0] && sorted[y - 1][1] > sorted[y][1]));
                 y--) {
                uint64_t t[2] = {sorted[y][0], sorted[y][1]};
                memcpy(sorted[y], sorted[y - 1], sizeof(t));
                memcpy(sorted[y - 1], t, sizeof(t));
            }
        if (n) {
            r->alarms = xalloc(m->a, n * sizeof(*r->alarms));
            for (size_t j = 0; j < n; j++)
                r->alarms[j] = mkalarm(m->a, sorted[j][0], (int)sorted[j][1]);
            r->n_alarms = n;
        }
        return;
    }
    if (q->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE) {
        if (q->alarm == ETCDSERVERPB__ALARM_TYPE__NONE)
            return;
        if (i < 0) {
            CAIRN_ASSERT(m->nalarms < 64);
            m->alarms[m->nalarms][0] = q->memberid;
            m->alarms[m->nalarms][1] = (uint64_t)q->alarm;
            m->nalarms++;
        }
    } else if (q->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE) {
        if (i < 0)
            return;
        memcpy(m->alarms[i], m->alarms[--m->nalarms], sizeof(m->alarms[0]));
    } else {
        return;
    }
    r->alarms = xalloc(m->a, sizeof(*r->alarms));
    r->alarms[0] = mkalarm(m->a, q->memberid, q->alarm);
    r->n_alarms = 1;
}

static int has_alarm(struct model *m, int type)
{
    for (size_t i = 0; i < m->nalarms; i++)
        if (m->alarms[i][1] == (uint64_t)type)
            return 1;
    return 0;
}

static int refused(struct model *m, const struct store_op *op)
{
    if (has_alarm(m, ETCDSERVERPB__ALARM_TYPE__CORRUPT))
        return op->kind == STORE_OP_PUT || op->kind == STORE_OP_DELETE_RANGE ||
                       op->kind == STORE_OP_TXN || op->kind == STORE_OP_COMPACT ||
                       op->kind == STORE_OP_LEASE_GRANT || op->kind == STORE_OP_LEASE_REVOKE
                   ? CAIRN_ECORRUPT
                   : 0;
    if (!has_alarm(m, ETCDSERVERPB__ALARM_TYPE__NOSPACE))
        return 0;
    if (op->kind == STORE_OP_PUT || op->kind == STORE_OP_LEASE_GRANT)
        return CAIRN_ENOSPACE;
    if (op->kind == STORE_OP_TXN) {
        const Etcdserverpb__TxnRequest *t = op->txn;
        for (size_t i = 0; i < t->n_success; i++)
            if (t->success[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
                return CAIRN_ENOSPACE;
        for (size_t i = 0; i < t->n_failure; i++)
            if (t->failure[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
                return CAIRN_ENOSPACE;
    }
    return 0;
}

void model_apply(struct model *m, const struct store_op *op, ProtobufCAllocator *a,
                 struct store_result *res)
{
    memset(res, 0, sizeof(*res));
    res->kind = op->kind;
    m->a = a;
    m->nev = 0;
    int err = refused(m, op);
    if (!err) {
        switch (op->kind) {
        case STORE_OP_NOOP:
            break;
        case STORE_OP_PUT:
            err = put_errors(m, op->put, 0);
            if (!err) {
                w_begin(m);
                res->put = do_put(m, op->put);
                w_end(m);
            }
            break;
        case STORE_OP_DELETE_RANGE:
            w_begin(m);
            res->delete_range = do_del(m, op->delete_range);
            w_end(m);
            break;
        case STORE_OP_TXN:
            err = do_txn(m, op->txn, &res->txn);
            break;
        case STORE_OP_COMPACT:
            if (op->compact->revision <= m->compact) {
                err = CAIRN_ECOMPACTED;
            } else if (op->compact->revision > m->rev) {
                err = CAIRN_EFUTUREREV;
            } else {
                m->compact = op->compact->revision;
                res->compact = xalloc(a, sizeof(*res->compact));
                etcdserverpb__compaction_response__init(res->compact);
                res->compact->header = mkhdr(a, m->rev);
            }
            break;
        case STORE_OP_LEASE_GRANT:
            err = lease_grant(m, op->lease_grant, res);
            break;
        case STORE_OP_LEASE_REVOKE:
            err = lease_revoke(m, op->lease_revoke->id, res);
            break;
        case STORE_OP_LEASE_CHECKPOINT:
            for (size_t i = 0; i < op->lease_checkpoint->n_checkpoints; i++) {
                const Etcdserverpb__LeaseCheckpoint *cp = op->lease_checkpoint->checkpoints[i];
                struct mlease *l = lease_find(m, cp->id);
                if (l)
                    l->remaining = cp->remaining_ttl;
            }
            res->lease_checkpoint = xalloc(a, sizeof(*res->lease_checkpoint));
            etcdserverpb__lease_checkpoint_response__init(res->lease_checkpoint);
            res->lease_checkpoint->header = mkhdr(a, m->rev);
            break;
        case STORE_OP_ALARM:
            alarm(m, op->alarm, res);
            break;
        }
    }
    res->err = err;
    res->revision = m->rev;
    if (!err && m->nev) {
        res->events = xalloc(a, m->nev * sizeof(*res->events));
        memcpy(res->events, m->ev, m->nev * sizeof(*res->events));
        res->n_events = m->nev;
    }
}

/* ---- history, hash, leases ---- */

struct hev {
    struct mkey *k;
    size_t vi;
};

static int hev_cmp(const void *x, const void *y)
{
    const struct hev *a = x, *b = y;
    const struct mver *va = &a->k->v[a->vi], *vb = &b->k->v[b->vi];
    if (va->main != vb->main)
        return va->main < vb->main ? -1 : 1;
    return va->sub < vb->sub ? -1 : va->sub > vb->sub;
}

/* All versions with main in [lo, hi] (of keys in range if key != NULL), in revision order. */
static struct hev *versions(struct model *m, const uint8_t *key, size_t kl, const uint8_t *end,
                            size_t el, int64_t lo, int64_t hi, size_t *n)
{
    size_t cap = 16;
    struct hev *h = malloc(cap * sizeof(*h));
    CAIRN_ASSERT(h != NULL);
    *n = 0;
    for (size_t i = 0; i < m->nkeys; i++) {
        struct mkey *mk = &m->keys[i];
        if (key != NULL && !in_range(key, kl, end, el, mk))
            continue;
        for (size_t j = 0; j < mk->n; j++) {
            if (mk->v[j].main < lo || mk->v[j].main > hi)
                continue;
            h = xgrow(h, &cap, *n, sizeof(*h));
            h[(*n)++] = (struct hev){mk, j};
        }
    }
    qsort(h, *n, sizeof(*h), hev_cmp);
    return h;
}

int model_history(struct model *m, const uint8_t *key, size_t klen, const uint8_t *end, size_t elen,
                  int prev_kv, int64_t start_rev, ProtobufCAllocator *a, Mvccpb__Event ***ev,
                  size_t *n)
{
    if (start_rev < m->compact)
        return CAIRN_ECOMPACTED;
    size_t cnt;
    struct hev *h = versions(m, key, klen, end, elen, start_rev, m->rev, &cnt);
    *ev = xalloc(a, (cnt + 1) * sizeof(**ev));
    for (size_t i = 0; i < cnt; i++) {
        struct mver *v = &h[i].k->v[h[i].vi];
        Mvccpb__Event *e = xalloc(a, sizeof(*e));
        mvccpb__event__init(e);
        if (v->tomb) {
            e->type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
            e->kv = xalloc(a, sizeof(*e->kv));
            mvccpb__key_value__init(e->kv);
            e->kv->key.len = h[i].k->kl;
            e->kv->key.data = xalloc(a, h[i].k->kl);
            memcpy(e->kv->key.data, h[i].k->k, h[i].k->kl);
            e->kv->mod_revision = v->main;
        } else {
            e->type = MVCCPB__EVENT__EVENT_TYPE__PUT;
            e->kv = mkkv(a, h[i].k, v, 0);
        }
        if (prev_kv && h[i].vi > 0 && v->main - 1 >= m->compact) {
            struct mver *p = &h[i].k->v[h[i].vi - 1];
            if (!p->tomb)
                e->prev_kv = mkkv(a, h[i].k, p, 0);
        }
        (*ev)[i] = e;
    }
    *n = cnt;
    free(h);
    return 0;
}

static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

int model_hash(struct model *m, int64_t rev, uint32_t *hash)
{
    if (rev > 0 && rev <= m->compact)
        return CAIRN_ECOMPACTED;
    if (rev > m->rev)
        return CAIRN_EFUTUREREV;
    if (rev <= 0)
        rev = m->rev;
    size_t cnt;
    struct hev *h = versions(m, NULL, 0, NULL, 0, 0, rev, &cnt);
    uint32_t crc = crc32c_bitwise(0, (const uint8_t *)"key", 3);
    for (size_t i = 0; i < cnt; i++) {
        struct mver *v = &h[i].k->v[h[i].vi];
        if (v->main <= m->compact && (ver_at(h[i].k, rev) != v || v->tomb))
            continue; /* what a compaction at rev would drop */
        uint8_t kb[18];
        for (int b = 0; b < 8; b++) {
            kb[b] = (uint8_t)((uint64_t)v->main >> (56 - 8 * b));
            kb[9 + b] = (uint8_t)((uint64_t)v->sub >> (56 - 8 * b));
        }
        kb[8] = '_';
        size_t kl = 17;
        if (v->tomb)
            kb[kl++] = 't';
        Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
        kv.key.data = h[i].k->k;
        kv.key.len = h[i].k->kl;
        if (!v->tomb) {
            kv.create_revision = v->create;
            kv.mod_revision = v->main;
            kv.version = v->version;
            kv.value.data = v->val;
            kv.value.len = v->vlen;
            kv.lease = v->lease;
        }
        size_t sz = mvccpb__key_value__get_packed_size(&kv);
        uint8_t *buf = malloc(sz + 1);
        CAIRN_ASSERT(buf != NULL);
        mvccpb__key_value__pack(&kv, buf);
        crc = crc32c_bitwise(crc, kb, kl);
        crc = crc32c_bitwise(crc, buf, sz);
        free(buf);
    }
    free(h);
    *hash = crc;
    return 0;
}

int model_lease_get(struct model *m, int64_t id, struct store_lease *l, ProtobufCAllocator *a,
                    ProtobufCBinaryData **keys, size_t *n)
{
    struct mlease *ml = lease_find(m, id);
    if (ml == NULL)
        return CAIRN_ELEASENOTFOUND;
    l->id = ml->id;
    l->ttl_s = ml->ttl;
    l->remaining_ttl_s = ml->remaining;
    *n = 0;
    *keys = xalloc(a, (m->nkeys + 1) * sizeof(**keys));
    for (size_t i = 0; i < m->nkeys; i++) {
        struct mver *v = live_at(&m->keys[i], INT64_MAX);
        if (v && v->lease == id) {
            (*keys)[*n].data = m->keys[i].k;
            (*keys)[*n].len = m->keys[i].kl;
            (*n)++;
        }
    }
    return 0;
}
