/*
 * raft/ — a pure, deterministic Raft consensus core in the etcd "Ready" style.
 *
 * Promises: given the same inputs (config, PRNG seed, ticks, messages, proposals) it
 * produces the same outputs, so a simulator can drive many cores and replay any run.
 * Owns: the in-memory raft state, the unstable log tail until the caller persists it, and
 * the memory of every Ready it hands out until raft_advance().
 * Never: does I/O, reads a clock, starts threads, keeps global state, or draws randomness
 * other than from the seeded PRNG in its config. All heap memory goes through the
 * allocator in its config.
 *
 * Features (etcd-raft's set): randomised election timeouts; pre-vote and check-quorum (both
 * on by default); replication with probe / replicate / snapshot progress; flow control by
 * inflight messages and bytes and by max bytes per message; a cap on the uncommitted log
 * size (past it raft_propose() returns CAIRN_ELIMIT); commit only by counting entries of
 * the current term; ReadIndex reads (default) and lease reads (option); leadership transfer
 * (TimeoutNow); learners; joint-consensus membership changes; snapshot metadata in and out
 * (the transport streams the data); proposal and read-index forwarding from followers; a
 * leader that is removed from (or demoted in) the configuration stops taking proposals and
 * steps down by handing leadership to the most up-to-date remaining voter (see
 * raft_hand_off in raft_replicate.c for why it does not just stop). Learners and removed
 * members never campaign while a leader is around; only when voters are stranded (they
 * asked for its vote, its log is ahead of theirs, and no leader for three election
 * timeouts) does such a node step in as caretaker and hand leadership straight to a voter
 * (raft_can_caretake in raft_elect.c: the stranded-removal hazard etcd has).
 *
 * Membership: joint consensus (ConfChangeV2 semantics), chosen over one-server-at-a-time
 * because (1) raft_conf_state already carries the joint fields, so the store persists them
 * either way; (2) it makes the operations users need atomic: replacing a voter (add E,
 * remove A) or demoting a voter to learner while another is promoted never passes through an
 * intermediate configuration with an even number of voters or a reduced fault tolerance;
 * (3) it avoids the single-server rule's known corner case (a change committed by a leader
 * of an old term, Ongaro's 2015 erratum) without extra rules. A change of at most one voter
 * with transition AUTO is applied "simply" (no joint phase), which is exactly the
 * single-server change; anything larger enters a joint configuration that is left either
 * automatically (AUTO / JOINT_IMPLICIT: the leader proposes the leave once the entering
 * entry is applied) or by an explicit empty change (JOINT_EXPLICIT). Changes become active
 * when their entry is *applied*, i.e. at raft_advance() after the Ready that carried it in
 * `committed`; the Ready's `conf` is the configuration to persist with that apply.
 *
 * The loop (server/ node thread, the simulator and the benchmark all do this):
 *
 *     raft_tick() every heartbeat interval; raft_step(msg) for each peer message;
 *     raft_propose(batch); raft_read_index(ctx) ...
 *     if (raft_has_ready(r)) {
 *         raft_ready(r, &rd);
 *         send rd.msgs whose after_persist == 0   (a leader's appends may leave before fsync)
 *         persist rd.snapshot, rd.entries, rd.hs (if hs_changed), rd.conf (if conf_changed)
 *             and apply rd.committed — one LMDB transaction, fsync iff rd.must_sync
 *         send rd.msgs whose after_persist == 1   (votes and acks only once durable)
 *         serve rd.reads once applied >= read.index
 *         raft_advance(r);
 *     }
 *
 * Between raft_ready() and raft_advance() only the const accessors (raft_status,
 * raft_term_at, raft_has_ready) may be called: nothing a Ready points at moves until
 * raft_advance(). Everything in a Ready (entries, committed entries and their data,
 * messages and their entries, snapshot meta, read states) stays valid until then; copy
 * what must outlive it (raft_msg_clone for a network that delays messages).
 *
 * Self-acknowledgement: a candidate counts its own vote, and a leader counts its own log
 * towards commit, only in raft_advance() — after the caller made them durable. So a
 * leader may ship entries before its own fsync and still never commits an entry that is
 * not on a quorum of disks.
 *
 * Storage errors other than CAIRN_ECOMPACTED / CAIRN_EUNAVAILABLE (i.e. CAIRN_EIO,
 * CAIRN_ECORRUPT) are fatal: the core stops the process with CAIRN_ASSERT rather than
 * continue on a log it cannot read (etcd panics likewise). Allocation failures are not
 * fatal: proposals return CAIRN_ENOMEM, an outgoing message that cannot be built is
 * dropped (raft tolerates message loss), an append that cannot be stored is not
 * acknowledged.
 *
 * Node ids are non-zero and never reused (a removed id must not come back).
 */
#ifndef CAIRN_RAFT_H
#define CAIRN_RAFT_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h" /* the CAIRN_E* codes every call returns */
#include "raft_storage.h"

/* ---- seeded PRNG (xoshiro256** seeded through splitmix64) ---- */

struct raft_rand {
    uint64_t s[4];
};

/* raft_rand_seed — initialise from a 64-bit seed; every seed (0 too) gives a valid state. */
void raft_rand_seed(struct raft_rand *r, uint64_t seed);

/* raft_rand_next — next 64 uniformly distributed bits. */
uint64_t raft_rand_next(struct raft_rand *r);

/* raft_rand_below — uniform in [0, bound); bound must be > 0. Unbiased (rejection). */
uint64_t raft_rand_below(struct raft_rand *r, uint64_t bound);

/* ---- messages ---- */

enum raft_msg_type {
    RAFT_MSG_APP = 1,          /* append entries (index/log_term = previous entry) */
    RAFT_MSG_APP_RESP = 2,     /* index = last index accepted, or the rejected index */
    RAFT_MSG_VOTE = 3,         /* index/log_term = candidate's last entry */
    RAFT_MSG_VOTE_RESP = 4,    /* reject = 0: vote granted */
    RAFT_MSG_PREVOTE = 5,      /* term = the term the pre-candidate would campaign in */
    RAFT_MSG_PREVOTE_RESP = 6, /* */
    RAFT_MSG_HEARTBEAT = 7,    /* commit = min(follower's match, leader's commit) */
    RAFT_MSG_HEARTBEAT_RESP = 8,
    RAFT_MSG_SNAP = 9,             /* snapshot meta; the data travels outside raft/ */
    RAFT_MSG_TIMEOUT_NOW = 10,     /* leadership transfer: campaign now */
    RAFT_MSG_PROP = 11,            /* follower forwards proposals to the leader */
    RAFT_MSG_READ_INDEX = 12,      /* follower forwards a read-index request (ctx) */
    RAFT_MSG_READ_INDEX_RESP = 13, /* leader answers it: index, ctx */
    RAFT_MSG_TRANSFER_LEADER = 14, /* follower forwards a transfer request (index = to) */
};
#define RAFT_MSG_TYPE_MAX 14

/* Flag bits in raft_msg.flags. */
#define RAFT_MSGF_TRANSFER 0x1u /* a vote request caused by TimeoutNow: bypasses leases */

/*
 * One message. In a Ready it is owned by raft/ until raft_advance(); `mem` is the single
 * block (from raft's allocator) holding `entries`, their data and `snapshot`, or NULL.
 * Messages passed to raft_step() stay owned by the caller; raft copies what it keeps.
 * Forwarded requests (PROP, READ_INDEX, TRANSFER_LEADER) carry term 0.
 */
struct raft_msg {
    uint8_t type;          /* enum raft_msg_type */
    uint8_t reject;        /* responses: 1 = rejected / not granted */
    uint8_t flags;         /* RAFT_MSGF_* */
    uint8_t after_persist; /* Ready only: send only after this Ready is durable */
    uint32_t n_entries;
    uint64_t from;
    uint64_t to;
    uint64_t term;
    uint64_t log_term;    /* APP: term of `index`; VOTE: last log term; reject: hint term */
    uint64_t index;       /* see the type comments */
    uint64_t commit;      /* APP, HEARTBEAT: leader's commit for this follower */
    uint64_t reject_hint; /* APP_RESP reject: the follower's guess of the match point */
    uint64_t ctx;         /* HEARTBEAT(_RESP), READ_INDEX(_RESP): read context, 0 = none */
    const struct raft_entry *entries;
    const struct raft_snapshot_meta *snapshot; /* SNAP only */
    void *mem;
};

/* raft_msg_clone — deep copy of m into *out (one block, out->mem) from alloc.
 * Returns 0 or CAIRN_ENOMEM. Free with raft_msg_free(). */
int raft_msg_clone(const struct raft_allocator *alloc, const struct raft_msg *m,
                   struct raft_msg *out);

/* raft_msg_free — frees out->mem (a clone's or an unpacked message's) and zeroes it. */
void raft_msg_free(const struct raft_allocator *alloc, struct raft_msg *m);

/* ---- membership changes ---- */

enum raft_cc_type {
    RAFT_CC_ADD_VOTER = 0,   /* add, or promote a learner */
    RAFT_CC_ADD_LEARNER = 1, /* add, or demote a voter */
    RAFT_CC_REMOVE = 2,
};

enum raft_cc_transition {
    RAFT_CC_AUTO = 0,           /* simple if at most one voter changes, else joint + auto leave */
    RAFT_CC_JOINT_IMPLICIT = 1, /* always joint, left automatically */
    RAFT_CC_JOINT_EXPLICIT = 2, /* always joint, left by an empty change the caller proposes */
};

struct raft_cc_single {
    uint8_t type; /* enum raft_cc_type */
    uint64_t id;
};

/* A batch of changes applied atomically. n_changes == 0 means "leave the joint config".
 * context (opaque, e.g. peer URLs) travels in the log entry with the change. */
struct raft_conf_change {
    uint8_t transition; /* enum raft_cc_transition */
    uint32_t n_changes;
    struct raft_cc_single changes[RAFT_MAX_NODES];
    const uint8_t *context;
    uint32_t context_len;
};

/* Bytes raft_conf_change_encode() needs for cc. */
size_t raft_conf_change_size(const struct raft_conf_change *cc);

/* Encode cc into buf (cap bytes) as the data of a RAFT_ENTRY_CONF_CHANGE entry.
 * Returns 0 and *len, or CAIRN_EINVAL (bad cc) / CAIRN_ELIMIT (cap too small). */
int raft_conf_change_encode(const struct raft_conf_change *cc, uint8_t *buf, size_t cap,
                            size_t *len);

/* Decode entry data into *cc; cc->context points into data. 0 or CAIRN_ECORRUPT. */
int raft_conf_change_decode(const uint8_t *data, size_t len, struct raft_conf_change *cc);

/* Apply cc to cs giving *out (cs unchanged). The pure function the core uses when a
 * change is applied; store/ and tests may use it too. 0, or CAIRN_EINVAL if the change is
 * not allowed (joint while joint, leave while not joint, removing every voter, a node in
 * two roles, more than RAFT_MAX_NODES members, a simple change of more than one voter). */
int raft_conf_apply(const struct raft_conf_state *cs, const struct raft_conf_change *cc,
                    struct raft_conf_state *out);

/* ---- configuration ---- */

enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRE_CANDIDATE = 1,
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
};

enum raft_progress_state {
    RAFT_PROGRESS_PROBE = 0,     /* one append at a time until the match point is found */
    RAFT_PROGRESS_REPLICATE = 1, /* pipelined appends, bounded by inflights */
    RAFT_PROGRESS_SNAPSHOT = 2,  /* waiting for a snapshot to be installed */
};

#define RAFT_UNLIMITED UINT64_MAX

/* Defaults for zero fields. */
#define RAFT_DEFAULT_ELECTION_TICKS        10
#define RAFT_DEFAULT_HEARTBEAT_TICKS       1
#define RAFT_DEFAULT_MAX_INFLIGHT_MSGS     256
#define RAFT_DEFAULT_MAX_INFLIGHT_BYTES    (32ull << 20)
#define RAFT_DEFAULT_MAX_MSG_BYTES         (1ull << 20)
#define RAFT_DEFAULT_MAX_UNCOMMITTED_BYTES (64ull << 20)
#define RAFT_DEFAULT_MAX_APPLY_BYTES       (64ull << 20)

/* Bounds on queues the core keeps between Readys (past them new items are dropped). */
#define RAFT_MAX_OUTBOX_MSGS    65536 /* messages waiting for the next Ready */
#define RAFT_MAX_READ_STATES    65536 /* read states waiting for the next Ready */
#define RAFT_MAX_PENDING_READS  4096  /* ReadIndex requests awaiting a quorum or a commit */
#define RAFT_MAX_PROPOSAL_BATCH 65536 /* entries per raft_propose() call */

/*
 * Zero means "default" for every numeric field; RAFT_UNLIMITED disables a byte limit.
 * voters/learners bootstrap a brand-new cluster: used only when storage is empty, in which
 * case raft writes one conf-change entry (index 1, term 1) describing them, identically
 * on every founding member. A node joining an existing cluster passes none and learns the
 * configuration from the leader's log or snapshot.
 */
struct raft_config {
    uint64_t id;
    const uint64_t *voters;
    uint32_t n_voters;
    const uint64_t *learners;
    uint32_t n_learners;
    uint32_t election_ticks;  /* follower timeout is random in [election, 2*election) */
    uint32_t heartbeat_ticks; /* < election_ticks */
    uint64_t seed;            /* election jitter; give each node its own */
    uint64_t applied; /* last index the state machine applied (restart); >= snapshot index */
    uint32_t max_inflight_msgs;     /* appends in flight per follower (replicate state) */
    uint64_t max_inflight_bytes;    /* payload bytes in flight per follower */
    uint64_t max_msg_bytes;         /* payload bytes per append (one entry minimum) */
    uint64_t max_uncommitted_bytes; /* leader's unapplied proposal payload; CAIRN_ELIMIT */
    uint64_t max_apply_bytes;       /* committed payload bytes per Ready */
    uint8_t disable_pre_vote;
    uint8_t disable_check_quorum;
    uint8_t lease_reads; /* ReadIndex answered from the leader lease (needs check-quorum) */
    uint8_t disable_proposal_forwarding; /* follower's raft_propose: CAIRN_ENOTLEADER */
    struct raft_allocator alloc;         /* alloc == NULL: malloc/free */
};

/* ---- Ready ---- */

struct raft_read_state {
    uint64_t index; /* serve the read once applied >= index */
    uint64_t ctx;
};

/* Work to do; see the loop at the top. Pointers stay valid until raft_advance(). */
struct raft_ready {
    struct raft_hard_state hs; /* current; persist if hs_changed */
    uint8_t hs_changed;
    uint8_t must_sync;    /* entries, snapshot, term or vote changed: fsync before acks */
    uint8_t soft_changed; /* role or lead changed since the last Ready */
    uint8_t conf_changed; /* conf is the configuration after applying `committed` */
    uint8_t role;         /* enum raft_role */
    uint64_t lead;
    struct raft_conf_state conf;
    const struct raft_snapshot_meta *snapshot; /* install before entries; NULL if none */
    const struct raft_entry *entries;          /* append (replacing any conflicting suffix) */
    size_t n_entries;
    const struct raft_entry *committed; /* apply in order */
    size_t n_committed;
    const struct raft_msg *msgs;
    size_t n_msgs;
    const struct raft_read_state *reads;
    size_t n_reads;
};

/* ---- status (for the node loop, metrics and tests) ---- */

struct raft_progress_status {
    uint64_t id;
    uint64_t match;
    uint64_t next;
    uint8_t state; /* enum raft_progress_state */
    uint8_t learner;
    uint8_t paused;
    uint8_t recent_active;
    uint32_t inflight_msgs;
    uint64_t pending_snapshot;
};

struct raft_status {
    uint64_t id;
    uint64_t term;
    uint64_t vote;
    uint64_t commit;
    uint64_t applied;
    uint64_t first_index;
    uint64_t last_index;
    uint64_t lead;
    uint64_t lead_transferee;
    uint64_t uncommitted_bytes;
    uint8_t role;
    uint8_t promotable;
    struct raft_conf_state conf;
    uint32_t n_progress; /* leader only */
    struct raft_progress_status progress[RAFT_MAX_NODES];
};

/* ---- the core ---- */

struct raft;

/* raft_create — a raft node reading its persisted state from storage (the vtable is
 * copied; storage->ctx must outlive the node). 0, CAIRN_EINVAL (bad config), CAIRN_ENOMEM,
 * or the storage's error. */
int raft_create(const struct raft_config *cfg, const struct raft_storage *storage,
                struct raft **out);

/* raft_free — frees the node and any Ready handed out and not yet advanced. */
void raft_free(struct raft *r);

/* raft_tick — one logical clock tick (elections, heartbeats, check-quorum). */
void raft_tick(struct raft *r);

/* raft_step — deliver a message from a peer. 0, or CAIRN_EINVAL for a malformed message
 * (unknown type, not addressed to this node, term 0 on a non-forwarded type, entries on a
 * type that carries none). Stale or irrelevant messages are ignored and return 0. */
int raft_step(struct raft *r, const struct raft_msg *m);

struct raft_proposal {
    const void *data;
    uint32_t len;
};

/* raft_propose — append n normal entries (data copied). On the leader *first_index (may be
 * NULL) gets the first entry's index; a follower forwards them to its leader and sets 0.
 * 0, CAIRN_ENOLEADER, CAIRN_ENOTLEADER (forwarding disabled, or not a leader-capable
 * state), CAIRN_EDROPPED (leadership transfer in progress, or this leader was removed),
 * CAIRN_ELIMIT (max_uncommitted_bytes would be exceeded), CAIRN_EINVAL (n == 0 or too
 * many), CAIRN_ENOMEM. */
int raft_propose(struct raft *r, const struct raft_proposal *p, size_t n, uint64_t *first_index);

/* raft_propose_conf_change — leader only. 0 and *index (may be NULL), CAIRN_ENOTLEADER,
 * CAIRN_EBUSY (a change is still unapplied), CAIRN_EINVAL (not applicable to the current
 * configuration), CAIRN_EDROPPED (transfer in progress), CAIRN_ENOMEM. */
int raft_propose_conf_change(struct raft *r, const struct raft_conf_change *cc, uint64_t *index);

/* raft_read_index — request a linearizable read point for ctx (non-zero, unique among this
 * node's pending requests). The answer arrives as a Ready read state; it may never arrive
 * (leader change, message loss): callers time out and retry. 0, CAIRN_ENOLEADER,
 * CAIRN_EINVAL (ctx 0), CAIRN_EBUSY (too many pending). */
int raft_read_index(struct raft *r, uint64_t ctx);

/* raft_transfer_leader — ask the leader to hand leadership to voter `to` (a follower
 * forwards the request). 0, CAIRN_ENOLEADER, CAIRN_EINVAL (unknown node, a learner). */
int raft_transfer_leader(struct raft *r, uint64_t to);

/* raft_campaign — start an election now (as on election timeout). 0 or CAIRN_EINVAL when
 * this node may not campaign (learner, not a member, leader already). */
int raft_campaign(struct raft *r);

/* Transport feedback: a peer could not be reached (replicate -> probe), or the snapshot
 * sent to it was installed (ok = 1) or failed (ok = 0). */
void raft_report_unreachable(struct raft *r, uint64_t id);
void raft_report_snapshot(struct raft *r, uint64_t id, int ok);

int raft_has_ready(const struct raft *r);
void raft_ready(struct raft *r, struct raft_ready *rd);
void raft_advance(struct raft *r);

void raft_status(const struct raft *r, struct raft_status *st);

/* raft_term_at — term of the entry at index in this node's log (persisted or not).
 * 0, CAIRN_ECOMPACTED or CAIRN_EUNAVAILABLE. */
int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term);

/* ---- text (logs, golden tests) ---- */

const char *raft_msg_type_str(uint8_t type);
const char *raft_role_str(uint8_t role);
const char *raft_progress_state_str(uint8_t state);

/* raft_describe_msg — one line such as "1->2 APP term=2 log=1/3 commit=3 entries=[2/4]".
 * Writes at most cap bytes (NUL-terminated, truncated if needed); returns buf. */
char *raft_describe_msg(char *buf, size_t cap, const struct raft_msg *m);

/* raft_describe_entry — "term/index" plus the type and, for short printable data, the data. */
char *raft_describe_entry(char *buf, size_t cap, const struct raft_entry *e);

/* raft_describe_conf — "voters=(1 2 3) learners=(4)" with the joint parts when present. */
char *raft_describe_conf(char *buf, size_t cap, const struct raft_conf_state *cs);

#endif /* CAIRN_RAFT_H */
