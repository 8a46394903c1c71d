/* The aux database: server-owned tables (auth, membership) keyed by table id ++ key. */
#include "store_int.h"

#include <string.h>

static size_t aux_key(uint8_t table, const uint8_t *key, size_t klen, uint8_t *buf)
{
    CAIRN_ASSERT(klen <= STORE_AUX_KEY_MAX);
    buf[0] = table;
    if (klen)
        memcpy(buf + 1, key, klen);
    return klen + 1;
}

int store_aux_do(MDB_txn *txn, const struct store_dbs *db, const struct store_batch_rec *r)
{
    CAIRN_ASSERT(r->kind == STORE_REC_AUX_PUT || r->kind == STORE_REC_AUX_DEL);
    uint8_t kb[STORE_AUX_KEY_MAX + 1];
    MDB_val k = {aux_key(r->aux.table, r->aux.key, r->aux.key_len, kb), kb};
    if (r->kind == STORE_REC_AUX_DEL) {
        int rc = mdb_del(txn, db->aux, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
    }
    MDB_val d = {r->aux.val_len, (void *)r->aux.val};
    return store_lmdb_err(mdb_put(txn, db->aux, &k, &d, 0));
}

int store_aux_get(struct store_read *r, uint8_t table, const uint8_t *key, size_t key_len,
                  ProtobufCBinaryData *val)
{
    CAIRN_ASSERT(r != NULL && val != NULL);
    if (key_len > STORE_AUX_KEY_MAX)
        return CAIRN_ENOTFOUND;
    uint8_t kb[STORE_AUX_KEY_MAX + 1];
    MDB_val k = {aux_key(table, key, key_len, kb), kb}, d;
    int rc = mdb_get(r->txn, r->s->db.aux, &k, &d);
    if (rc != 0)
        return store_lmdb_err(rc);
    val->data = d.mv_size ? d.mv_data : NULL;
    val->len = d.mv_size;
    return 0;
}

int store_aux_scan(struct store_read *r, uint8_t table, const uint8_t *after, size_t after_len,
                   ProtobufCBinaryData *keys, ProtobufCBinaryData *vals, size_t max, size_t *n)
{
    CAIRN_ASSERT(r != NULL && n != NULL);
    *n = 0;
    if (after_len > STORE_AUX_KEY_MAX)
        return CAIRN_EINVAL;
    uint8_t kb[STORE_AUX_KEY_MAX + 1];
    MDB_val k = {aux_key(table, after, after_len, kb), kb}, d;
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, r->s->db.aux, &c);
    if (rc != 0)
        return store_lmdb_err(rc);
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    /* skip the "after" key itself (strictly greater), unless it is the empty start */
    if (rc == 0 && after_len > 0 && k.mv_size == after_len + 1 &&
        memcmp(k.mv_data, kb, k.mv_size) == 0)
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    while (rc == 0 && *n < max) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size < 1 || kp[0] != table)
            break;
        keys[*n].data = (uint8_t *)kp + 1;
        keys[*n].len = k.mv_size - 1;
        vals[*n].data = d.mv_data;
        vals[*n].len = d.mv_size;
        (*n)++;
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : store_lmdb_err(rc);
}
