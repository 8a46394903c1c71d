/*
 * store_wtx.h — the state of one batch's write transaction while entries are applied:
 * the revision counter, the applied index, alarm state and the current write's
 * (main, sub) revision. Private to store_apply.c and store_mvcc_write.c.
 */
#ifndef CAIRN_STORE_WTX_H
#define CAIRN_STORE_WTX_H

#include "store_int.h"

struct store_wtx {
    struct store *s;
    MDB_txn *txn;
    const struct store_dbs *db;
    MDB_cursor *kc; /* key index cursor, open for the whole txn */
    unsigned flags; /* enum store_batch_flags */
    int64_t rev;    /* committed revision before the current write */
    int64_t compact_rev;
    uint64_t applied, applied_term;
    int nospace, corrupt;
    int dirty;
    uint64_t first_done; /* entries [first_done, applied] were applied by this txn */
    /* the write in progress (etcd's storeTxnWrite) */
    ProtobufCAllocator *arena;
    int64_t op_main;
    int64_t op_sub; /* changes so far = next sub revision */
    Mvccpb__Event **ev;
    size_t n_ev, cap_ev;
};

/* Newest revision visible to the write in progress (its own changes included). */
static inline int64_t wtx_cur_rev(const struct store_wtx *w)
{
    return w->op_sub > 0 ? w->op_main : w->rev;
}

static inline struct store_view wtx_view(const struct store_wtx *w)
{
    struct store_view v = {w->txn, w->db, wtx_cur_rev(w), w->compact_rev, 1, w->arena, 0};
    return v;
}

void wtx_write_begin(struct store_wtx *w);
void wtx_write_end(struct store_wtx *w);
int wtx_lease_exists(struct store_wtx *w, int64_t id, int *exists);
/* Deletes the live key (its newest entry is prev): tombstone, lease detach, event. key
 * must not point into LMDB memory. */
int wtx_delete_key(struct store_wtx *w, const uint8_t *key, size_t klen,
                   const struct store_kv_ref *prev);

/* store_mvcc_write.c: the request kinds that change keys. Return storage errors; a
 * request's own error goes to *err with nothing changed. */
int wtx_op_put(struct store_wtx *w, const Etcdserverpb__PutRequest *req,
               Etcdserverpb__PutResponse **out, int *err);
int wtx_op_delete_range(struct store_wtx *w, const Etcdserverpb__DeleteRangeRequest *req,
                        Etcdserverpb__DeleteRangeResponse **out);
int wtx_op_txn(struct store_wtx *w, const Etcdserverpb__TxnRequest *req,
               Etcdserverpb__TxnResponse **out, int *err);

#endif /* CAIRN_STORE_WTX_H */
