/* The raft log: entries by big-endian index, the log start (first_index - 1 and its term),
 * and raft's storage interface over them. */
#include "store_int.h"

#include <string.h>

#define ENTRY_HDR_BYTES 9 /* term + type */

static int log_start(MDB_txn *txn, const struct store_dbs *db, uint64_t *index, uint64_t *term)
{
    uint64_t v[2];
    int found;
    int rc = store_meta_get_u64s(txn, db, STORE_META_LOG_START, v, 2, &found);
    *index = v[0];
    *term = v[1];
    return rc;
}

int store_log_bounds(MDB_txn *txn, const struct store_dbs *db, uint64_t *first, uint64_t *last)
{
    uint64_t si, st;
    int rc = log_start(txn, db, &si, &st);
    if (rc != 0)
        return rc;
    *first = si + 1;
    *last = si;
    MDB_cursor *c;
    rc = mdb_cursor_open(txn, db->log, &c);
    if (rc != 0)
        return store_lmdb_err(rc);
    MDB_val k, d;
    rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_lmdb_err(rc);
    if (k.mv_size != STORE_U64_BYTES)
        return CAIRN_ECORRUPT;
    uint64_t li = store_u64_decode(k.mv_data);
    if (li > si)
        *last = li;
    return 0;
}

static int entry_decode(const MDB_val *k, const MDB_val *d, struct raft_entry *e)
{
    if (k->mv_size != STORE_U64_BYTES || d->mv_size < ENTRY_HDR_BYTES ||
        d->mv_size - ENTRY_HDR_BYTES > UINT32_MAX)
        return CAIRN_ECORRUPT;
    const uint8_t *p = d->mv_data;
    e->index = store_u64_decode(k->mv_data);
    e->term = store_u64_decode(p);
    e->type = p[8];
    e->len = (uint32_t)(d->mv_size - ENTRY_HDR_BYTES);
    e->data = p + ENTRY_HDR_BYTES;
    return 0;
}

int store_log_term(MDB_txn *txn, const struct store_dbs *db, uint64_t index, uint64_t *term)
{
    uint64_t si, st;
    int rc = log_start(txn, db, &si, &st);
    if (rc != 0)
        return rc;
    if (index == si) {
        *term = st;
        return 0;
    }
    if (index < si)
        return CAIRN_ECOMPACTED;
    uint8_t kb[STORE_U64_BYTES];
    store_u64_encode(index, kb);
    MDB_val k = {sizeof(kb), kb}, d;
    rc = mdb_get(txn, db->log, &k, &d);
    if (rc == MDB_NOTFOUND)
        return CAIRN_EUNAVAILABLE;
    if (rc != 0)
        return store_lmdb_err(rc);
    struct raft_entry e;
    rc = entry_decode(&k, &d, &e);
    if (rc == 0)
        *term = e.term;
    return rc;
}

static int truncate_from(MDB_txn *txn, const struct store_dbs *db, uint64_t from)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db->log, &c);
    if (rc != 0)
        return store_lmdb_err(rc);
    uint8_t kb[STORE_U64_BYTES];
    store_u64_encode(from, kb);
    MDB_val k = {sizeof(kb), kb}, d;
    /* Seek again after each delete: a cursor on a tree emptied by mdb_cursor_del is no
     * longer positioned (MDB_GET_CURRENT would say EINVAL). */
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    while (rc == 0) {
        rc = mdb_cursor_del(c, 0);
        k.mv_size = sizeof(kb);
        k.mv_data = kb;
        if (rc == 0)
            rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
}

int store_log_do_append(MDB_txn *txn, const struct store_dbs *db, const struct raft_entry *e,
                        size_t n)
{
    uint64_t first, last;
    int rc = store_log_bounds(txn, db, &first, &last);
    if (rc != 0)
        return rc;
    size_t skip = 0;
    while (skip < n && e[skip].index < first)
        skip++; /* already compacted into the log start: committed, nothing to do */
    if (skip == n)
        return 0;
    uint64_t start = e[skip].index;
    if (start > last + 1)
        return CAIRN_EINVAL; /* a gap in the log */
    if (start <= last)
        rc = truncate_from(txn, db, start); /* a conflicting suffix */
    for (size_t i = skip; i < n && rc == 0; i++) {
        CAIRN_ASSERT(e[i].index == start + (i - skip));
        uint8_t kb[STORE_U64_BYTES];
        store_u64_encode(e[i].index, kb);
        MDB_val k = {sizeof(kb), kb}, d = {ENTRY_HDR_BYTES + (size_t)e[i].len, NULL};
        rc = mdb_put(txn, db->log, &k, &d, MDB_APPEND | MDB_RESERVE);
        if (rc != 0) {
            rc = rc == MDB_KEYEXIST ? CAIRN_ECORRUPT : store_lmdb_err(rc);
            break;
        }
        uint8_t *p = d.mv_data;
        store_u64_encode(e[i].term, p);
        p[8] = e[i].type;
        if (e[i].len)
            memcpy(p + ENTRY_HDR_BYTES, e[i].data, e[i].len);
    }
    return rc;
}

int store_log_do_compact(MDB_txn *txn, const struct store_dbs *db, uint64_t index)
{
    uint64_t si, st;
    int rc = log_start(txn, db, &si, &st);
    if (rc != 0 || index <= si)
        return rc;
    uint64_t first, last, term;
    rc = store_log_bounds(txn, db, &first, &last);
    if (rc == 0 && index > last)
        rc = CAIRN_EINVAL;
    if (rc == 0)
        rc = store_log_term(txn, db, index, &term);
    if (rc != 0)
        return rc;
    MDB_cursor *c;
    rc = mdb_cursor_open(txn, db->log, &c);
    if (rc != 0)
        return store_lmdb_err(rc);
    MDB_val k, d;
    rc = mdb_cursor_get(c, &k, &d, MDB_FIRST);
    while (rc == 0 && k.mv_size == STORE_U64_BYTES && store_u64_decode(k.mv_data) <= index) {
        rc = mdb_cursor_del(c, 0);
        if (rc == 0)
            rc = mdb_cursor_get(c, &k, &d, MDB_FIRST);
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_lmdb_err(rc);
    uint64_t v[2] = {index, term};
    return store_meta_put_u64s(txn, db, STORE_META_LOG_START, v, 2);
}

/* ---- raft_storage over short read txns ---- */

static int with_read(struct store *s, struct store_read **r)
{
    return store_read_begin(s, r);
}

static int st_initial_state(void *ctx, struct raft_hard_state *hs, struct raft_conf_state *cs)
{
    struct store_read *r;
    int rc = with_read(ctx, &r);
    if (rc != 0)
        return rc;
    uint64_t v[3];
    int found;
    rc = store_meta_get_u64s(r->txn, &r->s->db, STORE_META_HARD_STATE, v, 3, &found);
    if (rc == 0) {
        hs->term = v[0];
        hs->vote = v[1];
        hs->commit = v[2];
        rc = store_meta_get_conf(r->txn, &r->s->db, STORE_META_CONF_STATE, cs);
    }
    store_read_end(r);
    return rc;
}

/* Walks entries from lo, stopping at hi, at limit, or before max_bytes of data once one
 * entry is taken. With dst, copies the entries and their data (into data). */
static int entries_walk(MDB_cursor *c, uint64_t lo, uint64_t hi, uint64_t max_bytes, size_t limit,
                        struct raft_entry *dst, char *data, size_t *n, size_t *bytes)
{
    uint8_t kb[STORE_U64_BYTES];
    store_u64_encode(lo, kb);
    MDB_val k = {sizeof(kb), kb}, d;
    int grc = mdb_cursor_get(c, &k, &d, MDB_SET_KEY);
    size_t i = 0, used = 0;
    while (i < limit && lo + i < hi) {
        if (grc != 0)
            return grc == MDB_NOTFOUND ? CAIRN_ECORRUPT : store_lmdb_err(grc); /* a hole */
        struct raft_entry e;
        int rc = entry_decode(&k, &d, &e);
        if (rc != 0 || e.index != lo + i)
            return CAIRN_ECORRUPT;
        if (i > 0 && used + e.len > max_bytes)
            break;
        if (dst != NULL) {
            if (e.len)
                memcpy(data + used, e.data, e.len);
            e.data = (const uint8_t *)(data + used);
            dst[i] = e;
        }
        used += e.len;
        i++;
        if (i < limit && lo + i < hi)
            grc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    *n = i;
    *bytes = used;
    return 0;
}

static int st_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                      const struct raft_allocator *alloc, struct raft_entries *out)
{
    memset(out, 0, sizeof(*out));
    if (lo > hi)
        return CAIRN_EINVAL;
    struct store_read *r;
    int rc = with_read(ctx, &r);
    if (rc != 0)
        return rc;
    uint64_t first, last;
    rc = store_log_bounds(r->txn, &r->s->db, &first, &last);
    if (rc == 0 && lo < first)
        rc = CAIRN_ECOMPACTED;
    else if (rc == 0 && hi > last + 1)
        rc = CAIRN_EUNAVAILABLE;
    MDB_cursor *c = NULL;
    if (rc == 0 && lo < hi)
        rc = store_lmdb_err(mdb_cursor_open(r->txn, r->s->db.log, &c));
    size_t n = 0, bytes = 0;
    if (rc == 0 && c != NULL)
        rc = entries_walk(c, lo, hi, max_bytes, SIZE_MAX, NULL, NULL, &n, &bytes);
    if (rc == 0 && c != NULL) {
        /* One block for e[] and all data: the caller frees out->mem once. */
        out->mem = alloc->alloc(alloc->ctx, n * sizeof(struct raft_entry) + bytes + 1);
        if (out->mem == NULL) {
            rc = CAIRN_ENOMEM;
        } else {
            size_t n2 = 0, bytes2 = 0; /* gcc -O3 cannot see entries_walk sets them */
            out->e = out->mem;
            rc = entries_walk(c, lo, hi, max_bytes, n, out->e,
                              (char *)out->mem + n * sizeof(struct raft_entry), &n2, &bytes2);
            CAIRN_ASSERT(rc != 0 || (n2 == n && bytes2 == bytes));
        }
    }
    if (c != NULL)
        mdb_cursor_close(c);
    store_read_end(r);
    if (rc == 0) {
        out->n = n;
    } else {
        if (out->mem != NULL)
            alloc->free(alloc->ctx, out->mem);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

static int st_term(void *ctx, uint64_t index, uint64_t *term)
{
    struct store_read *r;
    int rc = with_read(ctx, &r);
    if (rc != 0)
        return rc;
    uint64_t first, last;
    rc = store_log_bounds(r->txn, &r->s->db, &first, &last);
    if (rc == 0 && index + 1 < first)
        rc = CAIRN_ECOMPACTED;
    else if (rc == 0 && index > last)
        rc = CAIRN_EUNAVAILABLE;
    if (rc == 0)
        rc = store_log_term(r->txn, &r->s->db, index, term);
    store_read_end(r);
    return rc;
}

static int st_index(void *ctx, uint64_t *index, int want_last)
{
    struct store_read *r;
    int rc = with_read(ctx, &r);
    if (rc != 0)
        return rc;
    uint64_t first, last;
    rc = store_log_bounds(r->txn, &r->s->db, &first, &last);
    if (rc == 0)
        *index = want_last ? last : first;
    store_read_end(r);
    return rc;
}

static int st_first_index(void *ctx, uint64_t *index)
{
    return st_index(ctx, index, 0);
}

static int st_last_index(void *ctx, uint64_t *index)
{
    return st_index(ctx, index, 1);
}

static int st_snapshot(void *ctx, struct raft_snapshot_meta *meta)
{
    struct store_read *r;
    int rc = with_read(ctx, &r);
    if (rc != 0)
        return rc;
    memset(meta, 0, sizeof(*meta));
    uint64_t ap[2];
    int found;
    rc = store_meta_get_u64s(r->txn, &r->s->db, STORE_META_APPLIED, ap, 2, &found);
    if (rc == 0) {
        meta->index = ap[0];
        meta->term = ap[1];
        rc = store_meta_get_conf(r->txn, &r->s->db, STORE_META_CONF_STATE, &meta->conf);
    }
    store_read_end(r);
    return rc;
}

void store_raft_storage(struct store *s, struct raft_storage *st)
{
    CAIRN_ASSERT(s != NULL && st != NULL);
    st->ctx = s;
    st->initial_state = st_initial_state;
    st->entries = st_entries;
    st->term = st_term;
    st->first_index = st_first_index;
    st->last_index = st_last_index;
    st->snapshot = st_snapshot;
}
