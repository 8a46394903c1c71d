/* etcdserverpb.Lease: grant and revoke through the log; expiry, keep-alive and remaining
 * TTL on the leader's clock (srv_lessor); TimeToLive with keys and Leases from the store. */
#include "srv_errors.h"
#include "srv_node_int.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

#define LEASE_EXPIRED_PER_TICK 64
#define LEASE_SCAN_BATCH       256
#define LEASE_LIST_MAX         1000000
#define LEASE_KEYS_MAX         100000

static struct srv_node *node_of(struct srv_call *call)
{
    return srv_call_user(call);
}

/* etcd's ids: member-id bits on top, then a millisecond clock and a counter, never 0 and
 * never negative, so two members granting at once cannot collide. */
static int64_t new_lease_id(struct srv_node *n)
{
    uint64_t prefix = (n->member_id & 0xffff) << 47;
    uint64_t ms = srv_now_ms() & ((1ULL << 39) - 1);
    uint64_t seq = __atomic_add_fetch(&n->lease_id_seq, 1, __ATOMIC_RELAXED);
    uint64_t id = (prefix | (ms << 8)) + seq;
    id &= (1ULL << 63) - 1;
    return id ? (int64_t)id : 1;
}

static void on_grant(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    Etcdserverpb__LeaseGrantRequest *req = (Etcdserverpb__LeaseGrantRequest *)msg;
    if (req->ttl > STORE_LEASE_TTL_MAX_S) {
        srv_call_fail_code(call, CAIRN_ELEASETTLTOOLARGE);
        return;
    }
    if (req->id == 0)
        req->id = new_lease_id(n);
    struct store_op op = {.kind = STORE_OP_LEASE_GRANT, .lease_grant = req};
    uint64_t cost = store_quota_cost(&op);
    if (cost && !store_quota_available(n->store, cost)) {
        srv_call_fail_code(call, CAIRN_ENOSPACE);
        return;
    }
    srv_node_propose(n, call, CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_GRANT, &req->base);
}

static void on_revoke(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    Etcdserverpb__LeaseRevokeRequest *req = (Etcdserverpb__LeaseRevokeRequest *)msg;
    srv_node_propose(n, call, CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_REVOKE, &req->base);
}

static void on_ttl(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    const Etcdserverpb__LeaseTimeToLiveRequest *req =
        (const Etcdserverpb__LeaseTimeToLiveRequest *)msg;
    struct srv_req *r = srv_node_call_req(call, SRV_REQ_LEASE_TTL);
    if (!r)
        return;
    r->lease_id = req->id;
    r->lease_keys = req->keys;
    srv_node_submit(n, r);
}

static void on_leases(struct srv_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    struct srv_node *n = node_of(call);
    ProtobufCAllocator *a = srv_call_allocator(call);
    struct store_read *rd;
    int rc = store_read_begin(n->store, &rd);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
        return;
    }
    struct store_state st;
    store_read_state(rd, &st);
    Etcdserverpb__LeaseLeasesResponse resp = ETCDSERVERPB__LEASE_LEASES_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    resp.header = &h;
    srv_node_header(n, &h, st.revision);
    size_t cap = 0;
    int64_t after = 0;
    for (;;) {
        struct store_lease batch[LEASE_SCAN_BATCH];
        size_t got = 0;
        rc = store_lease_scan(rd, after, batch, LEASE_SCAN_BATCH, &got);
        if (rc < 0 || got == 0 || resp.n_leases + got > LEASE_LIST_MAX)
            break;
        if (resp.n_leases + got > cap) {
            size_t ncap = cap ? cap * 2 : LEASE_SCAN_BATCH;
            while (ncap < resp.n_leases + got)
                ncap *= 2;
            Etcdserverpb__LeaseStatus **nl = a->alloc(a->allocator_data, ncap * sizeof(*nl));
            if (!nl) {
                rc = CAIRN_ENOMEM;
                break;
            }
            if (resp.n_leases)
                memcpy(nl, resp.leases, resp.n_leases * sizeof(*nl));
            resp.leases = nl;
            cap = ncap;
        }
        for (size_t i = 0; i < got; i++) {
            Etcdserverpb__LeaseStatus *ls = a->alloc(a->allocator_data, sizeof(*ls));
            if (!ls) {
                rc = CAIRN_ENOMEM;
                break;
            }
            etcdserverpb__lease_status__init(ls);
            ls->id = batch[i].id;
            resp.leases[resp.n_leases++] = ls;
        }
        after = batch[got - 1].id;
        if (rc < 0 || got < LEASE_SCAN_BATCH)
            break;
    }
    store_read_end(rd);
    if (rc < 0)
        srv_call_fail_code(call, rc);
    else
        srv_call_reply(call, &resp.base);
}

/* ---- keep-alive stream ---- */

static void free_stream_req(struct srv_req *r)
{
    srv_call_unref(r->call);
    free(r);
}

static void on_keepalive(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    const Etcdserverpb__LeaseKeepAliveRequest *req =
        (const Etcdserverpb__LeaseKeepAliveRequest *)msg;
    struct srv_req *r = calloc(1, sizeof(*r));
    if (!r) {
        srv_stream_finish(call, SRV_RESOURCE_EXHAUSTED, "cairn: out of memory");
        return;
    }
    srv_call_ref(call);
    r->kind = SRV_REQ_LEASE_RENEW;
    r->call = call;
    r->lease_id = req->id;
    r->on_free = free_stream_req;
    srv_node_submit(n, r);
}

/* The client is done sending. Its keep-alives may still be queued for the node thread, so
 * the end of the stream is queued behind them rather than sent now. */
static void on_keepalive_close(struct srv_call *call, int cancelled)
{
    if (cancelled)
        return;
    struct srv_req *r = calloc(1, sizeof(*r));
    if (!r) {
        srv_stream_finish(call, SRV_OK, NULL);
        return;
    }
    srv_call_ref(call);
    r->kind = SRV_REQ_LEASE_RENEW;
    r->call = call;
    r->finish = 1;
    r->on_free = free_stream_req;
    srv_node_submit(node_of(call), r);
}

/* ---- node thread ---- */

int64_t srv_lease_renew_ttl(struct srv_node *n, int64_t id, Etcdserverpb__ResponseHeader *h)
{
    CAIRN_ASSERT(n->leader && h != NULL);
    struct store_read *rd;
    struct store_state st = {0};
    struct store_lease lease = {0};
    int found = 0;
    if (store_read_begin(n->store, &rd) == 0) {
        store_read_state(rd, &st);
        found = store_lease_get(rd, id, &lease, NULL, 0, NULL, NULL) == 0;
        store_read_end(rd);
    }
    srv_node_header(n, h, st.revision);
    uint64_t now = srv_now_ms();
    /* unknown or already expiring leases answer TTL 0, as etcd does */
    if (found && srv_lessor_renewable(n->lessor, id, now) &&
        srv_lessor_set(n->lessor, id, lease.ttl_s, now) == 0)
        return lease.ttl_s;
    return 0;
}

static void renew(struct srv_node *n, struct srv_req *r)
{
    if (!n->leader) {
        srv_stream_finish(r->call, SRV_FAILED_PRECONDITION, SRV_ERR_NOT_LEADER);
        return;
    }
    Etcdserverpb__LeaseKeepAliveResponse resp = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    resp.header = &h;
    resp.id = r->lease_id;
    resp.ttl = srv_lease_renew_ttl(n, r->lease_id, &h);
    (void)srv_stream_send(r->call, &resp.base); /* a full queue drops one answer; the
                                                   client keeps sending keep-alives */
}

static void time_to_live(struct srv_node *n, struct srv_req *r)
{
    ProtobufCAllocator *a = srv_call_allocator(r->call);
    Etcdserverpb__LeaseTimeToLiveResponse resp = ETCDSERVERPB__LEASE_TIME_TO_LIVE_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    resp.header = &h;
    resp.id = r->lease_id;
    struct store_read *rd;
    int rc = store_read_begin(n->store, &rd);
    if (rc < 0) {
        srv_call_fail_code(r->call, rc);
        return;
    }
    struct store_state st;
    store_read_state(rd, &st);
    srv_node_header(n, &h, st.revision);
    struct store_lease lease;
    ProtobufCBinaryData *keys = NULL;
    size_t n_keys = 0;
    rc = store_lease_get(rd, r->lease_id, &lease, a, r->lease_keys ? LEASE_KEYS_MAX : 0,
                         r->lease_keys ? &keys : NULL, &n_keys);
    if (rc == CAIRN_ELEASENOTFOUND) {
        resp.ttl = -1; /* etcd answers an unknown lease with TTL -1, not an error */
    } else if (rc == 0) {
        int64_t rem = srv_lessor_remaining_s(n->lessor, r->lease_id, srv_now_ms());
        resp.ttl = rem >= 0 ? rem : lease.ttl_s;
        resp.grantedttl = lease.ttl_s;
        resp.keys = keys;
        resp.n_keys = n_keys;
    }
    if (rc < 0 && rc != CAIRN_ELEASENOTFOUND)
        srv_call_fail_code(r->call, rc);
    else
        srv_call_reply(r->call, &resp.base); /* keys point into the map: pack first */
    store_read_end(rd);
}

void srv_lease_handle(struct srv_node *n, struct srv_req *r)
{
    /* a TimeToLive request lives in its call's arena, which the answer may free */
    void (*fin)(struct srv_req *) = r->on_free;
    if (r->kind == SRV_REQ_LEASE_RENEW && r->finish)
        srv_stream_finish(r->call, SRV_OK, NULL);
    else if (r->kind == SRV_REQ_LEASE_RENEW)
        renew(n, r);
    else
        time_to_live(n, r);
    if (fin)
        fin(r);
}

void srv_lease_on_applied(struct srv_node *n, const struct store_op *op,
                          const struct store_result *res)
{
    if (res->err < 0)
        return;
    if (op->kind == STORE_OP_LEASE_GRANT && n->leader && res->lease_grant)
        (void)srv_lessor_set(n->lessor, res->lease_grant->id, res->lease_grant->ttl, srv_now_ms());
    else if (op->kind == STORE_OP_LEASE_REVOKE)
        srv_lessor_remove(n->lessor, op->lease_revoke->id);
}

/* A new leader gives every lease a full TTL (etcd's promotion); a follower forgets. */
void srv_lease_leadership(struct srv_node *n, int leader)
{
    struct srv_lessor *fresh;
    if (srv_lessor_create(SRV_MAX_LEASES, &fresh) < 0)
        return;
    srv_lessor_destroy(n->lessor);
    n->lessor = fresh;
    if (!leader)
        return;
    struct store_read *rd;
    if (store_read_begin(n->store, &rd) < 0)
        return;
    uint64_t now = srv_now_ms();
    int64_t after = 0;
    for (size_t total = 0; total < SRV_MAX_LEASES;) {
        struct store_lease batch[LEASE_SCAN_BATCH];
        size_t got = 0;
        if (store_lease_scan(rd, after, batch, LEASE_SCAN_BATCH, &got) < 0 || got == 0)
            break;
        for (size_t i = 0; i < got; i++)
            (void)srv_lessor_set(n->lessor, batch[i].id, batch[i].ttl_s, now);
        after = batch[got - 1].id;
        total += got;
    }
    store_read_end(rd);
}

void srv_lease_tick(struct srv_node *n)
{
    int64_t ids[LEASE_EXPIRED_PER_TICK];
    size_t k = srv_lessor_expired(n->lessor, srv_now_ms(), SRV_LEASE_RETRY_MS, ids,
                                  LEASE_EXPIRED_PER_TICK);
    for (size_t i = 0; i < k; i++) {
        Etcdserverpb__LeaseRevokeRequest rr = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
        rr.id = ids[i];
        (void)srv_node_propose_internal(n, CAIRNPB__INTERNAL_REQUEST__REQUEST_LEASE_REVOKE,
                                        &rr.base);
    }
}

const struct srv_method srv_lease_methods[] = {
    {"/etcdserverpb.Lease/LeaseGrant", SRV_UNARY, &etcdserverpb__lease_grant_request__descriptor,
     NULL, on_grant, NULL},
    {"/etcdserverpb.Lease/LeaseRevoke", SRV_UNARY, &etcdserverpb__lease_revoke_request__descriptor,
     NULL, on_revoke, NULL},
    {"/etcdserverpb.Lease/LeaseKeepAlive", SRV_BIDI,
     &etcdserverpb__lease_keep_alive_request__descriptor, NULL, on_keepalive, on_keepalive_close},
    {"/etcdserverpb.Lease/LeaseTimeToLive", SRV_UNARY,
     &etcdserverpb__lease_time_to_live_request__descriptor, NULL, on_ttl, NULL},
    {"/etcdserverpb.Lease/LeaseLeases", SRV_UNARY, &etcdserverpb__lease_leases_request__descriptor,
     NULL, on_leases, NULL},
};
const size_t srv_lease_n_methods = CAIRN_ARRAY_LEN(srv_lease_methods);
