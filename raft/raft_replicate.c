/*
 * Log replication: the leader's appends, snapshots and heartbeats, its handling of the
 * answers (progress state machine, commit), and the follower's side of each.
 */
#include "raft_int.h"

#include <string.h>

static int send_snapshot(struct raft *r, struct raft_progress *p)
{
    if (!p->recent_active)
        return 0; /* do not stream a snapshot to a peer that may be down */
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof(meta));
    int rc = r->log.st.snapshot ? r->log.st.snapshot(r->log.st.ctx, &meta) : CAIRN_EUNAVAILABLE;
    CAIRN_ASSERT(rc == 0 || rc == CAIRN_EUNAVAILABLE);
    if (rc != 0 || meta.index == 0)
        return 0; /* temporarily unavailable: try again later */
    struct raft_msg m;
    raft_msg_init(r, &m, RAFT_MSG_SNAP, p->id);
    if (raft_msg_set_snapshot(r, &m, &meta) != 0)
        return 0;
    raft_progress_become_snapshot(p, meta.index);
    raft_msg_push(r, &m);
    return 1;
}

int raft_send_append(struct raft *r, uint64_t to, int send_if_empty)
{
    struct raft_progress *p = raft_tracker_get(&r->trk, to);
    CAIRN_ASSERT(p != NULL && to != r->id);
    if (raft_progress_is_paused(p))
        return 0;
    uint64_t last = raft_log_last_index(&r->log);
    CAIRN_ASSERT(p->next >= 1 && p->next <= last + 1);
    uint64_t prev_term = 0;
    struct raft_slice s;
    memset(&s, 0, sizeof(s));
    int rc = raft_log_term(&r->log, p->next - 1, &prev_term);
    if (rc == 0 && p->next <= last)
        rc = raft_log_slice(&r->log, p->next, last + 1, r->cfg.max_msg_bytes, &s);
    if (rc == CAIRN_ECOMPACTED)
        return send_snapshot(r, p);
    CAIRN_ASSERT(rc == 0);
    if (s.n == 0 && !send_if_empty)
        return 0;
    struct raft_msg m;
    raft_msg_init(r, &m, RAFT_MSG_APP, to);
    m.index = p->next - 1;
    m.log_term = prev_term;
    m.commit = r->log.committed;
    if (raft_msg_set_entries(r, &m, s.e, s.n) != 0) {
        raft_slice_free(&r->log, &s);
        return 0;
    }
    raft_progress_sent(p, s.n, s.n ? s.e[s.n - 1].index : 0, raft_entries_bytes(s.e, s.n));
    raft_slice_free(&r->log, &s);
    raft_msg_push(r, &m);
    return 1;
}

void raft_bcast_append(struct raft *r)
{
    /* Fill each replicating follower's window (one message when probing), and send at
     * least an empty append so a new commit index travels. */
    for (uint32_t i = 0; i < r->trk.n; i++) {
        uint64_t id = r->trk.prs[i].id;
        if (id == r->id)
            continue;
        for (uint32_t k = 0; k <= r->cfg.max_inflight_msgs && raft_send_append(r, id, k == 0); k++)
            ;
    }
}

void raft_bcast_heartbeat(struct raft *r, uint64_t seq)
{
    for (uint32_t i = 0; i < r->trk.n; i++) {
        const struct raft_progress *p = &r->trk.prs[i];
        if (p->id == r->id)
            continue;
        struct raft_msg m;
        raft_msg_init(r, &m, RAFT_MSG_HEARTBEAT, p->id);
        /* Never more than the follower is known to have: it may lack the rest. */
        m.commit = p->match < r->log.committed ? p->match : r->log.committed;
        m.ctx = seq;
        raft_msg_push(r, &m);
    }
}

int raft_maybe_commit(struct raft *r)
{
    CAIRN_ASSERT(r->role == RAFT_LEADER);
    uint64_t mci = raft_tracker_committed(&r->trk);
    if (mci == UINT64_MAX || mci <= r->log.committed)
        return 0;
    /* Raft §5.4.2: only entries of the current term are committed by counting replicas;
     * earlier ones are committed indirectly with them. */
    if (!RAFT_BUG_COMMIT_OLD_TERM && raft_log_term_or_zero(&r->log, mci) != r->term)
        return 0;
    raft_log_commit_to(&r->log, mci);
    return 1;
}

void raft_send_timeout_now(struct raft *r, uint64_t to)
{
    struct raft_msg m;
    raft_msg_init(r, &m, RAFT_MSG_TIMEOUT_NOW, to);
    raft_msg_push(r, &m);
}

static void after_commit(struct raft *r)
{
    raft_release_pending_reads(r);
    raft_bcast_append(r);
}

static void handle_reject(struct raft *r, struct raft_progress *p, const struct raft_msg *m)
{
    uint64_t next_probe = m->reject_hint;
    if (m->log_term > 0) {
        /* Skip every entry of ours whose term is above the follower's term at the hint:
         * one round trip per term instead of one per entry. */
        uint64_t t = 0;
        next_probe = raft_log_find_conflict_by_term(&r->log, m->reject_hint, m->log_term, &t);
    }
    if (raft_progress_maybe_decr_to(p, m->index, next_probe)) {
        if (p->state == RAFT_PROGRESS_REPLICATE)
            raft_progress_become_probe(p);
        raft_send_append(r, p->id, 1);
    }
}

void raft_handle_append_response(struct raft *r, const struct raft_msg *m)
{
    struct raft_progress *p = raft_tracker_get(&r->trk, m->from);
    uint64_t last = raft_log_last_index(&r->log);
    if (!p || m->index > last)
        return; /* unknown peer, or an index we never sent */
    p->recent_active = 1;
    if (m->reject) {
        handle_reject(r, p, m);
        return;
    }
    int was_paused = raft_progress_is_paused(p);
    if (!raft_progress_maybe_update(p, m->index) &&
        !(p->match == m->index && p->state == RAFT_PROGRESS_PROBE))
        return;
    if (p->state == RAFT_PROGRESS_PROBE) {
        raft_progress_become_replicate(p);
    } else if (p->state == RAFT_PROGRESS_SNAPSHOT) {
        if (p->match + 1 >= raft_log_first_index(&r->log)) {
            raft_progress_become_probe(p);
            raft_progress_become_replicate(p);
        }
    } else {
        raft_inflights_free_le(&p->in, m->index);
    }
    if (raft_maybe_commit(r))
        after_commit(r);
    else if (was_paused)
        raft_send_append(r, m->from, 1);
    /* Pipeline: fill the window. Each round sends at least one entry or stops. */
    for (uint32_t k = 0; k <= r->cfg.max_inflight_msgs && raft_send_append(r, m->from, 0); k++)
        ;
    if (m->from == r->lead_transferee && p->match == raft_log_last_index(&r->log))
        raft_send_timeout_now(r, m->from);
}

void raft_handle_heartbeat_response(struct raft *r, const struct raft_msg *m)
{
    struct raft_progress *p = raft_tracker_get(&r->trk, m->from);
    if (!p)
        return;
    p->recent_active = 1;
    if (p->state == RAFT_PROGRESS_PROBE)
        p->paused = 0;
    /* Every ack of a full window may have been lost: let one more append out. */
    if (p->state == RAFT_PROGRESS_REPLICATE && raft_inflights_full(&p->in))
        raft_inflights_free_first(&p->in);
    /* Behind: an (empty) append makes it either catch up or reject, which re-probes. */
    if (p->match < raft_log_last_index(&r->log) || p->state == RAFT_PROGRESS_PROBE)
        raft_send_append(r, m->from, 1);
    if (m->ctx != 0)
        raft_read_ack(r, m->from, m->ctx);
}

int raft_append_entries(struct raft *r, struct raft_entry *e, size_t n)
{
    CAIRN_ASSERT(r->role == RAFT_LEADER);
    CAIRN_ASSERT(n > 0);
    uint64_t bytes = raft_entries_bytes(e, n);
    uint64_t max = r->cfg.max_uncommitted_bytes;
    /* Like etcd, a proposal is always accepted when nothing is outstanding. */
    if (max != RAFT_UNLIMITED && r->uncommitted_bytes > 0 && bytes > 0 &&
        (r->uncommitted_bytes + bytes > max || r->uncommitted_bytes + bytes < bytes))
        return CAIRN_ELIMIT;
    uint64_t last = raft_log_last_index(&r->log);
    /* Stamp index and term in place: callers pass scratch arrays they own. */
    for (size_t i = 0; i < n; i++) {
        e[i].term = r->term;
        e[i].index = last + 1 + i;
    }
    int rc = raft_log_append(&r->log, e, n);
    if (rc != 0)
        return rc;
    r->uncommitted_bytes += bytes;
    return 0;
}

/* ---- follower side ---- */

static void respond(struct raft *r, const struct raft_msg *m, uint8_t type, uint64_t index)
{
    struct raft_msg resp;
    raft_msg_init(r, &resp, type, m->from);
    resp.index = index;
    resp.ctx = type == RAFT_MSG_HEARTBEAT_RESP ? m->ctx : 0;
    raft_msg_push(r, &resp);
}

void raft_handle_append(struct raft *r, const struct raft_msg *m)
{
    if (m->index < r->log.committed) {
        respond(r, m, RAFT_MSG_APP_RESP, r->log.committed);
        return;
    }
    uint64_t last_new = 0;
    int rc = raft_log_maybe_append(&r->log, m->index, m->log_term, m->commit, m->entries,
                                   m->n_entries, &last_new);
    if (rc == 1) {
        respond(r, m, RAFT_MSG_APP_RESP, last_new);
        return;
    }
    if (rc < 0)
        return; /* could not store them: no ack, the leader resends */
    /* Reject, with a hint: the last index whose term is <= the leader's term there. */
    uint64_t last = raft_log_last_index(&r->log);
    uint64_t hint_term = 0;
    uint64_t hint = raft_log_find_conflict_by_term(&r->log, m->index < last ? m->index : last,
                                                   m->log_term, &hint_term);
    struct raft_msg resp;
    raft_msg_init(r, &resp, RAFT_MSG_APP_RESP, m->from);
    resp.index = m->index;
    resp.reject = 1;
    resp.reject_hint = hint;
    resp.log_term = hint_term;
    raft_msg_push(r, &resp);
}

void raft_handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    uint64_t last = raft_log_last_index(&r->log);
    raft_log_commit_to(&r->log, m->commit < last ? m->commit : last);
    respond(r, m, RAFT_MSG_HEARTBEAT_RESP, 0);
}

/* Install the snapshot if it is news to us; 1 if the log was replaced. */
static int restore(struct raft *r, const struct raft_snapshot_meta *s)
{
    CAIRN_ASSERT(r->role == RAFT_FOLLOWER);
    if (s->index <= r->log.committed)
        return 0;
    /* We may not be a member as of the snapshot (added after it was taken): that is fine,
     * the entries after it add us, and a non-member never campaigns. */
    if (raft_log_match_term(&r->log, s->index, s->term)) {
        raft_log_commit_to(&r->log, s->index); /* we have the entries: just fast-forward */
        return 0;
    }
    raft_log_restore(&r->log, s);
    uint64_t next = raft_log_last_index(&r->log) + 1;
    raft_tracker_set_conf(&r->trk, &s->conf, next);
    for (uint32_t i = 0; i < r->trk.n; i++)
        raft_progress_reset(&r->trk.prs[i], 0, next);
    return 1;
}

void raft_handle_snapshot(struct raft *r, const struct raft_msg *m)
{
    CAIRN_ASSERT(m->snapshot != NULL);
    if (restore(r, m->snapshot))
        respond(r, m, RAFT_MSG_APP_RESP, raft_log_last_index(&r->log));
    else
        respond(r, m, RAFT_MSG_APP_RESP, r->log.committed);
}

void raft_start_transfer(struct raft *r, struct raft_progress *p)
{
    CAIRN_ASSERT(r->role == RAFT_LEADER && p->id != r->id && !p->learner);
    r->lead_transferee = p->id;
    r->election_elapsed = 0; /* the transfer gets one election timeout */
    if (p->match == raft_log_last_index(&r->log))
        raft_send_timeout_now(r, p->id);
    else
        raft_send_append(r, p->id, 1);
}

/*
 * This leader is no longer a voter. Stepping down at once can strand the cluster: the
 * remaining voters may not yet know that the change committed (they still use the old or
 * joint configuration) and may need the vote of this node, whose log is ahead of theirs.
 * So it keeps replicating (which tells them the commit index) but refuses proposals, and
 * hands leadership to the most up-to-date voter (TimeoutNow once that voter has every
 * entry); it steps down when the successor's term reaches it. tick() retries a transfer
 * that did not finish within an election timeout; check-quorum still applies.
 */
void raft_hand_off(struct raft *r)
{
    struct raft_progress *best = NULL;
    for (uint32_t i = 0; i < r->trk.n; i++) {
        struct raft_progress *p = &r->trk.prs[i];
        if (p->id != r->id && !p->learner && (!best || p->match > best->match))
            best = p;
    }
    if (!best) {
        raft_become_follower(r, r->term, 0);
        return;
    }
    raft_start_transfer(r, best);
}

/* A configuration change was applied (or bootstrapped). */
void raft_switch_conf(struct raft *r, const struct raft_conf_state *cs)
{
    raft_tracker_set_conf(&r->trk, cs, raft_log_last_index(&r->log) + 1);
    if (r->role != RAFT_LEADER)
        return;
    if (!raft_conf_is_voter(cs, r->id)) {
        raft_hand_off(r); /* removed or demoted */
        return;
    }
    if (r->lead_transferee && !raft_conf_is_voter(cs, r->lead_transferee))
        r->lead_transferee = 0;
    if (raft_maybe_commit(r)) {
        after_commit(r);
        return;
    }
    /* Probe new members now rather than at the next heartbeat. */
    for (uint32_t i = 0; i < r->trk.n; i++)
        if (r->trk.prs[i].id != r->id)
            raft_send_append(r, r->trk.prs[i].id, r->trk.prs[i].state == RAFT_PROGRESS_PROBE);
}
