/* etcdserverpb.Cluster: MemberList from the local table; MemberAdd/Remove/Update/Promote
 * proposed by the leader (a follower forwards the call to the leader's peer URL) and answered
 * by the proposer once the entry is applied. Also: publishing this member's attributes. */
#include "srv_cluster_int.h"

#include "common.h"
#include "srv_errors.h"
#include "srv_node_int.h"
#include "srv_peer.h"
#include "url.h"

#include "cairnpb/peer.pb-c.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FORWARDS_MAX       8     /* membership calls being forwarded at once */
#define FORWARD_TIMEOUT_MS 10000 /* a forwarded call's deadline */
#define LEARNER_READY_PCT  90    /* etcd's readyPercent: learner match vs the leader's */
#define HEALTH_MS          5000  /* etcd's HealthInterval: a peer heard within it is active */

#define ERR_URLS_INVALID "etcdserver: given member URLs are invalid"
#define ERR_URLS_EXIST   "etcdserver: Peer URLs already exists"
#define ERR_NOT_STARTED  "etcdserver: re-configuration failed due to not enough started members"
#define ERR_NOT_LEARNER  "etcdserver: can only promote a learner member"
#define ERR_LEARNER_BEHIND                                                                         \
    "etcdserver: can only promote a learner member which is in sync with leader"
#define ERR_LEARNERS_MAX "etcdserver: too many learner members in cluster"
#define ERR_UNHEALTHY    "etcdserver: unhealthy cluster"

static atomic_int forwards;

static struct srv_node *node_of(struct srv_call *call)
{
    return srv_call_user(call);
}

static void *arena_alloc(struct srv_call *call, size_t size)
{
    ProtobufCAllocator *a = srv_call_allocator(call);
    return a->alloc(a->allocator_data, size);
}

static int cmp_member(const void *a, const void *b)
{
    uint64_t x = (*(Etcdserverpb__Member *const *)a)->id;
    uint64_t y = (*(Etcdserverpb__Member *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* Every member, by id as etcd lists them, as etcdserverpb.Member from the call's arena. */
static int members_pb(struct srv_node *n, struct srv_call *call, Etcdserverpb__Member ***out,
                      size_t *count)
{
    struct srv_cluster *c = n->cluster;
    ProtobufCAllocator *a = srv_call_allocator(call);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    size_t k = c->n_members;
    Etcdserverpb__Member **ms = arena_alloc(call, (k ? k : 1) * sizeof(*ms));
    Etcdserverpb__Member *blk = arena_alloc(call, (k ? k : 1) * sizeof(*blk));
    if (!ms || !blk)
        rc = CAIRN_ENOMEM;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        rc = srv_cluster_member_pb(c, &c->members[i], a, &blk[i]);
        ms[i] = &blk[i];
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == 0 && k > 1)
        qsort(ms, k, sizeof(*ms), cmp_member);
    *out = ms;
    *count = rc == 0 ? k : 0;
    return rc;
}

/* ---- MemberList ---- */

static void on_member_list(struct srv_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    struct srv_node *n = node_of(call);
    Etcdserverpb__MemberListResponse resp = ETCDSERVERPB__MEMBER_LIST_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    resp.header = &h;
    srv_node_header(n, &h, 0); /* etcd's Cluster answers carry no revision */
    if (members_pb(n, call, &resp.members, &resp.n_members) < 0) {
        srv_call_fail_code(call, CAIRN_ENOMEM);
        return;
    }
    srv_call_reply(call, &resp.base);
}

/* ---- changes: validation, forwarding, submission ---- */

static const char *op_path(int op)
{
    switch (op) {
    case SRV_MEMBER_ADD:
        return "/etcdserverpb.Cluster/MemberAdd";
    case SRV_MEMBER_REMOVE:
        return "/etcdserverpb.Cluster/MemberRemove";
    case SRV_MEMBER_UPDATE:
        return "/etcdserverpb.Cluster/MemberUpdate";
    default:
        CAIRN_ASSERT(op == SRV_MEMBER_PROMOTE);
        return "/etcdserverpb.Cluster/MemberPromote";
    }
}

static const ProtobufCMessageDescriptor *op_resp(int op)
{
    switch (op) {
    case SRV_MEMBER_ADD:
        return &etcdserverpb__member_add_response__descriptor;
    case SRV_MEMBER_REMOVE:
        return &etcdserverpb__member_remove_response__descriptor;
    case SRV_MEMBER_UPDATE:
        return &etcdserverpb__member_update_response__descriptor;
    default:
        CAIRN_ASSERT(op == SRV_MEMBER_PROMOTE);
        return &etcdserverpb__member_promote_response__descriptor;
    }
}

struct fwd_job {
    struct srv_node *n;
    struct srv_call *call;
    int op;
    const ProtobufCMessage *req; /* in the call's arena, alive while we hold the call */
    uint64_t lead;
};

static void *forward_thread(void *arg)
{
    struct fwd_job *j = arg;
    char urls[SRV_MEMBER_URLS_MAX], target[SRV_PEER_TARGET_MAX];
    ProtobufCMessage *resp = NULL;
    int status = 0;
    char msg[256] = "";
    int rc = srv_cluster_peer_urls(j->n, j->lead, urls, sizeof(urls));
    if (rc == 0)
        rc = srv_peer_target(urls, target, sizeof(target));
    static const char *const md[2] = {SRV_PEER_MD_FORWARDED, "1"};
    if (rc == 0)
        rc = srv_peer_call(target, op_path(j->op), j->req, op_resp(j->op), md, 1,
                           FORWARD_TIMEOUT_MS, &resp, &status, msg, sizeof(msg));
    if (rc == 0) {
        srv_call_reply(j->call, resp);
        protobuf_c_message_free_unpacked(resp, NULL);
    } else if (status != 0 && msg[0] && status != SRV_DEADLINE_EXCEEDED &&
               status != SRV_UNAVAILABLE) {
        srv_call_fail(j->call, (enum srv_status)status, msg); /* the leader's own answer */
    } else {
        srv_call_fail_code(j->call, CAIRN_ETIMEOUT);
    }
    srv_call_unref(j->call);
    free(j);
    atomic_fetch_sub(&forwards, 1);
    return NULL;
}

static void forward(struct srv_node *n, struct srv_call *call, int op, const ProtobufCMessage *req,
                    uint64_t lead)
{
    if (atomic_fetch_add(&forwards, 1) >= FORWARDS_MAX) {
        atomic_fetch_sub(&forwards, 1);
        srv_call_fail_code(call, CAIRN_EDROPPED);
        return;
    }
    struct fwd_job *j = malloc(sizeof(*j));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    if (j) {
        *j = (struct fwd_job){n, call, op, req, lead};
        srv_call_ref(call);
    }
    if (!j || pthread_create(&th, &attr, forward_thread, j) != 0) {
        if (j)
            srv_call_unref(call);
        free(j);
        atomic_fetch_sub(&forwards, 1);
        srv_call_fail_code(call, CAIRN_ENOMEM);
    }
    pthread_attr_destroy(&attr);
}

static int urls_ok(char *const *urls, size_t n)
{
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct cairn_url u;
        if (!urls[i] || cairn_url_parse(urls[i], strlen(urls[i]), &u) < 0 || u.tls)
            return 0;
    }
    return 1;
}

static void submit_change(struct srv_call *call, int op, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    struct srv_pub p;
    srv_node_pub(n, &p);
    size_t len = 0;
    int forwarded = srv_call_metadata(call, SRV_PEER_MD_FORWARDED, &len) != NULL;
    if (p.role != RAFT_LEADER && !forwarded) {
        if (p.lead == 0)
            srv_call_fail_code(call, CAIRN_ENOLEADER);
        else
            forward(n, call, op, msg, p.lead);
        return;
    }
    struct srv_req *r = srv_node_call_req(call, SRV_REQ_MEMBER);
    if (!r)
        return;
    r->id = atomic_fetch_add(&n->next_id, 1);
    r->member_op = op;
    r->member_req = msg;
    srv_node_submit(n, r);
}

static void on_member_add(struct srv_call *call, const ProtobufCMessage *msg)
{
    const Etcdserverpb__MemberAddRequest *req = (const Etcdserverpb__MemberAddRequest *)msg;
    if (!urls_ok(req->peerurls, req->n_peerurls)) {
        srv_call_fail(call, SRV_INVALID_ARGUMENT, ERR_URLS_INVALID);
        return;
    }
    submit_change(call, SRV_MEMBER_ADD, msg);
}

static void on_member_remove(struct srv_call *call, const ProtobufCMessage *msg)
{
    submit_change(call, SRV_MEMBER_REMOVE, msg);
}

static void on_member_update(struct srv_call *call, const ProtobufCMessage *msg)
{
    const Etcdserverpb__MemberUpdateRequest *req = (const Etcdserverpb__MemberUpdateRequest *)msg;
    if (!urls_ok(req->peerurls, req->n_peerurls)) {
        srv_call_fail(call, SRV_INVALID_ARGUMENT, ERR_URLS_INVALID);
        return;
    }
    submit_change(call, SRV_MEMBER_UPDATE, msg);
}

static void on_member_promote(struct srv_call *call, const ProtobufCMessage *msg)
{
    submit_change(call, SRV_MEMBER_PROMOTE, msg);
}

/* ---- the leader's side (node thread) ---- */

enum { CHANGE_DONE = 0, CHANGE_BUSY = 1 };
#define ANSWERED 1 /* a change_* function answered the call itself */

static const struct raft_progress_status *progress_of(const struct raft_status *st, uint64_t id)
{
    for (uint32_t i = 0; i < st->n_progress; i++)
        if (st->progress[i].id == id)
            return &st->progress[i];
    return NULL;
}

/* Voters heard from within etcd's HealthInterval (the leader counts itself), but `skip`. */
static uint32_t active_voters(const struct srv_node *n, const struct raft_status *st, uint64_t skip)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < st->conf.n_voters; i++) {
        uint64_t id = st->conf.voters[i];
        if (id != skip && (id == n->member_id || srv_node_heard_within(n, id, HEALTH_MS)))
            k++;
    }
    return k;
}

/* etcd's IsReadyToAddVotingMember / IsReadyToPromoteMember: the started (published) voters,
 * plus the learner being promoted, reach the quorum of the grown configuration. Adding a
 * second voter to a one-member cluster is allowed (etcd's restore case). */
static int ready_for_voter(const struct srv_cluster *c, int promote)
{
    uint32_t members = 1, started = promote ? 1 : 0;
    for (uint32_t i = 0; i < c->conf.n_voters; i++) {
        const struct srv_member *m = srv_cluster_find(c, c->conf.voters[i]);
        members++;
        started += m && m->client_urls[0];
    }
    if (!promote && started == 1 && members == 2)
        return 1;
    return started >= members / 2 + 1;
}

static uint64_t new_member_id(struct srv_node *n, const char *urls)
{
    struct srv_cluster *c = n->cluster;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char seed[SRV_MEMBER_URLS_MAX + 64];
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(seed, sizeof(seed), "%s|%" PRIx64 "|%lld.%ld|%d", urls, n->member_id,
                 (long long)ts.tv_sec, ts.tv_nsec, attempt);
        uint64_t id = srv_cluster_member_id(seed, n->cfg.initial_cluster_token);
        int taken = srv_cluster_find(c, id) != NULL;
        for (size_t i = 0; i < c->n_removed; i++)
            taken |= c->removed[i] == id;
        if (!taken)
            return id;
    }
    CAIRN_ASSERT(!"new_member_id: no free id in 100 attempts");
    return 0;
}

/* A member (other than skip) already using one of urls (comma-separated, sorted)? */
static int urls_taken(const struct srv_cluster *c, const char *urls, uint64_t skip)
{
    char copy[SRV_MEMBER_URLS_MAX];
    snprintf(copy, sizeof(copy), "%s", urls);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        for (size_t i = 0; i < c->n_members; i++) {
            if (c->members[i].id == skip)
                continue;
            char theirs[SRV_MEMBER_URLS_MAX];
            snprintf(theirs, sizeof(theirs), "%s", c->members[i].peer_urls);
            for (char *s2 = NULL, *t2 = strtok_r(theirs, ",", &s2); t2;
                 t2 = strtok_r(NULL, ",", &s2))
                if (strcmp(tok, t2) == 0)
                    return 1;
        }
    }
    return 0;
}

static int propose_cc(struct srv_node *n, struct srv_req *req, uint8_t type, uint64_t id,
                      const struct srv_member *m, int learner)
{
    Cairnpb__ConfChangeContext ctx = CAIRNPB__CONF_CHANGE_CONTEXT__INIT;
    Etcdserverpb__Member pb;
    ctx.request_id = req->id;
    ctx.proposer = n->member_id;
    ProtobufCAllocator *a = srv_call_allocator(req->call);
    if (m) {
        if (srv_cluster_member_pb(NULL, m, a, &pb) < 0)
            return CAIRN_ENOMEM;
        pb.islearner = learner;
        ctx.member = &pb;
    }
    size_t len = cairnpb__conf_change_context__get_packed_size(&ctx);
    uint8_t *buf = a->alloc(a->allocator_data, len + 1);
    if (!buf)
        return CAIRN_ENOMEM;
    cairnpb__conf_change_context__pack(&ctx, buf);
    struct raft_conf_change cc;
    memset(&cc, 0, sizeof(cc));
    cc.transition = RAFT_CC_AUTO;
    cc.n_changes = 1;
    cc.changes[0].type = type;
    cc.changes[0].id = id;
    cc.context = buf;
    cc.context_len = (uint32_t)len;
    return raft_propose_conf_change(n->raft, &cc, NULL);
}

/* An InternalRequest carrying a ClusterRequest, proposed as a normal entry. */
static int propose_request(struct srv_node *n, ProtobufCAllocator *a, Cairnpb__ClusterRequest *cr)
{
    size_t clen = cairnpb__cluster_request__get_packed_size(cr);
    uint8_t *cbuf = a ? a->alloc(a->allocator_data, clen + 1) : malloc(clen + 1);
    if (!cbuf)
        return CAIRN_ENOMEM;
    cairnpb__cluster_request__pack(cr, cbuf);
    Cairnpb__InternalRequest ir = CAIRNPB__INTERNAL_REQUEST__INIT;
    Cairnpb__RequestHeader hdr = CAIRNPB__REQUEST_HEADER__INIT;
    hdr.member_id = n->member_id; /* id 0: answered through the cluster effect, not here */
    ir.header = &hdr;
    ir.request_case = CAIRNPB__INTERNAL_REQUEST__REQUEST_CLUSTER;
    ir.cluster.data = cbuf;
    ir.cluster.len = clen;
    size_t len = cairnpb__internal_request__get_packed_size(&ir);
    uint8_t *buf = a ? a->alloc(a->allocator_data, len + 1) : malloc(len + 1);
    int rc = CAIRN_ENOMEM;
    if (buf) {
        cairnpb__internal_request__pack(&ir, buf);
        struct raft_proposal prop = {buf, (uint32_t)len};
        rc = raft_propose(n->raft, &prop, 1, NULL);
    }
    if (!a) {
        free(cbuf);
        free(buf);
    }
    return rc;
}

static int fail(struct srv_req *req, enum srv_status code, const char *msg)
{
    srv_call_fail(req->call, code, msg);
    return ANSWERED;
}

static int change_add(struct srv_node *n, struct srv_req *req, const struct raft_status *st)
{
    struct srv_cluster *c = n->cluster;
    const Etcdserverpb__MemberAddRequest *r =
        (const Etcdserverpb__MemberAddRequest *)req->member_req;
    struct srv_member m;
    memset(&m, 0, sizeof(m));
    if (srv_cluster_join_urls(r->peerurls, r->n_peerurls, m.peer_urls, sizeof(m.peer_urls)) < 0 ||
        srv_cluster_sort_urls(m.peer_urls, sizeof(m.peer_urls)) < 0)
        return fail(req, SRV_INVALID_ARGUMENT, ERR_URLS_INVALID);
    pthread_mutex_lock(&c->mu);
    int taken = urls_taken(c, m.peer_urls, 0);
    int ready = ready_for_voter(c, 0);
    if (!taken)
        m.id = new_member_id(n, m.peer_urls);
    pthread_mutex_unlock(&c->mu);
    if (taken)
        return fail(req, SRV_FAILED_PRECONDITION, ERR_URLS_EXIST);
    if (r->islearner && st->conf.n_learners >= SRV_LEARNERS_MAX)
        return fail(req, SRV_FAILED_PRECONDITION, ERR_LEARNERS_MAX);
    if (!r->islearner && !ready)
        return fail(req, SRV_FAILED_PRECONDITION, ERR_NOT_STARTED);
    return propose_cc(n, req, r->islearner ? RAFT_CC_ADD_LEARNER : RAFT_CC_ADD_VOTER, m.id, &m,
                      r->islearner);
}

static int is_voter(const struct raft_conf_state *cs, uint64_t id)
{
    for (uint32_t i = 0; i < cs->n_voters; i++)
        if (cs->voters[i] == id)
            return 1;
    return 0;
}

static int change_remove(struct srv_node *n, struct srv_req *req, const struct raft_status *st)
{
    struct srv_cluster *c = n->cluster;
    uint64_t id = ((const Etcdserverpb__MemberRemoveRequest *)req->member_req)->id;
    pthread_mutex_lock(&c->mu);
    int known = srv_cluster_find(c, id) != NULL;
    pthread_mutex_unlock(&c->mu);
    if (!known)
        return fail(req, SRV_NOT_FOUND, SRV_ERR_MEMBER_NOT_FOUND);
    if (is_voter(&st->conf, id)) {
        uint32_t left = st->conf.n_voters - 1;
        if (left == 0 || active_voters(n, st, id) < left / 2 + 1)
            return fail(req, SRV_UNAVAILABLE, ERR_UNHEALTHY);
    }
    return propose_cc(n, req, RAFT_CC_REMOVE, id, NULL, 0);
}

static int change_promote(struct srv_node *n, struct srv_req *req, const struct raft_status *st)
{
    struct srv_cluster *c = n->cluster;
    uint64_t id = ((const Etcdserverpb__MemberPromoteRequest *)req->member_req)->id;
    pthread_mutex_lock(&c->mu);
    int known = srv_cluster_find(c, id) != NULL;
    int learner = srv_cluster_is_learner(c, id);
    int ready = ready_for_voter(c, 1);
    pthread_mutex_unlock(&c->mu);
    if (!known)
        return fail(req, SRV_NOT_FOUND, SRV_ERR_MEMBER_NOT_FOUND);
    if (!learner)
        return fail(req, SRV_FAILED_PRECONDITION, ERR_NOT_LEARNER);
    const struct raft_progress_status *lp = progress_of(st, id);
    uint64_t leader_match = st->last_index;
    if (!lp || (double)lp->match < (double)leader_match * LEARNER_READY_PCT / 100.0)
        return fail(req, SRV_FAILED_PRECONDITION, ERR_LEARNER_BEHIND);
    if (!ready)
        return fail(req, SRV_FAILED_PRECONDITION, ERR_NOT_STARTED);
    return propose_cc(n, req, RAFT_CC_ADD_VOTER, id, NULL, 0);
}

static int change_update(struct srv_node *n, struct srv_req *req)
{
    struct srv_cluster *c = n->cluster;
    const Etcdserverpb__MemberUpdateRequest *r =
        (const Etcdserverpb__MemberUpdateRequest *)req->member_req;
    char urls[SRV_MEMBER_URLS_MAX];
    if (srv_cluster_join_urls(r->peerurls, r->n_peerurls, urls, sizeof(urls)) < 0 ||
        srv_cluster_sort_urls(urls, sizeof(urls)) < 0)
        return fail(req, SRV_INVALID_ARGUMENT, ERR_URLS_INVALID);
    pthread_mutex_lock(&c->mu);
    int known = srv_cluster_find(c, r->id) != NULL;
    int taken = urls_taken(c, urls, r->id);
    pthread_mutex_unlock(&c->mu);
    if (!known)
        return fail(req, SRV_NOT_FOUND, SRV_ERR_MEMBER_NOT_FOUND);
    if (taken)
        return fail(req, SRV_FAILED_PRECONDITION, ERR_URLS_EXIST);
    Cairnpb__ClusterRequest cr = CAIRNPB__CLUSTER_REQUEST__INIT;
    Cairnpb__MemberPeerUpdate up = CAIRNPB__MEMBER_PEER_UPDATE__INIT;
    cr.request_id = req->id;
    cr.proposer = n->member_id;
    cr.request_case = CAIRNPB__CLUSTER_REQUEST__REQUEST_UPDATE;
    cr.update = &up;
    up.id = r->id;
    up.peer_urls = r->peerurls;
    up.n_peer_urls = r->n_peerurls;
    return propose_request(n, srv_call_allocator(req->call), &cr);
}

/* CHANGE_DONE (proposed and waiting, or answered) or CHANGE_BUSY (retry later). */
static int try_change(struct srv_node *n, struct srv_req *req)
{
    struct raft_status st;
    raft_status(n->raft, &st);
    if (st.role != RAFT_LEADER) {
        srv_call_fail(req->call, SRV_FAILED_PRECONDITION, SRV_ERR_NOT_LEADER);
        return CHANGE_DONE;
    }
    int rc;
    switch (req->member_op) {
    case SRV_MEMBER_ADD:
        rc = change_add(n, req, &st);
        break;
    case SRV_MEMBER_REMOVE:
        rc = change_remove(n, req, &st);
        break;
    case SRV_MEMBER_PROMOTE:
        rc = change_promote(n, req, &st);
        break;
    default:
        CAIRN_ASSERT(req->member_op == SRV_MEMBER_UPDATE);
        rc = change_update(n, req);
        break;
    }
    if (rc == ANSWERED)
        return CHANGE_DONE;
    if (rc == 0) { /* in the log: answered when it is applied */
        srv_node_wait(n, req);
        return CHANGE_DONE;
    }
    if (rc == CAIRN_EBUSY || rc == CAIRN_EDROPPED)
        return CHANGE_BUSY; /* a change is still being applied, or a transfer runs */
    srv_call_fail_code(req->call, rc);
    return CHANGE_DONE;
}

void srv_cluster_handle(struct srv_node *n, struct srv_req *req)
{
    CAIRN_ASSERT(req->kind == SRV_REQ_MEMBER && req->call != NULL);
    if (try_change(n, req) == CHANGE_BUSY) {
        req->next = n->cluster->retry;
        n->cluster->retry = req;
    }
}

void srv_cluster_answer(struct srv_node *n, struct srv_req *req,
                        const struct srv_cluster_effect *fx)
{
    struct srv_call *call = req->call;
    CAIRN_ASSERT(call != NULL && req->kind == SRV_REQ_MEMBER);
    if (fx->err == CAIRN_ENOTFOUND) {
        srv_call_fail(call, SRV_NOT_FOUND, SRV_ERR_MEMBER_NOT_FOUND);
        return;
    }
    if (fx->err < 0) {
        srv_call_fail_code(call, fx->err);
        return;
    }
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    srv_node_header(n, &h, 0);
    Etcdserverpb__Member **ms = NULL;
    size_t k = 0;
    if (members_pb(n, call, &ms, &k) < 0) {
        srv_call_fail_code(call, CAIRN_ENOMEM);
        return;
    }
    switch (req->member_op) {
    case SRV_MEMBER_ADD: {
        Etcdserverpb__MemberAddResponse resp = ETCDSERVERPB__MEMBER_ADD_RESPONSE__INIT;
        resp.header = &h;
        resp.members = ms;
        resp.n_members = k;
        for (size_t i = 0; i < k; i++)
            if (ms[i]->id == fx->added_id)
                resp.member = ms[i];
        srv_call_reply(call, &resp.base);
        return;
    }
    case SRV_MEMBER_REMOVE: {
        Etcdserverpb__MemberRemoveResponse resp = ETCDSERVERPB__MEMBER_REMOVE_RESPONSE__INIT;
        resp.header = &h;
        resp.members = ms;
        resp.n_members = k;
        srv_call_reply(call, &resp.base);
        return;
    }
    case SRV_MEMBER_UPDATE: {
        Etcdserverpb__MemberUpdateResponse resp = ETCDSERVERPB__MEMBER_UPDATE_RESPONSE__INIT;
        resp.header = &h;
        resp.members = ms;
        resp.n_members = k;
        srv_call_reply(call, &resp.base);
        return;
    }
    default: {
        Etcdserverpb__MemberPromoteResponse resp = ETCDSERVERPB__MEMBER_PROMOTE_RESPONSE__INIT;
        resp.header = &h;
        resp.members = ms;
        resp.n_members = k;
        srv_call_reply(call, &resp.base);
        return;
    }
    }
}

/* ---- publishing this member's name and client URLs ---- */

static int published(struct srv_node *n)
{
    struct srv_cluster *c = n->cluster;
    pthread_mutex_lock(&c->mu);
    const struct srv_member *m = srv_cluster_find(c, n->member_id);
    int ok = m && strcmp(m->name, n->cfg.name) == 0 &&
             strcmp(m->client_urls, n->cfg.advertise_client_urls) == 0;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void publish(struct srv_node *n)
{
    char copy[SRV_STR_MAX];
    snprintf(copy, sizeof(copy), "%s", n->cfg.advertise_client_urls);
    char *urls[32];
    size_t k = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && k < 32;
         tok = strtok_r(NULL, ",", &save))
        urls[k++] = tok;
    Cairnpb__ClusterRequest cr = CAIRNPB__CLUSTER_REQUEST__INIT;
    Cairnpb__MemberAttributes at = CAIRNPB__MEMBER_ATTRIBUTES__INIT;
    cr.proposer = n->member_id;
    cr.request_case = CAIRNPB__CLUSTER_REQUEST__REQUEST_ATTRIBUTES;
    cr.attributes = &at;
    at.id = n->member_id;
    at.name = n->cfg.name;
    at.client_urls = urls;
    at.n_client_urls = k;
    (void)propose_request(n, NULL, &cr); /* no leader yet: retried at the next tick */
}

void srv_cluster_tick(struct srv_node *n)
{
    struct srv_cluster *c = n->cluster;
    uint64_t now = srv_now_ms();
    struct srv_req *r = c->retry;
    c->retry = NULL;
    for (int i = 0; r && i < (1 << 20); i++) {
        struct srv_req *next = r->next;
        r->next = NULL;
        if (now >= r->deadline_ms) {
            srv_call_fail_code(r->call, CAIRN_ETIMEOUT);
        } else if (try_change(n, r) == CHANGE_BUSY) {
            r->next = c->retry;
            c->retry = r;
        }
        r = next;
    }
    if (now < c->next_publish_ms)
        return;
    struct srv_pub p;
    srv_node_pub(n, &p);
    if (p.lead == 0)
        return; /* as soon as there is a leader */
    if (published(n)) {
        c->next_publish_ms = UINT64_MAX; /* attributes do not change while running */
        return;
    }
    c->next_publish_ms = now + SRV_PUBLISH_RETRY_MS;
    publish(n);
}

void srv_cluster_fail_pending(struct srv_node *n, int code)
{
    struct srv_cluster *c = n->cluster;
    for (int i = 0; c->retry && i < (1 << 20); i++) {
        struct srv_req *r = c->retry;
        c->retry = r->next;
        srv_call_fail_code(r->call, code);
    }
}

const struct srv_method srv_cluster_methods[] = {
    {"/etcdserverpb.Cluster/MemberList", SRV_UNARY, &etcdserverpb__member_list_request__descriptor,
     NULL, on_member_list, NULL},
    {"/etcdserverpb.Cluster/MemberAdd", SRV_UNARY, &etcdserverpb__member_add_request__descriptor,
     NULL, on_member_add, NULL},
    {"/etcdserverpb.Cluster/MemberRemove", SRV_UNARY,
     &etcdserverpb__member_remove_request__descriptor, NULL, on_member_remove, NULL},
    {"/etcdserverpb.Cluster/MemberUpdate", SRV_UNARY,
     &etcdserverpb__member_update_request__descriptor, NULL, on_member_update, NULL},
    {"/etcdserverpb.Cluster/MemberPromote", SRV_UNARY,
     &etcdserverpb__member_promote_request__descriptor, NULL, on_member_promote, NULL},
};
const size_t srv_cluster_n_methods = CAIRN_ARRAY_LEN(srv_cluster_methods);
