/* Write batches: calls are recorded, then commit performs them in one LMDB write txn and
 * one fsync. A full map is grown and the whole batch performed again. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#define BATCH_RETRIES_MAX 64
#define BATCH_RECS_KEEP   4096 /* recorded calls kept allocated between batches */

int store_batch_begin(struct store *s, unsigned flags, struct store_batch **out)
{
    CAIRN_ASSERT(s != NULL && out != NULL);
    pthread_mutex_lock(&s->write_mu);
    struct store_batch *b = &s->batch;
    CAIRN_ASSERT(!b->open && b->n == 0);
    b->s = s;
    b->flags = flags;
    b->open = 1;
    *out = b;
    return 0;
}

static void batch_end(struct store_batch *b)
{
    CAIRN_ASSERT(b->open);
    for (size_t i = 0; i < b->n; i++)
        if (b->recs[i].kind == STORE_REC_CONF_STATE)
            free(b->recs[i].cs);
    b->n = 0;
    if (b->cap > BATCH_RECS_KEEP) {
        free(b->recs);
        b->recs = NULL;
        b->cap = 0;
    }
    b->open = 0;
    pthread_mutex_unlock(&b->s->write_mu);
}

void store_batch_abort(struct store_batch *b)
{
    if (b != NULL)
        batch_end(b);
}

static struct store_batch_rec *rec_add(struct store_batch *b, enum store_batch_rec_kind kind)
{
    CAIRN_ASSERT(b != NULL && b->open);
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct store_batch_rec *nr = realloc(b->recs, cap * sizeof(*nr));
        if (nr == NULL)
            return NULL;
        b->recs = nr;
        b->cap = cap;
    }
    struct store_batch_rec *r = &b->recs[b->n++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    return r;
}

int store_batch_append(struct store_batch *b, const struct raft_entry *e, size_t n)
{
    if (n == 0)
        return 0;
    CAIRN_ASSERT(e != NULL);
    for (size_t i = 1; i < n; i++)
        if (e[i].index != e[0].index + i)
            return CAIRN_EINVAL;
    if (e[0].index == 0)
        return CAIRN_EINVAL;
    struct store_batch_rec *r = rec_add(b, STORE_REC_APPEND);
    if (r == NULL)
        return CAIRN_ENOMEM;
    r->append.e = e;
    r->append.n = n;
    return 0;
}

int store_batch_set_hard_state(struct store_batch *b, const struct raft_hard_state *hs)
{
    CAIRN_ASSERT(hs != NULL);
    struct store_batch_rec *r = rec_add(b, STORE_REC_HARD_STATE);
    if (r == NULL)
        return CAIRN_ENOMEM;
    r->hs = *hs;
    return 0;
}

int store_batch_set_conf_state(struct store_batch *b, const struct raft_conf_state *cs)
{
    CAIRN_ASSERT(cs != NULL);
    if (cs->n_voters > RAFT_MAX_NODES || cs->n_learners > RAFT_MAX_NODES ||
        cs->n_voters_outgoing > RAFT_MAX_NODES || cs->n_learners_next > RAFT_MAX_NODES)
        return CAIRN_EINVAL;
    struct raft_conf_state *copy = malloc(sizeof(*copy));
    if (copy == NULL)
        return CAIRN_ENOMEM;
    struct store_batch_rec *r = rec_add(b, STORE_REC_CONF_STATE);
    if (r == NULL) {
        free(copy);
        return CAIRN_ENOMEM;
    }
    *copy = *cs;
    r->cs = copy;
    return 0;
}

int store_batch_log_compact(struct store_batch *b, uint64_t index)
{
    struct store_batch_rec *r = rec_add(b, STORE_REC_LOG_COMPACT);
    if (r == NULL)
        return CAIRN_ENOMEM;
    r->index = index;
    return 0;
}

int store_batch_set_ids(struct store_batch *b, uint64_t cluster_id, uint64_t member_id)
{
    struct store_batch_rec *r = rec_add(b, STORE_REC_IDS);
    if (r == NULL)
        return CAIRN_ENOMEM;
    r->ids[0] = cluster_id;
    r->ids[1] = member_id;
    return 0;
}

static int aux_rec(struct store_batch *b, enum store_batch_rec_kind kind, uint64_t index,
                   uint8_t table, const uint8_t *key, size_t key_len, const uint8_t *val,
                   size_t val_len)
{
    if (key_len > STORE_AUX_KEY_MAX)
        return CAIRN_ETOOLARGE;
    struct store_batch_rec *r = rec_add(b, kind);
    if (r == NULL)
        return CAIRN_ENOMEM;
    r->aux.index = index;
    r->aux.table = table;
    r->aux.key = key;
    r->aux.key_len = key_len;
    r->aux.val = val;
    r->aux.val_len = val_len;
    return 0;
}

int store_batch_aux_put(struct store_batch *b, uint64_t index, uint8_t table, const uint8_t *key,
                        size_t key_len, const uint8_t *val, size_t val_len)
{
    return aux_rec(b, STORE_REC_AUX_PUT, index, table, key, key_len, val, val_len);
}

int store_batch_aux_del(struct store_batch *b, uint64_t index, uint8_t table, const uint8_t *key,
                        size_t key_len)
{
    return aux_rec(b, STORE_REC_AUX_DEL, index, table, key, key_len, NULL, 0);
}

int store_batch_apply(struct store_batch *b, uint64_t index, uint64_t term,
                      const struct store_op *op, ProtobufCAllocator *arena,
                      struct store_result *res)
{
    CAIRN_ASSERT(op != NULL && res != NULL);
    struct store_batch_rec *r = rec_add(b, STORE_REC_APPLY);
    if (r == NULL)
        return CAIRN_ENOMEM;
    r->apply.index = index;
    r->apply.term = term;
    r->apply.op = *op;
    r->apply.arena = arena;
    r->apply.res = res;
    memset(res, 0, sizeof(*res));
    return 0;
}

static int perform(struct store_batch *b, MDB_txn *txn, struct store_wtx *w)
{
    struct store *s = b->s;
    int rc = 0;
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        struct store_batch_rec *r = &b->recs[i];
        switch (r->kind) {
        case STORE_REC_APPEND:
            rc = store_log_do_append(txn, &s->db, r->append.e, r->append.n);
            break;
        case STORE_REC_HARD_STATE: {
            uint64_t v[3] = {r->hs.term, r->hs.vote, r->hs.commit};
            rc = store_meta_put_u64s(txn, &s->db, STORE_META_HARD_STATE, v, 3);
            break;
        }
        case STORE_REC_CONF_STATE: {
            uint8_t buf[STORE_CONF_BYTES_MAX];
            MDB_val k = {strlen(STORE_META_CONF_STATE), (void *)STORE_META_CONF_STATE};
            MDB_val d = {store_conf_encode(r->cs, buf), buf};
            rc = store_lmdb_err(mdb_put(txn, s->db.meta, &k, &d, 0));
            break;
        }
        case STORE_REC_APPLY:
            rc = store_wtx_apply(w, r->apply.index, r->apply.term, &r->apply.op, r->apply.arena,
                                 r->apply.res);
            break;
        case STORE_REC_LOG_COMPACT: {
            uint64_t ap[2];
            int found;
            rc = store_wtx_finish(w); /* the applied index so far must be visible */
            if (rc == 0)
                rc = store_meta_get_u64s(txn, &s->db, STORE_META_APPLIED, ap, 2, &found);
            if (rc == 0 && r->index > ap[0])
                rc = CAIRN_EINVAL; /* only applied entries may leave the log */
            if (rc == 0)
                rc = store_log_do_compact(txn, &s->db, r->index);
            break;
        }
        case STORE_REC_IDS:
            rc = store_meta_put_u64s(txn, &s->db, STORE_META_IDS, r->ids, 2);
            break;
        case STORE_REC_AUX_PUT:
        case STORE_REC_AUX_DEL:
            /* only with its entry: a replayed (skipped) entry must not write again */
            if (store_wtx_did_apply(w, r->aux.index))
                rc = store_aux_do(txn, &s->db, r);
            break;
        }
    }
    if (rc == 0)
        rc = store_wtx_finish(w);
    return rc;
}

static int batch_commit(struct store_batch *b, int sync);

int store_batch_commit(struct store_batch *b)
{
    return batch_commit(b, 1);
}

int store_batch_commit_unsynced(struct store_batch *b)
{
    return batch_commit(b, 0);
}

int store_sync(struct store *s)
{
    CAIRN_ASSERT(s != NULL && s->env != NULL);
    return store_lmdb_err(mdb_env_sync(s->env, 1));
}

/* MDB_NOSYNC for one commit: the writer holds the write lock, so no other commit sees it. */
static int commit_txn(struct store *s, MDB_txn *txn, int sync)
{
    int nosync = !sync && !s->cfg.unsafe_no_sync;
    int frc = nosync ? mdb_env_set_flags(s->env, MDB_NOSYNC, 1) : 0;
    CAIRN_ASSERT(frc == 0);
    int rc = store_lmdb_err(mdb_txn_commit(txn)); /* frees txn even when it fails */
    frc = nosync ? mdb_env_set_flags(s->env, MDB_NOSYNC, 0) : 0;
    CAIRN_ASSERT(frc == 0);
    return rc;
}

static int batch_commit(struct store_batch *b, int sync)
{
    CAIRN_ASSERT(b != NULL && b->open);
    struct store *s = b->s;
    int rc = 0;
    if (b->n == 0) {
        batch_end(b);
        return 0;
    }
    /* Grow before the map is nearly full rather than redo a batch after MDB_MAP_FULL. */
    if (store_db_bytes(s) > s->map_bytes / 10 * 8 && s->map_bytes < s->map_max_bytes)
        rc = store_map_grow(s);
    int attempt = 0;
    while (rc == 0) {
        if (attempt++ == BATCH_RETRIES_MAX) {
            rc = CAIRN_ENOSPACE;
            break;
        }
        MDB_txn *txn;
        rc = store_txn_begin_write(s, &txn);
        if (rc != 0)
            break;
        struct store_wtx *w = store_wtx_new(s, txn, b->flags, &rc);
        if (w != NULL) {
            rc = perform(b, txn, w);
            store_wtx_free(w);
        }
        if (rc == 0)
            rc = commit_txn(s, txn, sync);
        else
            mdb_txn_abort(txn);
        if (rc != STORE_ERR_MAPFULL)
            break;
        s->batch_retries++;
        rc = store_map_grow(s); /* then perform the whole batch again */
    }
    CAIRN_ASSERT(rc != STORE_ERR_MAPFULL);
    batch_end(b);
    return rc;
}
