/*
 * Ready / advance: hand the caller everything to persist, send and apply in one batch,
 * then account for it once the caller says it is done. Between the two the Ready's
 * memory is frozen (see raft.h).
 */
#include "raft_int.h"

#include <string.h>

static struct raft_hard_state current_hs(const struct raft *r)
{
    struct raft_hard_state hs;
    hs.term = r->term;
    hs.vote = RAFT_BUG_FORGET_VOTE ? 0 : r->vote;
    hs.commit = r->log.committed;
    return hs;
}

static int hs_equal(const struct raft_hard_state *a, const struct raft_hard_state *b)
{
    return a->term == b->term && a->vote == b->vote && a->commit == b->commit;
}

int raft_has_ready(const struct raft *r)
{
    if (r->in_ready)
        return 0;
    struct raft_hard_state hs = current_hs(r);
    return r->log.n > 0 || r->log.has_snap || !hs_equal(&hs, &r->prev_hs) ||
           r->role != r->prev_role || r->lead != r->prev_lead || r->outbox.n > 0 ||
           r->reads.n > 0 || r->log.committed > r->log.applied;
}

/* The configuration after applying the conf changes among the committed entries. */
static void ready_conf(struct raft *r, const struct raft_slice *c)
{
    r->rd_conf = r->trk.conf;
    r->rd_conf_changed = r->rd_has_snap;
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].type != RAFT_ENTRY_CONF_CHANGE)
            continue;
        struct raft_conf_change cc;
        struct raft_conf_state next;
        /* A change invalid at apply time is a no-op, identically on every node. */
        if (raft_conf_change_decode(c->e[i].data, c->e[i].len, &cc) != 0 ||
            raft_conf_apply(&r->rd_conf, &cc, &next) != 0)
            continue;
        r->rd_conf = next;
        r->rd_conf_changed = 1;
    }
}

static void swap_msgs(struct raft_msgvec *a, struct raft_msgvec *b)
{
    struct raft_msgvec t = *a;
    *a = *b;
    *b = t;
}

void raft_ready(struct raft *r, struct raft_ready *rd)
{
    CAIRN_ASSERT(!r->in_ready);
    memset(rd, 0, sizeof(*rd));
    rd->hs = current_hs(r);
    rd->hs_changed = !hs_equal(&rd->hs, &r->prev_hs);
    rd->role = r->role;
    rd->lead = r->lead;
    rd->soft_changed = r->role != r->prev_role || r->lead != r->prev_lead;
    r->rd_has_snap = r->log.has_snap;
    r->rd_snap_index = r->log.has_snap ? r->log.snap.index : 0;
    rd->snapshot = r->log.has_snap ? &r->log.snap : NULL;
    rd->entries = r->log.n ? r->log.ents : NULL;
    rd->n_entries = r->log.n;
    r->rd_last_index = r->log.n ? r->log.ents[r->log.n - 1].index : 0;
    r->rd_last_term = r->log.n ? r->log.ents[r->log.n - 1].term : 0;
    rd->must_sync = rd->n_entries > 0 || rd->snapshot != NULL || rd->hs.term != r->prev_hs.term ||
                    rd->hs.vote != r->prev_hs.vote;
    uint64_t lo = (r->rd_snap_index > r->log.applied ? r->rd_snap_index : r->log.applied) + 1;
    if (lo <= r->log.committed)
        CAIRN_ASSERT(raft_log_slice(&r->log, lo, r->log.committed + 1, r->cfg.max_apply_bytes,
                                    &r->rd_committed) == 0);
    rd->committed = r->rd_committed.e;
    rd->n_committed = r->rd_committed.n;
    ready_conf(r, &r->rd_committed);
    rd->conf = r->rd_conf;
    rd->conf_changed = r->rd_conf_changed;
    CAIRN_ASSERT(r->ready_msgs.n == 0 && r->ready_reads.n == 0);
    swap_msgs(&r->outbox, &r->ready_msgs);
    rd->msgs = r->ready_msgs.v;
    rd->n_msgs = r->ready_msgs.n;
    struct raft_readvec t = r->reads;
    r->reads = r->ready_reads;
    r->ready_reads = t;
    rd->reads = r->ready_reads.v;
    rd->n_reads = r->ready_reads.n;
    r->prev_hs = rd->hs;
    r->prev_role = rd->role;
    r->prev_lead = rd->lead;
    r->in_ready = 1;
}

static void leave_joint_if_auto(struct raft *r)
{
    const struct raft_conf_state *cs = &r->trk.conf;
    if (r->role != RAFT_LEADER || !raft_conf_is_joint(cs) || !cs->auto_leave ||
        r->pending_conf_index > r->log.applied || r->lead_transferee != 0)
        return;
    struct raft_conf_change cc;
    memset(&cc, 0, sizeof(cc));
    uint8_t buf[16];
    size_t len = 0;
    CAIRN_ASSERT(raft_conf_change_encode(&cc, buf, sizeof(buf), &len) == 0);
    struct raft_entry e = {.type = RAFT_ENTRY_CONF_CHANGE, .len = (uint32_t)len, .data = buf};
    if (raft_append_entries(r, &e, 1) != 0)
        return; /* retried at the next advance */
    r->pending_conf_index = e.index;
    raft_bcast_append(r);
}

void raft_advance(struct raft *r)
{
    CAIRN_ASSERT(r->in_ready);
    r->in_ready = 0;
    if (r->rd_has_snap) {
        raft_log_stable_snap_to(&r->log, r->rd_snap_index);
        if (r->log.applied < r->rd_snap_index)
            raft_log_applied_to(&r->log, r->rd_snap_index);
    }
    if (r->rd_last_index)
        raft_log_stable_to(&r->log, r->rd_last_index, r->rd_last_term);
    struct raft_slice *c = &r->rd_committed;
    if (c->n > 0) {
        raft_log_applied_to(&r->log, c->e[c->n - 1].index);
        uint64_t bytes = raft_entries_bytes(c->e, c->n);
        r->uncommitted_bytes = bytes >= r->uncommitted_bytes ? 0 : r->uncommitted_bytes - bytes;
    }
    raft_slice_free(&r->log, c);
    raft_msgvec_clear(r, &r->ready_msgs);
    r->ready_reads.n = 0;
    r->rd_has_snap = 0;
    r->rd_last_index = 0;
    if (r->rd_conf_changed && !raft_conf_equal(&r->rd_conf, &r->trk.conf))
        raft_switch_conf(r, &r->rd_conf);
    r->rd_conf_changed = 0;
    /* What the caller just made durable now counts: the leader's own log ... */
    struct raft_progress *self = raft_tracker_get(&r->trk, r->id);
    if (r->role == RAFT_LEADER && self &&
        raft_progress_maybe_update(self, raft_log_stable_last(&r->log)) && raft_maybe_commit(r)) {
        raft_release_pending_reads(r);
        raft_bcast_append(r);
    }
    /* ... and a candidate's own vote. */
    raft_count_self_vote(r);
    if (r->transfer_term != 0 && (r->transfer_term != r->term || r->role != RAFT_FOLLOWER))
        r->transfer_term = 0;
    if (r->transfer_term != 0 && raft_campaign_transfer(r) != CAIRN_EBUSY)
        r->transfer_term = 0;
    leave_joint_if_auto(r);
}
