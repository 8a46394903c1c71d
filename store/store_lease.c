/* Reading leases: one lease with its attached keys, and a bounded scan of all leases. */
#include "store_int.h"

#include <string.h>

static int lease_decode(const MDB_val *k, const MDB_val *d, struct store_lease *out)
{
    if (k->mv_size != STORE_U64_BYTES || d->mv_size != 2 * STORE_U64_BYTES)
        return CAIRN_ECORRUPT;
    out->id = store_lease_id_decode(k->mv_data);
    out->ttl_s = (int64_t)store_u64_decode(d->mv_data);
    out->remaining_ttl_s = (int64_t)store_u64_decode((const uint8_t *)d->mv_data + 8);
    return 0;
}

/* Walks the keys attached to the lease; with keys != NULL fills them (at most max). */
static int lease_keys(MDB_cursor *c, const uint8_t kb[STORE_U64_BYTES], size_t max,
                      ProtobufCBinaryData *keys, size_t *n)
{
    MDB_val k = {STORE_U64_BYTES, (void *)kb}, d;
    int rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    size_t i = 0;
    while (rc == 0 && i < max) {
        if (k.mv_size < STORE_U64_BYTES || memcmp(k.mv_data, kb, STORE_U64_BYTES) != 0)
            break;
        if (keys != NULL) {
            keys[i].data = (uint8_t *)k.mv_data + STORE_U64_BYTES; /* zero copy */
            keys[i].len = k.mv_size - STORE_U64_BYTES;
        }
        i++;
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    *n = i;
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
}

int store_lease_get(struct store_read *r, int64_t id, struct store_lease *lease,
                    ProtobufCAllocator *arena, size_t max_keys, ProtobufCBinaryData **keys,
                    size_t *n_keys)
{
    CAIRN_ASSERT(r != NULL && lease != NULL);
    uint8_t kb[STORE_U64_BYTES];
    store_lease_key(id, kb);
    MDB_val k = {sizeof(kb), kb}, d;
    int rc = mdb_get(r->txn, r->s->db.lease, &k, &d);
    if (rc == MDB_NOTFOUND)
        return CAIRN_ELEASENOTFOUND;
    if (rc != 0)
        return store_lmdb_err(rc);
    rc = lease_decode(&k, &d, lease);
    if (rc != 0 || keys == NULL)
        return rc;
    CAIRN_ASSERT(n_keys != NULL && arena != NULL);
    *keys = NULL;
    *n_keys = 0;
    MDB_cursor *c;
    rc = store_lmdb_err(mdb_cursor_open(r->txn, r->s->db.leasekey, &c));
    size_t n = 0;
    if (rc == 0)
        rc = lease_keys(c, kb, max_keys, NULL, &n);
    if (rc == 0 && n > 0) {
        *keys = store_alloc(arena, n * sizeof(**keys));
        rc = *keys ? lease_keys(c, kb, n, *keys, n_keys) : CAIRN_ENOMEM;
        CAIRN_ASSERT(rc != 0 || *n_keys == n);
    }
    mdb_cursor_close(c);
    return rc;
}

int store_lease_scan(struct store_read *r, int64_t after_id, struct store_lease *out, size_t max,
                     size_t *n)
{
    CAIRN_ASSERT(r != NULL && n != NULL);
    *n = 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, r->s->db.lease, &c);
    if (rc != 0)
        return store_lmdb_err(rc);
    uint8_t kb[STORE_U64_BYTES];
    store_lease_key(after_id, kb);
    MDB_val k = {sizeof(kb), kb}, d;
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    while (rc == 0 && *n < max) {
        struct store_lease l;
        int drc = lease_decode(&k, &d, &l);
        if (drc != 0) {
            mdb_cursor_close(c);
            return drc;
        }
        if (l.id != after_id)
            out[(*n)++] = l;
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
}
