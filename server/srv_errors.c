/* cairn error code → etcd gRPC status and message (etcd 3.4 rpctypes). */
#include "srv_errors.h"

#include "common.h"

static const struct {
    int cairn;
    struct srv_error wire;
} table[] = {
    {CAIRN_EEMPTYKEY, {SRV_INVALID_ARGUMENT, SRV_ERR_EMPTY_KEY}},
    {CAIRN_EKEYNOTFOUND, {SRV_INVALID_ARGUMENT, SRV_ERR_KEY_NOT_FOUND}},
    {CAIRN_EVALUEPROVIDED, {SRV_INVALID_ARGUMENT, SRV_ERR_VALUE_PROVIDED}},
    {CAIRN_ELEASEPROVIDED, {SRV_INVALID_ARGUMENT, SRV_ERR_LEASE_PROVIDED}},
    {CAIRN_ELEASETTLTOOLARGE, {SRV_OUT_OF_RANGE, SRV_ERR_TOO_LARGE_TTL}},
    {CAIRN_ETOOMANYOPS, {SRV_INVALID_ARGUMENT, SRV_ERR_TOO_MANY_OPS}},
    {CAIRN_EDUPKEY, {SRV_INVALID_ARGUMENT, SRV_ERR_DUPLICATE_KEY}},
    {CAIRN_ETOOLARGE, {SRV_INVALID_ARGUMENT, SRV_ERR_REQUEST_TOO_LARGE}},
    {CAIRN_ECOMPACTED,
     {SRV_OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"}},
    {CAIRN_EFUTUREREV,
     {SRV_OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision"}},
    {CAIRN_ENOSPACE, {SRV_RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded"}},
    {CAIRN_EDROPPED, {SRV_RESOURCE_EXHAUSTED, "etcdserver: too many requests"}},
    {CAIRN_ELEASENOTFOUND, {SRV_NOT_FOUND, "etcdserver: requested lease not found"}},
    {CAIRN_ELEASEEXISTS, {SRV_FAILED_PRECONDITION, "etcdserver: lease already exists"}},
    {CAIRN_ENOTLEADER, {SRV_FAILED_PRECONDITION, SRV_ERR_NOT_LEADER}},
    {CAIRN_ENOLEADER, {SRV_UNAVAILABLE, "etcdserver: no leader"}},
    {CAIRN_ESTOPPED, {SRV_UNAVAILABLE, "etcdserver: server stopped"}},
    {CAIRN_ETIMEOUT, {SRV_UNAVAILABLE, "etcdserver: request timed out"}},
    {CAIRN_EUNAVAILABLE, {SRV_UNAVAILABLE, "etcdserver: request timed out"}},
    {CAIRN_ECANCELED, {SRV_CANCELLED, "etcdserver: request canceled"}},
    {CAIRN_ECORRUPT, {SRV_DATA_LOSS, "etcdserver: corrupt cluster"}},
    {CAIRN_EMEMLIMIT, {SRV_RESOURCE_EXHAUSTED, "cairn: memory limit reached, request refused"}},
    {CAIRN_EUNSUPPORTED, {SRV_UNIMPLEMENTED, "cairn: not supported"}},
};

struct srv_error srv_error_from_code(int cairn_code)
{
    CAIRN_ASSERT(cairn_code < 0);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(table); i++)
        if (table[i].cairn == cairn_code)
            return table[i].wire;
    struct srv_error e = {SRV_UNKNOWN, cairn_strerror(cairn_code)};
    return e;
}

void srv_call_fail_code(struct srv_call *call, int cairn_code)
{
    struct srv_error e = srv_error_from_code(cairn_code);
    srv_call_fail(call, e.code, e.message);
}
