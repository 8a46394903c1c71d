/*
 * Roles, terms and elections: follower / pre-candidate / candidate / leader transitions,
 * pre-vote, vote granting and counting. A candidate's own vote is counted only once it is
 * durable (raft_count_self_vote() from raft_advance()).
 */
#include "raft_int.h"

void raft_reset_randomized_timeout(struct raft *r)
{
    uint32_t et = r->cfg.election_ticks;
    r->rand_election_timeout = et + (uint32_t)raft_rand_below(&r->rng, et);
    CAIRN_ASSERT(r->rand_election_timeout >= et && r->rand_election_timeout < 2 * et);
}

static void reset(struct raft *r, uint64_t term)
{
    if (r->term != term) {
        CAIRN_ASSERT(term > r->term);
        r->term = term;
        r->vote = 0;
    }
    r->lead = 0;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    raft_reset_randomized_timeout(r);
    r->lead_transferee = 0;
    raft_tracker_reset_votes(&r->trk);
    uint64_t last = raft_log_last_index(&r->log);
    for (uint32_t i = 0; i < r->trk.n; i++) {
        struct raft_progress *p = &r->trk.prs[i];
        int self = p->id == r->id;
        /* Our own match is what is durable; the rest is acked in raft_advance(). */
        raft_progress_reset(p, self ? raft_log_stable_last(&r->log) : 0, last + 1);
        p->recent_active = (uint8_t)self;
    }
    r->pending_conf_index = 0;
    r->uncommitted_bytes = 0;
    r->self_vote_term = 0;
    r->transfer_term = 0;
    r->caretake = 0;
    raft_readonly_reset(&r->ro);
}

void raft_become_follower(struct raft *r, uint64_t term, uint64_t lead)
{
    reset(r, term);
    r->lead = lead;
    r->role = RAFT_FOLLOWER;
}

static void become_pre_candidate(struct raft *r)
{
    CAIRN_ASSERT(r->role != RAFT_LEADER);
    /* Pre-vote changes neither the term nor the vote: a partitioned node that keeps
     * failing its pre-vote never inflates its term and never disrupts a leader. */
    raft_tracker_reset_votes(&r->trk);
    r->lead = 0;
    r->role = RAFT_PRE_CANDIDATE;
}

static void become_candidate(struct raft *r)
{
    CAIRN_ASSERT(r->role != RAFT_LEADER);
    reset(r, r->term + 1);
    r->vote = r->id;
    r->role = RAFT_CANDIDATE;
}

void raft_become_leader(struct raft *r)
{
    CAIRN_ASSERT(r->role == RAFT_CANDIDATE);
    reset(r, r->term);
    r->lead = r->id;
    r->role = RAFT_LEADER;
    struct raft_progress *self = raft_tracker_get(&r->trk, r->id);
    if (self)                                 /* none for a caretaker that is not a member */
        raft_progress_become_replicate(self); /* cosmetic: our own is never probed */
    /* Conf changes already in the log must apply before a new one may be proposed. */
    r->pending_conf_index = raft_log_last_index(&r->log);
    /* The empty entry of the new term: committing it commits everything before it. */
    struct raft_entry empty = {0};
    empty.type = RAFT_ENTRY_NORMAL;
    if (raft_append_entries(r, &empty, 1) != 0)
        raft_become_follower(r, r->term, 0); /* out of memory: let someone else lead */
}

/*
 * A member that is not a voter in its own (applied) configuration may still be needed: a
 * leader that removed or demoted itself can crash before handing off, and the voters that
 * have not yet learned the change committed still count on its vote, which its longer log
 * makes it refuse. etcd has this hazard (the stranded two-voter removal). So when no leader
 * has been heard for RAFT_CARETAKER_TIMEOUTS election timeouts, and it has just refused
 * the (pre-)vote of a voter of its configuration because its own log is ahead (the sign
 * that the voters are stuck without its entries; a healthy cluster never shows it, so a
 * decommissioned node stays quiet), such a node campaigns,
 * counting votes of its configuration's voters exactly as a voter would (the usual quorum
 * overlap argument holds: it is a committed configuration), and once elected it replicates
 * its log and hands leadership to the best voter (raft_hand_off).
 */
int raft_can_caretake(const struct raft *r)
{
    return r->caretake && !raft_promotable(r) && r->trk.conf.n_voters > 0 && !r->log.has_snap;
}

int raft_promotable(const struct raft *r)
{
    const struct raft_progress *p = NULL;
    for (uint32_t i = 0; i < r->trk.n; i++)
        if (r->trk.prs[i].id == r->id)
            p = &r->trk.prs[i];
    return p != NULL && !p->learner && !r->log.has_snap;
}

static void send_vote_requests(struct raft *r, uint8_t type, uint64_t term, int transfer)
{
    uint64_t last = raft_log_last_index(&r->log);
    uint64_t last_term = raft_log_last_term(&r->log);
    for (uint32_t i = 0; i < r->trk.n; i++) {
        const struct raft_progress *p = &r->trk.prs[i];
        if (p->learner || p->id == r->id)
            continue;
        struct raft_msg m;
        raft_msg_init(r, &m, type, p->id);
        m.term = term;
        m.index = last;
        m.log_term = last_term;
        m.flags = transfer ? RAFT_MSGF_TRANSFER : 0;
        raft_msg_push(r, &m);
    }
}

void raft_campaign_start(struct raft *r, int kind)
{
    CAIRN_ASSERT(raft_promotable(r) || raft_can_caretake(r));
    if (kind == RAFT_CAMPAIGN_PRE) {
        become_pre_candidate(r);
        /* A pre-vote changes no durable state, so our own counts at once. */
        raft_tracker_record_vote(&r->trk, r->id, 1);
        if (raft_tracker_tally(&r->trk) == RAFT_VOTE_WON) {
            raft_campaign_start(r, RAFT_CAMPAIGN_ELECTION);
            return;
        }
        send_vote_requests(r, RAFT_MSG_PREVOTE, r->term + 1, 0);
        return;
    }
    become_candidate(r);
    r->self_vote_term = r->term; /* counted in raft_advance(), once durable */
    send_vote_requests(r, RAFT_MSG_VOTE, r->term, kind == RAFT_CAMPAIGN_TRANSFER);
    CAIRN_ASSERT(r->vote == r->id);
}

static void tally(struct raft *r)
{
    int res = raft_tracker_tally(&r->trk);
    if (res == RAFT_VOTE_WON) {
        if (r->role == RAFT_PRE_CANDIDATE) {
            raft_campaign_start(r, RAFT_CAMPAIGN_ELECTION);
        } else {
            raft_become_leader(r);
            if (r->role == RAFT_LEADER)
                raft_bcast_append(r);
            if (r->role == RAFT_LEADER && !raft_conf_is_voter(&r->trk.conf, r->id))
                raft_hand_off(r); /* a caretaker */
        }
    } else if (res == RAFT_VOTE_LOST) {
        raft_become_follower(r, r->term, 0);
    }
}

void raft_count_self_vote(struct raft *r)
{
    uint64_t t = r->self_vote_term;
    r->self_vote_term = 0;
    if (t == 0 || t != r->term || r->role != RAFT_CANDIDATE)
        return;
    raft_tracker_record_vote(&r->trk, r->id, 1);
    tally(r);
}

void raft_handle_vote_response(struct raft *r, const struct raft_msg *m)
{
    CAIRN_ASSERT(r->role == RAFT_PRE_CANDIDATE || r->role == RAFT_CANDIDATE);
    if (!raft_tracker_get(&r->trk, m->from))
        return;
    raft_tracker_record_vote(&r->trk, m->from, !m->reject);
    tally(r);
}

void raft_handle_vote_request(struct raft *r, const struct raft_msg *m)
{
    int pre = m->type == RAFT_MSG_PREVOTE;
    CAIRN_ASSERT(pre || m->type == RAFT_MSG_VOTE);
    /* We may vote for the one we already voted for, for anyone if we have neither voted
     * nor know a leader in this term, and pre-vote for any future term. */
    int can_vote =
        r->vote == m->from || (r->vote == 0 && r->lead == 0) || (pre && m->term > r->term);
    struct raft_msg resp;
    raft_msg_init(r, &resp, pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP, m->from);
    if (can_vote &&
        (RAFT_BUG_ANY_LOG_VOTE || raft_log_is_up_to_date(&r->log, m->index, m->log_term))) {
        resp.term = m->term;
        if (!pre) {
            r->election_elapsed = 0;
            r->vote = m->from;
        }
    } else {
        resp.reject = 1;
        if (can_vote && !raft_promotable(r) && raft_conf_is_voter(&r->trk.conf, m->from))
            r->caretake = 1; /* a voter we are ahead of needs us: see raft_can_caretake() */
    }
    raft_msg_push(r, &resp);
}
