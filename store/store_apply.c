/* Applying committed entries: dispatch by request kind, the NOSPACE / CORRUPT alarm rules,
 * leases, alarms and the logical part of compaction. */
#include "store_wtx.h"

#include <stdlib.h>
#include <string.h>

static int load_alarms(struct store_wtx *w)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(w->txn, w->db->alarm, &c);
    if (rc != 0)
        return store_lmdb_err(rc);
    MDB_val k, d;
    w->nospace = w->corrupt = 0;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size != STORE_U64_BYTES + 1)
            continue;
        uint8_t type = ((const uint8_t *)k.mv_data)[STORE_U64_BYTES];
        w->nospace |= type == ETCDSERVERPB__ALARM_TYPE__NOSPACE;
        w->corrupt |= type == ETCDSERVERPB__ALARM_TYPE__CORRUPT;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
}

struct store_wtx *store_wtx_new(struct store *s, MDB_txn *txn, unsigned flags, int *err)
{
    struct store_wtx *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        *err = CAIRN_ENOMEM;
        return NULL;
    }
    w->s = s;
    w->txn = txn;
    w->db = &s->db;
    w->flags = flags;
    if (flags & STORE_BATCH_EVENTS_PREV_KV)
        w->flags |= STORE_BATCH_EVENTS;
    int rc = store_lmdb_err(mdb_cursor_open(txn, s->db.kidx, &w->kc));
    if (rc == 0)
        rc = store_view_load(txn, &s->db, &w->rev, &w->compact_rev);
    uint64_t ap[2];
    int found;
    if (rc == 0)
        rc = store_meta_get_u64s(txn, &s->db, STORE_META_APPLIED, ap, 2, &found);
    if (rc == 0)
        rc = load_alarms(w);
    if (rc != 0) {
        store_wtx_free(w);
        *err = rc;
        return NULL;
    }
    w->applied = ap[0];
    w->applied_term = ap[1];
    *err = 0;
    return w;
}

void store_wtx_free(struct store_wtx *w)
{
    if (w == NULL)
        return;
    if (w->kc != NULL)
        mdb_cursor_close(w->kc);
    free(w->ev);
    free(w);
}

int store_wtx_finish(struct store_wtx *w)
{
    CAIRN_ASSERT(w->op_sub == 0);
    if (!w->dirty)
        return 0;
    int rc = store_meta_put_i64(w->txn, w->db, STORE_META_REV, w->rev);
    uint64_t ap[2] = {w->applied, w->applied_term};
    if (rc == 0)
        rc = store_meta_put_u64s(w->txn, w->db, STORE_META_APPLIED, ap, 2);
    w->dirty = 0;
    return rc;
}

/* ---- leases ---- */

int wtx_lease_exists(struct store_wtx *w, int64_t id, int *exists)
{
    uint8_t kb[STORE_U64_BYTES];
    store_lease_key(id, kb);
    MDB_val k = {sizeof(kb), kb}, d;
    int rc = mdb_get(w->txn, w->db->lease, &k, &d);
    *exists = rc == 0;
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
}

static int lease_put(struct store_wtx *w, int64_t id, int64_t ttl, int64_t remaining)
{
    uint8_t kb[STORE_U64_BYTES], vb[2 * STORE_U64_BYTES];
    store_lease_key(id, kb);
    store_u64_encode((uint64_t)ttl, vb);
    store_u64_encode((uint64_t)remaining, vb + STORE_U64_BYTES);
    MDB_val k = {sizeof(kb), kb}, d = {sizeof(vb), vb};
    return store_lmdb_err(mdb_put(w->txn, w->db->lease, &k, &d, 0));
}

static Etcdserverpb__ResponseHeader *hdr(struct store_wtx *w)
{
    return store_header(w->arena, w->rev);
}

static int op_lease_grant(struct store_wtx *w, const Etcdserverpb__LeaseGrantRequest *req,
                          struct store_result *res)
{
    int64_t ttl = req->ttl;
    if (req->id == 0) {
        res->err = CAIRN_ELEASENOTFOUND; /* etcd: NoLease */
        return 0;
    }
    if (ttl > STORE_LEASE_TTL_MAX_S) {
        res->err = CAIRN_ELEASETTLTOOLARGE;
        return 0;
    }
    int exists;
    int rc = wtx_lease_exists(w, req->id, &exists);
    if (rc != 0 || exists) {
        res->err = exists ? CAIRN_ELEASEEXISTS : 0;
        return rc;
    }
    if (ttl < w->s->cfg.lease_min_ttl_s)
        ttl = w->s->cfg.lease_min_ttl_s;
    rc = lease_put(w, req->id, ttl, 0);
    Etcdserverpb__LeaseGrantResponse *resp = store_alloc(w->arena, sizeof(*resp));
    if (rc == 0 && resp == NULL)
        rc = CAIRN_ENOMEM;
    if (rc == 0) {
        etcdserverpb__lease_grant_response__init(resp);
        resp->header = hdr(w);
        resp->id = req->id;
        resp->ttl = ttl;
        res->lease_grant = resp;
        rc = resp->header ? 0 : CAIRN_ENOMEM;
    }
    return rc;
}

/* Deletes every key attached to the lease (in key order, one revision) and the lease. */
static int op_lease_revoke(struct store_wtx *w, const Etcdserverpb__LeaseRevokeRequest *req,
                           struct store_result *res)
{
    int exists;
    int rc = wtx_lease_exists(w, req->id, &exists);
    if (rc != 0 || !exists) {
        res->err = exists ? 0 : CAIRN_ELEASENOTFOUND;
        return rc;
    }
    uint8_t kb[STORE_U64_BYTES];
    store_lease_key(req->id, kb);
    MDB_cursor *c;
    rc = store_lmdb_err(mdb_cursor_open(w->txn, w->db->leasekey, &c));
    if (rc != 0)
        return rc;
    wtx_write_begin(w);
    /* Each delete removes the entry found, so the loop ends; a fresh seek every time keeps
     * the cursor away from pages the delete rewrites. */
    for (;;) {
        MDB_val k = {sizeof(kb), kb}, d;
        int grc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
        if (grc == MDB_NOTFOUND)
            break;
        if (grc != 0) {
            rc = store_lmdb_err(grc);
            break;
        }
        if (k.mv_size < sizeof(kb) || memcmp(k.mv_data, kb, sizeof(kb)) != 0)
            break;
        ProtobufCBinaryData key;
        if (store_bytes(w->arena, 1, (const uint8_t *)k.mv_data + sizeof(kb),
                        k.mv_size - sizeof(kb), &key) != 0) {
            rc = CAIRN_ENOMEM;
            break;
        }
        struct store_kv_ref prev;
        rc = store_kv_latest(w->kc, key.data, key.len, INT64_MAX, &prev);
        if (rc == 0 && (prev.tombstone || prev.lease != req->id))
            rc = CAIRN_ECORRUPT; /* an attachment must match the key's live value */
        if (rc == 0)
            rc = wtx_delete_key(w, key.data, key.len, &prev);
        if (rc != 0)
            break;
    }
    mdb_cursor_close(c);
    wtx_write_end(w);
    if (rc == 0) {
        MDB_val k = {sizeof(kb), kb};
        rc = store_lmdb_err(mdb_del(w->txn, w->db->lease, &k, NULL));
    }
    Etcdserverpb__LeaseRevokeResponse *resp = store_alloc(w->arena, sizeof(*resp));
    if (rc == 0 && resp == NULL)
        rc = CAIRN_ENOMEM;
    if (rc == 0) {
        etcdserverpb__lease_revoke_response__init(resp);
        resp->header = hdr(w);
        res->lease_revoke = resp;
        rc = resp->header ? 0 : CAIRN_ENOMEM;
    }
    return rc;
}

static int op_lease_checkpoint(struct store_wtx *w, const Etcdserverpb__LeaseCheckpointRequest *req,
                               struct store_result *res)
{
    int rc = 0;
    for (size_t i = 0; i < req->n_checkpoints && rc == 0; i++) {
        const Etcdserverpb__LeaseCheckpoint *cp = req->checkpoints[i];
        uint8_t kb[STORE_U64_BYTES];
        store_lease_key(cp->id, kb);
        MDB_val k = {sizeof(kb), kb}, d;
        int grc = mdb_get(w->txn, w->db->lease, &k, &d);
        if (grc == MDB_NOTFOUND)
            continue; /* etcd ignores checkpoints of leases that are gone */
        if (grc != 0 || d.mv_size != 2 * STORE_U64_BYTES)
            return grc ? store_lmdb_err(grc) : CAIRN_ECORRUPT;
        int64_t ttl = (int64_t)store_u64_decode(d.mv_data);
        rc = lease_put(w, cp->id, ttl, cp->remaining_ttl);
    }
    Etcdserverpb__LeaseCheckpointResponse *resp = store_alloc(w->arena, sizeof(*resp));
    if (rc == 0 && resp == NULL)
        rc = CAIRN_ENOMEM;
    if (rc == 0) {
        etcdserverpb__lease_checkpoint_response__init(resp);
        resp->header = hdr(w);
        res->lease_checkpoint = resp;
        rc = resp->header ? 0 : CAIRN_ENOMEM;
    }
    return rc;
}

/* ---- alarms ---- */

static int alarm_member(ProtobufCAllocator *a, uint64_t member, int type,
                        Etcdserverpb__AlarmMember **out)
{
    Etcdserverpb__AlarmMember *m = store_alloc(a, sizeof(*m));
    if (m == NULL)
        return CAIRN_ENOMEM;
    etcdserverpb__alarm_member__init(m);
    m->memberid = member;
    m->alarm = (Etcdserverpb__AlarmType)type;
    *out = m;
    return 0;
}

/* Active alarms of type (NONE = all) into resp, ordered by (member, type). */
static int alarm_collect(MDB_txn *txn, const struct store_dbs *db, ProtobufCAllocator *a, int type,
                         Etcdserverpb__AlarmResponse *resp)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db->alarm, &c);
    if (rc != 0)
        return store_lmdb_err(rc);
    MDB_val k, d;
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t i = 0;
        for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
            if (k.mv_size != STORE_U64_BYTES + 1)
                continue;
            int t = ((const uint8_t *)k.mv_data)[STORE_U64_BYTES];
            if (type != ETCDSERVERPB__ALARM_TYPE__NONE && t != type)
                continue;
            if (pass == 1 &&
                alarm_member(a, store_u64_decode(k.mv_data), t, &resp->alarms[i]) != 0) {
                rc = CAIRN_ENOMEM;
                break;
            }
            i++;
        }
        if (rc != MDB_NOTFOUND)
            break;
        rc = 0;
        if (pass == 0) {
            n = i;
            if (n == 0)
                break;
            resp->alarms = store_alloc(a, n * sizeof(*resp->alarms));
            if (resp->alarms == NULL) {
                rc = CAIRN_ENOMEM;
                break;
            }
        } else {
            CAIRN_ASSERT(i == n);
            resp->n_alarms = n;
        }
    }
    mdb_cursor_close(c);
    return rc == CAIRN_ENOMEM ? rc : store_lmdb_err(rc);
}

int store_alarm_list(struct store_read *r, ProtobufCAllocator *arena,
                     Etcdserverpb__AlarmResponse **out)
{
    CAIRN_ASSERT(r != NULL && out != NULL);
    Etcdserverpb__AlarmResponse *resp = store_alloc(arena, sizeof(*resp));
    if (resp == NULL)
        return CAIRN_ENOMEM;
    etcdserverpb__alarm_response__init(resp);
    resp->header = store_header(arena, r->rev);
    if (resp->header == NULL)
        return CAIRN_ENOMEM;
    int rc = alarm_collect(r->txn, &r->s->db, arena, ETCDSERVERPB__ALARM_TYPE__NONE, resp);
    if (rc == 0)
        *out = resp;
    return rc;
}

static int op_alarm(struct store_wtx *w, const Etcdserverpb__AlarmRequest *req,
                    struct store_result *res)
{
    Etcdserverpb__AlarmResponse *resp = store_alloc(w->arena, sizeof(*resp));
    if (resp == NULL)
        return CAIRN_ENOMEM;
    etcdserverpb__alarm_response__init(resp);
    resp->header = hdr(w);
    if (resp->header == NULL)
        return CAIRN_ENOMEM;
    res->alarm = resp;
    uint8_t kb[STORE_U64_BYTES + 1];
    store_u64_encode(req->memberid, kb);
    kb[STORE_U64_BYTES] = (uint8_t)req->alarm;
    MDB_val k = {sizeof(kb), kb}, d = {0, NULL};
    int rc = 0, present = 0;
    switch (req->action) {
    case ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET:
        return alarm_collect(w->txn, w->db, w->arena, req->alarm, resp);
    case ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE:
        if (req->alarm == ETCDSERVERPB__ALARM_TYPE__NONE || (int)req->alarm < 0 || req->alarm > 255)
            return 0;
        rc = store_lmdb_err(mdb_put(w->txn, w->db->alarm, &k, &d, 0));
        present = 1; /* etcd answers with the alarm, new or already active */
        break;
    case ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE:
        if ((int)req->alarm < 0 || req->alarm > 255)
            return 0;
        rc = mdb_del(w->txn, w->db->alarm, &k, NULL);
        present = rc == 0;
        rc = rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
        break;
    default:
        return 0;
    }
    if (rc == 0 && present) {
        resp->alarms = store_alloc(w->arena, sizeof(*resp->alarms));
        if (resp->alarms == NULL)
            return CAIRN_ENOMEM;
        rc = alarm_member(w->arena, req->memberid, req->alarm, &resp->alarms[0]);
        resp->n_alarms = rc == 0;
    }
    return rc == 0 ? load_alarms(w) : rc;
}

/* ---- compaction (logical part) ---- */

static int op_compact(struct store_wtx *w, const Etcdserverpb__CompactionRequest *req,
                      struct store_result *res)
{
    int64_t rev = req->revision;
    if (rev <= w->compact_rev) {
        res->err = CAIRN_ECOMPACTED;
        return 0;
    }
    if (rev > w->rev) {
        res->err = CAIRN_EFUTUREREV;
        return 0;
    }
    w->compact_rev = rev;
    int rc = store_meta_put_i64(w->txn, w->db, STORE_META_COMPACT, rev);
    /* Physical removal restarts from the oldest revision: store_compact_work. */
    if (rc == 0)
        rc = store_meta_put_i64(w->txn, w->db, STORE_META_CMP_TARGET, rev);
    if (rc == 0) {
        uint64_t zero[2] = {0, 0};
        rc = store_meta_put_u64s(w->txn, w->db, STORE_META_CMP_NEXT, zero, 2);
    }
    Etcdserverpb__CompactionResponse *resp = store_alloc(w->arena, sizeof(*resp));
    if (rc == 0 && resp == NULL)
        rc = CAIRN_ENOMEM;
    if (rc == 0) {
        etcdserverpb__compaction_response__init(resp);
        resp->header = hdr(w);
        res->compact = resp;
        rc = resp->header ? 0 : CAIRN_ENOMEM;
    }
    return rc;
}

/* ---- dispatch ---- */

static int txn_has_put(const Etcdserverpb__TxnRequest *t)
{
    /* etcd's quota cost looks at top-level puts only. */
    for (size_t i = 0; i < t->n_success; i++)
        if (t->success[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
            return 1;
    for (size_t i = 0; i < t->n_failure; i++)
        if (t->failure[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
            return 1;
    return 0;
}

/* etcd's applierV3Corrupt and applierV3Capped: which requests an alarm refuses. */
static int alarm_refuses(const struct store_wtx *w, const struct store_op *op)
{
    if (w->corrupt) {
        switch (op->kind) {
        case STORE_OP_PUT:
        case STORE_OP_DELETE_RANGE:
        case STORE_OP_TXN:
        case STORE_OP_COMPACT:
        case STORE_OP_LEASE_GRANT:
        case STORE_OP_LEASE_REVOKE:
            return CAIRN_ECORRUPT;
        default:
            return 0;
        }
    }
    if (w->nospace) {
        if (op->kind == STORE_OP_PUT || op->kind == STORE_OP_LEASE_GRANT)
            return CAIRN_ENOSPACE;
        if (op->kind == STORE_OP_TXN && txn_has_put(op->txn))
            return CAIRN_ENOSPACE;
    }
    return 0;
}

static int dispatch(struct store_wtx *w, const struct store_op *op, struct store_result *res)
{
    res->err = alarm_refuses(w, op);
    if (res->err != 0)
        return 0;
    switch (op->kind) {
    case STORE_OP_NOOP:
        return 0;
    case STORE_OP_PUT:
        return wtx_op_put(w, op->put, &res->put, &res->err);
    case STORE_OP_DELETE_RANGE:
        return wtx_op_delete_range(w, op->delete_range, &res->delete_range);
    case STORE_OP_TXN:
        return wtx_op_txn(w, op->txn, &res->txn, &res->err);
    case STORE_OP_COMPACT:
        return op_compact(w, op->compact, res);
    case STORE_OP_LEASE_GRANT:
        return op_lease_grant(w, op->lease_grant, res);
    case STORE_OP_LEASE_REVOKE:
        return op_lease_revoke(w, op->lease_revoke, res);
    case STORE_OP_LEASE_CHECKPOINT:
        return op_lease_checkpoint(w, op->lease_checkpoint, res);
    case STORE_OP_ALARM:
        return op_alarm(w, op->alarm, res);
    }
    return CAIRN_EINVAL;
}

int store_wtx_apply(struct store_wtx *w, uint64_t index, uint64_t term, const struct store_op *op,
                    ProtobufCAllocator *arena, struct store_result *res)
{
    CAIRN_ASSERT(w != NULL && op != NULL && res != NULL);
    memset(res, 0, sizeof(*res));
    res->kind = op->kind;
    res->revision = w->rev;
    if (index <= w->applied) {
        res->skipped = 1; /* a replay after a crash or a restored snapshot */
        return 0;
    }
    if (index != w->applied + 1)
        return CAIRN_EINVAL; /* a gap: entries would be lost */
    if (op->kind != STORE_OP_NOOP && arena == NULL)
        return CAIRN_EINVAL;
    w->arena = arena;
    w->n_ev = 0;
    int64_t rev_before = w->rev;
    int rc = dispatch(w, op, res);
    if (rc != 0)
        return rc;
    CAIRN_ASSERT(res->err == 0 || w->rev == rev_before); /* a refused request changes nothing */
    if (w->first_done == 0)
        w->first_done = index;
    w->applied = index;
    w->applied_term = term;
    w->dirty = 1;
    res->revision = w->rev;
    if ((w->flags & STORE_BATCH_EVENTS) && w->n_ev > 0) {
        res->events = store_alloc(arena, w->n_ev * sizeof(*res->events));
        if (res->events == NULL)
            return CAIRN_ENOMEM;
        memcpy(res->events, w->ev, w->n_ev * sizeof(*res->events));
        res->n_events = w->n_ev;
    }
    return 0;
}

int store_wtx_did_apply(const struct store_wtx *w, uint64_t index)
{
    return w->first_done != 0 && index >= w->first_done && index <= w->applied;
}
