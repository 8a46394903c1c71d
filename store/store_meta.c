/* The meta database: small fixed records (hard state, applied index, revisions, ids). */
#include "store_int.h"

#include <string.h>

#define META_U64S_MAX 8

static MDB_val meta_key(const char *name)
{
    MDB_val k = {strlen(name), (void *)name};
    return k;
}

int store_meta_get_u64s(MDB_txn *txn, const struct store_dbs *db, const char *name, uint64_t *v,
                        size_t n, int *found)
{
    CAIRN_ASSERT(n > 0 && n <= META_U64S_MAX);
    MDB_val k = meta_key(name), d;
    int rc = mdb_get(txn, db->meta, &k, &d);
    if (rc == MDB_NOTFOUND) {
        memset(v, 0, n * sizeof(*v));
        *found = 0;
        return 0;
    }
    if (rc != 0)
        return store_lmdb_err(rc);
    if (d.mv_size != n * STORE_U64_BYTES)
        return CAIRN_ECORRUPT;
    for (size_t i = 0; i < n; i++)
        v[i] = store_u64_decode((const uint8_t *)d.mv_data + i * STORE_U64_BYTES);
    *found = 1;
    return 0;
}

int store_meta_put_u64s(MDB_txn *txn, const struct store_dbs *db, const char *name,
                        const uint64_t *v, size_t n)
{
    CAIRN_ASSERT(n > 0 && n <= META_U64S_MAX);
    uint8_t buf[META_U64S_MAX * STORE_U64_BYTES];
    for (size_t i = 0; i < n; i++)
        store_u64_encode(v[i], buf + i * STORE_U64_BYTES);
    MDB_val k = meta_key(name), d = {n * STORE_U64_BYTES, buf};
    return store_lmdb_err(mdb_put(txn, db->meta, &k, &d, 0));
}

int store_meta_get_i64(MDB_txn *txn, const struct store_dbs *db, const char *name, int64_t dflt,
                       int64_t *out)
{
    uint64_t v;
    int found;
    int rc = store_meta_get_u64s(txn, db, name, &v, 1, &found);
    if (rc != 0)
        return rc;
    *out = found ? (int64_t)v : dflt;
    return 0;
}

int store_meta_put_i64(MDB_txn *txn, const struct store_dbs *db, const char *name, int64_t v)
{
    uint64_t u = (uint64_t)v;
    return store_meta_put_u64s(txn, db, name, &u, 1);
}

static uint8_t *put_list(uint8_t *p, const uint64_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++, p += STORE_U64_BYTES)
        store_u64_encode(ids[i], p);
    return p;
}

/* Four counts (u32 BE), auto_leave, then the four id lists. */
size_t store_conf_encode(const struct raft_conf_state *cs, uint8_t *out)
{
    const uint32_t counts[4] = {cs->n_voters, cs->n_learners, cs->n_voters_outgoing,
                                cs->n_learners_next};
    uint8_t *p = out;
    for (int i = 0; i < 4; i++) {
        CAIRN_ASSERT(counts[i] <= RAFT_MAX_NODES);
        p[0] = (uint8_t)(counts[i] >> 24);
        p[1] = (uint8_t)(counts[i] >> 16);
        p[2] = (uint8_t)(counts[i] >> 8);
        p[3] = (uint8_t)counts[i];
        p += 4;
    }
    *p++ = cs->auto_leave;
    p = put_list(p, cs->voters, cs->n_voters);
    p = put_list(p, cs->learners, cs->n_learners);
    p = put_list(p, cs->voters_outgoing, cs->n_voters_outgoing);
    p = put_list(p, cs->learners_next, cs->n_learners_next);
    CAIRN_ASSERT((size_t)(p - out) <= STORE_CONF_BYTES_MAX);
    return (size_t)(p - out);
}

int store_conf_decode(const uint8_t *in, size_t len, struct raft_conf_state *cs)
{
    memset(cs, 0, sizeof(*cs));
    if (len < 17)
        return CAIRN_ECORRUPT;
    uint32_t counts[4];
    size_t total = 0;
    for (int i = 0; i < 4; i++) {
        const uint8_t *p = in + 4 * i;
        counts[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (counts[i] > RAFT_MAX_NODES)
            return CAIRN_ECORRUPT;
        total += counts[i];
    }
    if (len != 17 + total * STORE_U64_BYTES)
        return CAIRN_ECORRUPT;
    cs->auto_leave = in[16];
    uint64_t *lists[4] = {cs->voters, cs->learners, cs->voters_outgoing, cs->learners_next};
    const uint8_t *p = in + 17;
    for (int i = 0; i < 4; i++)
        for (uint32_t j = 0; j < counts[i]; j++, p += STORE_U64_BYTES)
            lists[i][j] = store_u64_decode(p);
    cs->n_voters = counts[0];
    cs->n_learners = counts[1];
    cs->n_voters_outgoing = counts[2];
    cs->n_learners_next = counts[3];
    return 0;
}

int store_meta_get_conf(MDB_txn *txn, const struct store_dbs *db, const char *name,
                        struct raft_conf_state *cs)
{
    MDB_val k = meta_key(name), d;
    int rc = mdb_get(txn, db->meta, &k, &d);
    if (rc == MDB_NOTFOUND) {
        memset(cs, 0, sizeof(*cs));
        return 0;
    }
    if (rc != 0)
        return store_lmdb_err(rc);
    return store_conf_decode(d.mv_data, d.mv_size, cs);
}
