/* Import of an etcd key bucket (a restored etcd snapshot) into a new environment beside the
 * store, written in bounded chunks, then swapped in whole. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_RECS_MAX  4096
#define CHUNK_BYTES_MAX (8u << 20)
#define IMPORT_MAP0     (64ULL << 20)
#define IMPORT_GROWS    40 /* map doublings per chunk before giving up */

struct imp_rec {
    struct store_rev rev;
    int tomb;
    int64_t create, version, lease;
    size_t key_off, key_len, val_off, val_len;
};

struct imp_lease {
    int64_t id, ttl, remaining;
};

struct store_import {
    struct store *s;
    char *path;
    MDB_env *env;
    struct store_dbs db;
    uint64_t map_bytes;
    struct imp_rec *recs;
    size_t n, cap;
    uint8_t *bytes;
    size_t used, bcap;
    struct imp_lease *leases;
    size_t n_leases, cap_leases;
    struct store_rev last;
    int any;
};

int store_import_begin(struct store *s, struct store_import **out)
{
    CAIRN_ASSERT(s != NULL && out != NULL);
    struct store_import *im = calloc(1, sizeof(*im));
    if (im == NULL)
        return CAIRN_ENOMEM;
    im->s = s;
    int fd;
    int rc = store_tmp_create(s, &im->path, &fd);
    if (rc == 0) {
        close(fd); /* an empty file: LMDB makes a new environment in it */
        rc = store_copy_env_open(im->path, 0, IMPORT_MAP0, &im->env, &im->db);
    }
    if (rc != 0) {
        if (im->path != NULL)
            unlink(im->path);
        free(im->path);
        free(im);
        return rc;
    }
    im->map_bytes = IMPORT_MAP0;
    pthread_mutex_lock(&s->write_mu);
    CAIRN_ASSERT(!s->batch.open);
    *out = im;
    return 0;
}

static int grow(struct store_import *im)
{
    uint64_t next = im->map_bytes * 2;
    int rc = mdb_env_set_mapsize(im->env, next); /* no txn of this env is active */
    if (rc == 0)
        im->map_bytes = next;
    return store_lmdb_err(rc);
}

static int write_chunk(struct store_import *im, MDB_txn *txn)
{
    for (size_t i = 0; i < im->n; i++) {
        const struct imp_rec *r = &im->recs[i];
        const uint8_t *key = im->bytes + r->key_off;
        uint8_t kb[STORE_MAX_KEY_BYTES + STORE_REV_BYTES];
        store_kidx_key(key, r->key_len, r->rev, kb);
        MDB_val k = {r->key_len + STORE_REV_BYTES, kb},
                d = {STORE_REC_HDR_BYTES + r->val_len, NULL};
        int rc = mdb_put(txn, im->db.kidx, &k, &d, MDB_RESERVE);
        if (rc != 0)
            return store_lmdb_err(rc);
        uint8_t *p = d.mv_data;
        p[0] = r->tomb ? STORE_REC_TOMBSTONE : 0;
        store_u64_encode((uint64_t)r->create, p + 1);
        store_u64_encode((uint64_t)r->version, p + 9);
        store_u64_encode((uint64_t)r->lease, p + 17);
        if (r->val_len)
            memcpy(p + STORE_REC_HDR_BYTES, im->bytes + r->val_off, r->val_len);
        uint8_t rb[STORE_REV_BYTES];
        store_rev_encode(r->rev, rb);
        MDB_val hk = {sizeof(rb), rb}, hd = {1 + r->key_len, NULL};
        rc = mdb_put(txn, im->db.rev, &hk, &hd, MDB_APPEND | MDB_RESERVE);
        if (rc != 0)
            return rc == MDB_KEYEXIST ? CAIRN_EINVAL : store_lmdb_err(rc);
        uint8_t *q = hd.mv_data;
        q[0] = r->tomb ? STORE_REC_TOMBSTONE : 0;
        memcpy(q + 1, key, r->key_len);
    }
    return 0;
}

/* Writes the buffered chunk in one txn of the new environment, growing its map as needed. */
static int flush(struct store_import *im)
{
    if (im->n == 0)
        return 0;
    int rc = STORE_ERR_MAPFULL;
    for (int attempt = 0; attempt < IMPORT_GROWS && rc == STORE_ERR_MAPFULL; attempt++) {
        MDB_txn *txn;
        rc = store_lmdb_err(mdb_txn_begin(im->env, NULL, 0, &txn));
        if (rc != 0)
            return rc;
        rc = write_chunk(im, txn);
        if (rc == 0)
            rc = store_lmdb_err(mdb_txn_commit(txn));
        else
            mdb_txn_abort(txn);
        if (rc == STORE_ERR_MAPFULL && grow(im) != 0)
            return CAIRN_ENOSPACE;
    }
    im->n = 0;
    im->used = 0;
    return rc == STORE_ERR_MAPFULL ? CAIRN_ENOSPACE : rc;
}

static int buf_add(struct store_import *im, const uint8_t *p, size_t n, size_t *off)
{
    if (im->used + n > im->bcap) {
        size_t cap = im->bcap ? im->bcap : (1u << 16);
        while (cap < im->used + n)
            cap *= 2;
        uint8_t *nb = realloc(im->bytes, cap);
        if (nb == NULL)
            return CAIRN_ENOMEM;
        im->bytes = nb;
        im->bcap = cap;
    }
    *off = im->used;
    if (n)
        memcpy(im->bytes + im->used, p, n);
    im->used += n;
    return 0;
}

int store_import_revision(struct store_import *im, const uint8_t *key, size_t key_len,
                          const uint8_t *val, size_t val_len)
{
    CAIRN_ASSERT(im != NULL && key != NULL);
    if ((key_len != 17 && key_len != 18) || key[8] != '_' || (key_len == 18 && key[17] != 't'))
        return CAIRN_EINVAL;
    uint64_t m = store_u64_decode(key), sb = store_u64_decode(key + 9);
    if (m > INT64_MAX || sb > INT64_MAX)
        return CAIRN_EINVAL;
    struct store_rev rev = {(int64_t)m, (int64_t)sb};
    if (im->any && store_rev_cmp(rev, im->last) <= 0)
        return CAIRN_EINVAL; /* etcd's bucket is in key order: revisions only grow */
    Mvccpb__KeyValue *kv = mvccpb__key_value__unpack(NULL, val_len, val);
    if (kv == NULL)
        return CAIRN_ECORRUPT;
    int tomb = key_len == 18;
    int rc = 0;
    if (kv->key.len == 0 || (!tomb && kv->mod_revision != rev.main))
        rc = CAIRN_ECORRUPT;
    else if (kv->key.len > STORE_MAX_KEY_BYTES)
        rc = CAIRN_ETOOLARGE;
    if (rc == 0 && im->n == im->cap) {
        size_t cap = im->cap ? im->cap * 2 : 256;
        struct imp_rec *nr = realloc(im->recs, cap * sizeof(*nr));
        rc = nr ? 0 : CAIRN_ENOMEM;
        if (nr != NULL) {
            im->recs = nr;
            im->cap = cap;
        }
    }
    struct imp_rec r = {rev, tomb, 0, 0, 0, 0, kv->key.len, 0, 0};
    if (rc == 0)
        rc = buf_add(im, kv->key.data, kv->key.len, &r.key_off);
    if (rc == 0 && !tomb) {
        r.create = kv->create_revision;
        r.version = kv->version;
        r.lease = kv->lease;
        r.val_len = kv->value.len;
        rc = buf_add(im, kv->value.data, kv->value.len, &r.val_off);
    }
    mvccpb__key_value__free_unpacked(kv, NULL);
    if (rc != 0)
        return rc;
    im->recs[im->n++] = r;
    im->last = rev;
    im->any = 1;
    if (im->n >= CHUNK_RECS_MAX || im->used >= CHUNK_BYTES_MAX)
        return flush(im);
    return 0;
}

int store_import_lease(struct store_import *im, int64_t id, int64_t ttl_s, int64_t remaining_ttl_s)
{
    CAIRN_ASSERT(im != NULL);
    if (im->n_leases == im->cap_leases) {
        size_t cap = im->cap_leases ? im->cap_leases * 2 : 64;
        struct imp_lease *nl = realloc(im->leases, cap * sizeof(*nl));
        if (nl == NULL)
            return CAIRN_ENOMEM;
        im->leases = nl;
        im->cap_leases = cap;
    }
    im->leases[im->n_leases++] = (struct imp_lease){id, ttl_s, remaining_ttl_s};
    return 0;
}

/* Leases, attachments (each key's live newest value), revisions and applied index. */
static int finish_txn(struct store_import *im, MDB_txn *txn, int64_t compact_rev,
                      uint64_t applied_index, uint64_t applied_term)
{
    const struct store_dbs *db = &im->db;
    int rc = 0;
    for (size_t i = 0; i < im->n_leases && rc == 0; i++) {
        uint8_t kb[STORE_U64_BYTES], vb[2 * STORE_U64_BYTES];
        store_lease_key(im->leases[i].id, kb);
        store_u64_encode((uint64_t)im->leases[i].ttl, vb);
        store_u64_encode((uint64_t)im->leases[i].remaining, vb + STORE_U64_BYTES);
        MDB_val k = {sizeof(kb), kb}, d = {sizeof(vb), vb};
        rc = store_lmdb_err(mdb_put(txn, db->lease, &k, &d, 0));
    }
    MDB_cursor *c;
    if (rc == 0)
        rc = store_lmdb_err(mdb_cursor_open(txn, db->kidx, &c));
    if (rc != 0)
        return rc;
    MDB_val k, d;
    struct store_kv_ref cur = {0}, next = {0};
    int have = 0, grc = mdb_cursor_get(c, &k, &d, MDB_FIRST);
    for (;;) {
        int more = grc == 0;
        if (more && (rc = store_kv_decode(&k, &d, &next)) != 0)
            break;
        /* cur is a key's newest entry when the next entry is another key (or none) */
        if (have && (!more || store_bytes_cmp(cur.key, cur.key_len, next.key, next.key_len)))
            if (!cur.tombstone && cur.lease != 0) {
                uint8_t lk[STORE_U64_BYTES + STORE_MAX_KEY_BYTES];
                store_lease_key(cur.lease, lk);
                memcpy(lk + STORE_U64_BYTES, cur.key, cur.key_len);
                MDB_val lkv = {STORE_U64_BYTES + cur.key_len, lk}, e = {0, NULL};
                if ((rc = store_lmdb_err(mdb_put(txn, db->leasekey, &lkv, &e, 0))) != 0)
                    break;
            }
        if (!more)
            break;
        cur = next;
        have = 1;
        grc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc == 0 && grc != 0 && grc != MDB_NOTFOUND)
        rc = store_lmdb_err(grc);
    int64_t rev = im->any && im->last.main > 1 ? im->last.main : 1;
    if (compact_rev > rev) /* etcdutl's --bump-revision with --mark-compacted */
        rev = compact_rev;
    uint64_t ap[2] = {applied_index, applied_term}, zero[2] = {0, 0};
    if (rc == 0)
        rc = store_meta_put_i64(txn, db, STORE_META_FORMAT, STORE_FORMAT_VERSION);
    if (rc == 0)
        rc = store_meta_put_i64(txn, db, STORE_META_REV, rev);
    if (rc == 0)
        rc = store_meta_put_i64(txn, db, STORE_META_COMPACT, compact_rev < 0 ? -1 : compact_rev);
    /* a snapshot may still hold revisions its compaction had not removed yet */
    if (rc == 0)
        rc = store_meta_put_i64(txn, db, STORE_META_CMP_TARGET, compact_rev > 0 ? compact_rev : 0);
    if (rc == 0)
        rc = store_meta_put_u64s(txn, db, STORE_META_CMP_NEXT, zero, 2);
    if (rc == 0)
        rc = store_meta_put_u64s(txn, db, STORE_META_APPLIED, ap, 2);
    return rc;
}

/* The node's membership (an etcd snapshot carries none of cairn's raft state). */
static int keep_conf(struct store *s, MDB_txn *txn, const struct store_dbs *db)
{
    MDB_txn *cur;
    int rc = store_lmdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &cur));
    if (rc != 0)
        return rc;
    MDB_val k = {strlen(STORE_META_CONF_STATE), (void *)STORE_META_CONF_STATE}, d;
    int grc = mdb_get(cur, s->db.meta, &k, &d);
    if (grc == 0)
        rc = store_lmdb_err(mdb_put(txn, db->meta, &k, &d, 0));
    else if (grc != MDB_NOTFOUND)
        rc = store_lmdb_err(grc);
    mdb_txn_abort(cur);
    return rc;
}

int store_import_finish(struct store_import *im, int64_t compact_rev, uint64_t applied_index,
                        uint64_t applied_term)
{
    CAIRN_ASSERT(im != NULL && im->env != NULL);
    struct store *s = im->s;
    int rc = flush(im);
    for (int attempt = 0; rc == 0 && attempt < IMPORT_GROWS; attempt++) {
        MDB_txn *txn;
        rc = store_lmdb_err(mdb_txn_begin(im->env, NULL, 0, &txn));
        if (rc != 0)
            break;
        rc = finish_txn(im, txn, compact_rev, applied_index, applied_term);
        if (rc == 0) /* keep this node's membership, hard state and ids */
            rc = keep_conf(s, txn, &im->db);
        if (rc == 0)
            rc = store_restore_fixup(s, txn, &im->db, NULL);
        if (rc == 0)
            rc = store_lmdb_err(mdb_txn_commit(txn));
        else
            mdb_txn_abort(txn);
        if (rc != STORE_ERR_MAPFULL)
            break;
        rc = grow(im);
        rc = rc == 0 ? 0 : CAIRN_ENOSPACE;
    }
    if (rc == 0)
        rc = store_lmdb_err(mdb_env_sync(im->env, 1));
    mdb_env_close(im->env);
    im->env = NULL;
    if (rc == 0)
        rc = store_swap_in(s, im->path, NULL);
    if (rc != 0)
        unlink(im->path);
    pthread_mutex_unlock(&s->write_mu);
    free(im->path);
    free(im->recs);
    free(im->bytes);
    free(im->leases);
    free(im);
    return rc;
}

void store_import_abort(struct store_import *im)
{
    if (im == NULL)
        return;
    if (im->env != NULL)
        mdb_env_close(im->env);
    unlink(im->path);
    pthread_mutex_unlock(&im->s->write_mu);
    free(im->path);
    free(im->recs);
    free(im->bytes);
    free(im->leases);
    free(im);
}
