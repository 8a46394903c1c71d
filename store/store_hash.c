/* HashKV with etcd's algorithm: CRC-32C over "key" and then, in revision order, every
 * revision etcd's keys bucket holds (etcd's 17/18-byte revision key and the marshalled
 * mvccpb.KeyValue), skipping revisions a compaction at the hash revision would drop. */
#include "store_int.h"

#include "crc32c.h"

#include <stdlib.h>
#include <string.h>

struct hash_state {
    uint32_t crc;
    uint8_t *buf;
    size_t cap;
};

/* etcd's bucket entry for a revision, into the CRC: the 17/18-byte key, the marshalled kv. */
static int hash_visit(void *arg, struct store_rev rev, int tombstone, const Mvccpb__KeyValue *kv)
{
    struct hash_state *h = arg;
    uint8_t kb[18];
    store_u64_encode((uint64_t)rev.main, kb);
    kb[8] = '_';
    store_u64_encode((uint64_t)rev.sub, kb + 9);
    size_t kl = 17;
    if (tombstone)
        kb[kl++] = 't';
    size_t n = mvccpb__key_value__get_packed_size(kv);
    if (n > h->cap) {
        size_t cap = n < 4096 ? 4096 : n * 2;
        uint8_t *np = realloc(h->buf, cap);
        if (np == NULL)
            return CAIRN_ENOMEM;
        h->buf = np;
        h->cap = cap;
    }
    size_t packed = mvccpb__key_value__pack(kv, h->buf);
    CAIRN_ASSERT(packed == n);
    h->crc = cairn_crc32c(h->crc, kb, kl);
    h->crc = cairn_crc32c(h->crc, h->buf, packed);
    return 0;
}

/*
 * Walks the history up to revision upto in revision order, as etcd's "key" bucket would
 * hold it: at or below the compacted revision, only what a compaction at keep_rev keeps
 * (each key's newest revision at keep_rev unless it is a tombstone).
 */
int store_etcd_walk(struct store_read *r, int64_t upto, int64_t keep_rev, store_export_fn fn,
                    void *arg)
{
    int64_t compact = r->compact_rev;
    MDB_cursor *hc, *kc;
    int rc = store_lmdb_err(mdb_cursor_open(r->txn, r->s->db.rev, &hc));
    if (rc != 0)
        return rc;
    rc = store_lmdb_err(mdb_cursor_open(r->txn, r->s->db.kidx, &kc));
    if (rc != 0) {
        mdb_cursor_close(hc);
        return rc;
    }
    MDB_val k, d;
    int grc = mdb_cursor_get(hc, &k, &d, MDB_FIRST);
    for (; grc == 0 && rc == 0; grc = mdb_cursor_get(hc, &k, &d, MDB_NEXT)) {
        struct store_rev rv;
        rc = store_rev_decode(k.mv_data, k.mv_size, &rv);
        if (rc != 0 || rv.main > upto)
            break;
        const uint8_t *uk = (const uint8_t *)d.mv_data + 1;
        size_t ul = d.mv_size ? d.mv_size - 1 : 0;
        if (ul > STORE_MAX_KEY_BYTES) {
            rc = CAIRN_ECORRUPT;
            break;
        }
        /* Exact (key, revision): one txn may write a key twice (etcd's interval check
         * misses a delete with range_end "\0"), so "newest at rv.main" is not enough. */
        uint8_t ib[STORE_MAX_KEY_BYTES + STORE_REV_BYTES];
        MDB_val ik = {ul + STORE_REV_BYTES, ib}, id;
        store_kidx_key(uk, ul, rv, ib);
        int xrc = mdb_cursor_get(kc, &ik, &id, MDB_SET_KEY);
        rc = xrc == MDB_NOTFOUND ? CAIRN_ECORRUPT : store_lmdb_err(xrc);
        struct store_kv_ref e;
        if (rc == 0)
            rc = store_kv_decode(&ik, &id, &e);
        if (rc == 0 && rv.main <= compact) {
            struct store_kv_ref newest;
            rc = store_kv_latest(kc, uk, ul, keep_rev, &newest);
            if (rc == 0 && (store_rev_cmp(newest.mod, rv) != 0 || newest.tombstone))
                continue; /* dropped by a compaction at keep_rev */
        }
        if (rc != 0)
            break;
        Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
        kv.key.data = (uint8_t *)e.key;
        kv.key.len = e.key_len;
        if (!e.tombstone) { /* etcd stores a deletion as a KeyValue holding only the key */
            kv.create_revision = e.create_rev;
            kv.mod_revision = e.mod.main;
            kv.version = e.version;
            kv.lease = e.lease;
            kv.value.data = (uint8_t *)e.value;
            kv.value.len = e.value_len;
        }
        rc = fn(arg, rv, e.tombstone, &kv);
    }
    mdb_cursor_close(kc);
    mdb_cursor_close(hc);
    if (rc == CAIRN_ENOTFOUND)
        rc = CAIRN_ECORRUPT;
    if (rc == 0 && grc != 0 && grc != MDB_NOTFOUND)
        rc = store_lmdb_err(grc);
    return rc;
}

int store_hash_kv(struct store_read *r, int64_t revision, uint32_t *hash, int64_t *compact_rev,
                  int64_t *hash_rev)
{
    CAIRN_ASSERT(r != NULL && hash != NULL);
    int64_t compact = r->compact_rev, rev = revision;
    if (compact_rev != NULL)
        *compact_rev = compact;
    if (rev > 0 && rev <= compact)
        return CAIRN_ECOMPACTED;
    if (rev > 0 && rev > r->rev)
        return CAIRN_EFUTUREREV;
    if (rev <= 0)
        rev = r->rev;
    if (hash_rev != NULL)
        *hash_rev = rev;
    /* etcd hashes what a compaction at the hash revision would keep */
    struct hash_state h = {cairn_crc32c(0, (const uint8_t *)"key", 3), NULL, 0};
    int rc = store_etcd_walk(r, rev, rev, hash_visit, &h);
    free(h.buf);
    if (rc == 0)
        *hash = h.crc;
    return rc;
}
