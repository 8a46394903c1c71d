/* etcdserverpb.Maintenance, etcdserverpb.Cluster (MemberList) and grpc.health.v1.Health. */
#include "srv_errors.h"
#include "srv_node_int.h"
#include "srv_snapshot.h"

#include "common.h"

#include "grpc/health/v1/health.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct srv_node *node_of(struct srv_call *call)
{
    return srv_call_user(call);
}

static void *arena_alloc(struct srv_call *call, size_t size)
{
    ProtobufCAllocator *a = srv_call_allocator(call);
    return a->alloc(a->allocator_data, size);
}

static int current_state(struct srv_node *n, struct store_state *st)
{
    struct store_read *rd;
    int rc = store_read_begin(n->store, &rd);
    if (rc < 0)
        return rc;
    rc = store_read_state(rd, st);
    store_read_end(rd);
    return rc;
}

/* ---- Status ---- */

static void on_status(struct srv_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    struct srv_node *n = node_of(call);
    struct srv_pub p;
    srv_node_pub(n, &p);
    struct store_state st;
    struct store_size sz;
    int rc = current_state(n, &st);
    if (rc == 0)
        rc = store_size(n->store, &sz);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
        return;
    }
    Etcdserverpb__StatusResponse resp = ETCDSERVERPB__STATUS_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    resp.header = &h;
    srv_node_header(n, &h, st.revision);
    resp.version = (char *)SRV_VERSION_STRING;
    resp.dbsize = (int64_t)sz.db_bytes;
    resp.dbsizeinuse = (int64_t)sz.in_use_bytes;
    resp.dbsizequota = (int64_t)sz.quota_bytes;
    resp.leader = p.lead;
    resp.raftindex = p.commit;
    resp.raftterm = p.term;
    resp.raftappliedindex = p.applied;
    resp.islearner = p.is_learner;
    char *errs[2];
    if (st.alarm_nospace)
        errs[resp.n_errors++] = (char *)"memberID:0 alarm:NOSPACE";
    if (st.alarm_corrupt)
        errs[resp.n_errors++] = (char *)"memberID:0 alarm:CORRUPT";
    resp.errors = errs;
    srv_call_reply(call, &resp.base);
}

/* ---- Alarm ---- */

static void on_alarm(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    Etcdserverpb__AlarmRequest *req = (Etcdserverpb__AlarmRequest *)msg;
    if (req->action != ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET) {
        srv_node_propose(n, call, CAIRNPB__INTERNAL_REQUEST__REQUEST_ALARM, &req->base);
        return;
    }
    struct store_read *rd;
    int rc = store_read_begin(n->store, &rd);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
        return;
    }
    struct store_state st;
    Etcdserverpb__AlarmResponse *resp = NULL;
    rc = store_read_state(rd, &st);
    if (rc == 0)
        rc = store_alarm_list(rd, srv_call_allocator(call), &resp);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
    } else {
        if (!resp->header) {
            resp->header = arena_alloc(call, sizeof(*resp->header));
            if (resp->header)
                etcdserverpb__response_header__init(resp->header);
        }
        if (resp->header)
            srv_node_header(n, resp->header, st.revision);
        srv_call_reply(call, &resp->base);
    }
    store_read_end(rd);
}

/* ---- Hash, HashKV ---- */

static void hash_reply(struct srv_call *call, int64_t revision, int kv)
{
    struct srv_node *n = node_of(call);
    struct store_read *rd;
    int rc = store_read_begin(n->store, &rd);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
        return;
    }
    struct store_state st;
    uint32_t hash = 0;
    int64_t compact_rev = 0, hash_rev = 0;
    rc = store_read_state(rd, &st);
    if (rc == 0)
        rc = store_hash_kv(rd, revision, &hash, &compact_rev, &hash_rev);
    store_read_end(rd);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
        return;
    }
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    srv_node_header(n, &h, st.revision);
    if (kv) {
        Etcdserverpb__HashKVResponse resp = ETCDSERVERPB__HASH_KVRESPONSE__INIT;
        resp.header = &h;
        resp.hash = hash;
        resp.compact_revision = compact_rev;
        resp.hash_revision = hash_rev;
        srv_call_reply(call, &resp.base);
    } else {
        Etcdserverpb__HashResponse resp = ETCDSERVERPB__HASH_RESPONSE__INIT;
        resp.header = &h;
        resp.hash = hash;
        srv_call_reply(call, &resp.base);
    }
}

static void on_hash(struct srv_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    hash_reply(call, 0, 0);
}

static void on_hash_kv(struct srv_call *call, const ProtobufCMessage *msg)
{
    hash_reply(call, ((const Etcdserverpb__HashKVRequest *)msg)->revision, 1);
}

/* ---- work for the node thread: Defragment, MoveLeader ---- */

static void submit_simple(struct srv_call *call, enum srv_req_kind kind, uint64_t target)
{
    struct srv_req *r = arena_alloc(call, sizeof(*r));
    if (!r) {
        srv_call_fail_code(call, CAIRN_ENOMEM);
        return;
    }
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->call = call;
    r->target = target;
    srv_node_submit(node_of(call), r);
}

static void on_defragment(struct srv_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    submit_simple(call, SRV_REQ_DEFRAG, 0);
}

static void on_move_leader(struct srv_call *call, const ProtobufCMessage *msg)
{
    submit_simple(call, SRV_REQ_MOVE_LEADER,
                  ((const Etcdserverpb__MoveLeaderRequest *)msg)->targetid);
}

void srv_maint_handle(struct srv_node *n, struct srv_req *r)
{
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    struct store_state st = {0};
    if (r->kind == SRV_REQ_DEFRAG) {
        struct store_defrag_report rep;
        int rc = store_defrag(n->store, &rep);
        if (rc < 0) {
            srv_call_fail_code(r->call, rc);
            return;
        }
        fprintf(stderr,
                "cairnd: defragmented: %" PRIu64 " -> %" PRIu64 " bytes, writes blocked %" PRIu64
                " us, reads blocked %" PRIu64 " us\n",
                rep.db_bytes_before, rep.db_bytes_after, rep.writes_blocked_us,
                rep.reads_blocked_us);
        current_state(n, &st);
        srv_node_header(n, &h, st.revision);
        Etcdserverpb__DefragmentResponse resp = ETCDSERVERPB__DEFRAGMENT_RESPONSE__INIT;
        resp.header = &h;
        srv_call_reply(r->call, &resp.base);
        return;
    }
    if (r->kind == SRV_REQ_MOVE_LEADER) {
        struct raft_status rs;
        raft_status(n->raft, &rs);
        if (rs.role != RAFT_LEADER) {
            srv_call_fail_code(r->call, CAIRN_ENOTLEADER);
            return;
        }
        int voter = 0;
        for (uint32_t i = 0; i < rs.conf.n_voters; i++)
            voter |= rs.conf.voters[i] == r->target;
        if (!voter) {
            srv_call_fail(r->call, SRV_FAILED_PRECONDITION, SRV_ERR_BAD_TRANSFEREE);
            return;
        }
        if (r->target != n->member_id) {
            int rc = raft_transfer_leader(n->raft, r->target);
            if (rc < 0) {
                srv_call_fail_code(r->call, rc);
                return;
            }
        }
        current_state(n, &st);
        srv_node_header(n, &h, st.revision);
        Etcdserverpb__MoveLeaderResponse resp = ETCDSERVERPB__MOVE_LEADER_RESPONSE__INIT;
        resp.header = &h;
        srv_call_reply(r->call, &resp.base);
        return;
    }
    srv_call_fail_code(r->call, CAIRN_EUNSUPPORTED);
}

/* ---- Snapshot ---- */

static void on_snapshot(struct srv_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    srv_snapshot_stream_start(node_of(call), call);
}

/* ---- Cluster.MemberList ---- */

static char **split_urls(struct srv_call *call, const char *urls, size_t *n_out)
{
    size_t count = 1;
    for (const char *p = urls; *p; p++)
        count += *p == ',';
    char **out = arena_alloc(call, count * sizeof(*out));
    char *copy = arena_alloc(call, strlen(urls) + 1);
    if (!out || !copy)
        return NULL;
    strcpy(copy, urls);
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && n < count;
         tok = strtok_r(NULL, ",", &save))
        out[n++] = tok;
    *n_out = n;
    return out;
}

static void on_member_list(struct srv_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    struct srv_node *n = node_of(call);
    struct srv_pub p;
    srv_node_pub(n, &p);
    struct store_state st = {0};
    current_state(n, &st);
    Etcdserverpb__Member m = ETCDSERVERPB__MEMBER__INIT;
    Etcdserverpb__Member *ms[1] = {&m};
    m.id = n->member_id;
    m.name = n->cfg.name;
    m.peerurls = split_urls(call, n->cfg.initial_advertise_peer_urls, &m.n_peerurls);
    m.clienturls = split_urls(call, n->cfg.advertise_client_urls, &m.n_clienturls);
    m.islearner = p.is_learner;
    if (!m.peerurls || !m.clienturls) {
        srv_call_fail_code(call, CAIRN_ENOMEM);
        return;
    }
    Etcdserverpb__MemberListResponse resp = ETCDSERVERPB__MEMBER_LIST_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    resp.header = &h;
    srv_node_header(n, &h, st.revision);
    resp.members = ms;
    resp.n_members = 1;
    srv_call_reply(call, &resp.base);
}

/* Membership changes arrive with the cluster issue; until then a clear error. */
static void on_member_change(struct srv_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    srv_call_fail(call, SRV_UNIMPLEMENTED,
                  "cairn: membership changes are not supported by this build yet");
}

/* ---- grpc.health.v1.Health ---- */

static void on_health(struct srv_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    srv_call_reply(call, &resp.base);
}

const struct srv_method srv_maint_methods[] = {
    {"/etcdserverpb.Maintenance/Alarm", SRV_UNARY, &etcdserverpb__alarm_request__descriptor, NULL,
     on_alarm, NULL},
    {"/etcdserverpb.Maintenance/Status", SRV_UNARY, &etcdserverpb__status_request__descriptor, NULL,
     on_status, NULL},
    {"/etcdserverpb.Maintenance/Defragment", SRV_UNARY,
     &etcdserverpb__defragment_request__descriptor, NULL, on_defragment, NULL},
    {"/etcdserverpb.Maintenance/Hash", SRV_UNARY, &etcdserverpb__hash_request__descriptor, NULL,
     on_hash, NULL},
    {"/etcdserverpb.Maintenance/HashKV", SRV_UNARY, &etcdserverpb__hash_kvrequest__descriptor, NULL,
     on_hash_kv, NULL},
    {"/etcdserverpb.Maintenance/Snapshot", SRV_SERVER_STREAM,
     &etcdserverpb__snapshot_request__descriptor, NULL, on_snapshot, NULL},
    {"/etcdserverpb.Maintenance/MoveLeader", SRV_UNARY,
     &etcdserverpb__move_leader_request__descriptor, NULL, on_move_leader, NULL},
    {"/etcdserverpb.Cluster/MemberList", SRV_UNARY, &etcdserverpb__member_list_request__descriptor,
     NULL, on_member_list, NULL},
    {"/etcdserverpb.Cluster/MemberAdd", SRV_UNARY, &etcdserverpb__member_add_request__descriptor,
     NULL, on_member_change, NULL},
    {"/etcdserverpb.Cluster/MemberRemove", SRV_UNARY,
     &etcdserverpb__member_remove_request__descriptor, NULL, on_member_change, NULL},
    {"/etcdserverpb.Cluster/MemberUpdate", SRV_UNARY,
     &etcdserverpb__member_update_request__descriptor, NULL, on_member_change, NULL},
    {"/etcdserverpb.Cluster/MemberPromote", SRV_UNARY,
     &etcdserverpb__member_promote_request__descriptor, NULL, on_member_change, NULL},
    {"/grpc.health.v1.Health/Check", SRV_UNARY, &grpc__health__v1__health_check_request__descriptor,
     NULL, on_health, NULL},
};
const size_t srv_maint_n_methods = CAIRN_ARRAY_LEN(srv_maint_methods);
