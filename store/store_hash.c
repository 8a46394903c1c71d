/* HashKV with etcd's algorithm: CRC-32C over "key" and then, in revision order, every
 * revision etcd's keys bucket holds (etcd's 17/18-byte revision key and the marshalled
 * mvccpb.KeyValue), skipping revisions a compaction at the hash revision would drop. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1; /* Castagnoli, reflected */
        crc_table[i] = c;
    }
}

uint32_t store_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

struct hash_buf {
    uint8_t *p;
    size_t cap;
};

/* etcd's value for a revision: a put's full KeyValue, a tombstone's key only. */
static int hash_one(const struct store_kv_ref *e, struct hash_buf *hb, uint32_t *crc)
{
    uint8_t kb[STORE_REV_BYTES + 2];
    store_u64_encode((uint64_t)e->mod.main, kb);
    kb[8] = '_';
    store_u64_encode((uint64_t)e->mod.sub, kb + 9);
    size_t kl = 17;
    if (e->tombstone)
        kb[kl++] = 't';
    Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
    kv.key.data = (uint8_t *)e->key;
    kv.key.len = e->key_len;
    if (!e->tombstone) {
        kv.create_revision = e->create_rev;
        kv.mod_revision = e->mod.main;
        kv.version = e->version;
        kv.value.data = (uint8_t *)e->value;
        kv.value.len = e->value_len;
        kv.lease = e->lease;
    }
    size_t n = mvccpb__key_value__get_packed_size(&kv);
    if (n > hb->cap) {
        size_t cap = n < 4096 ? 4096 : n * 2;
        uint8_t *np = realloc(hb->p, cap);
        if (np == NULL)
            return CAIRN_ENOMEM;
        hb->p = np;
        hb->cap = cap;
    }
    size_t packed = mvccpb__key_value__pack(&kv, hb->p);
    CAIRN_ASSERT(packed == n);
    *crc = store_crc32c(*crc, kb, kl);
    *crc = store_crc32c(*crc, hb->p, packed);
    return 0;
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
    MDB_cursor *hc, *kc;
    int rc = store_lmdb_err(mdb_cursor_open(r->txn, r->s->db.rev, &hc));
    if (rc != 0)
        return rc;
    rc = store_lmdb_err(mdb_cursor_open(r->txn, r->s->db.kidx, &kc));
    if (rc != 0) {
        mdb_cursor_close(hc);
        return rc;
    }
    uint32_t crc = store_crc32c(0, (const uint8_t *)"key", 3);
    struct hash_buf hb = {NULL, 0};
    MDB_val k, d;
    int grc = mdb_cursor_get(hc, &k, &d, MDB_FIRST);
    while (grc == 0 && rc == 0) {
        struct store_rev rv;
        rc = store_rev_decode(k.mv_data, k.mv_size, &rv);
        if (rc != 0 || rv.main > rev)
            break;
        const uint8_t *uk = (const uint8_t *)d.mv_data + 1;
        size_t ul = d.mv_size ? d.mv_size - 1 : 0;
        /* Exact (key, revision): one txn may write a key twice (etcd's interval check
         * misses a delete with range_end "\0"), so "newest at rv.main" is not enough. */
        struct store_kv_ref e;
        uint8_t ib[STORE_MAX_KEY_BYTES + STORE_REV_BYTES];
        MDB_val ik = {ul + STORE_REV_BYTES, ib}, id;
        if (ul > STORE_MAX_KEY_BYTES) {
            rc = CAIRN_ECORRUPT;
            break;
        }
        store_kidx_key(uk, ul, rv, ib);
        int xrc = mdb_cursor_get(kc, &ik, &id, MDB_SET_KEY);
        rc = xrc == MDB_NOTFOUND ? CAIRN_ECORRUPT : store_lmdb_err(xrc);
        if (rc == 0)
            rc = store_kv_decode(&ik, &id, &e);
        if (rc == 0 && rv.main <= compact) {
            /* etcd keeps, below the compaction, only what a compaction at rev would keep:
             * each key's newest revision at rev, unless it is a tombstone. */
            struct store_kv_ref newest;
            rc = store_kv_latest(kc, uk, ul, rev, &newest);
            if (rc == 0 && (store_rev_cmp(newest.mod, rv) != 0 || newest.tombstone)) {
                grc = mdb_cursor_get(hc, &k, &d, MDB_NEXT);
                continue;
            }
        }
        if (rc == 0)
            rc = hash_one(&e, &hb, &crc);
        grc = mdb_cursor_get(hc, &k, &d, MDB_NEXT);
    }
    free(hb.p);
    mdb_cursor_close(kc);
    mdb_cursor_close(hc);
    if (rc == CAIRN_ENOTFOUND)
        rc = CAIRN_ECORRUPT;
    if (rc == 0 && grc != 0 && grc != MDB_NOTFOUND)
        rc = store_lmdb_err(grc);
    if (rc == 0)
        *hash = crc;
    return rc;
}
