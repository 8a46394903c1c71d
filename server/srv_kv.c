/* etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact. */
#include "srv_errors.h"
#include "srv_node_int.h"

#include "common.h"

#include <stdio.h>
#include <string.h>

static struct srv_node *node_of(struct srv_call *call)
{
    return srv_call_user(call);
}

/* etcd refuses requests over --max-request-bytes with "request is too large". */
static int too_large(struct srv_call *call)
{
    struct srv_node *n = node_of(call);
    if (srv_call_request_bytes(call) <= n->cfg.max_request_bytes)
        return 0;
    srv_call_fail_code(call, CAIRN_ETOOLARGE);
    return 1;
}

/* Memory admission (hard limit) for requests that grow memory. */
static int refused_by_memory(struct srv_call *call, enum alloc_subsys subsys, size_t bytes)
{
    if (alloc_admit(subsys, bytes) == 0)
        return 0;
    char msg[256];
    alloc_memlimit_message(subsys, bytes, msg, sizeof(msg));
    srv_call_fail(call, SRV_RESOURCE_EXHAUSTED, msg);
    return 1;
}

/* etcd's quota check before a write is proposed: past the quota the NOSPACE alarm is
 * raised through the log and the request gets "database space exceeded". */
static int refused_by_quota(struct srv_call *call, const struct store_op *op)
{
    struct srv_node *n = node_of(call);
    uint64_t cost = store_quota_cost(op);
    if (cost == 0 || store_quota_available(n->store, cost))
        return 0;
    Etcdserverpb__AlarmRequest alarm = ETCDSERVERPB__ALARM_REQUEST__INIT;
    alarm.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
    alarm.alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
    alarm.memberid = n->member_id;
    (void)srv_node_propose_internal(n, CAIRNPB__INTERNAL_REQUEST__REQUEST_ALARM, &alarm.base);
    srv_call_fail_code(call, CAIRN_ENOSPACE);
    return 1;
}

static void serve_range_local(struct srv_node *n, struct srv_call *call,
                              const Etcdserverpb__RangeRequest *req)
{
    struct store_read *rd;
    int rc = store_read_begin(n->store, &rd);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
        return;
    }
    Etcdserverpb__RangeResponse *resp = NULL;
    unsigned flags = srv_call_local_flags(call) & SRV_LOCAL_NO_COUNT ? STORE_RANGE_NO_COUNT : 0;
    rc = store_range_flags(rd, req, flags, srv_call_allocator(call), &resp);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
    } else {
        srv_node_header(n, resp->header, resp->header->revision);
        srv_call_reply(call, &resp->base); /* packed here, before the read txn ends */
    }
    store_read_end(rd);
}

static void on_range(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    const Etcdserverpb__RangeRequest *req = (const Etcdserverpb__RangeRequest *)msg;
    if (too_large(call))
        return;
    int rc = store_check_range(req);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
        return;
    }
    if (req->serializable || atomic_load(&n->reads_local)) {
        serve_range_local(n, call, req);
        return;
    }
    struct srv_req *r = srv_node_call_req(call, SRV_REQ_READ);
    if (!r)
        return;
    r->range = req;
    srv_node_submit(n, r);
}

static void on_put(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    Etcdserverpb__PutRequest *req = (Etcdserverpb__PutRequest *)msg;
    if (too_large(call))
        return;
    int rc = store_check_put(req);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
        return;
    }
    struct store_op op = {.kind = STORE_OP_PUT, .put = req};
    if (refused_by_quota(call, &op) ||
        refused_by_memory(call, ALLOC_SUBSYS_PROPOSALS, srv_call_request_bytes(call)))
        return;
    srv_node_propose(n, call, CAIRNPB__INTERNAL_REQUEST__REQUEST_PUT, &req->base);
}

static void on_delete_range(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    Etcdserverpb__DeleteRangeRequest *req = (Etcdserverpb__DeleteRangeRequest *)msg;
    if (too_large(call))
        return;
    int rc = store_check_delete_range(req);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
        return;
    }
    srv_node_propose(n, call, CAIRNPB__INTERNAL_REQUEST__REQUEST_DELETE_RANGE, &req->base);
}

static void on_txn(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    Etcdserverpb__TxnRequest *req = (Etcdserverpb__TxnRequest *)msg;
    if (too_large(call))
        return;
    int rc = store_check_txn(req, n->cfg.max_txn_ops);
    if (rc < 0) {
        srv_call_fail_code(call, rc);
        return;
    }
    struct store_op op = {.kind = STORE_OP_TXN, .txn = req};
    if (refused_by_quota(call, &op) ||
        refused_by_memory(call, ALLOC_SUBSYS_PROPOSALS, srv_call_request_bytes(call)))
        return;
    srv_node_propose(n, call, CAIRNPB__INTERNAL_REQUEST__REQUEST_TXN, &req->base);
}

static void on_compact(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    Etcdserverpb__CompactionRequest *req = (Etcdserverpb__CompactionRequest *)msg;
    srv_node_propose(n, call, CAIRNPB__INTERNAL_REQUEST__REQUEST_COMPACTION, &req->base);
}

const struct srv_method srv_kv_methods[] = {
    {"/etcdserverpb.KV/Range", SRV_UNARY, &etcdserverpb__range_request__descriptor, NULL, on_range,
     NULL},
    {"/etcdserverpb.KV/Put", SRV_UNARY, &etcdserverpb__put_request__descriptor, NULL, on_put, NULL},
    {"/etcdserverpb.KV/DeleteRange", SRV_UNARY, &etcdserverpb__delete_range_request__descriptor,
     NULL, on_delete_range, NULL},
    {"/etcdserverpb.KV/Txn", SRV_UNARY, &etcdserverpb__txn_request__descriptor, NULL, on_txn, NULL},
    {"/etcdserverpb.KV/Compact", SRV_UNARY, &etcdserverpb__compaction_request__descriptor, NULL,
     on_compact, NULL},
};
const size_t srv_kv_n_methods = CAIRN_ARRAY_LEN(srv_kv_methods);
