/*
 * store/ — everything cairn keeps on disk, in one LMDB environment per node: the raft
 * log and its metadata, and the MVCC key-value state machine with etcd's semantics.
 *
 * Promises: one write transaction (one fsync) per Ready batch holding new log entries,
 * the hard state and the application of committed entries with the new applied index, so
 * a crash at any instant reopens consistent and re-applying is idempotent.
 * Owns: the LMDB environment and every named database in it.
 * Never: touches the network, holds a read transaction across a wait, or lets
 * MDB_MAP_FULL reach a caller.
 *
 * This first unit is the on-disk key encoding: big-endian so LMDB's byte order is numeric
 * order (raft log indexes appended with MDB_APPEND, MVCC revisions (main, sub)).
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stddef.h>
#include <stdint.h>

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

#endif /* CAIRN_STORE_H */
