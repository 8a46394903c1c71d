/*
 * The node: creation (restart or bootstrap), the logical clock, message dispatch by term
 * and role, and the public requests (propose, conf change, read index, transfer).
 */
#include "raft_int.h"

#include <string.h>

static uint64_t or_default(uint64_t v, uint64_t d)
{
    return v ? v : d;
}

static int ids_ok(const uint64_t *ids, uint32_t n)
{
    if (n > 0 && ids == NULL)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] == 0 || raft_ids_contains(ids + i + 1, n - i - 1, ids[i]))
            return 0;
    return 1;
}

static int config_check(const struct raft_config *c)
{
    /* zero fields mean their defaults */
    uint64_t et = or_default(c->election_ticks, RAFT_DEFAULT_ELECTION_TICKS);
    uint64_t ht = or_default(c->heartbeat_ticks, RAFT_DEFAULT_HEARTBEAT_TICKS);
    if (c->id == 0 || et <= ht)
        return CAIRN_EINVAL;
    if (c->lease_reads && c->disable_check_quorum)
        return CAIRN_EINVAL; /* a lease without check-quorum is not a lease */
    if (c->max_inflight_msgs > 65536 || c->n_voters + c->n_learners > RAFT_MAX_NODES)
        return CAIRN_EINVAL;
    if (!ids_ok(c->voters, c->n_voters) || !ids_ok(c->learners, c->n_learners))
        return CAIRN_EINVAL;
    for (uint32_t i = 0; i < c->n_learners; i++)
        if (raft_ids_contains(c->voters, c->n_voters, c->learners[i]))
            return CAIRN_EINVAL;
    return 0;
}

static void fill_defaults(struct raft_config *c)
{
    c->election_ticks = (uint32_t)or_default(c->election_ticks, RAFT_DEFAULT_ELECTION_TICKS);
    c->heartbeat_ticks = (uint32_t)or_default(c->heartbeat_ticks, RAFT_DEFAULT_HEARTBEAT_TICKS);
    c->max_inflight_msgs =
        (uint32_t)or_default(c->max_inflight_msgs, RAFT_DEFAULT_MAX_INFLIGHT_MSGS);
    c->max_inflight_bytes = or_default(c->max_inflight_bytes, RAFT_DEFAULT_MAX_INFLIGHT_BYTES);
    c->max_msg_bytes = or_default(c->max_msg_bytes, RAFT_DEFAULT_MAX_MSG_BYTES);
    c->max_uncommitted_bytes =
        or_default(c->max_uncommitted_bytes, RAFT_DEFAULT_MAX_UNCOMMITTED_BYTES);
    c->max_apply_bytes = or_default(c->max_apply_bytes, RAFT_DEFAULT_MAX_APPLY_BYTES);
}

/* A brand-new cluster: one conf-change entry at index 1, term 1, identical on every
 * founding member, so a node added later learns the founders from the log. */
static int bootstrap(struct raft *r, const struct raft_config *cfg)
{
    struct raft_conf_change cc;
    memset(&cc, 0, sizeof(cc));
    for (uint32_t i = 0; i < cfg->n_voters; i++)
        cc.changes[cc.n_changes++] = (struct raft_cc_single){RAFT_CC_ADD_VOTER, cfg->voters[i]};
    for (uint32_t i = 0; i < cfg->n_learners; i++)
        cc.changes[cc.n_changes++] = (struct raft_cc_single){RAFT_CC_ADD_LEARNER, cfg->learners[i]};
    struct raft_conf_state empty, cs;
    memset(&empty, 0, sizeof(empty));
    if (raft_conf_apply(&empty, &cc, &cs) != 0)
        return CAIRN_EINVAL;
    uint8_t buf[4 + RAFT_MAX_NODES * 9 + 4];
    size_t len = 0;
    CAIRN_ASSERT(raft_conf_change_encode(&cc, buf, sizeof(buf), &len) == 0);
    struct raft_entry e = {.term = 1, .index = 1, .type = RAFT_ENTRY_CONF_CHANGE};
    e.len = (uint32_t)len;
    e.data = buf;
    int rc = raft_log_append(&r->log, &e, 1);
    if (rc != 0)
        return rc;
    r->term = 1;
    raft_log_commit_to(&r->log, 1);
    raft_tracker_set_conf(&r->trk, &cs, 2);
    r->conf_index = 1; /* the tracker already has it: campaigning need not wait */
    return 0;
}

static int load_state(struct raft *r, const struct raft_config *cfg)
{
    struct raft_hard_state hs;
    struct raft_conf_state cs;
    memset(&hs, 0, sizeof(hs));
    memset(&cs, 0, sizeof(cs));
    int rc = r->log.st.initial_state(r->log.st.ctx, &hs, &cs);
    if (rc != 0)
        return rc;
    uint64_t last = raft_log_last_index(&r->log);
    r->prev_hs = hs;
    if (hs.term == 0 && last == 0 && cfg->n_voters > 0)
        return bootstrap(r, cfg);
    if (hs.commit > last || raft_conf_validate(&cs) != 0)
        return CAIRN_ECORRUPT;
    r->term = hs.term;
    r->vote = hs.vote;
    raft_log_commit_to(&r->log, hs.commit);
    uint64_t applied = cfg->applied > r->log.applied ? cfg->applied : r->log.applied;
    if (applied > r->log.committed)
        return CAIRN_EINVAL; /* the state machine is ahead of the log */
    raft_log_applied_to(&r->log, applied);
    raft_tracker_set_conf(&r->trk, &cs, last + 1);
    return 0;
}

int raft_create(const struct raft_config *cfg, const struct raft_storage *storage,
                struct raft **out)
{
    if (!cfg || !storage || !out || !storage->initial_state || config_check(cfg) != 0)
        return CAIRN_EINVAL;
    struct raft_allocator a;
    raft_allocator_resolve(&cfg->alloc, &a);
    struct raft *r = raft_mem_alloc(&a, sizeof(*r));
    if (!r)
        return CAIRN_ENOMEM;
    memset(r, 0, sizeof(*r));
    r->alloc = a;
    r->id = cfg->id;
    r->cfg = *cfg;
    r->cfg.voters = r->cfg.learners = NULL;
    r->cfg.n_voters = r->cfg.n_learners = 0;
    fill_defaults(&r->cfg);
    raft_rand_seed(&r->rng, cfg->seed ^ (cfg->id * 0x9e3779b97f4a7c15ULL));
    int rc = raft_log_init(&r->log, storage, &a);
    if (rc == 0)
        rc = raft_tracker_init(&r->trk, &a, r->cfg.max_inflight_msgs, r->cfg.max_inflight_bytes);
    if (rc == 0)
        rc = raft_readonly_init(&r->ro);
    if (rc == 0)
        rc = load_state(r, cfg);
    if (rc != 0) {
        raft_free(r);
        return rc;
    }
    raft_become_follower(r, r->term, 0);
    r->prev_role = RAFT_FOLLOWER;
    *out = r;
    return 0;
}

void raft_free(struct raft *r)
{
    if (!r)
        return;
    struct raft_allocator a = r->alloc;
    raft_slice_free(&r->log, &r->rd_committed);
    raft_msgvec_destroy(r, &r->outbox);
    raft_msgvec_destroy(r, &r->ready_msgs);
    raft_mem_free(&a, r->reads.v);
    raft_mem_free(&a, r->ready_reads.v);
    raft_readonly_destroy(&r->ro, &a);
    raft_tracker_destroy(&r->trk, &a);
    raft_log_destroy(&r->log);
    raft_mem_free(&a, r);
}

/* Start an election if allowed. kind ELECTION becomes a pre-vote when pre-vote is on. */
static int hup(struct raft *r, int kind)
{
    if (r->role == RAFT_LEADER || !(raft_promotable(r) || kind == RAFT_CAMPAIGN_CARETAKER))
        return CAIRN_EINVAL;
    /* Our configuration may be stale while committed conf changes wait to be applied. */
    uint64_t lo = r->log.applied > r->conf_index ? r->log.applied : r->conf_index;
    if (raft_log_has_conf_change(&r->log, lo, r->log.committed))
        return CAIRN_EBUSY;
    if ((kind == RAFT_CAMPAIGN_ELECTION || kind == RAFT_CAMPAIGN_CARETAKER) &&
        !r->cfg.disable_pre_vote)
        kind = RAFT_CAMPAIGN_PRE;
    raft_campaign_start(r, kind);
    return 0;
}

int raft_campaign_transfer(struct raft *r)
{
    return hup(r, RAFT_CAMPAIGN_TRANSFER);
}

static void tick_leader(struct raft *r)
{
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
        if (!r->cfg.disable_check_quorum && !raft_tracker_quorum_active(&r->trk, r->id)) {
            raft_become_follower(r, r->term, 0); /* lost touch with a quorum */
            return;
        }
        r->lead_transferee = 0; /* a transfer not done in an election timeout is abandoned */
        if (!raft_conf_is_voter(&r->trk.conf, r->id))
            raft_hand_off(r); /* ... unless this leader was removed: try again */
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        raft_bcast_heartbeat(r, 0);
    }
}

void raft_tick(struct raft *r)
{
    CAIRN_ASSERT(!r->in_ready);
    if (r->role == RAFT_LEADER) {
        tick_leader(r);
        return;
    }
    r->election_elapsed++;
    if (raft_promotable(r) && r->election_elapsed >= r->rand_election_timeout) {
        r->election_elapsed = 0;
        hup(r, RAFT_CAMPAIGN_ELECTION);
    } else if (raft_can_caretake(r) &&
               r->election_elapsed >= RAFT_CARETAKER_TIMEOUTS * r->rand_election_timeout) {
        r->election_elapsed = 0;
        hup(r, RAFT_CAMPAIGN_CARETAKER);
    }
}

static int entries_ok(const struct raft_msg *m)
{
    if (m->n_entries > 0 && m->entries == NULL)
        return 0;
    if (m->n_entries > RAFT_MAX_PROPOSAL_BATCH)
        return 0;
    uint64_t prev_term = m->log_term;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if ((e->len > 0 && e->data == NULL) || e->type > RAFT_ENTRY_CONF_CHANGE)
            return 0;
        if (m->type == RAFT_MSG_PROP) {
            if (e->type != RAFT_ENTRY_NORMAL)
                return 0;
            continue;
        }
        if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term)
            return 0;
        prev_term = e->term;
    }
    return 1;
}

static int msg_ok(const struct raft *r, const struct raft_msg *m)
{
    if (m->type < RAFT_MSG_APP || m->type > RAFT_MSG_TYPE_MAX)
        return 0;
    if (m->to != r->id || m->from == 0 || m->from == r->id)
        return 0;
    int forwarded = m->type == RAFT_MSG_PROP || m->type == RAFT_MSG_READ_INDEX ||
                    m->type == RAFT_MSG_TRANSFER_LEADER;
    if (forwarded != (m->term == 0))
        return 0;
    if (m->n_entries > 0 && m->type != RAFT_MSG_APP && m->type != RAFT_MSG_PROP)
        return 0;
    if (!entries_ok(m))
        return 0;
    if (m->type == RAFT_MSG_SNAP) {
        const struct raft_snapshot_meta *s = m->snapshot;
        if (!s || s->index == 0 || s->conf.n_voters == 0 || raft_conf_validate(&s->conf) != 0)
            return 0;
    }
    return 1;
}

static void step_forwarded(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_LEADER)
        return; /* no chains of forwarding: the sender retries against the new leader */
    if (m->type == RAFT_MSG_PROP) {
        struct raft_proposal p[64];
        for (uint32_t i = 0; i < m->n_entries;) {
            size_t k = 0;
            for (; k < CAIRN_ARRAY_LEN(p) && i < m->n_entries; k++, i++) {
                p[k].data = m->entries[i].data;
                p[k].len = m->entries[i].len;
            }
            if (raft_propose(r, p, k, NULL) != 0)
                return; /* dropped, as etcd drops forwarded proposals */
        }
    } else if (m->type == RAFT_MSG_READ_INDEX) {
        if (m->ctx != 0 && raft_tracker_get(&r->trk, m->from))
            raft_leader_read_index(r, m->from, m->ctx);
    } else {
        raft_transfer_leader(r, m->index);
    }
}

/* Messages from other terms. Returns 1 if m needs no further handling. */
static int step_term(struct raft *r, const struct raft_msg *m)
{
    int vote_req = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
    if (m->term > r->term) {
        if (vote_req) {
            int force = (m->flags & RAFT_MSGF_TRANSFER) != 0;
            int in_lease = !r->cfg.disable_check_quorum && r->lead != 0 &&
                           r->election_elapsed < r->cfg.election_ticks;
            /* We heard from a leader within the minimum election timeout: it is alive,
             * and a disruptive (e.g. rejoining) node must not depose it. */
            if (!force && in_lease)
                return 1;
        }
        if (m->type == RAFT_MSG_PREVOTE || (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject))
            return 0; /* pre-votes never move terms */
        int from_leader =
            m->type == RAFT_MSG_APP || m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_SNAP;
        raft_become_follower(r, m->term, from_leader ? m->from : 0);
        return 0;
    }
    if (m->term < r->term) {
        if ((!r->cfg.disable_check_quorum || !r->cfg.disable_pre_vote) &&
            (m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_APP)) {
            /* A stale leader (e.g. back from a partition) learns the new term from this
             * and steps down; without it, pre-vote could leave it stranded forever. */
            struct raft_msg resp;
            raft_msg_init(r, &resp, RAFT_MSG_APP_RESP, m->from);
            raft_msg_push(r, &resp);
        } else if (m->type == RAFT_MSG_PREVOTE) {
            struct raft_msg resp;
            raft_msg_init(r, &resp, RAFT_MSG_PREVOTE_RESP, m->from);
            resp.reject = 1;
            raft_msg_push(r, &resp);
        }
        return 1;
    }
    return 0;
}

static void step_follower(struct raft *r, const struct raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_APP:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAP:
        if (r->role != RAFT_FOLLOWER)
            raft_become_follower(r, r->term, m->from);
        r->election_elapsed = 0;
        r->lead = m->from;
        r->caretake = 0;
        if (m->type == RAFT_MSG_APP)
            raft_handle_append(r, m);
        else if (m->type == RAFT_MSG_HEARTBEAT)
            raft_handle_heartbeat(r, m);
        else
            raft_handle_snapshot(r, m);
        return;
    case RAFT_MSG_TIMEOUT_NOW:
        /* A leader that is handing off (e.g. it removed itself) sends this as soon as the
         * change commits, often before we applied it: campaign once we have. */
        if (r->role == RAFT_FOLLOWER && hup(r, RAFT_CAMPAIGN_TRANSFER) == CAIRN_EBUSY)
            r->transfer_term = r->term;
        return;
    case RAFT_MSG_READ_INDEX_RESP:
        if (r->role == RAFT_FOLLOWER && m->ctx != 0)
            raft_add_read_state(r, m->index, m->ctx);
        return;
    case RAFT_MSG_VOTE_RESP:
        if (r->role == RAFT_CANDIDATE)
            raft_handle_vote_response(r, m);
        return;
    case RAFT_MSG_PREVOTE_RESP:
        if (r->role == RAFT_PRE_CANDIDATE)
            raft_handle_vote_response(r, m);
        return;
    default:
        return;
    }
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    CAIRN_ASSERT(!r->in_ready);
    if (!m || !msg_ok(r, m))
        return CAIRN_EINVAL;
    if (m->term == 0) {
        step_forwarded(r, m);
        return 0;
    }
    if (step_term(r, m))
        return 0;
    if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE) {
        raft_handle_vote_request(r, m);
        return 0;
    }
    if (r->role != RAFT_LEADER) {
        step_follower(r, m);
        return 0;
    }
    if (m->type == RAFT_MSG_APP_RESP)
        raft_handle_append_response(r, m);
    else if (m->type == RAFT_MSG_HEARTBEAT_RESP)
        raft_handle_heartbeat_response(r, m);
    return 0;
}

static int forward(struct raft *r, uint8_t type, const struct raft_entry *e, size_t n, uint64_t ctx,
                   uint64_t index)
{
    if (r->lead == 0)
        return CAIRN_ENOLEADER;
    struct raft_msg m;
    raft_msg_init(r, &m, type, r->lead);
    m.term = 0;
    m.ctx = ctx;
    m.index = index;
    if (n > 0 && raft_msg_set_entries(r, &m, e, n) != 0)
        return CAIRN_ENOMEM;
    raft_msg_push(r, &m);
    return 0;
}

int raft_propose(struct raft *r, const struct raft_proposal *p, size_t n, uint64_t *first_index)
{
    CAIRN_ASSERT(!r->in_ready);
    if (first_index)
        *first_index = 0;
    if (n == 0 || n > RAFT_MAX_PROPOSAL_BATCH || !p)
        return CAIRN_EINVAL;
    if (r->role != RAFT_LEADER && r->lead == 0)
        return CAIRN_ENOLEADER;
    if (r->role != RAFT_LEADER && (r->cfg.disable_proposal_forwarding || r->role != RAFT_FOLLOWER))
        return CAIRN_ENOTLEADER;
    if (r->role == RAFT_LEADER &&
        (r->lead_transferee != 0 || !raft_conf_is_voter(&r->trk.conf, r->id)))
        return CAIRN_EDROPPED;
    struct raft_entry stack[16];
    struct raft_entry *e =
        n <= CAIRN_ARRAY_LEN(stack) ? stack : raft_mem_alloc(&r->alloc, n * sizeof(*e));
    if (!e)
        return CAIRN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        e[i] = (struct raft_entry){.type = RAFT_ENTRY_NORMAL, .len = p[i].len, .data = p[i].data};
        if (p[i].len > 0 && !p[i].data) {
            if (e != stack)
                raft_mem_free(&r->alloc, e);
            return CAIRN_EINVAL;
        }
    }
    int rc;
    if (r->role == RAFT_LEADER) {
        rc = raft_append_entries(r, e, n);
        if (rc == 0) {
            if (first_index)
                *first_index = e[0].index;
            raft_bcast_append(r);
        }
    } else {
        rc = forward(r, RAFT_MSG_PROP, e, n, 0, 0);
    }
    if (e != stack)
        raft_mem_free(&r->alloc, e);
    return rc;
}

int raft_propose_conf_change(struct raft *r, const struct raft_conf_change *cc, uint64_t *index)
{
    CAIRN_ASSERT(!r->in_ready);
    if (r->role != RAFT_LEADER)
        return CAIRN_ENOTLEADER;
    if (r->lead_transferee != 0)
        return CAIRN_EDROPPED;
    if (r->pending_conf_index > r->log.applied)
        return CAIRN_EBUSY;
    struct raft_conf_state next;
    if (!cc || raft_conf_apply(&r->trk.conf, cc, &next) != 0)
        return CAIRN_EINVAL;
    size_t size = raft_conf_change_size(cc), len = 0;
    uint8_t *buf = raft_mem_alloc(&r->alloc, size);
    if (!buf)
        return CAIRN_ENOMEM;
    CAIRN_ASSERT(raft_conf_change_encode(cc, buf, size, &len) == 0 && len == size);
    struct raft_entry e = {.type = RAFT_ENTRY_CONF_CHANGE, .len = (uint32_t)len, .data = buf};
    int rc = raft_append_entries(r, &e, 1);
    raft_mem_free(&r->alloc, buf);
    if (rc != 0)
        return rc;
    r->pending_conf_index = e.index;
    if (index)
        *index = e.index;
    raft_bcast_append(r);
    return 0;
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
    CAIRN_ASSERT(!r->in_ready);
    if (ctx == 0)
        return CAIRN_EINVAL;
    if (r->role == RAFT_LEADER)
        return raft_leader_read_index(r, r->id, ctx);
    if (r->role != RAFT_FOLLOWER)
        return CAIRN_ENOLEADER;
    return forward(r, RAFT_MSG_READ_INDEX, NULL, 0, ctx, 0);
}

int raft_transfer_leader(struct raft *r, uint64_t to)
{
    CAIRN_ASSERT(!r->in_ready);
    if (r->role != RAFT_LEADER) {
        if (r->role != RAFT_FOLLOWER)
            return CAIRN_ENOLEADER;
        return forward(r, RAFT_MSG_TRANSFER_LEADER, NULL, 0, 0, to);
    }
    if (to == r->id)
        return 0; /* already there */
    struct raft_progress *p = raft_tracker_get(&r->trk, to);
    if (!p || p->learner)
        return CAIRN_EINVAL;
    if (r->lead_transferee != to)
        raft_start_transfer(r, p);
    return 0;
}

int raft_campaign(struct raft *r)
{
    CAIRN_ASSERT(!r->in_ready);
    return hup(r, RAFT_CAMPAIGN_ELECTION);
}

void raft_report_unreachable(struct raft *r, uint64_t id)
{
    CAIRN_ASSERT(!r->in_ready);
    struct raft_progress *p = r->role == RAFT_LEADER ? raft_tracker_get(&r->trk, id) : NULL;
    if (p && p->id != r->id && p->state == RAFT_PROGRESS_REPLICATE)
        raft_progress_become_probe(p);
}

void raft_report_snapshot(struct raft *r, uint64_t id, int ok)
{
    CAIRN_ASSERT(!r->in_ready);
    struct raft_progress *p = r->role == RAFT_LEADER ? raft_tracker_get(&r->trk, id) : NULL;
    if (!p || p->state != RAFT_PROGRESS_SNAPSHOT)
        return;
    if (!ok)
        p->pending_snapshot = 0;
    raft_progress_become_probe(p);
    /* Done: wait for the follower's ack. Failed: wait for a heartbeat to retry. */
    p->paused = 1;
}

void raft_status(const struct raft *r, struct raft_status *st)
{
    memset(st, 0, sizeof(*st));
    st->id = r->id;
    st->term = r->term;
    st->vote = r->vote;
    st->commit = r->log.committed;
    st->applied = r->log.applied;
    st->first_index = raft_log_first_index(&r->log);
    st->last_index = raft_log_last_index(&r->log);
    st->lead = r->lead;
    st->lead_transferee = r->lead_transferee;
    st->uncommitted_bytes = r->uncommitted_bytes;
    st->role = r->role;
    st->promotable = (uint8_t)raft_promotable(r);
    st->conf = r->trk.conf;
    if (r->role != RAFT_LEADER)
        return;
    st->n_progress = r->trk.n;
    for (uint32_t i = 0; i < r->trk.n; i++) {
        const struct raft_progress *p = &r->trk.prs[i];
        struct raft_progress_status *o = &st->progress[i];
        o->id = p->id;
        o->match = p->match;
        o->next = p->next;
        o->state = p->state;
        o->learner = p->learner;
        o->paused = (uint8_t)raft_progress_is_paused(p);
        o->recent_active = p->recent_active;
        o->inflight_msgs = p->in.count;
        o->pending_snapshot = p->pending_snapshot;
    }
}

int raft_term_at(const struct raft *r, uint64_t index, uint64_t *term)
{
    return raft_log_term(&r->log, index, term);
}
