/*
 * raft_storage.h — the contract between raft/ and whatever persists its log.
 *
 * raft/ reads the persisted log through struct raft_storage; store/ implements it on
 * LMDB and tests implement it in memory. raft/ never writes through this interface: the
 * node loop persists what a Ready hands it (entries, hard state, snapshot) and then calls
 * advance. These types are shared by raft/ and store/; change them only together.
 */
#ifndef CAIRN_RAFT_STORAGE_H
#define CAIRN_RAFT_STORAGE_H

#include <stddef.h>
#include <stdint.h>

/* Upper bound on members of one configuration (voters + learners, old and new). */
#define RAFT_MAX_NODES 16

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0,      /* application data (empty data = leader's no-op) */
    RAFT_ENTRY_CONF_CHANGE = 1, /* membership change, encoded by raft/ */
};

/* One log entry. data points at len bytes owned as documented where the entry appears. */
struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type; /* enum raft_entry_type */
    uint32_t len;
    const uint8_t *data;
};

/* What must be on disk before raft may send a vote or an acknowledgement. */
struct raft_hard_state {
    uint64_t term;
    uint64_t vote; /* member id voted for in term, 0 = none */
    uint64_t commit;
};

/*
 * Membership. n_voters_outgoing > 0 means a joint configuration (old ∪ new both need a
 * majority); learners_next holds voters being demoted that become learners on leaving it.
 */
struct raft_conf_state {
    uint64_t voters[RAFT_MAX_NODES];
    uint32_t n_voters;
    uint64_t learners[RAFT_MAX_NODES];
    uint32_t n_learners;
    uint64_t voters_outgoing[RAFT_MAX_NODES];
    uint32_t n_voters_outgoing;
    uint64_t learners_next[RAFT_MAX_NODES];
    uint32_t n_learners_next;
    uint8_t auto_leave;
};

/* Snapshot metadata; the data itself is the state machine's and moves outside raft/. */
struct raft_snapshot_meta {
    uint64_t index; /* last index covered, 0 = no snapshot */
    uint64_t term;
    struct raft_conf_state conf;
};

/*
 * A batch of entries read from storage. The storage fills e[0..n) and places every
 * entry's data in memory it allocates through the allocator it was given; the caller
 * frees with raft_entries_free-style helpers of whoever allocated (see the allocator).
 */
struct raft_entries {
    struct raft_entry *e;
    size_t n;
    void *mem; /* one block holding e[] and all data, freed with the storage allocator */
};

/* Allocation hook used across module boundaries (raft/ takes one in its config too). */
struct raft_allocator {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr);
};

/*
 * The storage interface. All functions return 0 or a negative cairn code:
 *   CAIRN_ECOMPACTED   the index is below first_index - 1 (compacted into a snapshot)
 *   CAIRN_EUNAVAILABLE the index is above last_index
 *   CAIRN_EIO / CAIRN_ECORRUPT on storage failure.
 * term(first_index - 1) must succeed: it is the snapshot's (or the log start's) term.
 */
struct raft_storage {
    void *ctx;
    /* Hard state and membership as last persisted (zeros on a fresh node). */
    int (*initial_state)(void *ctx, struct raft_hard_state *hs, struct raft_conf_state *cs);
    /* Entries [lo, hi), stopping before max_bytes of data except that at least one entry is
     * returned when lo < hi. Memory comes from alloc; out->mem frees it all at once. */
    int (*entries)(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                   const struct raft_allocator *alloc, struct raft_entries *out);
    int (*term)(void *ctx, uint64_t index, uint64_t *term);
    int (*first_index)(void *ctx, uint64_t *index); /* snapshot index + 1 */
    int (*last_index)(void *ctx, uint64_t *index);
    int (*snapshot)(void *ctx, struct raft_snapshot_meta *meta);
};

#endif /* CAIRN_RAFT_STORAGE_H */
