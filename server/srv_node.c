/* The node: identity, startup and shutdown, the request queue and the raft Ready loop. */
#include "srv_node_int.h"
#include "srv_log.h"

#include "alloc.h"
#include "common.h"
#include "srv_cluster_int.h"
#include "srv_errors.h"
#include "srv_peer.h"
#include "srv_peer_wire.h"
#include "url.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct srv_read_batch {
    struct srv_read_batch *next;
    uint64_t ctx;
    uint64_t index; /* 0 until the read state arrives */
    uint64_t issued_ms;
    struct srv_req *reqs;
};

uint64_t srv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Answer a request's call and release the request. A request may live in its call's
 * arena, which the answer can free: nothing touches the request after the answer. */
static void req_fail(struct srv_req *r, int code)
{
    CAIRN_ASSERT(r != NULL);
    void (*fin)(struct srv_req *) = r->on_free;
    struct srv_call *call = r->call;
    if (call)
        srv_call_fail_code(call, code);
    if (fin)
        fin(r);
}

static void req_reply(struct srv_req *r, const ProtobufCMessage *msg)
{
    CAIRN_ASSERT(r != NULL && r->call != NULL);
    void (*fin)(struct srv_req *) = r->on_free;
    srv_call_reply(r->call, msg);
    if (fin)
        fin(r);
}

/* ---- queue ---- */

int srv_node_submit(struct srv_node *n, struct srv_req *req)
{
    int rc = 0;
    pthread_mutex_lock(&n->mu);
    if (atomic_load(&n->stopping))
        rc = CAIRN_ESTOPPED;
    else if (n->q_len >= SRV_QUEUE_MAX)
        rc = CAIRN_EDROPPED;
    if (rc == 0) {
        req->next = NULL;
        if (n->q_tail)
            n->q_tail->next = req;
        else
            n->q_head = req;
        n->q_tail = req;
        n->q_len++;
        pthread_cond_signal(&n->cv);
    }
    pthread_mutex_unlock(&n->mu);
    if (rc < 0)
        req_fail(req, rc);
    return rc;
}

/* The requests the log carries for the store: the oneof case, the store's op kind and where
 * the request pointer sits in an InternalRequest. One table serves packing and applying. */
#define LOG_REQUEST(c, k, field)                                                                   \
    {                                                                                              \
        CAIRNPB__INTERNAL_REQUEST__REQUEST_##c, STORE_OP_##k,                                      \
            offsetof(Cairnpb__InternalRequest, field)                                              \
    }
static const struct {
    Cairnpb__InternalRequest__RequestCase kcase;
    enum store_op_kind kind;
    size_t offset;
} log_requests[] = {
    LOG_REQUEST(PUT, PUT, put),
    LOG_REQUEST(DELETE_RANGE, DELETE_RANGE, delete_range),
    LOG_REQUEST(TXN, TXN, txn),
    LOG_REQUEST(COMPACTION, COMPACT, compaction),
    LOG_REQUEST(LEASE_GRANT, LEASE_GRANT, lease_grant),
    LOG_REQUEST(LEASE_REVOKE, LEASE_REVOKE, lease_revoke),
    LOG_REQUEST(ALARM, ALARM, alarm),
    LOG_REQUEST(LEASE_CHECKPOINT, LEASE_CHECKPOINT, lease_checkpoint),
};
#undef LOG_REQUEST

static int log_request_find(Cairnpb__InternalRequest__RequestCase kcase)
{
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(log_requests); i++)
        if (log_requests[i].kcase == kcase)
            return (int)i;
    return -1;
}

/* Pack an InternalRequest with body as its request case into memory from a (or malloc). */
static uint8_t *pack_internal(struct srv_node *n, ProtobufCAllocator *a, uint64_t id,
                              Cairnpb__InternalRequest__RequestCase kcase, ProtobufCMessage *body,
                              size_t *len)
{
    Cairnpb__InternalRequest ir = CAIRNPB__INTERNAL_REQUEST__INIT;
    Cairnpb__RequestHeader hdr = CAIRNPB__REQUEST_HEADER__INIT;
    hdr.id = id;
    hdr.member_id = n->member_id;
    ir.header = &hdr;
    ir.request_case = kcase;
    int k = log_request_find(kcase);
    CAIRN_ASSERT(k >= 0);
    memcpy((char *)&ir + log_requests[k].offset, &body, sizeof(body));
    size_t need = cairnpb__internal_request__get_packed_size(&ir);
    uint8_t *data = a ? a->alloc(a->allocator_data, need ? need : 1) : malloc(need ? need : 1);
    if (!data)
        return NULL;
    *len = cairnpb__internal_request__pack(&ir, data);
    CAIRN_ASSERT(*len == need);
    return data;
}

struct srv_req *srv_node_call_req(struct srv_call *call, enum srv_req_kind kind)
{
    CAIRN_ASSERT(call != NULL);
    ProtobufCAllocator *a = srv_call_allocator(call);
    struct srv_req *r = a->alloc(a->allocator_data, sizeof(*r));
    if (!r) {
        srv_call_fail_code(call, CAIRN_ENOMEM);
        return NULL;
    }
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->call = call;
    return r;
}

int srv_node_propose(struct srv_node *n, struct srv_call *call,
                     Cairnpb__InternalRequest__RequestCase kcase, ProtobufCMessage *body)
{
    ProtobufCAllocator *a = srv_call_allocator(call);
    struct srv_req *req = srv_node_call_req(call, SRV_REQ_PROPOSE);
    if (!req)
        return CAIRN_ENOMEM;
    req->id = atomic_fetch_add(&n->next_id, 1);
    req->data = pack_internal(n, a, req->id, kcase, body, &req->len);
    if (!req->data) {
        srv_call_fail_code(call, CAIRN_ENOMEM);
        return CAIRN_ENOMEM;
    }
    if (kcase == CAIRNPB__INTERNAL_REQUEST__REQUEST_COMPACTION)
        req->physical = ((Etcdserverpb__CompactionRequest *)body)->physical;
    return srv_node_submit(n, req);
}

static void free_internal(struct srv_req *req)
{
    free(req->data);
    free(req);
}

int srv_node_propose_internal(struct srv_node *n, Cairnpb__InternalRequest__RequestCase kcase,
                              ProtobufCMessage *body)
{
    struct srv_req *req = calloc(1, sizeof(*req));
    if (!req)
        return CAIRN_ENOMEM;
    req->kind = SRV_REQ_PROPOSE;
    req->on_free = free_internal;
    req->data = pack_internal(n, NULL, 0, kcase, body, &req->len);
    if (!req->data) {
        free(req);
        return CAIRN_ENOMEM;
    }
    return srv_node_submit(n, req);
}

void srv_node_header(struct srv_node *n, Etcdserverpb__ResponseHeader *h, int64_t revision)
{
    struct srv_pub p;
    srv_node_pub(n, &p);
    h->cluster_id = n->cluster_id;
    h->member_id = n->member_id;
    h->revision = revision;
    h->raft_term = p.term;
}

void srv_node_pub(struct srv_node *n, struct srv_pub *out)
{
    pthread_mutex_lock(&n->pub_mu);
    *out = n->pub;
    pthread_mutex_unlock(&n->pub_mu);
}

static void publish(struct srv_node *n)
{
    struct raft_status st;
    raft_status(n->raft, &st);
    struct srv_pub p = {
        .term = st.term,
        .lead = st.lead,
        .commit = st.commit,
        .last_index = st.last_index,
        .applied = n->applied,
        .role = st.role,
    };
    for (uint32_t i = 0; i < st.conf.n_learners; i++)
        p.is_learner |= st.conf.learners[i] == n->member_id;
    p.sole_voter = st.conf.n_voters == 1 && st.conf.voters[0] == n->member_id;
    /* the only voter and its leader: every acknowledged write is applied already (answers go
     * out after the apply's commit), so a linearizable read needs no ReadIndex round */
    atomic_store(&n->reads_local, p.sole_voter && p.lead == n->member_id && p.role == RAFT_LEADER);
    pthread_mutex_lock(&n->pub_mu);
    int news = p.lead != n->pub.lead;
    n->pub = p;
    if (news)
        pthread_cond_broadcast(&n->pub_cv);
    pthread_mutex_unlock(&n->pub_mu);
}

int srv_node_wait_ready(struct srv_node *n, uint64_t timeout_ms)
{
    struct timespec ts = cairn_deadline_after_ms(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&n->pub_mu);
    while (n->pub.sole_voter && n->pub.lead == 0 && rc == 0)
        if (pthread_cond_timedwait(&n->pub_cv, &n->pub_mu, &ts) != 0)
            rc = CAIRN_ETIMEOUT;
    pthread_mutex_unlock(&n->pub_mu);
    return rc;
}

/* ---- waiters (node thread) ---- */

static void req_finish(struct srv_req *req)
{
    if (req->on_free)
        req->on_free(req);
}

static void waiter_add(struct srv_node *n, struct srv_req *req)
{
    req->next = NULL;
    req->prev = n->wait_tail;
    if (n->wait_tail)
        n->wait_tail->next = req;
    else
        n->wait_head = req;
    n->wait_tail = req;
    if (cairn_u64map_put(&n->waiters, req->id, req) < 0) {
        /* cannot track it: answer now rather than lose the call */
        n->wait_tail = req->prev;
        if (n->wait_tail)
            n->wait_tail->next = NULL;
        else
            n->wait_head = NULL;
        srv_call_fail_code(req->call, CAIRN_ENOMEM);
    }
}

static struct srv_req *waiter_take(struct srv_node *n, uint64_t id)
{
    struct srv_req *req = cairn_u64map_del(&n->waiters, id);
    if (!req)
        return NULL;
    if (req->prev)
        req->prev->next = req->next;
    else
        n->wait_head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        n->wait_tail = req->prev;
    req->next = req->prev = NULL;
    return req;
}

void srv_node_wait(struct srv_node *n, struct srv_req *req)
{
    CAIRN_ASSERT(req->id != 0 && req->call != NULL);
    waiter_add(n, req);
}

struct srv_req *srv_node_unwait(struct srv_node *n, uint64_t id)
{
    return id ? waiter_take(n, id) : NULL;
}

static void fail_list(struct srv_req *r, int code)
{
    for (int i = 0; r && i < (1 << 30); i++) {
        struct srv_req *next = r->next;
        req_fail(r, code);
        r = next;
    }
}

/* ---- proposals and reads taken off the queue ---- */

static void propose_batch(struct srv_node *n, struct srv_req **reqs, size_t count)
{
    if (count == 0)
        return;
    struct raft_proposal *props = calloc(count, sizeof(*props));
    if (!props) {
        for (size_t i = 0; i < count; i++)
            srv_call_fail_code(reqs[i]->call, CAIRN_ENOMEM);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        props[i].data = reqs[i]->data;
        props[i].len = (uint32_t)reqs[i]->len;
    }
    int rc = raft_propose(n->raft, props, count, NULL);
    free(props);
    for (size_t i = 0; i < count; i++) {
        if (rc == 0 && reqs[i]->call) {
            waiter_add(n, reqs[i]);
        } else if (rc == 0) {
            req_finish(reqs[i]); /* nobody waits for server-originated proposals */
        } else {
            /* ELIMIT (uncommitted cap) reads as etcd's "too many requests" */
            req_fail(reqs[i], rc == CAIRN_ELIMIT ? CAIRN_EDROPPED : rc);
        }
    }
}

static void issue_read_index(struct srv_node *n)
{
    if (!n->reads_waiting)
        return;
    for (struct srv_read_batch *b = n->read_batches; b; b = b->next)
        if (b->index == 0)
            return; /* one read-index round at a time: the next batch rides the next round */
    struct srv_read_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return; /* retried next iteration */
    b->ctx = ++n->read_ctx;
    int rc = raft_read_index(n->raft, b->ctx);
    if (rc < 0) {
        free(b);
        return; /* no leader yet: keep waiting until the requests time out */
    }
    b->issued_ms = srv_now_ms();
    b->reqs = n->reads_waiting;
    n->reads_waiting = NULL;
    b->next = n->read_batches;
    n->read_batches = b;
}

static void serve_reads(struct srv_node *n, struct srv_req *r)
{
    struct store_read *rd = NULL;
    int rc = store_read_begin(n->store, &rd);
    for (int i = 0; r && i < (1 << 30); i++) {
        struct srv_req *next = r->next;
        if (rc < 0) {
            req_fail(r, rc);
        } else {
            Etcdserverpb__RangeResponse *resp = NULL;
            unsigned fl =
                srv_call_local_flags(r->call) & SRV_LOCAL_NO_COUNT ? STORE_RANGE_NO_COUNT : 0;
            int e = store_range_flags(rd, r->range, fl, srv_call_allocator(r->call), &resp);
            if (e < 0) {
                req_fail(r, e);
            } else {
                srv_node_header(n, resp->header, resp->header->revision);
                req_reply(r, &resp->base); /* packed before the txn ends */
            }
        }
        r = next;
    }
    if (rd)
        store_read_end(rd);
}

static void serve_ready_reads(struct srv_node *n)
{
    struct srv_read_batch **pp = &n->read_batches;
    uint64_t now = srv_now_ms();
    while (*pp) {
        struct srv_read_batch *b = *pp;
        if (b->index != 0 && b->index <= n->applied) {
            *pp = b->next;
            serve_reads(n, b->reqs);
            free(b);
        } else if (b->index == 0 && now - b->issued_ms > n->tick_ms * 20) {
            /* the read index was lost (leader change, dropped message): ask again */
            *pp = b->next;
            struct srv_req *tail = b->reqs;
            while (tail && tail->next)
                tail = tail->next;
            if (tail) {
                tail->next = n->reads_waiting;
                n->reads_waiting = b->reqs;
            }
            free(b);
        } else {
            pp = &b->next;
        }
    }
}

static void expire_requests(struct srv_node *n)
{
    uint64_t now = srv_now_ms();
    while (n->wait_head && n->wait_head->deadline_ms <= now) {
        struct srv_req *r = waiter_take(n, n->wait_head->id);
        CAIRN_ASSERT(r != NULL);
        req_fail(r, CAIRN_ETIMEOUT);
    }
    struct srv_req **pp = &n->reads_waiting;
    while (*pp) {
        struct srv_req *r = *pp;
        if (r->deadline_ms <= now) {
            *pp = r->next;
            req_fail(r, CAIRN_ETIMEOUT);
        } else {
            pp = &r->next;
        }
    }
}

static void handle_ready(struct srv_node *n);

static void note_heard(struct srv_node *n, uint64_t id)
{
    size_t slot = 0;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(n->heard); i++) {
        if (n->heard[i].id == id) {
            slot = i;
            break;
        }
        if (n->heard[i].ms < n->heard[slot].ms)
            slot = i; /* the oldest (or a free) slot */
    }
    n->heard[slot].id = id;
    n->heard[slot].ms = srv_now_ms();
}

int srv_node_heard_within(const struct srv_node *n, uint64_t id, uint64_t ms)
{
    uint64_t now = srv_now_ms();
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(n->heard); i++)
        if (n->heard[i].id == id)
            return now - n->heard[i].ms <= ms;
    return 0;
}

static void step_peer_msgs(struct srv_node *n, struct srv_req *r)
{
    const struct srv_peer_msgs *pm = r->peer;
    if (pm->n > 0)
        note_heard(n, pm->msgs[0].from); /* a stream carries one sender's messages */
    for (size_t i = 0; i < pm->n; i++)
        if (pm->msgs[i].type != RAFT_MSG_SNAP)      /* snapshots come with their data only */
            (void)raft_step(n->raft, &pm->msgs[i]); /* a stale or odd message is ignored */
    req_finish(r);
}

/* A snapshot's data arrived: step its SNAP message. If raft takes it, the Ready that
 * follows carries the snapshot and handle_ready installs the data; otherwise it goes. */
static void install_snapshot(struct srv_node *n, struct srv_req *r)
{
    struct srv_peer_snap_in *in = r->peer;
    CAIRN_ASSERT(in && in->msg && in->msg->n == 1 && n->pending_restore == NULL);
    const struct raft_msg *m = &in->msg->msgs[0];
    n->pending_restore = in->rs;
    n->pending_restore_index = m->snapshot->index;
    in->rs = NULL;
    (void)raft_step(n->raft, m);
    for (int i = 0; raft_has_ready(n->raft) && i < 64; i++)
        handle_ready(n);
    if (n->pending_restore) {
        srv_log(SRV_LOG_INFO, "snapshot at index %" PRIu64 " not needed; discarded\n",
                n->pending_restore_index);
        store_restore_abort(n->pending_restore);
        n->pending_restore = NULL;
    }
    req_finish(r);
}

static void take_queue(struct srv_node *n)
{
    pthread_mutex_lock(&n->mu);
    struct srv_req *r = n->q_head;
    n->q_head = n->q_tail = NULL;
    n->q_len = 0;
    pthread_mutex_unlock(&n->mu);

    struct srv_req *props[SRV_BATCH_MAX];
    size_t n_props = 0;
    uint64_t deadline = srv_now_ms() + SRV_REQUEST_TIMEOUT_MS;
    for (int i = 0; r && i < SRV_QUEUE_MAX + 1; i++) {
        struct srv_req *next = r->next;
        r->next = NULL;
        r->deadline_ms = deadline;
        switch (r->kind) {
        case SRV_REQ_PROPOSE:
            props[n_props++] = r;
            if (n_props == SRV_BATCH_MAX) {
                propose_batch(n, props, n_props);
                n_props = 0;
            }
            break;
        case SRV_REQ_READ:
            r->next = n->reads_waiting;
            n->reads_waiting = r;
            break;
        case SRV_REQ_LEASE_RENEW:
        case SRV_REQ_LEASE_TTL:
            /* expiry runs on the leader's clock: a follower asks the leader */
            if (n->leader || srv_peer_lease_forward(n, r) < 0)
                srv_lease_handle(n, r);
            break;
        case SRV_REQ_PEER_LEASE:
            srv_peer_lease_renew(n, r);
            break;
        case SRV_REQ_WATCH:
            srv_watch_handle(n->hub, r);
            break;
        case SRV_REQ_DEFRAG:
        case SRV_REQ_MOVE_LEADER:
        case SRV_REQ_HASH:
            srv_maint_handle(n, r);
            break;
        case SRV_REQ_PEER:
            step_peer_msgs(n, r);
            break;
        case SRV_REQ_PEER_SNAP:
            install_snapshot(n, r);
            break;
        case SRV_REQ_MEMBER:
            srv_cluster_handle(n, r);
            break;
        }
        r = next;
    }
    propose_batch(n, props, n_props);
    issue_read_index(n);
}

/* ---- applying a Ready ---- */

/* Decode a committed entry into a store op; requests live in the batch arena. */
static const Cairnpb__InternalRequest *decode_entry(struct srv_node *n, const struct raft_entry *e,
                                                    struct store_op *op)
{
    memset(op, 0, sizeof(*op));
    op->kind = STORE_OP_NOOP;
    if (e->type != RAFT_ENTRY_NORMAL || e->len == 0)
        return NULL;
    Cairnpb__InternalRequest *ir =
        cairnpb__internal_request__unpack(alloc_arena_protobuf(n->batch_arena), e->len, e->data);
    if (!ir) {
        /* every member decodes the same bytes: a bad entry is skipped identically */
        srv_log(SRV_LOG_WARN, "entry %llu does not decode; applied as a no-op\n",
                (unsigned long long)e->index);
        return NULL;
    }
    int k = log_request_find(ir->request_case); /* -1: cluster entries, srv_cluster's */
    if (k >= 0) {
        const void *req;
        memcpy(&req, (const char *)ir + log_requests[k].offset, sizeof(req));
        op->kind = log_requests[k].kind;
        memcpy(&op->put, &req, sizeof(req)); /* the union's members are all request pointers */
    }
    return ir;
}

/* The response a store result carries, and its header; NULL when there is none (an
 * entry that failed, or a no-op). Every response type has base then header. */
#define RESULT_CASE(kind, field)                                                                   \
    case kind:                                                                                     \
        if (!res->field)                                                                           \
            return NULL;                                                                           \
        *msg = &res->field->base;                                                                  \
        return res->field->header

static Etcdserverpb__ResponseHeader *result_header(const struct store_result *res,
                                                   ProtobufCMessage **msg)
{
    *msg = NULL;
    switch (res->kind) {
        RESULT_CASE(STORE_OP_PUT, put);
        RESULT_CASE(STORE_OP_DELETE_RANGE, delete_range);
        RESULT_CASE(STORE_OP_TXN, txn);
        RESULT_CASE(STORE_OP_COMPACT, compact);
        RESULT_CASE(STORE_OP_LEASE_GRANT, lease_grant);
        RESULT_CASE(STORE_OP_LEASE_REVOKE, lease_revoke);
        RESULT_CASE(STORE_OP_ALARM, alarm);
        RESULT_CASE(STORE_OP_LEASE_CHECKPOINT, lease_checkpoint);
    default:
        return NULL;
    }
}
#undef RESULT_CASE

static void answer(struct srv_node *n, const Cairnpb__InternalRequest *ir,
                   const struct store_result *res)
{
    if (!ir || !ir->header || ir->header->member_id != n->member_id || ir->header->id == 0)
        return;
    struct srv_req *req = waiter_take(n, ir->header->id);
    if (!req)
        return; /* timed out already, or proposed before a restart */
    ProtobufCMessage *msg = NULL;
    Etcdserverpb__ResponseHeader *h = result_header(res, &msg);
    if (res->err < 0) {
        req_fail(req, res->err);
    } else if (res->kind == STORE_OP_COMPACT && req->physical && n->compaction_pending) {
        req->next = n->compact_waiters; /* answered when the physical work is done */
        n->compact_waiters = req;
        req->revision = h ? h->revision : 0;
    } else {
        CAIRN_ASSERT(msg != NULL && h != NULL);
        srv_node_header(n, h, h->revision);
        req_reply(req, msg);
    }
}

void srv_node_fatal(int rc, const char *what)
{
    srv_log(SRV_LOG_ERROR, "fatal: %s failed: %s\n", what, cairn_strerror(rc));
    abort(); /* like etcd's panic: never continue on a log or state we cannot write */
}

#define UNREACHABLE_MAX 64

/* The snapshot in a Ready is the one whose data install_snapshot() holds: swap it in,
 * before anything of the Ready is written, and reload what lives outside the store. */
static void restore_snapshot(struct srv_node *n, const struct raft_snapshot_meta *snap)
{
    CAIRN_ASSERT(n->pending_restore != NULL);
    CAIRN_ASSERT(n->pending_restore_index == snap->index);
    int rc = store_restore_finish(n->pending_restore, snap);
    n->pending_restore = NULL;
    if (rc < 0)
        srv_node_fatal(rc, "installing a snapshot");
    n->applied = snap->index;
    n->last_log_compact = snap->index;
    n->compaction_pending = 1; /* finishes whatever compaction the copy had scheduled */
    srv_cluster_reload(n, &snap->conf);
    srv_watch_resync(n->hub); /* watchers resume from the installed history */
    srv_log(SRV_LOG_INFO, "installed a snapshot at index %" PRIu64 " (term %" PRIu64 ")\n",
            snap->index, snap->term);
}

/* Entries kept behind a log compaction: etcd keeps 5000; a smaller --snapshot-count keeps
 * that many, so that a small setting really bounds the log. */
static uint64_t log_keep(const struct srv_node *n)
{
    return n->cfg.snapshot_count < SRV_SNAPSHOT_KEEP ? n->cfg.snapshot_count : SRV_SNAPSHOT_KEEP;
}

/* Stage one committed entry into the batch; membership entries also into fx. */
static void stage_entry(struct srv_node *n, struct store_batch *b, const struct raft_entry *e,
                        const Cairnpb__InternalRequest **ir, struct store_op *op,
                        struct store_result *res, struct srv_cluster_effect *fx)
{
    memset(fx, 0, sizeof(*fx));
    memset(res, 0, sizeof(*res));
    *ir = decode_entry(n, e, op);
    store_batch_apply(b, e->index, e->term, op, alloc_arena_protobuf(n->batch_arena), res);
    if (e->index <= n->applied)
        return; /* a replay: store/ skips it, and so do the aux writes */
    if (e->type == RAFT_ENTRY_CONF_CHANGE)
        srv_cluster_apply_conf_change(n, b, e, &n->conf, fx);
    else if (*ir && (*ir)->request_case == CAIRNPB__INTERNAL_REQUEST__REQUEST_CLUSTER)
        srv_cluster_apply_request(n, b, e->index, (*ir)->cluster.data, (*ir)->cluster.len, fx);
}

/* The leader this member proposed through is gone (or this leader was deposed): proposals
 * still waiting were most likely lost with it, so their clients hear etcd's "leader changed"
 * now rather than a timeout later, and retry. An entry that did survive is still applied;
 * its client got an error, as after a timeout: the outcome of an unanswered write is
 * unknown either way, and an acknowledged write is never in doubt. */
static void fail_on_leader_change(struct srv_node *n)
{
    struct srv_req *r = n->wait_head;
    for (int i = 0; r && i < (1 << 30); i++) {
        struct srv_req *next = r->next;
        if (r->kind == SRV_REQ_PROPOSE) {
            struct srv_req *taken = waiter_take(n, r->id);
            CAIRN_ASSERT(taken == r);
            void (*fin)(struct srv_req *) = r->on_free;
            srv_call_fail(r->call, SRV_UNAVAILABLE, "etcdserver: leader changed");
            if (fin)
                fin(r);
        }
        r = next;
    }
}

/* After the commit: the proposer answers membership requests; the transport follows. */
static void after_membership(struct srv_node *n, const struct srv_cluster_effect *fx, size_t k)
{
    int changed = 0;
    for (size_t i = 0; i < k; i++) {
        changed |= fx[i].changed;
        if (fx[i].self_removed && !n->removed_at_ms) {
            n->removed_at_ms = srv_now_ms();
            srv_log(SRV_LOG_WARN, "this member (%" PRIx64 ") was removed from the cluster\n",
                    n->member_id);
        }
        if (fx[i].proposer != n->member_id || fx[i].request_id == 0)
            continue;
        struct srv_req *req = srv_node_unwait(n, fx[i].request_id);
        if (req && req->kind == SRV_REQ_MEMBER)
            srv_cluster_answer(n, req, &fx[i]);
        else if (req)
            req_fail(req, CAIRN_EINVAL);
    }
    if (changed)
        srv_cluster_sync_transport(n);
}

/* What one Ready staged into the batch, kept for after the commit. */
struct staged {
    size_t n_committed;
    struct store_result *res;
    const Cairnpb__InternalRequest **irs;
    struct store_op *ops;
    struct srv_cluster_effect *fx;
    uint64_t applied; /* the applied index once this part is committed */
};

/* Stage rd into b: entries, hard state, committed entries applied, conf state, log
 * compaction. Nothing is answered here: that waits for the commit. */
static void stage_ready(struct srv_node *n, struct store_batch *b, const struct raft_ready *rd,
                        uint64_t applied_before, struct staged *st)
{
    memset(st, 0, sizeof(*st));
    if (rd->n_entries)
        store_batch_append(b, rd->entries, rd->n_entries);
    if (rd->hs_changed)
        store_batch_set_hard_state(b, &rd->hs);
    st->n_committed = rd->n_committed;
    if (rd->n_committed) {
        st->res = alloc_arena_alloc(n->batch_arena, rd->n_committed * sizeof(*st->res));
        st->irs = alloc_arena_alloc(n->batch_arena, rd->n_committed * sizeof(*st->irs));
        st->ops = alloc_arena_alloc(n->batch_arena, rd->n_committed * sizeof(*st->ops));
        st->fx = alloc_arena_alloc(n->batch_arena, rd->n_committed * sizeof(*st->fx));
        if (!st->res || !st->irs || !st->ops || !st->fx)
            srv_node_fatal(CAIRN_ENOMEM, "apply batch");
        for (size_t i = 0; i < rd->n_committed; i++)
            stage_entry(n, b, &rd->committed[i], &st->irs[i], &st->ops[i], &st->res[i], &st->fx[i]);
    }
    if (rd->conf_changed) {
        store_batch_set_conf_state(b, &rd->conf);
        n->conf = rd->conf;
    }
    st->applied = rd->n_committed ? rd->committed[rd->n_committed - 1].index : applied_before;
    uint64_t keep = log_keep(n);
    if (n->cfg.snapshot_count > 0 && st->applied > n->cfg.snapshot_count + keep &&
        st->applied - n->last_log_compact >= n->cfg.snapshot_count) {
        store_batch_log_compact(b, st->applied - keep);
        n->last_log_compact = st->applied;
    }
}

/* After the commit: answer the proposers, feed leases and watches. */
static void finish_staged(struct srv_node *n, const struct staged *st)
{
    int64_t revision = 0;
    for (size_t i = 0; i < st->n_committed; i++) {
        if (st->res[i].skipped)
            continue;
        if (st->res[i].revision)
            revision = st->res[i].revision;
        if (st->res[i].err == 0 && st->res[i].kind == STORE_OP_COMPACT)
            n->compaction_pending = 1;
        srv_lease_on_applied(n, &st->ops[i], &st->res[i]);
        answer(n, st->irs[i], &st->res[i]);
    }
    if (st->n_committed) {
        after_membership(n, st->fx, st->n_committed);
        srv_watch_on_events(n->hub, st->res, st->n_committed, revision);
    }
}

/*
 * The only voter may count its own log before it is durable: a Ready that only appends
 * (nothing applied, nothing to send, no snapshot or configuration change, no reads) is
 * committed without a sync, raft counts the entries at once, and their apply goes into a
 * second batch whose synced commit makes both durable. One fsync per write instead of two
 * (the append's, then the apply's in the next Ready). Safe because nothing was promised on
 * the unsynced part: no other member exists to see the commit index, no client is answered
 * and no reader sees applied state before the synced commit, and a crash in between loses
 * only the unacknowledged tail (LMDB keeps its integrity without the sync).
 */
static int can_apply_with_append(const struct srv_node *n, const struct raft_ready *rd)
{
    if (rd->n_entries == 0 || rd->n_committed || rd->n_msgs || rd->snapshot || rd->conf_changed ||
        rd->n_reads)
        return 0;
    if (rd->role != RAFT_LEADER || n->removed_at_ms)
        return 0;
    const struct raft_conf_state *c = &n->conf;
    return c->n_voters == 1 && c->voters[0] == n->member_id && c->n_voters_outgoing == 0 &&
           c->n_learners == 0 && c->n_learners_next == 0;
}

static void handle_ready(struct srv_node *n)
{
    struct raft_ready rd;
    raft_ready(n->raft, &rd);
    if (rd.snapshot)
        restore_snapshot(n, rd.snapshot);
    uint64_t unreachable[UNREACHABLE_MAX];
    /* a leader's appends may leave before its own fsync (raft counts its own log later) */
    size_t n_unr = srv_peer_send(n->peers, rd.msgs, rd.n_msgs, 0, unreachable, UNREACHABLE_MAX);
    unsigned flags = STORE_BATCH_EVENTS;
    if (srv_watch_wants_prev_kv(n->hub))
        flags |= STORE_BATCH_EVENTS_PREV_KV;
    struct store_batch *b = NULL;
    int rc = store_batch_begin(n->store, flags, &b);
    if (rc < 0)
        srv_node_fatal(rc, "store_batch_begin");
    struct staged parts[2];
    size_t n_parts = 1;
    int advanced = 0; /* rd was advanced already (its pointers are gone: no msgs, no reads) */
    stage_ready(n, b, &rd, n->applied, &parts[0]);
    if (can_apply_with_append(n, &rd)) {
        /* rd's memory goes with this advance (parts[0] holds nothing of it: it applied
         * nothing); role and lead are current in every Ready, the change flag carries over */
        uint8_t soft_changed = rd.soft_changed;
        rc = store_batch_commit_unsynced(b);
        if (rc < 0)
            srv_node_fatal(rc, "store_batch_commit");
        b = NULL;
        raft_advance(n->raft);
        advanced = 1;
        if (raft_has_ready(n->raft)) { /* the self-acknowledgement committed the entries */
            raft_ready(n->raft, &rd);
            advanced = 0;
            CAIRN_ASSERT(!rd.snapshot && rd.n_entries == 0 && rd.n_msgs == 0);
            rc = store_batch_begin(n->store, flags, &b);
            if (rc < 0)
                srv_node_fatal(rc, "store_batch_begin");
            stage_ready(n, b, &rd, parts[0].applied, &parts[1]);
            n_parts = 2;
        }
        rd.soft_changed |= soft_changed;
    }
    rc = b ? store_batch_commit(b) : store_sync(n->store);
    if (rc < 0)
        srv_node_fatal(rc, "store_batch_commit");
    /* votes and acknowledgements only once durable */
    n_unr += srv_peer_send(n->peers, rd.msgs, rd.n_msgs, 1, unreachable + n_unr,
                           UNREACHABLE_MAX - n_unr);
    n->applied = parts[n_parts - 1].applied;
    n->term = rd.hs.term;
    if (rd.soft_changed) {
        int leader = rd.role == RAFT_LEADER;
        if (leader != n->leader) {
            n->leader = leader;
            srv_lease_leadership(n, leader);
        }
    }
    publish(n);
    if (rd.soft_changed && rd.lead != n->last_lead) {
        if (n->last_lead != 0)
            fail_on_leader_change(n);
        n->last_lead = rd.lead;
    }
    for (size_t p = 0; p < n_parts; p++)
        finish_staged(n, &parts[p]);
    for (size_t i = 0; i < rd.n_reads; i++)
        for (struct srv_read_batch *rb = n->read_batches; rb; rb = rb->next)
            if (rb->ctx == rd.reads[i].ctx)
                rb->index = rd.reads[i].index ? rd.reads[i].index : 1;
    if (!advanced)
        raft_advance(n->raft);
    alloc_arena_reset(n->batch_arena);
    for (size_t i = 0; i < n_unr; i++)
        raft_report_unreachable(n->raft, unreachable[i]);
}

static void compaction_step(struct srv_node *n)
{
    if (!n->compaction_pending)
        return;
    int done = 0;
    int rc = store_compact_work(n->store, SRV_COMPACT_STEP_REVS, &done);
    if (rc < 0)
        srv_node_fatal(rc, "store_compact_work");
    if (!done)
        return;
    n->compaction_pending = 0;
    for (struct srv_req *r = n->compact_waiters; r;) {
        struct srv_req *next = r->next;
        Etcdserverpb__CompactionResponse resp = ETCDSERVERPB__COMPACTION_RESPONSE__INIT;
        Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
        resp.header = &h;
        srv_node_header(n, &h, r->revision);
        req_reply(r, &resp.base);
        r = next;
    }
    n->compact_waiters = NULL;
}

/* ---- leadership: MoveLeader, hand-off before stopping, removal ---- */

#define ERR_TRANSFER_TIMEOUT "etcdserver: request timed out, leader transfer took too long"

static int is_voter(const struct raft_conf_state *cs, uint64_t id)
{
    for (uint32_t i = 0; i < cs->n_voters; i++)
        if (cs->voters[i] == id)
            return 1;
    return 0;
}

/* etcd 3.4 answers MoveLeader with an empty message (no header): etcdctl -w json prints {}. */
static void move_reply(struct srv_node *n, struct srv_req *r)
{
    (void)n;
    Etcdserverpb__MoveLeaderResponse resp = ETCDSERVERPB__MOVE_LEADER_RESPONSE__INIT;
    req_reply(r, &resp.base);
}

void srv_node_move_leader(struct srv_node *n, struct srv_req *r)
{
    struct raft_status rs;
    raft_status(n->raft, &rs);
    if (rs.role != RAFT_LEADER) {
        req_fail(r, CAIRN_ENOTLEADER);
        return;
    }
    if (!is_voter(&rs.conf, r->target)) {
        srv_call_fail(r->call, SRV_FAILED_PRECONDITION, SRV_ERR_BAD_TRANSFEREE);
        return;
    }
    if (r->target == n->member_id) {
        move_reply(n, r);
        return;
    }
    int rc = raft_transfer_leader(n->raft, r->target);
    if (rc < 0) {
        req_fail(r, rc);
        return;
    }
    srv_log(SRV_LOG_INFO, "moving leadership to %" PRIx64 "\n", r->target);
    r->next = n->move_waiters; /* answered once the target leads (etcd waits too) */
    n->move_waiters = r;
}

static void check_move_waiters(struct srv_node *n)
{
    struct srv_pub p;
    srv_node_pub(n, &p);
    uint64_t now = srv_now_ms();
    struct srv_req **pp = &n->move_waiters;
    for (int i = 0; *pp && i < (1 << 20); i++) {
        struct srv_req *r = *pp;
        if (p.lead == r->target) {
            *pp = r->next;
            move_reply(n, r);
        } else if (now >= r->deadline_ms) {
            *pp = r->next;
            srv_call_fail(r->call, SRV_UNAVAILABLE, ERR_TRANSFER_TIMEOUT);
        } else {
            pp = &r->next;
        }
    }
}

/* The voter best placed to lead next: the most up to date among those recently heard. */
static uint64_t best_successor(struct srv_node *n, const struct raft_status *st)
{
    uint64_t best = 0, best_match = 0;
    int best_active = 0;
    for (uint32_t i = 0; i < st->n_progress; i++) {
        const struct raft_progress_status *p = &st->progress[i];
        if (p->id == n->member_id || p->learner || !is_voter(&st->conf, p->id))
            continue;
        int better = !best || (p->recent_active && !best_active) ||
                     (p->recent_active == best_active && p->match > best_match);
        if (better) {
            best = p->id;
            best_match = p->match;
            best_active = p->recent_active;
        }
    }
    return best;
}

static void handoff_done(struct srv_node *n)
{
    pthread_mutex_lock(&n->mu);
    n->handoff = 2;
    pthread_cond_broadcast(&n->handoff_cv);
    pthread_mutex_unlock(&n->mu);
}

/* Graceful stop of a leader: transfer leadership first, as etcd does, so the cluster does
 * not wait out an election timeout. Bounded by handoff_deadline_ms. */
static void handoff_step(struct srv_node *n)
{
    pthread_mutex_lock(&n->mu);
    int want = n->handoff == 1;
    pthread_mutex_unlock(&n->mu);
    if (!want)
        return;
    struct raft_status st;
    raft_status(n->raft, &st);
    uint64_t now = srv_now_ms();
    if (st.role != RAFT_LEADER) {
        handoff_done(n);
        return;
    }
    if (now >= n->handoff_deadline_ms) {
        srv_log(SRV_LOG_WARN, "leadership hand-off did not finish in time; stopping anyway\n");
        handoff_done(n);
        return;
    }
    if (st.lead_transferee != 0)
        return; /* under way */
    uint64_t to = best_successor(n, &st);
    if (!to || raft_transfer_leader(n->raft, to) < 0) {
        handoff_done(n);
        return;
    }
    srv_log(SRV_LOG_INFO, "stopping: handing leadership to %" PRIx64 "\n", to);
}

static void check_removed(struct srv_node *n)
{
    if (n->removed_signalled)
        return;
    if (!n->removed_at_ms && srv_peer_refused_removed(n->peers))
        n->removed_at_ms = srv_now_ms(); /* a peer told us before our own log did */
    if (!n->removed_at_ms)
        return;
    /* a removed leader keeps replicating until its successor knows the change committed; a
     * follower waits a moment so that answers in flight (the remove itself, forwarded by this
     * member) still reach their clients */
    uint64_t grace = n->leader ? SRV_REMOVED_GRACE_MS : SRV_REMOVED_ANSWER_MS;
    if (srv_now_ms() - n->removed_at_ms < grace)
        return;
    n->removed_signalled = 1;
    srv_log(SRV_LOG_WARN, "%s; shutting down\n", SRV_PEER_ERR_REMOVED);
    /* etcd exits too. Process-directed (not raise()): cairnd blocks SIGTERM in every thread
     * but its main, which stops the node cleanly on it. */
    kill(getpid(), SIGTERM);
}

static void take_reports(struct srv_node *n)
{
    struct srv_peer_report reps[32];
    size_t k = srv_peer_reports(n->peers, reps, CAIRN_ARRAY_LEN(reps));
    for (size_t i = 0; i < k; i++) {
        if (reps[i].kind == SRV_PEER_UNREACHABLE)
            raft_report_unreachable(n->raft, reps[i].id);
        else
            raft_report_snapshot(n->raft, reps[i].id, reps[i].ok);
    }
}

/* ---- the node thread ---- */

static int has_work(struct srv_node *n)
{
    return raft_has_ready(n->raft) || n->compaction_pending || n->wakeups;
}

/* Transport threads: reports are waiting. */
static void node_wake(void *user)
{
    struct srv_node *n = user;
    pthread_mutex_lock(&n->mu);
    n->wakeups = 1;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

static void wait_for_work(struct srv_node *n)
{
    pthread_mutex_lock(&n->mu);
    if (!n->q_head && !atomic_load(&n->stopping) && !has_work(n) && n->handoff != 1) {
        uint64_t now = srv_now_ms();
        uint64_t wake = n->next_tick_ms > now ? n->next_tick_ms - now : 0;
        if (wake > 0) {
            struct timespec ts = cairn_deadline_after_ms(wake);
            pthread_cond_timedwait(&n->cv, &n->mu, &ts);
        }
    }
    n->wakeups = 0;
    pthread_mutex_unlock(&n->mu);
}

static void node_iteration(struct srv_node *n)
{
    take_queue(n);
    uint64_t now = srv_now_ms();
    for (int i = 0; now >= n->next_tick_ms && i < 100; i++) {
        raft_tick(n->raft);
        n->next_tick_ms += n->tick_ms;
    }
    if (now >= n->next_tick_ms) /* fell far behind (stopped process): resynchronise */
        n->next_tick_ms = now + n->tick_ms;
    if (n->leader)
        srv_lease_tick(n);
    take_reports(n);
    for (int i = 0; raft_has_ready(n->raft) && i < 64; i++)
        handle_ready(n);
    serve_ready_reads(n);
    issue_read_index(n);
    expire_requests(n);
    check_move_waiters(n);
    srv_cluster_tick(n);
    handoff_step(n);
    check_removed(n);
    srv_watch_tick(n->hub);
    compaction_step(n);
    alloc_maybe_reclaim();
    alloc_thread_poll();
}

static void *node_thread(void *arg)
{
    struct srv_node *n = arg;
    (void)alloc_thread_register("node");
    struct alloc_arena_config ac = {.subsys = ALLOC_SUBSYS_PROPOSALS, .chunk_bytes = 0};
    if (alloc_arena_create(&ac, &n->batch_arena) < 0)
        srv_node_fatal(CAIRN_ENOMEM, "batch arena");
    n->next_tick_ms = srv_now_ms() + n->tick_ms;
    while (!atomic_load(&n->stopping)) {
        node_iteration(n);
        wait_for_work(n);
    }
    /* stopping: the batch in progress was committed above; answer everything else. The
     * watch streams end first: a stream's queued WOP_CLOSE frees it only once the hub has
     * let go of it. */
    srv_watch_hub_destroy(n->hub); /* ends every watch stream */
    n->hub = NULL;
    pthread_mutex_lock(&n->mu);
    struct srv_req *q = n->q_head;
    n->q_head = n->q_tail = NULL;
    n->q_len = 0;
    pthread_mutex_unlock(&n->mu);
    fail_list(q, CAIRN_ESTOPPED);
    while (n->wait_head) {
        struct srv_req *r = waiter_take(n, n->wait_head->id);
        req_fail(r, CAIRN_ESTOPPED);
    }
    fail_list(n->reads_waiting, CAIRN_ESTOPPED);
    n->reads_waiting = NULL;
    while (n->read_batches) {
        struct srv_read_batch *b = n->read_batches;
        n->read_batches = b->next;
        fail_list(b->reqs, CAIRN_ESTOPPED);
        free(b);
    }
    fail_list(n->compact_waiters, CAIRN_ESTOPPED);
    n->compact_waiters = NULL;
    fail_list(n->move_waiters, CAIRN_ESTOPPED);
    n->move_waiters = NULL;
    srv_cluster_fail_pending(n, CAIRN_ESTOPPED);
    if (n->pending_restore)
        store_restore_abort(n->pending_restore);
    n->pending_restore = NULL;
    alloc_arena_destroy(n->batch_arena);
    n->batch_arena = NULL;
    alloc_thread_unregister();
    return NULL;
}

/* ---- start / stop ---- */

static int listen_addrs(const char *urls, const char *flag, char addrs[][CAIRN_URL_HOST_MAX + 8],
                        size_t max, size_t *count, char *err, size_t err_len)
{
    struct cairn_url u[8];
    *count = 0;
    if (!urls[0])
        return 0; /* no listener (embedded) */
    int rc = cairn_url_list_parse(urls, u, max < 8 ? max : 8, count);
    if (rc < 0) {
        snprintf(err, err_len, "invalid --%s \"%s\"", flag, urls);
        return CAIRN_EINVAL;
    }
    for (size_t i = 0; i < *count; i++) {
        if (u[i].tls) {
            snprintf(err, err_len, "https URLs in --%s need TLS, which cairnd does not have yet",
                     flag);
            return CAIRN_EUNSUPPORTED;
        }
        cairn_url_hostport(&u[i], addrs[i], CAIRN_URL_HOST_MAX + 8);
    }
    return 0;
}

static int open_store_and_raft(struct srv_node *n, char *err, size_t err_len)
{
    if (mkdir(n->cfg.data_dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot create data dir %s: %s", n->cfg.data_dir, strerror(errno));
        return CAIRN_EIO;
    }
    struct store_config sc = {.dir = n->cfg.data_dir, .quota_bytes = n->cfg.quota_backend_bytes};
    int rc = store_open(&sc, &n->store);
    if (rc < 0) {
        snprintf(err, err_len, "cannot open data dir %s: %s", n->cfg.data_dir, cairn_strerror(rc));
        return rc;
    }
    struct store_read *rd;
    struct store_state st;
    rc = store_read_begin(n->store, &rd);
    if (rc == 0) {
        rc = store_read_state(rd, &st);
        store_read_end(rd);
    }
    if (rc < 0) {
        snprintf(err, err_len, "cannot read data dir %s: %s", n->cfg.data_dir, cairn_strerror(rc));
        return rc;
    }
    uint64_t voters[SRV_MEMBERS_MAX];
    uint32_t n_voters = 0;
    rc = srv_cluster_open(n, &st, voters, &n_voters, err, err_len);
    if (rc < 0)
        return rc;
    n->applied = st.applied_index;
    store_raft_storage(n->store, &n->rs);
    uint64_t first = 1;
    n->rs.first_index(n->rs.ctx, &first);
    n->last_log_compact = first > 0 ? first - 1 : 0;
    n->tick_ms = n->cfg.heartbeat_interval_ms;
    struct raft_config rc_cfg = {
        .id = n->member_id,
        .voters = voters,
        .n_voters = n_voters,
        .election_ticks = (uint32_t)(n->cfg.election_timeout_ms / n->cfg.heartbeat_interval_ms),
        .heartbeat_ticks = 1,
        .seed = n->member_id ^ (uint64_t)time(NULL),
        .applied = st.applied_index,
        /* pre-vote and check-quorum stay on (raft/'s defaults) */
    };
    rc = raft_create(&rc_cfg, &n->rs, &n->raft);
    if (rc < 0) {
        snprintf(err, err_len, "cannot start raft: %s", cairn_strerror(rc));
        return rc;
    }
    struct raft_status rs;
    raft_status(n->raft, &rs);
    if (rs.conf.n_voters == 1 && rs.conf.voters[0] == n->member_id)
        raft_campaign(n->raft); /* a single member need not wait out an election timeout */
    publish(n);
    return 0;
}

/* The client-facing services, in one table (the gRPC server and in-process calls). */
static const struct {
    const struct srv_method *m;
    const size_t *n;
} client_tables[] = {
    {srv_kv_methods, &srv_kv_n_methods},           {srv_lease_methods, &srv_lease_n_methods},
    {srv_maint_methods, &srv_maint_n_methods},     {srv_watch_methods, &srv_watch_n_methods},
    {srv_cluster_methods, &srv_cluster_n_methods}, {srv_admin_methods, &srv_admin_n_methods},
};

const struct srv_method *srv_node_method(const char *path)
{
    for (size_t t = 0; t < CAIRN_ARRAY_LEN(client_tables); t++)
        for (size_t i = 0; i < *client_tables[t].n; i++)
            if (strcmp(client_tables[t].m[i].path, path) == 0)
                return &client_tables[t].m[i];
    return NULL;
}

/* A gRPC server on the URLs of flag (none: no server, *n_listen = 0) with gc's methods. */
static int start_server(const char *urls, const char *flag, struct srv_grpc_config *gc,
                        struct srv_grpc **out, size_t *n_listen, char *err, size_t err_len)
{
    char addrs[8][CAIRN_URL_HOST_MAX + 8];
    const char *listen[8];
    int rc = listen_addrs(urls, flag, addrs, 8, n_listen, err, err_len);
    if (rc < 0 || *n_listen == 0)
        return rc;
    CAIRN_ASSERT(*n_listen <= CAIRN_ARRAY_LEN(listen));
    for (size_t i = 0; i < *n_listen; i++)
        listen[i] = addrs[i];
    gc->listen = listen; /* srv_grpc_start binds them before it returns */
    gc->n_listen = *n_listen;
    return srv_grpc_start(gc, out, err, err_len);
}

static int start_grpc(struct srv_node *n, char *err, size_t err_len)
{
    if (!n->cfg.listen_client_urls[0])
        return 0; /* embedded without a client listener: in-process calls only */
    static struct srv_method methods[64];
    size_t nm = 0;
    for (size_t t = 0; t < CAIRN_ARRAY_LEN(client_tables); t++)
        for (size_t i = 0; i < *client_tables[t].n; i++) {
            CAIRN_ASSERT(nm < CAIRN_ARRAY_LEN(methods));
            methods[nm++] = client_tables[t].m[i];
        }
    /* etcd: the gRPC limit is the request limit plus 512 KiB of framing allowance */
    struct srv_grpc_config gc = {
        .max_recv_bytes = n->cfg.max_request_bytes + 512 * 1024,
        .stream_queue_max = 256,
        .methods = methods,
        .n_methods = nm,
        .user = n,
    };
    return start_server(n->cfg.listen_client_urls, "listen-client-urls", &gc, &n->grpc,
                        &n->n_client_listen, err, err_len);
}

/* The peer URLs serve cairnpb.Peer (raft messages, snapshots) and etcdserverpb.Cluster (a
 * joining member's member list, membership changes forwarded to the leader). */
static int start_peers(struct srv_node *n, char *err, size_t err_len)
{
    static struct srv_method methods[16];
    size_t nm = 0;
    for (size_t i = 0; i < srv_peer_n_methods; i++)
        methods[nm++] = srv_peer_methods[i];
    for (size_t i = 0; i < srv_cluster_n_methods; i++)
        methods[nm++] = srv_cluster_methods[i];
    for (size_t i = 0; i < srv_peer_lease_n_methods; i++)
        methods[nm++] = srv_peer_lease_methods[i];
    for (size_t i = 0; i < srv_lease_n_methods; i++) /* TimeToLive, forwarded by followers */
        if (strcmp(srv_lease_methods[i].path, "/etcdserverpb.Lease/LeaseTimeToLive") == 0)
            methods[nm++] = srv_lease_methods[i];
    CAIRN_ASSERT(nm <= CAIRN_ARRAY_LEN(methods));
    struct srv_grpc_config gc = {
        .max_recv_bytes = SRV_PEER_MSG_MAX_BYTES,
        .stream_queue_max = 64,
        .methods = methods,
        .n_methods = nm,
        .user = n,
    };
    /* no peer URLs (an embedded one-member node): nothing to listen on, and the transport
     * below stays empty unless members are added, which would need the peer URLs */
    size_t n_listen = 0;
    int rc = start_server(n->cfg.listen_peer_urls, "listen-peer-urls", &gc, &n->peer_grpc,
                          &n_listen, err, err_len);
    if (rc < 0)
        return rc;
    uint64_t election = n->cfg.election_timeout_ms;
    struct srv_peer_config pc = {
        .self_id = n->member_id,
        .cluster_id = n->cluster_id,
        .store = n->store,
        /* silent for two election timeouts: the TCP connection is likely dead */
        .dead_after_ms = 2 * election > 2000 ? 2 * election : 2000,
        .connect_timeout_ms = election > 1000 ? election : 1000,
        .wake = node_wake,
        .user = n,
    };
    rc = srv_peer_create(&pc, &n->peers);
    if (rc < 0) {
        snprintf(err, err_len, "cannot start the peer transport: %s", cairn_strerror(rc));
        return rc;
    }
    srv_cluster_sync_transport(n);
    return 0;
}

int srv_node_start(const struct srv_config *cfg, struct srv_node **out, char *err, size_t err_len)
{
    struct srv_node *n = calloc(1, sizeof(*n));
    if (!n)
        return CAIRN_ENOMEM;
    n->cfg = *cfg;
    enum srv_log_level level = SRV_LOG_INFO;
    (void)srv_log_parse_level(cfg->log_level, &level); /* checked by the config already */
    srv_log_configure(level, NULL);
    grpc_init(); /* held for the node's lifetime: peer calls may run before the servers */
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->pub_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_cond_init(&n->handoff_cv, &ca);
    pthread_cond_init(&n->pub_cv, &ca);
    pthread_condattr_destroy(&ca);
    cairn_u64map_init(&n->waiters);
    /* Request ids start from the wall clock (ms << 22, as etcd's id generator does): a
     * proposal of an earlier run of this member that is applied after a restart must not
     * match a waiter of this run. */
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t wall_ms = (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000;
    atomic_init(&n->next_id, (wall_ms << 22) | 1);
    int rc = srv_lessor_create(SRV_MAX_LEASES, &n->lessor);
    if (rc == 0)
        rc = open_store_and_raft(n, err, err_len);
    if (rc == 0)
        rc = srv_watch_hub_create(n, &n->hub);
    if (rc == 0)
        rc = start_peers(n, err, err_len);
    if (rc == 0)
        rc = start_grpc(n, err, err_len);
    if (rc == 0 && pthread_create(&n->thread, NULL, node_thread, n) != 0)
        rc = CAIRN_ESYSTEM;
    if (rc < 0) {
        if (n->grpc)
            srv_grpc_destroy(n->grpc);
        n->grpc = NULL;
        atomic_store(&n->stopping, 1);
        srv_node_stop(n);
        return rc;
    }
    n->thread_started = 1;
    *out = n;
    return 0;
}

/* Asks the node thread to hand leadership over and waits (bounded) until it did. */
static void hand_off_leadership(struct srv_node *n)
{
    uint64_t bound = 2 * n->cfg.election_timeout_ms;
    if (bound > SRV_HANDOFF_MAX_MS)
        bound = SRV_HANDOFF_MAX_MS;
    pthread_mutex_lock(&n->mu);
    n->handoff_deadline_ms = srv_now_ms() + bound;
    n->handoff = 1;
    pthread_cond_signal(&n->cv);
    struct timespec ts = cairn_deadline_after_ms(bound + 1000);
    while (n->handoff == 1)
        if (pthread_cond_timedwait(&n->handoff_cv, &n->mu, &ts) != 0)
            break;
    pthread_mutex_unlock(&n->mu);
}

void srv_node_stop(struct srv_node *n)
{
    if (n->grpc)
        srv_grpc_shutdown(n->grpc); /* no new calls; streams are cancelled */
    if (n->thread_started && n->leader && srv_cluster_size(n) > 1)
        hand_off_leadership(n);
    pthread_mutex_lock(&n->mu);
    atomic_store(&n->stopping, 1);
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    if (n->thread_started)
        pthread_join(n->thread, NULL);
    else if (n->hub)
        srv_watch_hub_destroy(n->hub);
    srv_peer_lease_stop(n); /* the node thread fed it */
    if (n->peer_grpc)
        srv_grpc_shutdown(n->peer_grpc);
    srv_peer_destroy(n->peers); /* after the node thread: it sends through the transport */
    if (n->grpc)
        srv_grpc_destroy(n->grpc);
    if (n->peer_grpc)
        srv_grpc_destroy(n->peer_grpc);
    if (n->raft)
        raft_free(n->raft);
    if (n->store)
        store_close(n->store);
    srv_cluster_close(n);
    srv_lessor_destroy(n->lessor);
    cairn_u64map_free(&n->waiters);
    pthread_cond_destroy(&n->cv);
    pthread_cond_destroy(&n->handoff_cv);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->pub_cv);
    pthread_mutex_destroy(&n->pub_mu);
    free(n);
    grpc_shutdown();
}

int srv_node_client_port(const struct srv_node *n, size_t i)
{
    if (!n->grpc || i >= n->n_client_listen)
        return CAIRN_ENOTFOUND;
    return srv_grpc_port(n->grpc, i);
}
