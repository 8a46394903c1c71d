/*
 * raft_mem_storage — struct raft_storage kept in memory, for tests, the simulator and the
 * benchmark (store/ implements the real one on LMDB). Persisting is immediate: there is
 * no unsynced state, so a simulator models a crash by not saving the Ready it was handling.
 * Owns its entries (one data block each) and snapshot metadata; no I/O, no globals.
 */
#ifndef CAIRN_RAFT_MEM_STORAGE_H
#define CAIRN_RAFT_MEM_STORAGE_H

#include "raft.h"

struct raft_mem_storage;

/* 0 or CAIRN_ENOMEM. alloc NULL: malloc/free. */
int raft_mem_storage_create(const struct raft_allocator *alloc, struct raft_mem_storage **out);
void raft_mem_storage_free(struct raft_mem_storage *ms);

/* The vtable raft_create() reads through (ctx = ms). */
void raft_mem_storage_iface(struct raft_mem_storage *ms, struct raft_storage *out);

/* Persist what a Ready asks for: snapshot, entries, hard state, conf (in that order). */
int raft_mem_storage_save(struct raft_mem_storage *ms, const struct raft_ready *rd);

/* Append, replacing any suffix from e[0].index on; entries at or below the compaction
 * point are skipped. 0, CAIRN_EINVAL (a gap after the last index), CAIRN_ENOMEM. */
int raft_mem_storage_append(struct raft_mem_storage *ms, const struct raft_entry *e, size_t n);
void raft_mem_storage_set_hard_state(struct raft_mem_storage *ms, const struct raft_hard_state *hs);
void raft_mem_storage_set_conf(struct raft_mem_storage *ms, const struct raft_conf_state *cs);

/* Replace the log by a received snapshot. 0 or CAIRN_ECOMPACTED (older than ours). */
int raft_mem_storage_apply_snapshot(struct raft_mem_storage *ms,
                                    const struct raft_snapshot_meta *meta);

/* Record a local snapshot at index (<= last index) with the configuration cs as of index.
 * 0, CAIRN_ECOMPACTED (not newer than the current one / below the log), CAIRN_EUNAVAILABLE. */
int raft_mem_storage_create_snapshot(struct raft_mem_storage *ms, uint64_t index,
                                     const struct raft_conf_state *cs);

/* Drop entries up to index, which a snapshot must cover. 0, CAIRN_ECOMPACTED (already),
 * CAIRN_EINVAL (beyond the snapshot or the log). */
int raft_mem_storage_compact(struct raft_mem_storage *ms, uint64_t index);

/* The stored entry at index, or NULL (compacted / beyond the log). Valid until the next
 * change to ms. */
const struct raft_entry *raft_mem_storage_entry(const struct raft_mem_storage *ms, uint64_t index);

void raft_mem_storage_hard_state(const struct raft_mem_storage *ms, struct raft_hard_state *hs);

#endif /* CAIRN_RAFT_MEM_STORAGE_H */
