/* gRPC status -> cairn error code, and which etcd methods are safe to re-send. */
#include "client.h"

#include "common.h"

#include <stdio.h>
#include <string.h>

/* etcd's error strings (api/v3rpc/rpctypes/error.go) that have a precise cairn code.
 * Clients match on the string, so the mapping does too. */
static const struct {
    const char *message;
    int code;
} known_messages[] = {
    {"etcdserver: mvcc: required revision has been compacted", CAIRN_ECOMPACTED},
    {"etcdserver: mvcc: required revision is a future revision", CAIRN_EFUTUREREV},
    {"etcdserver: mvcc: database space exceeded", CAIRN_ENOSPACE},
    {"etcdserver: requested lease not found", CAIRN_ELEASENOTFOUND},
    {"etcdserver: lease already exists", CAIRN_ELEASEEXISTS},
    {"etcdserver: too many operations in txn request", CAIRN_ETOOMANYOPS},
    {"etcdserver: duplicate key given in txn request", CAIRN_EDUPKEY},
    {"etcdserver: key is not provided", CAIRN_EEMPTYKEY},
    {"etcdserver: request is too large", CAIRN_ETOOLARGE},
    {"etcdserver: not leader", CAIRN_ENOTLEADER},
    {"etcdserver: no leader", CAIRN_ENOLEADER},
    {"etcdserver: corrupt cluster", CAIRN_ECORRUPT},
};

int client_status_to_error(int grpc_code, const char *message)
{
    if (grpc_code == CLIENT_GRPC_OK)
        return 0;
    if (message) {
        for (size_t i = 0; i < CAIRN_ARRAY_LEN(known_messages); i++)
            if (strcmp(message, known_messages[i].message) == 0)
                return known_messages[i].code;
    }
    switch (grpc_code) {
    case CLIENT_GRPC_CANCELLED:
        return CAIRN_ECANCELED;
    case 3:  /* INVALID_ARGUMENT */
    case 9:  /* FAILED_PRECONDITION */
    case 11: /* OUT_OF_RANGE */
        return CAIRN_EINVAL;
    case CLIENT_GRPC_DEADLINE_EXCEEDED:
        return CAIRN_ETIMEOUT;
    case 5: /* NOT_FOUND */
        return CAIRN_ENOTFOUND;
    case 6: /* ALREADY_EXISTS */
        return CAIRN_EEXIST;
    case 8: /* RESOURCE_EXHAUSTED: cairn's memory limit says so in its message */
        return (message && strstr(message, "memory")) ? CAIRN_EMEMLIMIT : CAIRN_ELIMIT;
    case 12: /* UNIMPLEMENTED */
        return CAIRN_EUNSUPPORTED;
    case CLIENT_GRPC_UNAVAILABLE:
        return CAIRN_EUNAVAILABLE;
    case 15: /* DATA_LOSS */
        return CAIRN_ECORRUPT;
    default: /* UNKNOWN, PERMISSION_DENIED, ABORTED, INTERNAL, UNAUTHENTICATED */
        return CAIRN_EIO;
    }
}

void client_status_set(struct cairn_client_status *st, int grpc_code, const char *message,
                       const char *endpoint)
{
    if (!st)
        return;
    CAIRN_ASSERT(grpc_code >= 0);
    st->code = grpc_code;
    snprintf(st->message, sizeof(st->message), "%s", message ? message : "");
    if (endpoint)
        snprintf(st->endpoint, sizeof(st->endpoint), "%s", endpoint);
}

/* Reads and calls whose repetition changes nothing. Alarm is left out: it also disarms. */
static const char *const idempotent_methods[] = {
    "/etcdserverpb.KV/Range",           "/etcdserverpb.Lease/LeaseTimeToLive",
    "/etcdserverpb.Lease/LeaseLeases",  "/etcdserverpb.Cluster/MemberList",
    "/etcdserverpb.Maintenance/Status", "/etcdserverpb.Maintenance/Hash",
    "/etcdserverpb.Maintenance/HashKV", "/etcdserverpb.Maintenance/Snapshot",
    "/etcdserverpb.Auth/AuthStatus",    "/etcdserverpb.Auth/UserGet",
    "/etcdserverpb.Auth/UserList",      "/etcdserverpb.Auth/RoleGet",
    "/etcdserverpb.Auth/RoleList",      "/grpc.health.v1.Health/Check",
};

int client_method_is_idempotent(const char *method_path)
{
    CAIRN_ASSERT(method_path != NULL);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(idempotent_methods); i++)
        if (strcmp(method_path, idempotent_methods[i]) == 0)
            return 1;
    return 0;
}
