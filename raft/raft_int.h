/*
 * raft_int.h — raft/'s internal structures, shared by its .c files and nobody else.
 *
 * Files: raft_log.c (log = storage + unstable tail), raft_progress.c (per-follower
 * progress and inflights), raft_quorum.c (majority / joint quorum math), raft_tracker.c
 * (the configuration's progress set and votes), raft_confchange.c (conf change codec and
 * the pure apply), raft_msg.c (message building and outbox), raft_elect.c (roles, terms,
 * elections), raft_replicate.c (leader replication), raft_read.c (ReadIndex),
 * raft_core.c (create, step dispatch, tick, public calls), raft_ready.c (Ready/advance).
 */
#ifndef CAIRN_RAFT_INT_H
#define CAIRN_RAFT_INT_H

#include "common.h"
#include "raft.h"

/* ---- memory ---- */

void *raft_mem_alloc(const struct raft_allocator *a, size_t size);
void raft_mem_free(const struct raft_allocator *a, void *p);
/* The allocator to use for a config's allocator (malloc/free when alloc is NULL). */
void raft_allocator_resolve(const struct raft_allocator *in, struct raft_allocator *out);

/* Sum of data lengths, the unit of every byte limit in raft/. */
uint64_t raft_entries_bytes(const struct raft_entry *e, size_t n);

/* ---- log ---- */

/* A view of entries [lo, lo+n). Valid until raft_slice_free(); `e` points into the
 * unstable tail, into storage_mem, or into merged. */
struct raft_slice {
    const struct raft_entry *e;
    size_t n;
    void *storage_mem;
    struct raft_entry *merged;
};

/* Entry data of one appended batch: a header then every entry's bytes (raft_log.c). */
struct raft_blk;

struct raft_log {
    struct raft_storage st;
    struct raft_allocator alloc;
    /* unstable: a snapshot and/or entries not yet handed to the caller as persisted */
    struct raft_snapshot_meta snap;
    uint8_t has_snap;
    struct raft_entry *ents; /* ents[i].index == offset + i */
    struct raft_blk **blk;   /* blk[i]: the refcounted block holding ents[i].data, or NULL */
    size_t n;
    size_t cap;
    uint64_t offset;
    uint64_t committed;
    uint64_t applied;
};

int raft_log_init(struct raft_log *l, const struct raft_storage *st,
                  const struct raft_allocator *a);
void raft_log_destroy(struct raft_log *l);
uint64_t raft_log_first_index(const struct raft_log *l);
uint64_t raft_log_last_index(const struct raft_log *l);
uint64_t raft_log_last_term(const struct raft_log *l);
/* Highest index known to be durable (self-ack point). */
uint64_t raft_log_stable_last(const struct raft_log *l);
int raft_log_term(const struct raft_log *l, uint64_t index, uint64_t *term);
uint64_t raft_log_term_or_zero(const struct raft_log *l, uint64_t index);
int raft_log_match_term(const struct raft_log *l, uint64_t index, uint64_t term);
int raft_log_is_up_to_date(const struct raft_log *l, uint64_t last_index, uint64_t term);
uint64_t raft_log_find_conflict(const struct raft_log *l, const struct raft_entry *e, size_t n);
uint64_t raft_log_find_conflict_by_term(const struct raft_log *l, uint64_t index, uint64_t term,
                                        uint64_t *found_term);
/* 1 and *last_new when (index, log_term) matches and ents were stored, 0 on mismatch,
 * CAIRN_ENOMEM when they could not be stored. */
int raft_log_maybe_append(struct raft_log *l, uint64_t index, uint64_t log_term, uint64_t commit,
                          const struct raft_entry *e, size_t n, uint64_t *last_new);
/* Truncate any conflicting unstable suffix and append copies of e[0..n). 0 / ENOMEM. */
int raft_log_append(struct raft_log *l, const struct raft_entry *e, size_t n);
int raft_log_slice(const struct raft_log *l, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                   struct raft_slice *out);
void raft_slice_free(const struct raft_log *l, struct raft_slice *s);
void raft_log_commit_to(struct raft_log *l, uint64_t index);
void raft_log_applied_to(struct raft_log *l, uint64_t index);
void raft_log_restore(struct raft_log *l, const struct raft_snapshot_meta *meta);
void raft_log_stable_to(struct raft_log *l, uint64_t index, uint64_t term);
void raft_log_stable_snap_to(struct raft_log *l, uint64_t index);
/* 1 if a conf-change entry lies in (lo, hi]. */
int raft_log_has_conf_change(const struct raft_log *l, uint64_t lo, uint64_t hi);

/* ---- progress and inflights ---- */

struct raft_inflights {
    uint64_t *index; /* ring of cap (last index, bytes) pairs: index[2k], index[2k+1] */
    uint32_t start;
    uint32_t count;
    uint32_t cap;
    uint64_t bytes;
    uint64_t max_bytes;
};

struct raft_progress {
    uint64_t id;
    uint64_t match;
    uint64_t next;
    uint64_t pending_snapshot;
    uint8_t state;
    uint8_t paused; /* probe: one append sent, wait for a response */
    uint8_t learner;
    uint8_t recent_active;
    struct raft_inflights in;
};

void raft_inflights_add(struct raft_inflights *in, uint64_t index, uint64_t bytes);
void raft_inflights_free_le(struct raft_inflights *in, uint64_t index);
void raft_inflights_free_first(struct raft_inflights *in);
int raft_inflights_full(const struct raft_inflights *in);
void raft_inflights_reset(struct raft_inflights *in);

void raft_progress_reset(struct raft_progress *p, uint64_t match, uint64_t next);
void raft_progress_become_probe(struct raft_progress *p);
void raft_progress_become_replicate(struct raft_progress *p);
void raft_progress_become_snapshot(struct raft_progress *p, uint64_t snap_index);
int raft_progress_maybe_update(struct raft_progress *p, uint64_t n);
int raft_progress_maybe_decr_to(struct raft_progress *p, uint64_t rejected, uint64_t match_hint);
int raft_progress_is_paused(const struct raft_progress *p);
void raft_progress_sent(struct raft_progress *p, size_t n, uint64_t last_index, uint64_t bytes);

/* ---- quorum math ---- */

enum raft_vote_result { RAFT_VOTE_PENDING = 0, RAFT_VOTE_LOST = 1, RAFT_VOTE_WON = 2 };

/* Looks up a member's acknowledged index (commit) or vote (-1 none, 0 no, 1 yes). */
typedef uint64_t (*raft_index_fn)(const void *ctx, uint64_t id);
typedef int (*raft_vote_fn)(const void *ctx, uint64_t id);

uint64_t raft_majority_index(const uint64_t *ids, uint32_t n, raft_index_fn fn, const void *ctx);
int raft_majority_vote(const uint64_t *ids, uint32_t n, raft_vote_fn fn, const void *ctx);
/* Joint: both the incoming and (when non-empty) the outgoing voters must agree. */
uint64_t raft_joint_index(const struct raft_conf_state *cs, raft_index_fn fn, const void *ctx);
int raft_joint_vote(const struct raft_conf_state *cs, raft_vote_fn fn, const void *ctx);

/* ---- membership helpers ---- */

int raft_ids_contains(const uint64_t *ids, uint32_t n, uint64_t id);
int raft_conf_is_voter(const struct raft_conf_state *cs, uint64_t id);
int raft_conf_is_learner(const struct raft_conf_state *cs, uint64_t id);
int raft_conf_is_joint(const struct raft_conf_state *cs);
int raft_conf_equal(const struct raft_conf_state *a, const struct raft_conf_state *b);
/* Every member (voters, outgoing, learners, learners_next) once; returns the count. */
uint32_t raft_conf_members(const struct raft_conf_state *cs, uint64_t out[RAFT_MAX_NODES]);
int raft_conf_validate(const struct raft_conf_state *cs);

/* ---- tracker ---- */

struct raft_tracker {
    struct raft_conf_state conf;
    struct raft_progress prs[RAFT_MAX_NODES];
    uint32_t n;
    uint64_t vote_ids[RAFT_MAX_NODES];
    uint8_t vote_granted[RAFT_MAX_NODES];
    uint32_t n_votes;
    uint64_t *inflight_mem; /* RAFT_MAX_NODES rings, allocated once */
    uint32_t max_inflight;
    uint64_t max_inflight_bytes;
};

int raft_tracker_init(struct raft_tracker *t, const struct raft_allocator *a, uint32_t max_inflight,
                      uint64_t max_inflight_bytes);
void raft_tracker_destroy(struct raft_tracker *t, const struct raft_allocator *a);
struct raft_progress *raft_tracker_get(struct raft_tracker *t, uint64_t id);
/* Switch to cs: new members get progress (match 0, next = next_index, recently active),
 * departed members lose theirs, learner flags follow cs. */
void raft_tracker_set_conf(struct raft_tracker *t, const struct raft_conf_state *cs,
                           uint64_t next_index);
uint64_t raft_tracker_committed(const struct raft_tracker *t);
void raft_tracker_reset_votes(struct raft_tracker *t);
void raft_tracker_record_vote(struct raft_tracker *t, uint64_t id, int granted);
int raft_tracker_tally(const struct raft_tracker *t);
/* Check-quorum: a quorum (self included) was recently active; clears the flags. */
int raft_tracker_quorum_active(struct raft_tracker *t, uint64_t self);

/* ---- read-only (ReadIndex) ---- */

struct raft_read_req {
    uint64_t seq; /* heartbeat context, unique per leader */
    uint64_t ctx; /* the requester's context */
    uint64_t from;
    uint64_t index;
    uint32_t n_acks;
    uint64_t acks[RAFT_MAX_NODES];
};

struct raft_pending_read {
    uint64_t from;
    uint64_t ctx;
};

struct raft_readonly {
    struct raft_read_req *q; /* ring */
    uint32_t head;
    uint32_t count;
    uint32_t cap;
    uint64_t next_seq;
    struct raft_pending_read *pending; /* awaiting the first commit of the term */
    uint32_t n_pending;
    uint32_t cap_pending;
};

/* ---- growable vectors (outbox, read states) ---- */

struct raft_msgvec {
    struct raft_msg *v;
    size_t n;
    size_t cap;
};

struct raft_readvec {
    struct raft_read_state *v;
    size_t n;
    size_t cap;
};

/* ---- the node ---- */

struct raft {
    uint64_t id;
    struct raft_config cfg; /* defaults filled in; voters/learners cleared */
    struct raft_allocator alloc;
    struct raft_rand rng;
    uint64_t term;
    uint64_t vote;
    uint64_t lead;
    uint64_t lead_transferee;
    uint64_t pending_conf_index;
    uint64_t uncommitted_bytes;
    uint64_t self_vote_term; /* candidate's own vote, counted once durable (advance) */
    uint64_t transfer_term;  /* TimeoutNow received in this term, campaign once applied */
    uint64_t conf_index;     /* a conf-change entry the tracker reflects before its apply */
    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint32_t rand_election_timeout;
    uint8_t role;
    uint8_t caretake; /* refused a voter that needs our log: see raft_can_caretake() */
    struct raft_log log;
    struct raft_tracker trk;
    struct raft_readonly ro;
    struct raft_msgvec outbox;
    struct raft_msgvec ready_msgs;
    struct raft_readvec reads;
    struct raft_readvec ready_reads;
    /* what the caller last persisted / saw */
    struct raft_hard_state prev_hs;
    uint8_t prev_role;
    uint64_t prev_lead;
    /* the Ready handed out and not yet advanced */
    uint8_t in_ready;
    uint8_t rd_has_snap;
    uint8_t rd_conf_changed;
    uint64_t rd_snap_index;
    uint64_t rd_last_index; /* last entry handed out for persistence, 0 = none */
    uint64_t rd_last_term;
    struct raft_slice rd_committed;
    struct raft_conf_state rd_conf;
};

/* raft_msg.c */
void raft_msg_init(const struct raft *r, struct raft_msg *m, uint8_t type, uint64_t to);
/* Moves m (and its block) into the outbox; dropped when the outbox is full. */
void raft_msg_push(struct raft *r, struct raft_msg *m);
int raft_msg_set_entries(struct raft *r, struct raft_msg *m, const struct raft_entry *e, size_t n);
int raft_msg_set_snapshot(struct raft *r, struct raft_msg *m, const struct raft_snapshot_meta *s);
void raft_msgvec_clear(struct raft *r, struct raft_msgvec *v);
void raft_msgvec_destroy(struct raft *r, struct raft_msgvec *v);
void raft_add_read_state(struct raft *r, uint64_t index, uint64_t ctx);

/* raft_core.c */
int raft_campaign_transfer(struct raft *r);

/* raft_elect.c */
void raft_become_follower(struct raft *r, uint64_t term, uint64_t lead);
void raft_become_leader(struct raft *r);
enum raft_campaign_kind {
    RAFT_CAMPAIGN_PRE = 0,
    RAFT_CAMPAIGN_ELECTION,
    RAFT_CAMPAIGN_TRANSFER,
    RAFT_CAMPAIGN_CARETAKER, /* a non-voter stepping in, see raft_can_caretake() */
};
#define RAFT_CARETAKER_TIMEOUTS 3
void raft_campaign_start(struct raft *r, int kind);
int raft_promotable(const struct raft *r);
int raft_can_caretake(const struct raft *r);
void raft_handle_vote_request(struct raft *r, const struct raft_msg *m);
void raft_handle_vote_response(struct raft *r, const struct raft_msg *m);
void raft_count_self_vote(struct raft *r);
void raft_reset_randomized_timeout(struct raft *r);

/* raft_replicate.c */
int raft_send_append(struct raft *r, uint64_t to, int send_if_empty);
void raft_bcast_append(struct raft *r);
void raft_bcast_heartbeat(struct raft *r, uint64_t seq);
int raft_maybe_commit(struct raft *r);
void raft_handle_append_response(struct raft *r, const struct raft_msg *m);
void raft_handle_heartbeat_response(struct raft *r, const struct raft_msg *m);
void raft_handle_append(struct raft *r, const struct raft_msg *m);
void raft_handle_heartbeat(struct raft *r, const struct raft_msg *m);
void raft_handle_snapshot(struct raft *r, const struct raft_msg *m);
/* Leader: stamps term/index into e[] and appends copies. 0, CAIRN_ELIMIT, CAIRN_ENOMEM. */
int raft_append_entries(struct raft *r, struct raft_entry *e, size_t n);
void raft_send_timeout_now(struct raft *r, uint64_t to);
void raft_switch_conf(struct raft *r, const struct raft_conf_state *cs);
void raft_start_transfer(struct raft *r, struct raft_progress *p);
void raft_hand_off(struct raft *r);

/* raft_read.c */
int raft_readonly_init(struct raft_readonly *ro);
void raft_readonly_destroy(struct raft_readonly *ro, const struct raft_allocator *a);
void raft_readonly_reset(struct raft_readonly *ro);
int raft_leader_read_index(struct raft *r, uint64_t from, uint64_t ctx);
void raft_read_ack(struct raft *r, uint64_t from, uint64_t seq);
void raft_release_pending_reads(struct raft *r);
int raft_committed_in_term(const struct raft *r);

#ifdef RAFT_PLANT_BUG
/* Test-only builds (tests/sim/raft raft_sim_bugN): RAFT_PLANT_BUG selects a known bug:
 * 1: count previous-term entries toward commit (Raft Figure 8);
 * 2: forget the vote (the hard state never carries it, so a restart votes again);
 * 3: grant votes without the election restriction (no log up-to-date check, §5.4.1);
 * 4: acknowledge appends before they are durable (APP_RESP leaves before the fsync). */
#define RAFT_BUG_COMMIT_OLD_TERM (RAFT_PLANT_BUG == 1)
#define RAFT_BUG_FORGET_VOTE     (RAFT_PLANT_BUG == 2)
#define RAFT_BUG_ANY_LOG_VOTE    (RAFT_PLANT_BUG == 3)
#define RAFT_BUG_EARLY_ACK       (RAFT_PLANT_BUG == 4)
#else
#define RAFT_BUG_COMMIT_OLD_TERM 0
#define RAFT_BUG_FORGET_VOTE     0
#define RAFT_BUG_ANY_LOG_VOTE    0
#define RAFT_BUG_EARLY_ACK       0
#endif

#endif /* CAIRN_RAFT_INT_H */
