/*
 * store_int.h — store/'s private layout: the environment handle, the named databases and
 * their record formats, and helpers shared by the files of store/. Not for other modules.
 *
 * Named databases (all in data.mdb):
 *   log       u64 index (BE)            -> u64 term (BE), u8 type, data
 *   meta      short ASCII names          -> fixed little records (see STORE_META_*)
 *   kidx      user key ++ rev (16 bytes) -> record: u8 flags, i64 create, i64 version,
 *                                           i64 lease (BE), value bytes. Custom comparator:
 *                                           user key bytes first, then the revision, so a
 *                                           read at revision R is one cursor seek.
 *   rev       rev (16 bytes)             -> u8 flags, user key (history in revision order:
 *                                           watch catch-up, compaction, hash)
 *   lease     i64 id (BE, biased)        -> i64 ttl, i64 remaining ttl
 *   leasekey  i64 id (BE, biased) ++ key -> empty (keys attached to a lease)
 *   alarm     u64 member ++ u8 type      -> empty
 *   aux       reserved for auth / membership tables of server/
 */
#ifndef CAIRN_STORE_INT_H
#define CAIRN_STORE_INT_H

#include "store.h"

#include "common.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define STORE_FORMAT_VERSION 1
#define STORE_READ_POOL_MAX  32
#define STORE_REC_HDR_BYTES  25 /* flags + create + version + lease */
#define STORE_REC_TOMBSTONE  1u
#define STORE_CONF_BYTES_MAX (4 * 4 + 1 + 4 * RAFT_MAX_NODES * 8)
#define STORE_TXN_DEPTH_MAX  64 /* nested txns deeper than this are refused (CAIRN_ELIMIT) */

/* meta database keys */
#define STORE_META_FORMAT     "format"    /* u32 */
#define STORE_META_HARD_STATE "hs"        /* term, vote, commit */
#define STORE_META_CONF_STATE "cs"        /* store_conf_encode */
#define STORE_META_APPLIED    "applied"   /* index, term */
#define STORE_META_LOG_START  "logstart"  /* index, term: first_index - 1 and its term */
#define STORE_META_REV        "rev"       /* i64 current revision */
#define STORE_META_COMPACT    "compact"   /* i64 compacted revision (-1 = never) */
#define STORE_META_CMP_TARGET "cmptarget" /* i64 revision physical compaction works toward */
#define STORE_META_CMP_NEXT   "cmpnext"   /* rev: where physical compaction resumes */
#define STORE_META_IDS        "ids"       /* cluster id, member id */

struct store_dbs {
    MDB_dbi log, meta, kidx, rev, lease, leasekey, alarm, aux;
};

/* Readers share; map growth, defragment and restore need the environment to themselves. */
struct store_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t readers;
    int exclusive;
    int waiting;
};

/* One recorded batch call (store_batch_*), performed by commit. */
enum store_batch_rec_kind {
    STORE_REC_APPEND,
    STORE_REC_HARD_STATE,
    STORE_REC_CONF_STATE,
    STORE_REC_APPLY,
    STORE_REC_LOG_COMPACT,
    STORE_REC_IDS,
    STORE_REC_AUX_PUT,
    STORE_REC_AUX_DEL,
};

struct store_batch_rec {
    enum store_batch_rec_kind kind;
    union {
        struct {
            const struct raft_entry *e;
            size_t n;
        } append;
        struct raft_hard_state hs;
        struct raft_conf_state *cs; /* malloc'd copy */
        struct {
            uint64_t index, term;
            struct store_op op;
            ProtobufCAllocator *arena;
            struct store_result *res;
        } apply;
        uint64_t index;
        uint64_t ids[2];
        struct {
            uint64_t index;
            uint8_t table;
            const uint8_t *key, *val;
            size_t key_len, val_len;
        } aux;
    };
};

struct store_batch {
    struct store *s;
    unsigned flags;
    int open;
    struct store_batch_rec *recs;
    size_t n, cap;
};

struct store {
    char *dir;
    char *path; /* dir/data.mdb */
    struct store_config cfg;
    MDB_env *env;
    struct store_dbs db;
    uint64_t page_bytes;
    uint64_t map_bytes;
    uint64_t map_max_bytes;
    pthread_mutex_t write_mu; /* one writer: batches, compaction work, defragment, restore */
    struct store_gate gate;
    pthread_mutex_t pool_mu;
    MDB_txn *pool[STORE_READ_POOL_MAX]; /* reset read txns, renewed on demand */
    uint32_t n_pool;
    /* The revisions a read txn sees, by LMDB txn id: immutable for an id, so any reader may
     * fill it; readers of the same snapshot skip the two meta lookups. A seqlock: odd while
     * being written (a filler holds view_fill_mu, taken with trylock: never waited for). */
    atomic_uint_fast64_t view_seq;
    atomic_uint_fast64_t view_txnid;
    atomic_int_fast64_t view_rev;
    atomic_int_fast64_t view_compact;
    pthread_mutex_t view_fill_mu;
    struct store_batch batch; /* the one batch (write_mu held while open) */
    uint64_t map_grows;       /* statistics */
    uint64_t batch_retries;
};

struct store_read {
    struct store *s;
    MDB_txn *txn;
    int64_t rev;
    int64_t compact_rev;
};

/* A decoded index entry (a key's value at one revision). Pointers into LMDB memory. */
struct store_kv_ref {
    const uint8_t *key;
    size_t key_len;
    struct store_rev mod;
    int tombstone;
    int64_t create_rev;
    int64_t version;
    int64_t lease;
    const uint8_t *value;
    size_t value_len;
};

/* A view of the MVCC state inside one LMDB txn, read-only or the batch's write txn. */
struct store_view {
    MDB_txn *txn;
    const struct store_dbs *db;
    int64_t rev;         /* newest revision visible (own writes included) */
    int64_t compact_rev; /* -1 = never */
    int copy;            /* 1: results must not point into LMDB (a write txn) */
    ProtobufCAllocator *arena;
    int no_count; /* STORE_RANGE_NO_COUNT */
};

/* ---- store_env.c ---- */
/* MDB_MAP_FULL inside store/: handled by growing the map, never returned to a caller. */
#define STORE_ERR_MAPFULL (-42990)
int store_lmdb_err(int rc);                               /* LMDB code -> cairn code */
char *store_path_join(const char *dir, const char *name); /* malloc'd */
void store_gate_enter(struct store_gate *g);
void store_gate_exit(struct store_gate *g);
void store_gate_lock(struct store_gate *g);
void store_gate_unlock(struct store_gate *g);
int store_env_open(struct store *s);   /* env + dbis (+ initial meta) */
void store_env_close(struct store *s); /* drops the read pool too */
int store_map_grow(struct store *s);   /* no txn of this process may be active */
uint64_t store_db_bytes(struct store *s);
int store_txn_begin_write(struct store *s, MDB_txn **txn);
/* Runs fn in its own write txn, growing the map and retrying on MDB_MAP_FULL. write_mu
 * must be held. */
int store_write_txn_run(struct store *s, int (*fn)(void *arg, MDB_txn *txn), void *arg);

/* ---- store_meta.c ---- */
int store_meta_get_u64s(MDB_txn *txn, const struct store_dbs *db, const char *name, uint64_t *v,
                        size_t n, int *found);
int store_meta_put_u64s(MDB_txn *txn, const struct store_dbs *db, const char *name,
                        const uint64_t *v, size_t n);
int store_meta_get_i64(MDB_txn *txn, const struct store_dbs *db, const char *name, int64_t dflt,
                       int64_t *out);
int store_meta_put_i64(MDB_txn *txn, const struct store_dbs *db, const char *name, int64_t v);
size_t store_conf_encode(const struct raft_conf_state *cs, uint8_t *out);
int store_conf_decode(const uint8_t *in, size_t len, struct raft_conf_state *cs);
int store_meta_get_conf(MDB_txn *txn, const struct store_dbs *db, const char *name,
                        struct raft_conf_state *cs);

/* ---- store_record.c ---- */
int store_kidx_cmp(const MDB_val *a, const MDB_val *b);
/* key ++ rev into buf (capacity klen + 16). */
void store_kidx_key(const uint8_t *key, size_t klen, struct store_rev rev, uint8_t *buf);
int store_kv_decode(const MDB_val *k, const MDB_val *v, struct store_kv_ref *out);
void store_lease_key(int64_t id, uint8_t out[STORE_U64_BYTES]);
int64_t store_lease_id_decode(const uint8_t in[STORE_U64_BYTES]);
void *store_alloc(ProtobufCAllocator *a, size_t n);
/* Copies when copy is set, else points; NULL data for n == 0. -1 on allocation failure. */
int store_bytes(ProtobufCAllocator *a, int copy, const uint8_t *p, size_t n,
                ProtobufCBinaryData *out);
Etcdserverpb__ResponseHeader *store_header(ProtobufCAllocator *a, int64_t rev);
/* A Mvccpb__KeyValue for ref from arena (keys_only drops the value). NULL on no memory. */
Mvccpb__KeyValue *store_kv_make(ProtobufCAllocator *a, int copy, const struct store_kv_ref *ref,
                                int keys_only);

/* ---- store_mvcc_read.c ---- */
/* Newest entry of key at or below at_rev.main (tombstones included). 0, CAIRN_ENOTFOUND. */
int store_kv_latest(MDB_cursor *c, const uint8_t *key, size_t klen, int64_t at_rev,
                    struct store_kv_ref *out);
/* Calls fn for every live key in [key, end) at revision at_rev, in key order. end_len == 0
 * means the single key; end == "\0" (len 1) means no upper bound. fn returns 0 to go on,
 * 1 to stop, or a negative error. */
typedef int (*store_kv_fn)(void *arg, const struct store_kv_ref *kv);
int store_kv_scan(MDB_cursor *c, const uint8_t *key, size_t klen, const uint8_t *end,
                  size_t end_len, int64_t at_rev, store_kv_fn fn, void *arg);
int store_view_range(const struct store_view *v, const Etcdserverpb__RangeRequest *req,
                     Etcdserverpb__RangeResponse **out);
/* The key range [key, end) in the interpretation above contains k. */
int store_in_range(const uint8_t *key, size_t klen, const uint8_t *end, size_t end_len,
                   const uint8_t *k, size_t k_len);
int store_bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);
int store_view_load(MDB_txn *txn, const struct store_dbs *db, int64_t *rev, int64_t *compact);

/* ---- store_log.c ---- */
int store_log_do_append(MDB_txn *txn, const struct store_dbs *db, const struct raft_entry *e,
                        size_t n);
int store_log_do_compact(MDB_txn *txn, const struct store_dbs *db, uint64_t index);
int store_log_bounds(MDB_txn *txn, const struct store_dbs *db, uint64_t *first, uint64_t *last);
int store_log_term(MDB_txn *txn, const struct store_dbs *db, uint64_t index, uint64_t *term);

/* ---- store_apply.c ---- */
struct store_wtx;
struct store_wtx *store_wtx_new(struct store *s, MDB_txn *txn, unsigned flags, int *err);
void store_wtx_free(struct store_wtx *w);
int store_wtx_apply(struct store_wtx *w, uint64_t index, uint64_t term, const struct store_op *op,
                    ProtobufCAllocator *arena, struct store_result *res);
int store_wtx_finish(struct store_wtx *w); /* writes revision / applied index */
/* 1 if entry index was applied (not skipped) by this txn. */
int store_wtx_did_apply(const struct store_wtx *w, uint64_t index);
int store_aux_do(MDB_txn *txn, const struct store_dbs *db, const struct store_batch_rec *r);

/* ---- store_snapshot.c ---- */
int store_tmp_create(struct store *s, char **path, int *fd); /* dir/data.mdb.tmp.XXXXXX */
/* A copy as its own environment (no lock file; databases created unless rdonly). */
int store_copy_env_open(const char *path, int rdonly, uint64_t extra_bytes, MDB_env **env,
                        struct store_dbs *db);
/* Empty raft log at the snapshot, this node's hard state and ids (txn of the copy). */
int store_restore_fixup(struct store *s, MDB_txn *txn, const struct store_dbs *db,
                        const struct raft_snapshot_meta *meta);
/* Replaces data.mdb with path; write_mu held; readers are waited for. */
int store_swap_in(struct store *s, const char *path, uint64_t *reads_blocked_us);

/* ---- store_hash.c ---- */
int store_etcd_walk(struct store_read *r, int64_t upto, int64_t keep_rev, store_export_fn fn,
                    void *arg);

#endif /* CAIRN_STORE_INT_H */
