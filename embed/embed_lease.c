/* Leases over in-process Lease calls (keep-alive through a one-message LeaseKeepAlive stream). */
#include "embed.h"

#include <string.h>

struct grant_out {
    int64_t id, ttl;
    char error[128];
};

static int copy_grant(void *arg, const ProtobufCMessage *m)
{
    const Etcdserverpb__LeaseGrantResponse *r = (const Etcdserverpb__LeaseGrantResponse *)m;
    struct grant_out *o = arg;
    o->id = r->id;
    o->ttl = r->ttl;
    snprintf(o->error, sizeof(o->error), "%s", r->error ? r->error : "");
    return 0;
}

int cairn_lease_grant(cairn_node *nd, int64_t ttl_s, int64_t *id, int64_t *granted_ttl_s)
{
    CAIRN_ASSERT(nd != NULL && id != NULL);
    Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    req.ttl = ttl_s;
    req.id = *id;
    struct grant_out o;
    memset(&o, 0, sizeof(o));
    int rc = embed_call(nd, EMBED_LEASE_GRANT, &req.base, copy_grant, &o);
    if (rc < 0)
        return rc;
    if (o.error[0])
        return embed_error(CAIRN_EINVAL, "%s", o.error);
    *id = o.id;
    if (granted_ttl_s)
        *granted_ttl_s = o.ttl;
    return 0;
}

int cairn_lease_revoke(cairn_node *nd, int64_t id)
{
    CAIRN_ASSERT(nd != NULL);
    Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    req.id = id;
    return embed_call(nd, EMBED_LEASE_REVOKE, &req.base, NULL, NULL);
}

static int copy_keepalive(void *arg, const ProtobufCMessage *m)
{
    *(int64_t *)arg = ((const Etcdserverpb__LeaseKeepAliveResponse *)m)->ttl;
    return 0;
}

int cairn_lease_keepalive(cairn_node *nd, int64_t id, int64_t *ttl_s)
{
    CAIRN_ASSERT(nd != NULL);
    Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
    req.id = id;
    int64_t ttl = 0;
    int rc = embed_call(nd, EMBED_LEASE_KEEPALIVE, &req.base, copy_keepalive, &ttl);
    if (rc < 0)
        return rc;
    if (ttl <= 0) /* etcd answers an unknown or expired lease with TTL 0 */
        return embed_error(CAIRN_ELEASENOTFOUND, "etcdserver: requested lease not found");
    if (ttl_s)
        *ttl_s = ttl;
    return 0;
}

struct ttl_out {
    int64_t ttl, granted;
};

static int copy_ttl(void *arg, const ProtobufCMessage *m)
{
    const Etcdserverpb__LeaseTimeToLiveResponse *r =
        (const Etcdserverpb__LeaseTimeToLiveResponse *)m;
    struct ttl_out *o = arg;
    o->ttl = r->ttl;
    o->granted = r->grantedttl;
    return 0;
}

int cairn_lease_ttl(cairn_node *nd, int64_t id, int64_t *remaining_ttl_s, int64_t *granted_ttl_s)
{
    CAIRN_ASSERT(nd != NULL);
    Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
    req.id = id;
    struct ttl_out o = {0, 0};
    int rc = embed_call(nd, EMBED_LEASE_TTL, &req.base, copy_ttl, &o);
    if (rc < 0)
        return rc;
    if (o.ttl == -1) /* etcd's answer for a lease that does not exist */
        return embed_error(CAIRN_ELEASENOTFOUND, "etcdserver: requested lease not found");
    if (remaining_ttl_s)
        *remaining_ttl_s = o.ttl;
    if (granted_ttl_s)
        *granted_ttl_s = o.granted;
    return 0;
}
