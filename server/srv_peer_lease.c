/*
 * Lease calls on a follower go to the leader, as etcd forwards them: lease expiry runs on the
 * leader's clock, so a keep-alive or a TimeToLive answered by a follower would be wrong.
 *
 * Follower: the node thread hands keep-alives (and the end of a keep-alive stream, so it stays
 * behind them) and TimeToLive requests to one forwarding thread with a bounded FIFO; it calls
 * the leader's peer URL (cairnpb.Peer/LeaseRenew, etcdserverpb.Lease/LeaseTimeToLive) and
 * relays the answer with this member's header. Leader: LeaseRenew renews on the node thread
 * exactly as a local keep-alive does.
 */
#include "common.h"
#include "srv_cluster.h"
#include "srv_errors.h"
#include "srv_node_int.h"
#include "srv_peer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FWD_QUEUE_MAX    4096 /* lease requests waiting for the leader */
#define FWD_TIMEOUT_MS   2000 /* one forwarded call */
#define PATH_LEASE_RENEW "/cairnpb.Peer/LeaseRenew"
#define PATH_LEASE_TTL   "/etcdserverpb.Lease/LeaseTimeToLive"

struct srv_lease_fwd {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct srv_req *head, *tail;
    uint32_t len;
    int stopping;
};

static void req_done(struct srv_req *r)
{
    if (r->on_free)
        r->on_free(r);
}

/* The leader's peer address, "host:port"; 0 or a negative code. */
static int leader_target(struct srv_node *n, char *out, size_t cap)
{
    struct srv_pub p;
    srv_node_pub(n, &p);
    if (p.lead == 0 || p.lead == n->member_id)
        return CAIRN_ENOLEADER;
    char urls[SRV_MEMBER_URLS_MAX];
    int rc = srv_cluster_peer_urls(n, p.lead, urls, sizeof(urls));
    return rc < 0 ? CAIRN_ENOLEADER : srv_peer_target(urls, out, cap);
}

static void fail_forwarded(struct srv_req *r, int unary, int status, const char *msg)
{
    if (unary && status > 0 && msg[0])
        srv_call_fail(r->call, (enum srv_status)status, msg);
    else if (unary)
        srv_call_fail_code(r->call, CAIRN_ENOLEADER);
    else if (status > 0 && msg[0])
        srv_stream_finish(r->call, (enum srv_status)status, msg);
    else
        srv_stream_finish(r->call, SRV_UNAVAILABLE, "etcdserver: no leader");
}

static void forward_one(struct srv_node *n, struct srv_req *r)
{
    int unary = r->kind == SRV_REQ_LEASE_TTL;
    if (!unary && r->finish) {
        srv_stream_finish(r->call, SRV_OK, NULL); /* behind the keep-alives before it */
        req_done(r);
        return;
    }
    char target[SRV_PEER_TARGET_MAX];
    ProtobufCMessage *resp = NULL;
    int status = 0;
    char msg[256] = "";
    int rc = leader_target(n, target, sizeof(target));
    if (rc == 0 && unary) {
        Etcdserverpb__LeaseTimeToLiveRequest q = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
        q.id = r->lease_id;
        q.keys = r->lease_keys;
        rc = srv_peer_call(target, PATH_LEASE_TTL, &q.base,
                           &etcdserverpb__lease_time_to_live_response__descriptor, NULL, 0,
                           FWD_TIMEOUT_MS, &resp, &status, msg, sizeof(msg));
    } else if (rc == 0) {
        Etcdserverpb__LeaseKeepAliveRequest q = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
        q.id = r->lease_id;
        rc = srv_peer_call(target, PATH_LEASE_RENEW, &q.base,
                           &etcdserverpb__lease_keep_alive_response__descriptor, NULL, 0,
                           FWD_TIMEOUT_MS, &resp, &status, msg, sizeof(msg));
    }
    if (rc < 0) {
        fail_forwarded(r, unary, status, msg);
        req_done(r);
        return;
    }
    /* every response type starts with its header */
    Etcdserverpb__ResponseHeader *h = unary
                                          ? ((Etcdserverpb__LeaseTimeToLiveResponse *)resp)->header
                                          : ((Etcdserverpb__LeaseKeepAliveResponse *)resp)->header;
    if (h)
        srv_node_header(n, h, h->revision); /* answered by this member */
    if (unary)
        srv_call_reply(r->call, resp);
    else
        (void)srv_stream_send(r->call, resp); /* a full queue drops one answer, as locally */
    protobuf_c_message_free_unpacked(resp, NULL);
    req_done(r);
}

static void *fwd_thread(void *arg)
{
    struct srv_node *n = arg;
    struct srv_lease_fwd *f = n->lease_fwd;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        while (!f->head && !f->stopping)
            pthread_cond_wait(&f->cv, &f->mu);
        struct srv_req *r = f->head;
        if (r) {
            f->head = r->next;
            if (!f->head)
                f->tail = NULL;
            f->len--;
        }
        int stopping = f->stopping;
        pthread_mutex_unlock(&f->mu);
        if (!r)
            break; /* stopping with nothing left */
        r->next = NULL;
        if (stopping) {
            fail_forwarded(r, r->kind == SRV_REQ_LEASE_TTL, SRV_UNAVAILABLE,
                           "etcdserver: server stopped");
            req_done(r);
        } else {
            forward_one(n, r);
        }
    }
    return NULL;
}

int srv_peer_lease_forward(struct srv_node *n, struct srv_req *r)
{
    CAIRN_ASSERT(r->kind == SRV_REQ_LEASE_RENEW || r->kind == SRV_REQ_LEASE_TTL);
    struct srv_lease_fwd *f = n->lease_fwd;
    struct srv_pub p;
    srv_node_pub(n, &p);
    int busy = 0; /* keep a stream's end behind its queued keep-alives */
    if (f) {
        pthread_mutex_lock(&f->mu);
        busy = f->len > 0;
        pthread_mutex_unlock(&f->mu);
    }
    if (!busy && (p.lead == 0 || p.lead == n->member_id))
        return CAIRN_ENOLEADER; /* served (or refused) locally */
    if (!f) {
        f = calloc(1, sizeof(*f));
        if (!f)
            return CAIRN_ENOMEM;
        pthread_mutex_init(&f->mu, NULL);
        pthread_cond_init(&f->cv, NULL);
        n->lease_fwd = f;
        if (pthread_create(&f->thread, NULL, fwd_thread, n) != 0) {
            pthread_mutex_destroy(&f->mu);
            pthread_cond_destroy(&f->cv);
            free(f);
            n->lease_fwd = NULL;
            return CAIRN_ESYSTEM;
        }
    }
    pthread_mutex_lock(&f->mu);
    int rc = f->len >= FWD_QUEUE_MAX ? CAIRN_EDROPPED : 0;
    if (rc == 0) {
        r->next = NULL;
        if (f->tail)
            f->tail->next = r;
        else
            f->head = r;
        f->tail = r;
        f->len++;
        pthread_cond_signal(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void srv_peer_lease_stop(struct srv_node *n)
{
    struct srv_lease_fwd *f = n->lease_fwd;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = 1;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL); /* at most one forwarded call in flight, bounded */
    CAIRN_ASSERT(f->head == NULL);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
    n->lease_fwd = NULL;
}

/* ---- the leader's side ---- */

static void on_lease_renew(struct srv_call *call, const ProtobufCMessage *msg)
{
    const Etcdserverpb__LeaseKeepAliveRequest *req =
        (const Etcdserverpb__LeaseKeepAliveRequest *)msg;
    struct srv_req *r = srv_node_call_req(call, SRV_REQ_PEER_LEASE);
    if (!r)
        return;
    r->lease_id = req->id;
    srv_node_submit(srv_call_user(call), r);
}

void srv_peer_lease_renew(struct srv_node *n, struct srv_req *r)
{
    CAIRN_ASSERT(r->kind == SRV_REQ_PEER_LEASE && r->call != NULL);
    if (!n->leader) {
        srv_call_fail_code(r->call, CAIRN_ENOTLEADER);
        return;
    }
    Etcdserverpb__LeaseKeepAliveResponse resp = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    resp.header = &h;
    resp.id = r->lease_id;
    resp.ttl = srv_lease_renew_ttl(n, r->lease_id, &h);
    srv_call_reply(r->call, &resp.base);
}

const struct srv_method srv_peer_lease_methods[] = {
    {PATH_LEASE_RENEW, SRV_UNARY, &etcdserverpb__lease_keep_alive_request__descriptor, NULL,
     on_lease_renew, NULL},
};
const size_t srv_peer_lease_n_methods = CAIRN_ARRAY_LEN(srv_peer_lease_methods);
