/*
 * store/ — everything cairn keeps on disk, in one LMDB environment per node: the raft
 * log and its metadata, and the MVCC key-value state machine with etcd's semantics.
 *
 * Promises: one write transaction (one fsync) per Ready batch holding new log entries,
 * the hard state and the application of committed entries with the new applied index, so
 * a crash at any instant reopens consistent and re-applying is idempotent. Revision
 * numbering, versions, tombstones, txn rules, compaction and lease effects are etcd's.
 * Owns: the LMDB environment (data dir/data.mdb) and every named database in it.
 * Never: touches the network, holds a read transaction across a wait, or lets
 * MDB_MAP_FULL reach a caller (the map grows; past the quota the NOSPACE alarm speaks).
 *
 * Threads: one writer at a time (the node thread: batches, compaction work, defragment,
 * restore); any number of readers on any thread (read transactions use MDB_NOTLS). A
 * thread must not hold a store_read while it runs a write call: a write may need every
 * reader gone for a moment (map growth, defragment, restore) and would wait for itself.
 *
 * Memory: responses are built from a caller-supplied ProtobufCAllocator used as an arena
 * (store calls only its alloc, never free: the caller releases everything at once).
 * struct store_arena below is a small bump arena for callers without one. Responses from a
 * read transaction point straight into LMDB's map (zero copy) and are valid only until
 * store_read_end(); responses from a write batch are copies (or point into the request).
 *
 * Deviation from etcd: keys are limited to STORE_MAX_KEY_BYTES (LMDB's key size limit
 * minus the 16-byte revision): longer keys are refused with CAIRN_ETOOLARGE.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "raft_storage.h"
#include "etcdserverpb/rpc.pb-c.h"
#include "mvccpb/kv.pb-c.h"

/* ---- on-disk key encoding ------------------------------------------------------------- */

#define STORE_U64_BYTES 8
#define STORE_REV_BYTES 16

/* An MVCC revision: main is bumped once per write txn, sub once per op inside it. */
struct store_rev {
    int64_t main;
    int64_t sub;
};

void store_u64_encode(uint64_t v, uint8_t out[STORE_U64_BYTES]);
uint64_t store_u64_decode(const uint8_t in[STORE_U64_BYTES]);

/* Revisions are non-negative; they encode as two big-endian u64s (16 bytes). */
void store_rev_encode(struct store_rev rev, uint8_t out[STORE_REV_BYTES]);
/* Returns 0, or CAIRN_ECORRUPT if len is wrong or a component is negative. */
int store_rev_decode(const uint8_t *in, size_t len, struct store_rev *out);

/* -1, 0 or 1 as a is below, equal to or above b. */
int store_rev_cmp(struct store_rev a, struct store_rev b);

/* ---- limits and defaults ------------------------------------------------------------- */

#define STORE_MAX_KEY_BYTES          495 /* LMDB's 511-byte key limit minus a revision */
#define STORE_QUOTA_BYTES_DEFAULT    (2ULL << 30)
#define STORE_MAP_INITIAL_BYTES_DEF  (64ULL << 20)
#define STORE_LEASE_TTL_MAX_S        9000000000LL /* etcd's MaxLeaseTTL */
#define STORE_QUOTA_KV_OVERHEAD      256          /* etcd's quota cost per put */
#define STORE_QUOTA_LEASE_OVERHEAD   64           /* etcd's quota cost per lease grant */
#define STORE_SNAPSHOT_CHUNK_DEFAULT (1U << 20)

/* ---- bump arena (a ProtobufCAllocator whose free does nothing) ------------------------- */

struct store_arena_chunk;
struct store_arena {
    ProtobufCAllocator pa; /* hand &pa (store_arena_allocator) to store calls */
    struct store_arena_chunk *head;
    size_t chunk_bytes;
    uint64_t used_bytes; /* bytes handed out since the last reset */
};

void store_arena_init(struct store_arena *a, size_t chunk_bytes);
ProtobufCAllocator *store_arena_allocator(struct store_arena *a);
/* NULL when the system is out of memory. Alignment: 16 bytes. */
void *store_arena_alloc(struct store_arena *a, size_t size);
/* Frees every allocation at once; keeps one chunk for reuse. */
void store_arena_reset(struct store_arena *a);
void store_arena_destroy(struct store_arena *a);

/* ---- opening ------------------------------------------------------------------------- */

struct store;

struct store_config {
    const char *dir;            /* data directory; created if missing */
    uint64_t quota_bytes;       /* --quota-backend-bytes; 0 = 2 GiB */
    uint64_t map_initial_bytes; /* first map size; 0 = 64 MiB (the map grows by itself) */
    uint64_t map_max_bytes;     /* hard ceiling of the map; 0 = max(2 * quota, quota + 1 GiB) */
    int64_t lease_min_ttl_s;    /* granted TTLs below this are raised to it (etcd's min TTL) */
    int unsafe_no_sync;         /* tests/benches only: no fsync at all (a machine crash loses
                                   committed batches; a process crash does not) */
};

/* Opens (creating if needed) the store in cfg->dir. Returns 0, CAIRN_EINVAL, CAIRN_EIO,
 * CAIRN_ECORRUPT (not a cairn store / unknown format) or CAIRN_ENOMEM. Leftover temporary
 * files of an interrupted defragment, snapshot or restore are removed. */
int store_open(const struct store_config *cfg, struct store **out);
/* No batch, read, snapshot or restore may be open. */
void store_close(struct store *s);

/* ---- write batches: one per Ready, one LMDB write txn, one fsync ------------------------
 *
 * Calls between begin and commit only record what to do; commit performs all of it in
 * order in one write transaction, and if the map fills it grows the map and performs the
 * whole batch again, so callers never see MDB_MAP_FULL. Everything a batch call points at
 * (entries and their data, requests, result structs, the arena) must stay valid until
 * commit returns. Results (struct store_result) are filled by commit and must not be read
 * before it returns 0. If commit fails nothing of the batch is on disk; the caller should
 * treat it as fatal for the node (a storage failure). Only one batch at a time.
 */
struct store_batch;

enum store_batch_flags {
    STORE_BATCH_EVENTS = 1,         /* fill store_result.events for the watch hub */
    STORE_BATCH_EVENTS_PREV_KV = 2, /* ... with prev_kv in each event (copies old values) */
};

int store_batch_begin(struct store *s, unsigned flags, struct store_batch **out);
/* Abandons a batch (nothing is written) and frees it. */
void store_batch_abort(struct store_batch *b);

/* Raft log: append e[0..n) (consecutive indexes). Entries at or below the log start are
 * skipped; an existing suffix from e[0].index on is truncated first (a conflicting tail);
 * a gap after the last index fails the commit with CAIRN_EINVAL. */
int store_batch_append(struct store_batch *b, const struct raft_entry *e, size_t n);
int store_batch_set_hard_state(struct store_batch *b, const struct raft_hard_state *hs);
/* The membership after applying a conf change entry, in the batch that applies it. */
int store_batch_set_conf_state(struct store_batch *b, const struct raft_conf_state *cs);
/* Drops log entries up to index (which must be applied): first_index becomes index + 1. */
int store_batch_log_compact(struct store_batch *b, uint64_t index);
int store_batch_set_ids(struct store_batch *b, uint64_t cluster_id, uint64_t member_id);

/* What a committed entry asks of the state machine: the decoded request. */
enum store_op_kind {
    STORE_OP_NOOP = 0, /* empty entry or conf change: only the applied index moves */
    STORE_OP_PUT,
    STORE_OP_DELETE_RANGE,
    STORE_OP_TXN,
    STORE_OP_COMPACT,
    STORE_OP_LEASE_GRANT,
    STORE_OP_LEASE_REVOKE,
    STORE_OP_LEASE_CHECKPOINT,
    STORE_OP_ALARM,
};

struct store_op {
    enum store_op_kind kind;
    union {
        const Etcdserverpb__PutRequest *put;
        const Etcdserverpb__DeleteRangeRequest *delete_range;
        const Etcdserverpb__TxnRequest *txn;
        const Etcdserverpb__CompactionRequest *compact;
        const Etcdserverpb__LeaseGrantRequest *lease_grant;
        const Etcdserverpb__LeaseRevokeRequest *lease_revoke;
        const Etcdserverpb__LeaseCheckpointRequest *lease_checkpoint;
        const Etcdserverpb__AlarmRequest *alarm;
    };
};

/*
 * The outcome of applying one entry. err is the request's own error (the entry is still
 * applied: the applied index moves and the state is unchanged by the request):
 * CAIRN_ECOMPACTED, CAIRN_EFUTUREREV, CAIRN_ENOSPACE (NOSPACE alarm active: put, txn with a
 * put, lease grant), CAIRN_ECORRUPT (CORRUPT alarm active), CAIRN_ELEASENOTFOUND,
 * CAIRN_ELEASEEXISTS, CAIRN_ELEASETTLTOOLARGE, CAIRN_EKEYNOTFOUND (ignore_value/lease on a
 * missing key), CAIRN_ETOOLARGE (key longer than STORE_MAX_KEY_BYTES), CAIRN_EEMPTYKEY.
 * The response header holds only revision; the caller fills cluster, member and term.
 */
struct store_result {
    int err;
    int skipped;      /* index <= applied index: nothing done, no response */
    int64_t revision; /* store revision after the entry (etcd's header revision) */
    enum store_op_kind kind;
    union {
        Etcdserverpb__PutResponse *put;
        Etcdserverpb__DeleteRangeResponse *delete_range;
        Etcdserverpb__TxnResponse *txn;
        Etcdserverpb__CompactionResponse *compact;
        Etcdserverpb__LeaseGrantResponse *lease_grant;
        Etcdserverpb__LeaseRevokeResponse *lease_revoke;
        Etcdserverpb__LeaseCheckpointResponse *lease_checkpoint;
        Etcdserverpb__AlarmResponse *alarm;
    };
    /* With STORE_BATCH_EVENTS: the changes, in (revision, sub) order. */
    Mvccpb__Event **events;
    size_t n_events;
};

/*
 * Applies committed entry index (term) with request op. index must be applied + 1, or at
 * most applied (then res->skipped = 1 and nothing happens: replays are idempotent). The
 * applied index and term are recorded in the same transaction. Responses and events come
 * from arena. A gap (index > applied + 1) fails the commit with CAIRN_EINVAL.
 */
int store_batch_apply(struct store_batch *b, uint64_t index, uint64_t term,
                      const struct store_op *op, ProtobufCAllocator *arena,
                      struct store_result *res);

/*
 * Server-owned tables (auth users/roles, membership, ...) in the aux database: key/value
 * pairs under a table id. Writes belong to entry index: they happen only if that entry is
 * applied (not skipped) by a store_batch_apply earlier in the same batch, so replays stay
 * idempotent. Keys up to STORE_AUX_KEY_MAX bytes; key and value memory as for the batch.
 */
#define STORE_AUX_KEY_MAX 500
int store_batch_aux_put(struct store_batch *b, uint64_t index, uint8_t table, const uint8_t *key,
                        size_t key_len, const uint8_t *val, size_t val_len);
int store_batch_aux_del(struct store_batch *b, uint64_t index, uint8_t table, const uint8_t *key,
                        size_t key_len);

/* Performs the batch, commits and syncs; frees the batch either way. 0 = durable. */
int store_batch_commit(struct store_batch *b);

/* The same without the sync: visible to readers, durable only with a later synced commit
 * (or store_sync). A crash before then may lose it and every later unsynced batch, never
 * an earlier synced one (LMDB keeps its integrity). For work nothing has been promised on. */
int store_batch_commit_unsynced(struct store_batch *b);

/* Make every committed batch durable (after store_batch_commit_unsynced). */
int store_sync(struct store *s);

/* ---- raft's view of the log (raft/raft_storage.h) ----------------------------------- */

/* Fills st with functions reading this store (each in its own short read txn, so they
 * see committed batches only: raft keeps unpersisted entries itself). The snapshot()
 * function reports the live state machine: applied index, its term and the membership,
 * which is what store_snapshot_begin() copies. */
void store_raft_storage(struct store *s, struct raft_storage *st);

/* ---- read transactions ---------------------------------------------------------------- */

struct store_read;

/* A consistent view; keep it short (it pins pages). Returns 0, CAIRN_EBUSY (LMDB reader
 * slots exhausted) or CAIRN_EIO. */
int store_read_begin(struct store *s, struct store_read **out);
void store_read_end(struct store_read *r);

struct store_state {
    int64_t revision;         /* current store revision (1 on a fresh store) */
    int64_t compact_revision; /* reads below it fail; -1 = never compacted */
    uint64_t applied_index;
    uint64_t applied_term;
    uint64_t cluster_id;
    uint64_t member_id;
    int alarm_nospace; /* any member's NOSPACE alarm is active */
    int alarm_corrupt;
};
int store_read_state(struct store_read *r, struct store_state *st);

/*
 * Range with etcd's semantics: [key, range_end) (empty range_end = key only, "\0" = from
 * key), at revision (<= 0 = current), limit (+ more), count (all keys in the range before
 * filters), sort order and target (ties keep key order), keys_only, count_only and the
 * min/max mod/create revision filters. Errors: CAIRN_ECOMPACTED, CAIRN_EFUTUREREV. The
 * response (header.revision = current revision) points into the map: valid until
 * store_read_end().
 */
int store_range(struct store_read *r, const Etcdserverpb__RangeRequest *req,
                ProtobufCAllocator *arena, Etcdserverpb__RangeResponse **out);

/* store_range with flags. STORE_RANGE_NO_COUNT: stop at limit (+1 for `more`) instead of
 * counting every key in the range, so `count` is not the total; for a caller paging through
 * a range who has the total from the first page (etcd's count makes each page cost the
 * whole rest of the range). */
#define STORE_RANGE_NO_COUNT 1u
int store_range_flags(struct store_read *r, const Etcdserverpb__RangeRequest *req, unsigned flags,
                      ProtobufCAllocator *arena, Etcdserverpb__RangeResponse **out);

/*
 * Watch history: events for keys in [key, range_end) (same forms as range) with revision
 * >= pos->main (from pos->sub), in revision order, at most max_events per call. On return
 * pos is where the next call continues; *n_out < max_events means the history up to the
 * current revision is exhausted. CAIRN_ECOMPACTED (with *compact_rev set) when pos->main is
 * below the compacted revision. prev_kv: fill each event's prev_kv when still stored.
 * Events point into the map: valid until store_read_end().
 */
int store_watch_history(struct store_read *r, const uint8_t *key, size_t key_len,
                        const uint8_t *range_end, size_t range_end_len, int prev_kv,
                        struct store_rev *pos, size_t max_events, ProtobufCAllocator *arena,
                        Mvccpb__Event ***events_out, size_t *n_out, int64_t *compact_rev);

/* HashKV at revision (0 = current): etcd's algorithm (CRC-32C over the revisions etcd's
 * keys bucket would hold, in etcd's encoding), so equal data gives equal hashes whatever
 * the progress of physical compaction. CAIRN_ECOMPACTED / CAIRN_EFUTUREREV as etcd. */
int store_hash_kv(struct store_read *r, int64_t revision, uint32_t *hash, int64_t *compact_rev,
                  int64_t *hash_rev);

/* Visit every stored revision in (main, sub) order up to the read's revision, as etcd's
 * "key" bucket holds them (at or below the compacted revision only what a compaction there
 * keeps: each key's newest revision unless it is a tombstone, whatever the progress of
 * store_compact_work). kv points into the map (valid during the call only); a tombstone
 * carries only the key. fn returns 0 to go on or a negative code to stop with it. For
 * etcd-format snapshots (bolt/): etcd's key is main (8 bytes BE), '_', sub (8 bytes BE),
 * plus 't' for a tombstone; its value is kv marshalled. */
typedef int (*store_export_fn)(void *arg, struct store_rev rev, int tombstone,
                               const Mvccpb__KeyValue *kv);
int store_export_revisions(struct store_read *r, store_export_fn fn, void *arg);

/* Leases as stored (remaining TTL is a checkpoint, 0 = none; expiry is the leader's). */
struct store_lease {
    int64_t id;
    int64_t ttl_s;           /* granted TTL (after the minimum TTL was applied) */
    int64_t remaining_ttl_s; /* last checkpoint, 0 = none */
};
/* CAIRN_ELEASENOTFOUND if absent. keys (may be NULL) gets the attached keys in key order,
 * pointing into the map, at most max_keys of them (*n_keys), from arena. */
int store_lease_get(struct store_read *r, int64_t id, struct store_lease *lease,
                    ProtobufCAllocator *arena, size_t max_keys, ProtobufCBinaryData **keys,
                    size_t *n_keys);
/* Leases with id > after_id in id order, at most max into out[] (*n). */
int store_lease_scan(struct store_read *r, int64_t after_id, struct store_lease *out, size_t max,
                     size_t *n);

/* An aux value (zero copy, valid until store_read_end); CAIRN_ENOTFOUND if absent. */
int store_aux_get(struct store_read *r, uint8_t table, const uint8_t *key, size_t key_len,
                  ProtobufCBinaryData *val);
/* Entries of table with key > after (after_len 0: from the first), in key order, at most max
 * into keys[] / vals[] (zero copy). */
int store_aux_scan(struct store_read *r, uint8_t table, const uint8_t *after, size_t after_len,
                   ProtobufCBinaryData *keys, ProtobufCBinaryData *vals, size_t max, size_t *n);

/* All active alarms, ordered by (member, type), from arena (alarm GET). */
int store_alarm_list(struct store_read *r, ProtobufCAllocator *arena,
                     Etcdserverpb__AlarmResponse **out);

/* ---- sizes, quota and maintenance ------------------------------------------------------ */

struct store_size {
    uint64_t db_bytes;     /* high-water size of the file (etcd's dbSize; quota compares it) */
    uint64_t in_use_bytes; /* db_bytes minus free pages (etcd's dbSizeInUse) */
    uint64_t map_bytes;    /* current map size */
    uint64_t quota_bytes;
    uint64_t map_grows;   /* times the map grew since open */
    uint64_t batch_redos; /* batches performed again after MDB_MAP_FULL since open */
};
int store_size(struct store *s, struct store_size *out);

/* etcd's quota cost of a request: 0 for requests that cannot grow the store. */
uint64_t store_quota_cost(const struct store_op *op);
/* Front-end check before proposing (etcd's backendQuota.Available): 1 if a request of this
 * cost fits under the quota. When it does not, the server refuses with CAIRN_ENOSPACE and
 * proposes an AlarmRequest{ACTIVATE, member, NOSPACE}; applying it makes every member
 * refuse puts, txns with puts and lease grants until the alarm is deactivated. */
int store_quota_available(struct store *s, uint64_t cost);

/*
 * Physical compaction after a COMPACT entry: removes old revisions in one write txn of at
 * most max_revisions revisions examined, so a large compaction never holds the writer for
 * long. Call between batches until *done. Resumable after a crash. Logical effects (reads
 * below the compacted revision fail) happen when the COMPACT entry is applied.
 */
int store_compact_work(struct store *s, uint32_t max_revisions, int *done);

/* Defragment: compacting copy of the environment, then swap. Writes are blocked for the
 * whole call (like etcd); readers only while the files are swapped. */
struct store_defrag_report {
    uint64_t db_bytes_before;
    uint64_t db_bytes_after;
    uint64_t writes_blocked_us; /* the whole defragment */
    uint64_t reads_blocked_us;  /* waiting for readers + close, rename, reopen */
};
int store_defrag(struct store *s, struct store_defrag_report *rep);

/* ---- snapshots: a consistent compacted copy, streamed in chunks ------------------------ */

struct store_snapshot;
/* Copies the environment (MDB_CP_COMPACT) to an unlinked temporary file without blocking
 * writers. meta gets the copy's applied index, its term and membership: what a raft
 * snapshot message built from this copy must carry. Takes the writer lock briefly (to grow
 * the map first if it is half full): not while this thread has a batch open. */
int store_snapshot_begin(struct store *s, struct store_snapshot **out,
                         struct raft_snapshot_meta *meta, uint64_t *size_bytes);
/* Next chunk of up to cap bytes; *n = 0 at the end. */
int store_snapshot_read(struct store_snapshot *ss, uint8_t *buf, size_t cap, size_t *n);
void store_snapshot_end(struct store_snapshot *ss);

/* Restore: write a snapshot's bytes in order, then finish. finish validates the copy,
 * clears its raft log, keeps this node's hard state and ids, sets the log start and the
 * snapshot metadata (meta, or the copy's own when meta is NULL) and swaps it in. The
 * applied index becomes the copy's. Writes must not run meanwhile; readers are blocked
 * only for the swap. */
struct store_restore;
int store_restore_begin(struct store *s, struct store_restore **out);
int store_restore_write(struct store_restore *rs, const uint8_t *buf, size_t n);
int store_restore_finish(struct store_restore *rs, const struct raft_snapshot_meta *meta);
void store_restore_abort(struct store_restore *rs);

/*
 * Import (restoring an etcd snapshot read with bolt/): revisions of etcd's "key" bucket in
 * key order, and leases, go into a new environment beside the store; finish swaps it in
 * (like restore: this node's hard state and ids are kept) with the given compacted
 * revision (-1 = none) and applied index/term (the log starts there). A compacted revision
 * above the newest imported one becomes the store's revision (a restore's bumped revision:
 * nothing is readable below it). Writers are blocked from begin to finish/abort; abort
 * leaves the store as it was. Errors: CAIRN_EINVAL
 * (order, a key that is not 17/18 bytes), CAIRN_ECORRUPT (a value that is not a KeyValue),
 * CAIRN_ETOOLARGE (a key longer than STORE_MAX_KEY_BYTES).
 */
struct store_import;
int store_import_begin(struct store *s, struct store_import **out);
int store_import_revision(struct store_import *im, const uint8_t *key, size_t key_len,
                          const uint8_t *val, size_t val_len);
int store_import_lease(struct store_import *im, int64_t id, int64_t ttl_s, int64_t remaining_ttl_s);
int store_import_finish(struct store_import *im, int64_t compact_rev, uint64_t applied_index,
                        uint64_t applied_term);
void store_import_abort(struct store_import *im);

/* ---- front-end validation (etcd's checks before a request is proposed) ----------------- */

/* CAIRN_EEMPTYKEY, CAIRN_EVALUEPROVIDED, CAIRN_ELEASEPROVIDED. */
int store_check_put(const Etcdserverpb__PutRequest *req);
int store_check_range(const Etcdserverpb__RangeRequest *req);
int store_check_delete_range(const Etcdserverpb__DeleteRangeRequest *req);
/* CAIRN_ETOOMANYOPS (more than max_ops in any list), CAIRN_EEMPTYKEY, CAIRN_EKEYNOTFOUND
 * (an empty op), CAIRN_EVALUEPROVIDED, CAIRN_ELEASEPROVIDED, CAIRN_EDUPKEY (etcd's rule
 * against writing one key twice, nested txns included). */
int store_check_txn(const Etcdserverpb__TxnRequest *req, size_t max_ops);

#endif /* CAIRN_STORE_H */
