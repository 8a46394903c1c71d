/* etcdserverpb.Maintenance and grpc.health.v1.Health (etcdserverpb.Cluster: srv_cluster_svc.c). */
#include "srv_errors.h"
#include "srv_log.h"
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
        resp->header = NULL; /* etcd 3.4 answers an alarm list without a header */
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
    struct srv_req *r = srv_node_call_req(call, kind);
    if (!r)
        return;
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
        srv_log(SRV_LOG_INFO,
                "defragmented: %" PRIu64 " -> %" PRIu64 " bytes, writes blocked %" PRIu64
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
        srv_node_move_leader(n, r); /* answered once the target leads */
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
    {"/grpc.health.v1.Health/Check", SRV_UNARY, &grpc__health__v1__health_check_request__descriptor,
     NULL, on_health, NULL},
};
const size_t srv_maint_n_methods = CAIRN_ARRAY_LEN(srv_maint_methods);
