/*
 * Linearizable reads without log entries (Raft thesis §6.4). ReadIndex: the leader notes
 * its commit index, confirms it is still leader with a heartbeat round carrying a sequence
 * number, and answers once a quorum acks that round. Lease reads answer at once and rely
 * on check-quorum. Either way the leader must first have committed an entry of its own
 * term, otherwise its commit index may lag entries committed by its predecessor; requests
 * arriving before that wait in a bounded queue.
 */
#include "raft_int.h"

#include <string.h>

int raft_readonly_init(struct raft_readonly *ro)
{
    memset(ro, 0, sizeof(*ro));
    ro->next_seq = 1;
    return 0;
}

void raft_readonly_destroy(struct raft_readonly *ro, const struct raft_allocator *a)
{
    raft_mem_free(a, ro->q);
    raft_mem_free(a, ro->pending);
    memset(ro, 0, sizeof(*ro));
}

void raft_readonly_reset(struct raft_readonly *ro)
{
    /* Requests die with the term; their owners time out and retry. next_seq keeps
     * growing so a late ack of an old round never matches a new request. */
    ro->head = 0;
    ro->count = 0;
    ro->n_pending = 0;
}

int raft_committed_in_term(const struct raft *r)
{
    return raft_log_term_or_zero(&r->log, r->log.committed) == r->term;
}

static void respond_read(struct raft *r, uint64_t from, uint64_t index, uint64_t ctx)
{
    if (from == r->id) {
        raft_add_read_state(r, index, ctx);
        return;
    }
    struct raft_msg m;
    raft_msg_init(r, &m, RAFT_MSG_READ_INDEX_RESP, from);
    m.index = index;
    m.ctx = ctx;
    raft_msg_push(r, &m);
}

static struct raft_read_req *req_at(const struct raft_readonly *ro, uint32_t k)
{
    CAIRN_ASSERT(k < ro->count);
    return &ro->q[(ro->head + k) % ro->cap];
}

static int grow_ring(struct raft *r)
{
    struct raft_readonly *ro = &r->ro;
    uint32_t ncap = ro->cap ? ro->cap * 2 : 8;
    if (ncap > RAFT_MAX_PENDING_READS)
        ncap = RAFT_MAX_PENDING_READS;
    if (ncap <= ro->cap)
        return CAIRN_EBUSY;
    struct raft_read_req *q = raft_mem_alloc(&r->alloc, ncap * sizeof(*q));
    if (!q)
        return CAIRN_ENOMEM;
    for (uint32_t k = 0; k < ro->count; k++)
        q[k] = *req_at(ro, k);
    raft_mem_free(&r->alloc, ro->q);
    ro->q = q;
    ro->cap = ncap;
    ro->head = 0;
    return 0;
}

static int add_pending(struct raft *r, uint64_t from, uint64_t ctx)
{
    struct raft_readonly *ro = &r->ro;
    if (ro->n_pending == ro->cap_pending) {
        uint32_t ncap = ro->cap_pending ? ro->cap_pending * 2 : 8;
        if (ncap > RAFT_MAX_PENDING_READS)
            return CAIRN_EBUSY;
        struct raft_pending_read *p = raft_mem_alloc(&r->alloc, ncap * sizeof(*p));
        if (!p)
            return CAIRN_ENOMEM;
        if (ro->n_pending)
            memcpy(p, ro->pending, ro->n_pending * sizeof(*p));
        raft_mem_free(&r->alloc, ro->pending);
        ro->pending = p;
        ro->cap_pending = ncap;
    }
    ro->pending[ro->n_pending].from = from;
    ro->pending[ro->n_pending].ctx = ctx;
    ro->n_pending++;
    return 0;
}

int raft_leader_read_index(struct raft *r, uint64_t from, uint64_t ctx)
{
    CAIRN_ASSERT(r->role == RAFT_LEADER);
    CAIRN_ASSERT(ctx != 0);
    if (!raft_committed_in_term(r))
        return add_pending(r, from, ctx);
    const struct raft_conf_state *cs = &r->trk.conf;
    int single = cs->n_voters == 1 && cs->voters[0] == r->id && !raft_conf_is_joint(cs);
    if (single || r->cfg.lease_reads) {
        respond_read(r, from, r->log.committed, ctx);
        return 0;
    }
    struct raft_readonly *ro = &r->ro;
    if (ro->count == ro->cap) {
        int rc = grow_ring(r);
        if (rc != 0)
            return rc;
    }
    ro->count++;
    struct raft_read_req *q = req_at(ro, ro->count - 1);
    memset(q, 0, sizeof(*q));
    q->seq = ro->next_seq++;
    q->ctx = ctx;
    q->from = from;
    q->index = r->log.committed;
    q->acks[q->n_acks++] = r->id;
    raft_bcast_heartbeat(r, q->seq);
    return 0;
}

static int ack_of(const void *ctx, uint64_t id)
{
    const struct raft_read_req *q = ctx;
    return raft_ids_contains(q->acks, q->n_acks, id) ? 1 : -1;
}

void raft_read_ack(struct raft *r, uint64_t from, uint64_t seq)
{
    struct raft_readonly *ro = &r->ro;
    if (r->role != RAFT_LEADER)
        return;
    uint32_t k = 0;
    for (; k < ro->count && req_at(ro, k)->seq != seq; k++)
        ;
    if (k == ro->count)
        return; /* already answered, or from an old term */
    struct raft_read_req *q = req_at(ro, k);
    if (!raft_ids_contains(q->acks, q->n_acks, from) && q->n_acks < RAFT_MAX_NODES)
        q->acks[q->n_acks++] = from;
    if (raft_joint_vote(&r->trk.conf, ack_of, q) != RAFT_VOTE_WON)
        return;
    /* The quorum confirmed leadership after every earlier request arrived too. */
    for (uint32_t i = 0; i <= k; i++) {
        struct raft_read_req *done = req_at(ro, 0);
        respond_read(r, done->from, done->index, done->ctx);
        ro->head = (ro->head + 1) % ro->cap;
        ro->count--;
    }
}

void raft_release_pending_reads(struct raft *r)
{
    struct raft_readonly *ro = &r->ro;
    if (ro->n_pending == 0 || !raft_committed_in_term(r))
        return;
    uint32_t n = ro->n_pending;
    ro->n_pending = 0; /* not re-queued: we committed in this term */
    for (uint32_t i = 0; i < n; i++)
        raft_leader_read_index(r, ro->pending[i].from, ro->pending[i].ctx);
    CAIRN_ASSERT(ro->n_pending == 0);
}
