/* Physical compaction: removes the revisions a COMPACT entry made unreadable, a bounded
 * number per write txn, resuming where the last one stopped (also after a crash). */
#include "store_int.h"

#include <string.h>

struct cmp_work {
    struct store *s;
    uint32_t max;
    int done;
    uint64_t removed;
};

static int cmp_step(void *arg, MDB_txn *txn)
{
    struct cmp_work *cw = arg;
    const struct store_dbs *db = &cw->s->db;
    int64_t target;
    uint64_t nx[2];
    int found;
    int rc = store_meta_get_i64(txn, db, STORE_META_CMP_TARGET, 0, &target);
    if (rc == 0)
        rc = store_meta_get_u64s(txn, db, STORE_META_CMP_NEXT, nx, 2, &found);
    if (rc != 0)
        return rc;
    cw->done = target <= 0;
    if (cw->done)
        return 0;
    MDB_cursor *hc, *kc;
    rc = store_lmdb_err(mdb_cursor_open(txn, db->rev, &hc));
    if (rc != 0)
        return rc;
    rc = store_lmdb_err(mdb_cursor_open(txn, db->kidx, &kc));
    if (rc != 0) {
        mdb_cursor_close(hc);
        return rc;
    }
    uint8_t rb[STORE_REV_BYTES];
    store_u64_encode(nx[0], rb);
    store_u64_encode(nx[1], rb + STORE_U64_BYTES);
    MDB_val k = {sizeof(rb), rb}, d;
    int grc = mdb_cursor_get(hc, &k, &d, MDB_SET_RANGE);
    struct store_rev rv = {0, 0};
    for (uint32_t n = 0; grc == 0 && rc == 0 && n < cw->max; n++) {
        rc = store_rev_decode(k.mv_data, k.mv_size, &rv);
        if (rc != 0 || rv.main > target)
            break;
        /* Copy the key: the deletes below rewrite the page it lives in. */
        uint8_t key[STORE_MAX_KEY_BYTES];
        size_t kl = d.mv_size ? d.mv_size - 1 : 0;
        if (kl > STORE_MAX_KEY_BYTES) {
            rc = CAIRN_ECORRUPT;
            break;
        }
        memcpy(key, (const uint8_t *)d.mv_data + 1, kl);
        struct store_kv_ref newest;
        rc = store_kv_latest(kc, key, kl, target, &newest);
        if (rc != 0)
            break;
        /* etcd's keyIndex.compact: keep a key's newest revision at the target unless it is
         * a tombstone; everything older goes. */
        if (store_rev_cmp(newest.mod, rv) == 0 && !newest.tombstone) {
            grc = mdb_cursor_get(hc, &k, &d, MDB_NEXT);
            continue;
        }
        uint8_t ib[STORE_MAX_KEY_BYTES + STORE_REV_BYTES];
        store_kidx_key(key, kl, rv, ib);
        MDB_val ik = {kl + STORE_REV_BYTES, ib};
        rc = store_lmdb_err(mdb_del(txn, db->kidx, &ik, NULL));
        if (rc == 0)
            rc = store_lmdb_err(mdb_cursor_del(hc, 0));
        if (rc == 0) {
            /* the next one: seek (a cursor on an emptied tree is not positioned) */
            store_rev_encode(rv, rb);
            k.mv_size = sizeof(rb);
            k.mv_data = rb;
            grc = mdb_cursor_get(hc, &k, &d, MDB_SET_RANGE);
        }
        cw->removed++;
    }
    mdb_cursor_close(kc);
    mdb_cursor_close(hc);
    if (rc != 0)
        return rc;
    if (grc != 0 && grc != MDB_NOTFOUND)
        return store_lmdb_err(grc);
    if (grc == MDB_NOTFOUND || rv.main > target) {
        cw->done = 1;
        rc = store_meta_put_i64(txn, db, STORE_META_CMP_TARGET, 0);
    } else {
        /* stopped at rv (not yet examined): resume there */
        uint64_t v[2];
        struct store_rev cur;
        rc = store_rev_decode(k.mv_data, k.mv_size, &cur);
        v[0] = (uint64_t)cur.main;
        v[1] = (uint64_t)cur.sub;
        if (rc == 0)
            rc = store_meta_put_u64s(txn, db, STORE_META_CMP_NEXT, v, 2);
    }
    return rc;
}

int store_compact_work(struct store *s, uint32_t max_revisions, int *done)
{
    CAIRN_ASSERT(s != NULL && done != NULL);
    CAIRN_ASSERT(max_revisions > 0);
    struct cmp_work cw = {s, max_revisions, 0, 0};
    pthread_mutex_lock(&s->write_mu);
    CAIRN_ASSERT(!s->batch.open);
    int rc = store_write_txn_run(s, cmp_step, &cw);
    pthread_mutex_unlock(&s->write_mu);
    *done = cw.done;
    return rc;
}
