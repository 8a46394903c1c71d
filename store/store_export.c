/* Every stored revision in (main, sub) order: what etcd's "key" bucket holds. Used to write
 * etcd-format (bbolt) snapshots; below the compacted revision only what an etcd compaction
 * keeps is visited (each key's newest revision there, unless it is a tombstone). */
#include "store_int.h"

#include <string.h>

int store_export_revisions(struct store_read *r, store_export_fn fn, void *arg)
{
    CAIRN_ASSERT(r != NULL && fn != NULL);
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
        if (rc != 0 || rv.main > r->rev)
            break;
        const uint8_t *uk = (const uint8_t *)d.mv_data + 1;
        size_t ul = d.mv_size ? d.mv_size - 1 : 0;
        if (ul > STORE_MAX_KEY_BYTES) {
            rc = CAIRN_ECORRUPT;
            break;
        }
        uint8_t ib[STORE_MAX_KEY_BYTES + STORE_REV_BYTES];
        MDB_val ik = {ul + STORE_REV_BYTES, ib}, id;
        store_kidx_key(uk, ul, rv, ib);
        int xrc = mdb_cursor_get(kc, &ik, &id, MDB_SET_KEY);
        rc = xrc == MDB_NOTFOUND ? CAIRN_ECORRUPT : store_lmdb_err(xrc);
        struct store_kv_ref e;
        if (rc == 0)
            rc = store_kv_decode(&ik, &id, &e);
        if (rc == 0 && rv.main <= r->compact_rev) {
            struct store_kv_ref newest;
            rc = store_kv_latest(kc, uk, ul, r->rev, &newest);
            if (rc == 0 && (store_rev_cmp(newest.mod, rv) != 0 || newest.tombstone))
                continue; /* physically compacted away in etcd's model */
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
