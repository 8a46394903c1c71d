/* Watch history: the events of a key range since a revision, read from disk so watchers
 * that fell behind (or start in the past) catch up without an in-memory log. */
#include "store_int.h"

#include <string.h>

#define WATCH_EVENTS_MAX     (1u << 20)
#define WATCH_SCAN_PER_EVENT 64 /* revisions examined per wanted event before returning */

struct hist {
    struct store_read *r;
    MDB_cursor *kc;
    ProtobufCAllocator *a;
    int prev_kv;
    Mvccpb__Event **ev;
    size_t n, max;
};

/* The entry of key just before e in the index (its previous value), if live and readable. */
static int prev_of(struct hist *h, const struct store_kv_ref *e, Mvccpb__KeyValue **out)
{
    *out = NULL;
    /* etcd reads prev_kv at mod - 1; below the compacted revision that read fails. */
    if (e->mod.main - 1 < h->r->compact_rev)
        return 0;
    uint8_t kb[STORE_MAX_KEY_BYTES + STORE_REV_BYTES];
    store_kidx_key(e->key, e->key_len, e->mod, kb);
    MDB_val k = {e->key_len + STORE_REV_BYTES, kb}, d;
    int rc = mdb_cursor_get(h->kc, &k, &d, MDB_SET_KEY);
    if (rc == 0)
        rc = mdb_cursor_get(h->kc, &k, &d, MDB_PREV);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_lmdb_err(rc);
    struct store_kv_ref p;
    rc = store_kv_decode(&k, &d, &p);
    if (rc != 0)
        return rc;
    if (store_bytes_cmp(p.key, p.key_len, e->key, e->key_len) != 0 || p.tombstone)
        return 0;
    *out = store_kv_make(h->a, 0, &p, 0);
    return *out ? 0 : CAIRN_ENOMEM;
}

static int emit(struct hist *h, const struct store_kv_ref *e)
{
    CAIRN_ASSERT(h->n < h->max);
    Mvccpb__Event *ev = store_alloc(h->a, sizeof(*ev));
    if (ev == NULL)
        return CAIRN_ENOMEM;
    mvccpb__event__init(ev);
    if (e->tombstone) {
        ev->type = MVCCPB__EVENT__EVENT_TYPE__DELETE;
        ev->kv = store_alloc(h->a, sizeof(*ev->kv));
        if (ev->kv == NULL)
            return CAIRN_ENOMEM;
        mvccpb__key_value__init(ev->kv);
        ev->kv->key.data = e->key_len ? (uint8_t *)e->key : NULL;
        ev->kv->key.len = e->key_len;
        ev->kv->mod_revision = e->mod.main;
    } else {
        ev->type = MVCCPB__EVENT__EVENT_TYPE__PUT;
        ev->kv = store_kv_make(h->a, 0, e, 0);
        if (ev->kv == NULL)
            return CAIRN_ENOMEM;
    }
    if (h->prev_kv) {
        int rc = prev_of(h, e, &ev->prev_kv);
        if (rc != 0)
            return rc;
    }
    h->ev[h->n++] = ev;
    return 0;
}

/* One key: its own revisions in the index, no scan of other keys. */
static int hist_key(struct hist *h, const uint8_t *key, size_t klen, struct store_rev *pos)
{
    struct store_rev end = {h->r->rev + 1, 0};
    if (klen > STORE_MAX_KEY_BYTES) {
        *pos = end;
        return 0;
    }
    uint8_t kb[STORE_MAX_KEY_BYTES + STORE_REV_BYTES];
    store_kidx_key(key, klen, *pos, kb);
    MDB_val k = {klen + STORE_REV_BYTES, kb}, d;
    int rc = mdb_cursor_get(h->kc, &k, &d, MDB_SET_RANGE);
    while (rc == 0 && h->n < h->max) {
        struct store_kv_ref e;
        int drc = store_kv_decode(&k, &d, &e);
        if (drc != 0)
            return drc;
        if (store_bytes_cmp(e.key, e.key_len, key, klen) != 0 || e.mod.main > h->r->rev)
            break;
        drc = emit(h, &e);
        if (drc != 0)
            return drc;
        *pos = (struct store_rev){e.mod.main, e.mod.sub + 1};
        /* emit may move kc (prev_kv): find the entry after this one again */
        store_kidx_key(key, klen, *pos, kb);
        k.mv_size = klen + STORE_REV_BYTES;
        k.mv_data = kb;
        rc = mdb_cursor_get(h->kc, &k, &d, MDB_SET_RANGE);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_lmdb_err(rc);
    if (h->n < h->max)
        *pos = end; /* nothing more up to the read's revision */
    return 0;
}

/* A range: the revision history in order, filtered by key, with a scan budget. */
static int hist_range(struct hist *h, const uint8_t *key, size_t klen, const uint8_t *rend,
                      size_t rlen, struct store_rev *pos)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(h->r->txn, h->r->s->db.rev, &c);
    if (rc != 0)
        return store_lmdb_err(rc);
    uint8_t rb[STORE_REV_BYTES];
    store_rev_encode(*pos, rb);
    MDB_val k = {sizeof(rb), rb}, d;
    size_t budget = h->max * WATCH_SCAN_PER_EVENT, scanned = 0;
    int exhausted = 0, drc = 0;
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    while (h->n < h->max && drc == 0) {
        if (rc != 0) {
            exhausted = rc == MDB_NOTFOUND;
            break;
        }
        if (scanned++ == budget)
            break; /* the caller continues from pos */
        struct store_rev rev;
        drc = store_rev_decode(k.mv_data, k.mv_size, &rev);
        if (drc == 0 && d.mv_size < 1)
            drc = CAIRN_ECORRUPT;
        if (drc != 0)
            break;
        if (rev.main > h->r->rev) {
            exhausted = 1;
            break;
        }
        const uint8_t *uk = (const uint8_t *)d.mv_data + 1;
        size_t ul = d.mv_size - 1;
        if (store_in_range(key, klen, rend, rlen, uk, ul)) {
            struct store_kv_ref e;
            uint8_t kb[STORE_MAX_KEY_BYTES + STORE_REV_BYTES];
            MDB_val ik = {ul + STORE_REV_BYTES, kb}, id;
            if (ul > STORE_MAX_KEY_BYTES) {
                drc = CAIRN_ECORRUPT;
                break;
            }
            store_kidx_key(uk, ul, rev, kb);
            /* SET_KEY returns the stored key, so e.key points into the map, not kb */
            int grc = mdb_cursor_get(h->kc, &ik, &id, MDB_SET_KEY);
            /* the history and the index must agree */
            drc = grc == MDB_NOTFOUND ? CAIRN_ECORRUPT : store_lmdb_err(grc);
            if (drc == 0)
                drc = store_kv_decode(&ik, &id, &e);
            if (drc == 0)
                drc = emit(h, &e);
        }
        *pos = (struct store_rev){rev.main, rev.sub + 1};
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (drc != 0)
        return drc == CAIRN_ENOTFOUND ? CAIRN_ECORRUPT : drc;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_lmdb_err(rc);
    if (exhausted)
        *pos = (struct store_rev){h->r->rev + 1, 0};
    return 0;
}

int store_watch_history(struct store_read *r, const uint8_t *key, size_t key_len,
                        const uint8_t *range_end, size_t range_end_len, int prev_kv,
                        struct store_rev *pos, size_t max_events, ProtobufCAllocator *arena,
                        Mvccpb__Event ***events_out, size_t *n_out, int64_t *compact_rev)
{
    CAIRN_ASSERT(r != NULL && pos != NULL && events_out != NULL && n_out != NULL);
    CAIRN_ASSERT(max_events <= WATCH_EVENTS_MAX);
    *events_out = NULL;
    *n_out = 0;
    if (compact_rev != NULL)
        *compact_rev = r->compact_rev;
    if (pos->main < r->compact_rev)
        return CAIRN_ECOMPACTED;
    if (pos->main < 0 || pos->sub < 0)
        return CAIRN_EINVAL;
    if (pos->main > r->rev || max_events == 0)
        return 0;
    struct hist h = {r, NULL, arena, prev_kv, NULL, 0, max_events};
    h.ev = store_alloc(arena, max_events * sizeof(*h.ev));
    if (h.ev == NULL)
        return CAIRN_ENOMEM;
    int rc = store_lmdb_err(mdb_cursor_open(r->txn, r->s->db.kidx, &h.kc));
    if (rc != 0)
        return rc;
    if (range_end_len == 0)
        rc = hist_key(&h, key, key_len, pos);
    else
        rc = hist_range(&h, key, key_len, range_end, range_end_len, pos);
    mdb_cursor_close(h.kc);
    if (rc == 0) {
        *events_out = h.ev;
        *n_out = h.n;
    }
    return rc;
}
