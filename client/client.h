/*
 * client/ — a C client for the etcd v3 API on the gRPC core C API, public as
 * cairn_client_* in include/cairn.h; used by cairnctl, cairn-bench and embedders.
 *
 * Promises: a list of endpoints with failover to the next one when an endpoint cannot be
 * reached (or, for idempotent reads, answers UNAVAILABLE); a dial timeout per endpoint and a
 * deadline per call; unary calls and the Watch, LeaseKeepAlive and Snapshot streams; the
 * server's gRPC status code and message handed back unchanged.
 * Owns: its gRPC channels (one per endpoint, created on first use) and one completion queue
 * per call or stream.
 * Never: retries a non-idempotent call on another endpoint after it may have been applied
 * (it was started on a connected channel); calls grpc from a signal handler; prints.
 *
 * Files: client_endpoints.c (where endpoints come from, failover order), client_status.c
 * (gRPC status -> cairn code, which methods are idempotent), client_conn.c (client object,
 * channels, waiting for a connection), client_unary.c (unary calls), client_stream.c
 * (streams), client_api.c (typed wrappers), client_watch.c (Watch, LeaseKeepAlive,
 * Snapshot helpers).
 */
#ifndef CAIRN_CLIENT_H
#define CAIRN_CLIENT_H

#include "cairn.h"
#include "url.h"

#include <grpc/grpc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- status mapping (client_status.c) */

/* gRPC status codes the client reasons about (grpc_status_code values). */
enum {
    CLIENT_GRPC_OK = 0,
    CLIENT_GRPC_CANCELLED = 1,
    CLIENT_GRPC_DEADLINE_EXCEEDED = 4,
    CLIENT_GRPC_UNAVAILABLE = 14,
};

/* client_status_to_error — the cairn code for a gRPC status: etcd's exact strings first
 * (compacted, future revision, lease not found, not leader, ...), then the code class.
 * 0 for OK. message may be NULL. */
int client_status_to_error(int grpc_code, const char *message);

/* client_status_set — fill st (if non-NULL): code, message (truncated to fit), endpoint. */
void client_status_set(struct cairn_client_status *st, int grpc_code, const char *message,
                       const char *endpoint);

/* client_method_is_idempotent — 1 for reads that may be re-sent to another endpoint after an
 * UNAVAILABLE answer (Range, Status, MemberList, HashKV, LeaseTimeToLive, ...), else 0. */
int client_method_is_idempotent(const char *method_path);

/* ---- client object and connections (client_conn.c) */

struct client_channel {
    grpc_channel *ch; /* NULL until first used */
    char target[CAIRN_CLIENT_ENDPOINT_MAX];
};

struct cairn_client {
    pthread_mutex_t mu; /* guards ep.current and creation of chan[i].ch */
    struct client_endpoints ep;
    struct client_channel chan[CLIENT_ENDPOINTS_MAX];
    int64_t dial_timeout_ms;
    int64_t command_timeout_ms;
    int64_t keepalive_time_ms;
    int64_t keepalive_timeout_ms;
    int max_recv_bytes;
};

/*
 * client_conn_pick — choose the endpoint for a new call: starting at the current one, wait
 * up to the dial timeout for each endpoint's channel to be READY; on failure move to the
 * next (which becomes current). On success *idx is the endpoint and *ch its channel (owned
 * by the client). Returns 0, or CAIRN_EUNAVAILABLE with st saying which endpoints failed.
 */
int client_conn_pick(cairn_client *cl, size_t *idx, grpc_channel **ch,
                     struct cairn_client_status *st);

/* client_conn_failover — after endpoint idx answered UNAVAILABLE to an idempotent call:
 * make the next endpoint current. Returns 1 if there is one not yet tried since `first`. */
int client_conn_failover(cairn_client *cl, size_t idx, size_t first);

/* client_cq_finish — shut down, drain and destroy a pluck queue whose tags were all plucked. */
void client_cq_finish(grpc_completion_queue *cq);

/* client_deadline — the gpr_timespec for timeout_ms from now (< 0: infinite). */
gpr_timespec client_deadline(int64_t timeout_ms);

/* ---- message packing (client_unary.c) */

/* client_pack — pack msg into a new byte buffer (caller destroys); NULL on no memory. */
grpc_byte_buffer *client_pack(const struct ProtobufCMessage *msg);

/* client_unpack — read bb (not consumed) as desc; NULL with *why set if it does not parse. */
struct ProtobufCMessage *client_unpack(grpc_byte_buffer *bb,
                                       const struct ProtobufCMessageDescriptor *desc,
                                       const char **why);

#endif /* CAIRN_CLIENT_H */
