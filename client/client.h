/*
 * client/ — a C client for the etcd v3 API on the gRPC core C API, public as
 * cairn_client_* in include/cairn.h; used by cairnctl, cairn-bench and embedders.
 *
 * Promises: a list of endpoints with failover to the next one on Unavailable, dial and
 * per-call timeouts, unary calls and the Watch and LeaseKeepAlive streams.
 * Owns: its gRPC channels and completion queues.
 * Never: retries a non-idempotent call on another endpoint after it may have been applied.
 *
 * This first unit is the endpoint list: where endpoints come from (flag, then
 * CAIRNCTL_ENDPOINTS, then ETCDCTL_ENDPOINTS, then the default) and failover order.
 */
#ifndef CAIRN_CLIENT_H
#define CAIRN_CLIENT_H

#include "url.h"

#include <stddef.h>

#define CLIENT_ENDPOINTS_MAX    16
#define CLIENT_DEFAULT_ENDPOINT "127.0.0.1:2379"

struct client_endpoints {
    struct cairn_url url[CLIENT_ENDPOINTS_MAX];
    size_t n;
    size_t current; /* index of the endpoint in use */
};

/*
 * client_endpoints_resolve — pick the endpoint list: flag_value if non-NULL, else the
 * CAIRNCTL_ENDPOINTS environment variable, else ETCDCTL_ENDPOINTS, else 127.0.0.1:2379.
 * Returns 0, CAIRN_EINVAL for a malformed URL, CAIRN_ELIMIT past CLIENT_ENDPOINTS_MAX.
 */
int client_endpoints_resolve(struct client_endpoints *e, const char *flag_value);

/* client_endpoints_failover — move to the next endpoint after the current one failed.
 * Returns 1 if there is one not yet tried since `first` (the index the call started on),
 * 0 once every endpoint has been tried. */
int client_endpoints_failover(struct client_endpoints *e, size_t first);

#endif /* CAIRN_CLIENT_H */
