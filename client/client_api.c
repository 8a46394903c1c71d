/* Typed unary calls: each fills the request (where it takes plain arguments), names the
 * method and the response type, and goes through cairn_client_call_unary. */
#include "client.h"

#include "common.h"

#include "etcdserverpb/rpc.pb-c.h"

/* The response comes back as a ProtobufCMessage; hand it out as its generated type. */
#define UNARY_CALL(cl, path, req_msg, desc, type, resp, st)                                        \
    do {                                                                                           \
        CAIRN_ASSERT((resp) != NULL);                                                              \
        ProtobufCMessage *m_ = NULL;                                                               \
        int rc_ = cairn_client_call_unary((cl), (path), (req_msg), &(desc), &m_, 0, (st));         \
        *(resp) = (type *)m_;                                                                      \
        return rc_;                                                                                \
    } while (0)

int cairn_client_range(cairn_client *cl, const Etcdserverpb__RangeRequest *req,
                       Etcdserverpb__RangeResponse **resp, struct cairn_client_status *st)
{
    CAIRN_ASSERT(req != NULL);
    UNARY_CALL(cl, "/etcdserverpb.KV/Range", &req->base, etcdserverpb__range_response__descriptor,
               Etcdserverpb__RangeResponse, resp, st);
}

int cairn_client_put(cairn_client *cl, const Etcdserverpb__PutRequest *req,
                     Etcdserverpb__PutResponse **resp, struct cairn_client_status *st)
{
    CAIRN_ASSERT(req != NULL);
    UNARY_CALL(cl, "/etcdserverpb.KV/Put", &req->base, etcdserverpb__put_response__descriptor,
               Etcdserverpb__PutResponse, resp, st);
}

int cairn_client_delete_range(cairn_client *cl, const Etcdserverpb__DeleteRangeRequest *req,
                              Etcdserverpb__DeleteRangeResponse **resp,
                              struct cairn_client_status *st)
{
    CAIRN_ASSERT(req != NULL);
    UNARY_CALL(cl, "/etcdserverpb.KV/DeleteRange", &req->base,
               etcdserverpb__delete_range_response__descriptor, Etcdserverpb__DeleteRangeResponse,
               resp, st);
}

int cairn_client_txn(cairn_client *cl, const Etcdserverpb__TxnRequest *req,
                     Etcdserverpb__TxnResponse **resp, struct cairn_client_status *st)
{
    CAIRN_ASSERT(req != NULL);
    UNARY_CALL(cl, "/etcdserverpb.KV/Txn", &req->base, etcdserverpb__txn_response__descriptor,
               Etcdserverpb__TxnResponse, resp, st);
}

int cairn_client_compact(cairn_client *cl, const Etcdserverpb__CompactionRequest *req,
                         Etcdserverpb__CompactionResponse **resp, struct cairn_client_status *st)
{
    CAIRN_ASSERT(req != NULL);
    UNARY_CALL(cl, "/etcdserverpb.KV/Compact", &req->base,
               etcdserverpb__compaction_response__descriptor, Etcdserverpb__CompactionResponse,
               resp, st);
}

int cairn_client_lease_grant(cairn_client *cl, int64_t ttl_s, int64_t id,
                             Etcdserverpb__LeaseGrantResponse **resp,
                             struct cairn_client_status *st)
{
    Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    req.ttl = ttl_s;
    req.id = id;
    UNARY_CALL(cl, "/etcdserverpb.Lease/LeaseGrant", &req.base,
               etcdserverpb__lease_grant_response__descriptor, Etcdserverpb__LeaseGrantResponse,
               resp, st);
}

int cairn_client_lease_revoke(cairn_client *cl, int64_t id,
                              Etcdserverpb__LeaseRevokeResponse **resp,
                              struct cairn_client_status *st)
{
    Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    req.id = id;
    UNARY_CALL(cl, "/etcdserverpb.Lease/LeaseRevoke", &req.base,
               etcdserverpb__lease_revoke_response__descriptor, Etcdserverpb__LeaseRevokeResponse,
               resp, st);
}

int cairn_client_lease_ttl(cairn_client *cl, int64_t id, int with_keys,
                           Etcdserverpb__LeaseTimeToLiveResponse **resp,
                           struct cairn_client_status *st)
{
    Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
    req.id = id;
    req.keys = with_keys != 0;
    UNARY_CALL(cl, "/etcdserverpb.Lease/LeaseTimeToLive", &req.base,
               etcdserverpb__lease_time_to_live_response__descriptor,
               Etcdserverpb__LeaseTimeToLiveResponse, resp, st);
}

int cairn_client_lease_leases(cairn_client *cl, Etcdserverpb__LeaseLeasesResponse **resp,
                              struct cairn_client_status *st)
{
    Etcdserverpb__LeaseLeasesRequest req = ETCDSERVERPB__LEASE_LEASES_REQUEST__INIT;
    UNARY_CALL(cl, "/etcdserverpb.Lease/LeaseLeases", &req.base,
               etcdserverpb__lease_leases_response__descriptor, Etcdserverpb__LeaseLeasesResponse,
               resp, st);
}

int cairn_client_member_list(cairn_client *cl, Etcdserverpb__MemberListResponse **resp,
                             struct cairn_client_status *st)
{
    Etcdserverpb__MemberListRequest req = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
    UNARY_CALL(cl, "/etcdserverpb.Cluster/MemberList", &req.base,
               etcdserverpb__member_list_response__descriptor, Etcdserverpb__MemberListResponse,
               resp, st);
}

int cairn_client_member_add(cairn_client *cl, const char *const *peer_urls, size_t n_peer_urls,
                            int is_learner, Etcdserverpb__MemberAddResponse **resp,
                            struct cairn_client_status *st)
{
    CAIRN_ASSERT(peer_urls != NULL || n_peer_urls == 0);
    Etcdserverpb__MemberAddRequest req = ETCDSERVERPB__MEMBER_ADD_REQUEST__INIT;
    req.n_peerurls = n_peer_urls;
    req.peerurls = (char **)peer_urls; /* only read while packing */
    req.islearner = is_learner != 0;
    UNARY_CALL(cl, "/etcdserverpb.Cluster/MemberAdd", &req.base,
               etcdserverpb__member_add_response__descriptor, Etcdserverpb__MemberAddResponse, resp,
               st);
}

int cairn_client_member_remove(cairn_client *cl, uint64_t id,
                               Etcdserverpb__MemberRemoveResponse **resp,
                               struct cairn_client_status *st)
{
    Etcdserverpb__MemberRemoveRequest req = ETCDSERVERPB__MEMBER_REMOVE_REQUEST__INIT;
    req.id = id;
    UNARY_CALL(cl, "/etcdserverpb.Cluster/MemberRemove", &req.base,
               etcdserverpb__member_remove_response__descriptor, Etcdserverpb__MemberRemoveResponse,
               resp, st);
}

int cairn_client_member_update(cairn_client *cl, uint64_t id, const char *const *peer_urls,
                               size_t n_peer_urls, Etcdserverpb__MemberUpdateResponse **resp,
                               struct cairn_client_status *st)
{
    CAIRN_ASSERT(peer_urls != NULL || n_peer_urls == 0);
    Etcdserverpb__MemberUpdateRequest req = ETCDSERVERPB__MEMBER_UPDATE_REQUEST__INIT;
    req.id = id;
    req.n_peerurls = n_peer_urls;
    req.peerurls = (char **)peer_urls; /* only read while packing */
    UNARY_CALL(cl, "/etcdserverpb.Cluster/MemberUpdate", &req.base,
               etcdserverpb__member_update_response__descriptor, Etcdserverpb__MemberUpdateResponse,
               resp, st);
}

int cairn_client_member_promote(cairn_client *cl, uint64_t id,
                                Etcdserverpb__MemberPromoteResponse **resp,
                                struct cairn_client_status *st)
{
    Etcdserverpb__MemberPromoteRequest req = ETCDSERVERPB__MEMBER_PROMOTE_REQUEST__INIT;
    req.id = id;
    UNARY_CALL(cl, "/etcdserverpb.Cluster/MemberPromote", &req.base,
               etcdserverpb__member_promote_response__descriptor,
               Etcdserverpb__MemberPromoteResponse, resp, st);
}

int cairn_client_server_status(cairn_client *cl, Etcdserverpb__StatusResponse **resp,
                               struct cairn_client_status *st)
{
    Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
    UNARY_CALL(cl, "/etcdserverpb.Maintenance/Status", &req.base,
               etcdserverpb__status_response__descriptor, Etcdserverpb__StatusResponse, resp, st);
}

int cairn_client_hashkv(cairn_client *cl, int64_t revision, Etcdserverpb__HashKVResponse **resp,
                        struct cairn_client_status *st)
{
    Etcdserverpb__HashKVRequest req = ETCDSERVERPB__HASH_KVREQUEST__INIT;
    req.revision = revision;
    UNARY_CALL(cl, "/etcdserverpb.Maintenance/HashKV", &req.base,
               etcdserverpb__hash_kvresponse__descriptor, Etcdserverpb__HashKVResponse, resp, st);
}

int cairn_client_alarm(cairn_client *cl, const Etcdserverpb__AlarmRequest *req,
                       Etcdserverpb__AlarmResponse **resp, struct cairn_client_status *st)
{
    CAIRN_ASSERT(req != NULL);
    UNARY_CALL(cl, "/etcdserverpb.Maintenance/Alarm", &req->base,
               etcdserverpb__alarm_response__descriptor, Etcdserverpb__AlarmResponse, resp, st);
}

int cairn_client_defragment(cairn_client *cl, Etcdserverpb__DefragmentResponse **resp,
                            struct cairn_client_status *st)
{
    Etcdserverpb__DefragmentRequest req = ETCDSERVERPB__DEFRAGMENT_REQUEST__INIT;
    UNARY_CALL(cl, "/etcdserverpb.Maintenance/Defragment", &req.base,
               etcdserverpb__defragment_response__descriptor, Etcdserverpb__DefragmentResponse,
               resp, st);
}

int cairn_client_move_leader(cairn_client *cl, uint64_t target_id,
                             Etcdserverpb__MoveLeaderResponse **resp,
                             struct cairn_client_status *st)
{
    Etcdserverpb__MoveLeaderRequest req = ETCDSERVERPB__MOVE_LEADER_REQUEST__INIT;
    req.targetid = target_id;
    UNARY_CALL(cl, "/etcdserverpb.Maintenance/MoveLeader", &req.base,
               etcdserverpb__move_leader_response__descriptor, Etcdserverpb__MoveLeaderResponse,
               resp, st);
}
