/* MVCC reads over the key index: newest revision of a key at R, range scans, Range. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

/* Revisions of one key walked with NEXT before a scan jumps with a seek instead. */
#define SCAN_WALK_MAX 8

int store_in_range(const uint8_t *key, size_t klen, const uint8_t *end, size_t end_len,
                   const uint8_t *k, size_t k_len)
{
    if (end_len == 0)
        return store_bytes_cmp(k, k_len, key, klen) == 0;
    if (store_bytes_cmp(k, k_len, key, klen) < 0)
        return 0;
    if (end_len == 1 && end[0] == 0)
        return 1; /* "\0": everything from key on */
    return store_bytes_cmp(k, k_len, end, end_len) < 0;
}

/* Positions c at the first index entry >= (key, rev); key is cut to the maximum length
 * (callers then skip the entries below the real key). */
static int seek_ge(MDB_cursor *c, const uint8_t *key, size_t klen, struct store_rev rev, MDB_val *k,
                   MDB_val *d)
{
    uint8_t buf[STORE_MAX_KEY_BYTES + STORE_REV_BYTES];
    if (klen > STORE_MAX_KEY_BYTES)
        klen = STORE_MAX_KEY_BYTES;
    store_kidx_key(key, klen, rev, buf);
    k->mv_size = klen + STORE_REV_BYTES;
    k->mv_data = buf;
    int rc = mdb_cursor_get(c, k, d, MDB_SET_RANGE);
    return rc;
}

static struct store_rev rev_after(int64_t at_rev)
{
    struct store_rev r = {INT64_MAX, INT64_MAX};
    if (at_rev < INT64_MAX - 1)
        r = (struct store_rev){at_rev + 1, 0};
    return r;
}

int store_kv_latest(MDB_cursor *c, const uint8_t *key, size_t klen, int64_t at_rev,
                    struct store_kv_ref *out)
{
    CAIRN_ASSERT(c != NULL && out != NULL);
    if (klen > STORE_MAX_KEY_BYTES)
        return CAIRN_ENOTFOUND; /* no such key can be stored */
    MDB_val k, d;
    int rc = seek_ge(c, key, klen, rev_after(at_rev), &k, &d);
    if (rc == 0)
        rc = mdb_cursor_get(c, &k, &d, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
    if (rc != 0)
        return store_lmdb_err(rc);
    rc = store_kv_decode(&k, &d, out);
    if (rc != 0)
        return rc;
    if (store_bytes_cmp(out->key, out->key_len, key, klen) != 0)
        return CAIRN_ENOTFOUND;
    CAIRN_ASSERT(out->mod.main <= at_rev);
    return 0;
}

/* From the first entry of user key U (cursor on it, decoded in e), finds U's newest entry
 * at or below at_rev into best (found = 0 if none) and leaves the cursor on the first
 * entry of the next user key (rc = MDB_NOTFOUND at the end). */
static int newest_of_key(MDB_cursor *c, struct store_kv_ref *e, int64_t at_rev,
                         struct store_kv_ref *best, int *found, MDB_val *k, MDB_val *d)
{
    uint8_t ubuf[STORE_MAX_KEY_BYTES];
    size_t ulen = e->key_len;
    CAIRN_ASSERT(ulen <= STORE_MAX_KEY_BYTES);
    memcpy(ubuf, e->key, ulen);
    *found = 0;
    int rc = 0;
    int jumped = 0;
    for (int steps = 0;; steps++) {
        if (e->mod.main > at_rev) {
            /* The rest of U is newer than at_rev: skip past all of it. */
            return seek_ge(c, ubuf, ulen, (struct store_rev){INT64_MAX, INT64_MAX}, k, d);
        }
        *best = *e;
        *found = 1;
        if (!jumped && steps >= SCAN_WALK_MAX) {
            /* Many revisions: jump to the first one above at_rev, step back to the answer. */
            rc = seek_ge(c, ubuf, ulen, rev_after(at_rev), k, d);
            if (rc == 0)
                rc = mdb_cursor_get(c, k, d, MDB_PREV);
            else if (rc == MDB_NOTFOUND)
                rc = mdb_cursor_get(c, k, d, MDB_LAST);
            if (rc != 0)
                return rc;
            if (store_kv_decode(k, d, best) != 0)
                return MDB_CORRUPTED;
            CAIRN_ASSERT(store_bytes_cmp(best->key, best->key_len, ubuf, ulen) == 0);
            jumped = 1; /* the next entry is newer than at_rev or another key */
        }
        rc = mdb_cursor_get(c, k, d, MDB_NEXT);
        if (rc != 0)
            return rc;
        if (store_kv_decode(k, d, e) != 0)
            return MDB_CORRUPTED;
        if (store_bytes_cmp(e->key, e->key_len, ubuf, ulen) != 0)
            return 0;
    }
}

int store_kv_scan(MDB_cursor *c, const uint8_t *key, size_t klen, const uint8_t *end,
                  size_t end_len, int64_t at_rev, store_kv_fn fn, void *arg)
{
    CAIRN_ASSERT(c != NULL && fn != NULL);
    if (end_len == 0) {
        struct store_kv_ref kv;
        int rc = store_kv_latest(c, key, klen, at_rev, &kv);
        if (rc == CAIRN_ENOTFOUND || (rc == 0 && kv.tombstone))
            return 0;
        if (rc != 0)
            return rc;
        rc = fn(arg, &kv);
        return rc > 0 ? 0 : rc;
    }
    int bounded = !(end_len == 1 && end[0] == 0);
    if (bounded && store_bytes_cmp(key, klen, end, end_len) >= 0)
        return 0;
    MDB_val k, d;
    int rc = seek_ge(c, key, klen, (struct store_rev){0, 0}, &k, &d);
    struct store_kv_ref e, best;
    while (rc == 0) {
        if (store_kv_decode(&k, &d, &e) != 0)
            return CAIRN_ECORRUPT;
        if (bounded && store_bytes_cmp(e.key, e.key_len, end, end_len) >= 0)
            return 0;
        int below = store_bytes_cmp(e.key, e.key_len, key, klen) < 0; /* a cut long key */
        int found;
        rc = newest_of_key(c, &e, at_rev, &best, &found, &k, &d);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return store_lmdb_err(rc);
        if (found && !best.tombstone && !below) {
            int frc = fn(arg, &best);
            if (frc != 0)
                return frc > 0 ? 0 : frc;
        }
    }
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
}

/* ---- Range ---- */

struct kv_vec {
    struct store_kv_ref *v;
    size_t n, cap;
    size_t fetch_max; /* 0 = all */
    int64_t count;
    int count_only;
    int stop_at_max; /* no count: the scan ends once fetch_max pairs are in */
    int oom;
};

static int collect(void *arg, const struct store_kv_ref *kv)
{
    struct kv_vec *vec = arg;
    if (vec->stop_at_max && vec->n >= vec->fetch_max)
        return 1; /* a page without the count: the scan ends here */
    vec->count++;
    if (vec->count_only || (vec->fetch_max && vec->n >= vec->fetch_max))
        return 0; /* etcd counts every key in the range, whatever the limit */
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 16;
        struct store_kv_ref *nv = realloc(vec->v, cap * sizeof(*nv));
        if (nv == NULL) {
            vec->oom = 1;
            return CAIRN_ENOMEM;
        }
        vec->v = nv;
        vec->cap = cap;
    }
    vec->v[vec->n++] = *kv;
    return 0;
}

static void prune(struct kv_vec *vec, int which, int64_t bound)
{
    size_t j = 0;
    for (size_t i = 0; i < vec->n; i++) {
        const struct store_kv_ref *kv = &vec->v[i];
        int drop = 0;
        switch (which) {
        case 0:
            drop = kv->mod.main > bound;
            break;
        case 1:
            drop = kv->mod.main < bound;
            break;
        case 2:
            drop = kv->create_rev > bound;
            break;
        default:
            drop = kv->create_rev < bound;
            break;
        }
        if (!drop)
            vec->v[j++] = *kv;
    }
    vec->n = j;
}

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_target(const struct store_kv_ref *a, const struct store_kv_ref *b,
                      Etcdserverpb__RangeRequest__SortTarget t)
{
    switch (t) {
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VERSION:
        return cmp_i64(a->version, b->version);
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE:
        return cmp_i64(a->create_rev, b->create_rev);
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD:
        return cmp_i64(a->mod.main, b->mod.main);
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE:
        return store_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
    default:
        return store_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
    }
}

/* Stable merge sort (ties keep key order); dir is 1 or -1. */
static void msort(struct store_kv_ref *v, struct store_kv_ref *tmp, size_t n,
                  Etcdserverpb__RangeRequest__SortTarget t, int dir)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    msort(v, tmp, h, t, dir);
    msort(v + h, tmp, n - h, t, dir);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n)
        tmp[o++] = dir * cmp_target(&v[j], &v[i], t) < 0 ? v[j++] : v[i++];
    while (i < h)
        tmp[o++] = v[i++];
    while (j < n)
        tmp[o++] = v[j++];
    memcpy(v, tmp, n * sizeof(*v));
}

static int build_range_response(const struct store_view *v, const Etcdserverpb__RangeRequest *req,
                                struct kv_vec *vec, int more, Etcdserverpb__RangeResponse **out)
{
    Etcdserverpb__RangeResponse *resp = store_alloc(v->arena, sizeof(*resp));
    if (resp == NULL)
        return CAIRN_ENOMEM;
    etcdserverpb__range_response__init(resp);
    resp->header = store_header(v->arena, v->rev);
    if (resp->header == NULL)
        return CAIRN_ENOMEM;
    resp->count = vec->count;
    resp->more = more;
    if (vec->n > 0) {
        resp->kvs = store_alloc(v->arena, vec->n * sizeof(*resp->kvs));
        if (resp->kvs == NULL)
            return CAIRN_ENOMEM;
        for (size_t i = 0; i < vec->n; i++) {
            resp->kvs[i] = store_kv_make(v->arena, v->copy, &vec->v[i], req->keys_only);
            if (resp->kvs[i] == NULL)
                return CAIRN_ENOMEM;
        }
        resp->n_kvs = vec->n;
    }
    *out = resp;
    return 0;
}

int store_view_range(const struct store_view *v, const Etcdserverpb__RangeRequest *req,
                     Etcdserverpb__RangeResponse **out)
{
    CAIRN_ASSERT(v != NULL && req != NULL && out != NULL);
    CAIRN_ASSERT(v->rev >= 1);
    int64_t at = req->revision;
    if (at > v->rev)
        return CAIRN_EFUTUREREV;
    if (at <= 0)
        at = v->rev;
    if (at < v->compact_rev)
        return CAIRN_ECOMPACTED;
    Etcdserverpb__RangeRequest__SortOrder order = req->sort_order;
    int filtered = req->min_mod_revision || req->max_mod_revision || req->min_create_revision ||
                   req->max_create_revision;
    struct kv_vec vec = {0};
    vec.count_only = req->count_only;
    /* etcd fetches limit + 1 (for `more`) unless it must sort or filter everything first. */
    if (req->limit > 0 && order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE && !filtered)
        vec.fetch_max = (size_t)req->limit + 1;
    vec.stop_at_max = v->no_count && vec.fetch_max > 0 && !vec.count_only;
    MDB_cursor *c;
    int rc = store_lmdb_err(mdb_cursor_open(v->txn, v->db->kidx, &c));
    if (rc != 0)
        return rc;
    rc = store_kv_scan(c, req->key.data, req->key.len, req->range_end.data, req->range_end.len, at,
                       collect, &vec);
    mdb_cursor_close(c);
    if (rc == 0 && req->max_mod_revision)
        prune(&vec, 0, req->max_mod_revision);
    if (rc == 0 && req->min_mod_revision)
        prune(&vec, 1, req->min_mod_revision);
    if (rc == 0 && req->max_create_revision)
        prune(&vec, 2, req->max_create_revision);
    if (rc == 0 && req->min_create_revision)
        prune(&vec, 3, req->min_create_revision);
    if (req->sort_target != ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY &&
        order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE)
        order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND; /* etcd's default */
    if (rc == 0 && vec.n > 1 && order != ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE) {
        struct store_kv_ref *tmp = malloc(vec.n * sizeof(*tmp));
        if (tmp == NULL) {
            rc = CAIRN_ENOMEM;
        } else {
            int dir = order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND ? -1 : 1;
            msort(vec.v, tmp, vec.n, req->sort_target, dir);
            free(tmp);
        }
    }
    int more = 0;
    if (req->limit > 0 && vec.n > (size_t)req->limit) {
        vec.n = (size_t)req->limit;
        more = 1;
    }
    if (rc == 0)
        rc = build_range_response(v, req, &vec, more, out);
    free(vec.v);
    return rc;
}

int store_range(struct store_read *r, const Etcdserverpb__RangeRequest *req,
                ProtobufCAllocator *arena, Etcdserverpb__RangeResponse **out)
{
    return store_range_flags(r, req, 0, arena, out);
}

int store_range_flags(struct store_read *r, const Etcdserverpb__RangeRequest *req, unsigned flags,
                      ProtobufCAllocator *arena, Etcdserverpb__RangeResponse **out)
{
    CAIRN_ASSERT(r != NULL && r->txn != NULL);
    CAIRN_ASSERT((flags & ~STORE_RANGE_NO_COUNT) == 0);
    struct store_view v = {
        r->txn, &r->s->db, r->rev, r->compact_rev, 0, arena, (flags & STORE_RANGE_NO_COUNT) != 0};
    return store_view_range(&v, req, out);
}
