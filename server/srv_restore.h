/*
 * srv_restore.h — build a cairnd data directory from an etcd 3.4 snapshot file (what
 * `etcdctl snapshot save` / `cairnctl snapshot save` write): `cairnctl snapshot restore`.
 *
 * Promises: the directory looks to cairnd like a member of a freshly bootstrapped cluster
 * whose state machine already holds the snapshot's keys (every stored revision, so history
 * and compaction carry over) and leases: the member table and the ids come from
 * --initial-cluster and --initial-cluster-token (the cluster id is new, computed as a new
 * cluster's founders compute it), the raft log starts at index 1, term 1, committed and
 * applied, with every listed member a voter, so data reaches members added later by snapshot
 * only. Every member restored from the same file with the same --initial-cluster and
 * token holds the same state and log; each gets its own --name. The directory appears
 * whole or not at all: it is built in "<data_dir>.tmp-XXXXXX" and renamed into place; on
 * any failure that directory is removed.
 * Owns: nothing after return (the store is opened and closed inside).
 * Never: touches an existing data directory, the network, or a running node.
 * Threads: any thread; the call blocks for the whole restore.
 */
#ifndef CAIRN_SRV_RESTORE_H
#define CAIRN_SRV_RESTORE_H

#include <stddef.h>
#include <stdint.h>

struct srv_restore_opts {
    const char *snapshot_path;
    const char *data_dir; /* must not exist */
    const char *name;     /* this member's name in initial_cluster */
    const char *initial_cluster;
    const char *initial_cluster_token;
    const char *initial_advertise_peer_urls; /* must equal this member's URLs in the list */
    int skip_hash_check;                     /* accept a file without etcd's SHA-256 trailer */
    int64_t bump_revision; /* >= 0: the store's revision becomes snapshot's + this */
    int mark_compacted;    /* compact at the (bumped) revision; required when bumping */
};

struct srv_restore_result {
    uint64_t cluster_id;
    uint64_t member_id;
    size_t n_members;
    int64_t snapshot_revision; /* newest revision in the file (etcd's status revision) */
    int64_t revision;          /* the restored store's revision */
    int64_t compact_revision;  /* -1 = none */
    uint64_t revisions;        /* entries of the "key" bucket imported */
    uint64_t leases;
};

/* Called every few thousand revisions and once at the end (done == total). A non-zero
 * return stops the restore: it fails with CAIRN_ECANCELED and removes what it built. */
typedef int (*srv_restore_progress_fn)(void *arg, uint64_t keys_done, uint64_t keys_total);

/*
 * Builds o->data_dir. Returns 0 (res filled), or a negative code with a one-line message in
 * err (etcdctl's words where it has them): CAIRN_EEXIST (the directory exists: "data-dir
 * \"X\" exists"), CAIRN_EINVAL (bad flags, name not in the cluster list, bump without
 * mark_compacted), CAIRN_ENOTFOUND (no hash trailer and no skip_hash_check, or no file),
 * CAIRN_ECORRUPT (hash mismatch, not an etcd snapshot), CAIRN_ETOOLARGE (a key longer than
 * cairn stores), CAIRN_ECANCELED (progress asked to stop), CAIRN_EIO, CAIRN_ENOMEM. progress
 * may be NULL.
 */
int srv_restore_data_dir(const struct srv_restore_opts *o, srv_restore_progress_fn progress,
                         void *arg, struct srv_restore_result *res, char *err, size_t err_len);

#endif /* CAIRN_SRV_RESTORE_H */
