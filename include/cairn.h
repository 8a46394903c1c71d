/*
 * cairn.h — the public C API of cairn, an embedded, replicated key-value store that
 * speaks etcd's v3 API.
 *
 * Conventions (hold for every function in this header):
 *  - Functions return int: 0 on success, or a negative cairn error code on failure.
 *    cairn's codes live in the reserved range [CAIRN_ERR_FIRST, CAIRN_ERR_LAST]
 *    (-42000 .. -42999). That range can never collide with errno values (positive, or
 *    -1..-4095 as the kernel returns them) nor with LMDB's codes (-30799 .. -30780), so a
 *    caller may pass an errno-style or cairn code through one int without ambiguity.
 *  - cairn_strerror() maps every code, in or out of that range, to a static string.
 *  - A function that fails leaves no partial state behind.
 *  - Names: public symbols are cairn_* / CAIRN_*; units are part of names (timeout_ms).
 *
 * Later sections of this header (opening a node, key-value calls, watches, leases,
 * memory settings and the remote client) are added as those modules land.
 */
#ifndef CAIRN_H
#define CAIRN_H

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. XX(name, value, message). The list is append-only: values are ABI. */
#define CAIRN_ERRNO_MAP(XX)                                                                        \
    XX(NOMEM, -42001, "out of memory")                                                             \
    XX(INVAL, -42002, "invalid argument")                                                          \
    XX(IO, -42003, "input/output error")                                                           \
    XX(CORRUPT, -42004, "data is corrupt")                                                         \
    XX(NOTFOUND, -42005, "not found")                                                              \
    XX(EXIST, -42006, "already exists")                                                            \
    XX(BUSY, -42007, "resource busy, try again")                                                   \
    XX(TIMEOUT, -42008, "timed out")                                                               \
    XX(CANCELED, -42009, "canceled")                                                               \
    XX(STOPPED, -42010, "stopped")                                                                 \
    XX(UNSUPPORTED, -42011, "operation not supported")                                             \
    XX(LIMIT, -42012, "a configured limit was exceeded")                                           \
    XX(MEMLIMIT, -42013, "refused: the memory limit would be exceeded")                            \
    XX(NOSPACE, -42014, "database space exceeded")                                                 \
    XX(COMPACTED, -42015, "required revision has been compacted")                                  \
    XX(FUTUREREV, -42016, "required revision is a future revision")                                \
    XX(NOTLEADER, -42017, "not leader")                                                            \
    XX(NOLEADER, -42018, "no leader")                                                              \
    XX(DROPPED, -42019, "proposal dropped")                                                        \
    XX(TOOMANYOPS, -42020, "too many operations in txn request")                                   \
    XX(DUPKEY, -42021, "duplicate key given in txn request")                                       \
    XX(EMPTYKEY, -42022, "key is not provided")                                                    \
    XX(TOOLARGE, -42023, "request is too large")                                                   \
    XX(LEASENOTFOUND, -42024, "requested lease not found")                                         \
    XX(LEASEEXISTS, -42025, "lease already exists")                                                \
    XX(UNAVAILABLE, -42026, "unavailable")                                                         \
    XX(SYSTEM, -42027, "system call failed")                                                       \
    XX(KEYNOTFOUND, -42028, "key not found")                                                       \
    XX(VALUEPROVIDED, -42029, "value is provided")                                                 \
    XX(LEASEPROVIDED, -42030, "lease is provided")                                                 \
    XX(LEASETTLTOOLARGE, -42031, "too large lease TTL")

enum cairn_error {
    CAIRN_OK = 0,
#define CAIRN_XX_ENUM(name, value, msg) CAIRN_E##name = (value),
    CAIRN_ERRNO_MAP(CAIRN_XX_ENUM)
#undef CAIRN_XX_ENUM
};

#define CAIRN_ERR_FIRST (-42999)
#define CAIRN_ERR_LAST  (-42000)

/*
 * cairn_strerror — a human-readable message for an error code.
 * Returns a static string, never NULL. Codes outside cairn's range are treated as
 * negated errno values (strerror(-code)); unknown codes give "unknown error".
 * Thread-safe.
 */
const char *cairn_strerror(int code);

/* cairn_is_error — 1 if code lies in cairn's reserved range, else 0. */
int cairn_is_error(int code);

/* cairn_version_string — the library version, e.g. "0.1.0". Static string. */
const char *cairn_version_string(void);

/* ==== remote client (client/) =============================================================
 * A C client for a remote cairn or etcd v3 cluster over gRPC. Requests and responses are the
 * protobuf-c structs generated from proto/ ("etcdserverpb/rpc.pb-c.h"): fill a request
 * struct, call, read the response, free it with cairn_client_free(). Only forward
 * declarations are needed here.
 *
 * Endpoints and failover: the client holds a list of endpoints and sends each call to the
 * current one. When an endpoint cannot be reached (no connection within the dial timeout,
 * or the connection is refused), the call moves to the next endpoint, which becomes current.
 * A call that reached a server and failed with UNAVAILABLE moves on only if it is an
 * idempotent read (Range, Status, MemberList, ...): a write that may have been applied is
 * never sent twice, its error is returned instead.
 *
 * Errors: every call fills a struct cairn_client_status (when the pointer is non-NULL) with
 * the gRPC status code and the server's message (etcd's strings, e.g. "etcdserver: mvcc:
 * required revision has been compacted"), and returns 0 or a negative cairn code that
 * classifies it (CAIRN_EUNAVAILABLE, CAIRN_ETIMEOUT, CAIRN_ECOMPACTED, ...).
 *
 * Threads: a cairn_client may be used by several threads at once. A stream may have one
 * sender and one receiver thread at a time; cairn_client_stream_cancel() may be called from
 * any thread (never from a signal handler). */
#include <stddef.h>
#include <stdint.h>

struct ProtobufCMessage;
struct ProtobufCMessageDescriptor;
struct Etcdserverpb__RangeRequest;
struct Etcdserverpb__RangeResponse;
struct Etcdserverpb__PutRequest;
struct Etcdserverpb__PutResponse;
struct Etcdserverpb__DeleteRangeRequest;
struct Etcdserverpb__DeleteRangeResponse;
struct Etcdserverpb__TxnRequest;
struct Etcdserverpb__TxnResponse;
struct Etcdserverpb__CompactionRequest;
struct Etcdserverpb__CompactionResponse;
struct Etcdserverpb__LeaseGrantResponse;
struct Etcdserverpb__LeaseRevokeResponse;
struct Etcdserverpb__LeaseTimeToLiveResponse;
struct Etcdserverpb__LeaseLeasesResponse;
struct Etcdserverpb__LeaseKeepAliveResponse;
struct Etcdserverpb__MemberListResponse;
struct Etcdserverpb__MemberAddResponse;
struct Etcdserverpb__MemberRemoveResponse;
struct Etcdserverpb__MemberUpdateResponse;
struct Etcdserverpb__MemberPromoteResponse;
struct Etcdserverpb__StatusResponse;
struct Etcdserverpb__HashKVResponse;
struct Etcdserverpb__AlarmRequest;
struct Etcdserverpb__AlarmResponse;
struct Etcdserverpb__DefragmentResponse;
struct Etcdserverpb__MoveLeaderResponse;
struct Etcdserverpb__WatchCreateRequest;
struct Etcdserverpb__WatchResponse;

typedef struct cairn_client cairn_client;
typedef struct cairn_client_stream cairn_client_stream;

#define CAIRN_CLIENT_DIAL_TIMEOUT_MS_DEFAULT    2000
#define CAIRN_CLIENT_COMMAND_TIMEOUT_MS_DEFAULT 5000
#define CAIRN_CLIENT_MESSAGE_MAX                512
#define CAIRN_CLIENT_ENDPOINT_MAX               280

struct cairn_client_options {
    /* Comma-separated "host:port" or "http://host:port" list. NULL or "" = the environment
     * variable CAIRNCTL_ENDPOINTS, then ETCDCTL_ENDPOINTS, then "127.0.0.1:2379". */
    const char *endpoints;
    int64_t dial_timeout_ms;    /* per endpoint; <= 0 = CAIRN_CLIENT_DIAL_TIMEOUT_MS_DEFAULT */
    int64_t command_timeout_ms; /* per unary call; <= 0 = ..._COMMAND_TIMEOUT_MS_DEFAULT */
    int64_t keepalive_time_ms;  /* HTTP/2 pings on idle connections; 0 = off */
    int64_t keepalive_timeout_ms;
    int max_recv_bytes; /* largest response accepted; <= 0 = INT32_MAX (as etcdctl) */
};

struct cairn_client_status {
    int code;                                 /* gRPC status code: 0 OK, 14 UNAVAILABLE, ... */
    char message[CAIRN_CLIENT_MESSAGE_MAX];   /* server's message (or the client's), NUL-ended */
    char endpoint[CAIRN_CLIENT_ENDPOINT_MAX]; /* "host:port" the call went to last */
};

/* cairn_client_options_init — every field to its default (endpoints NULL). */
void cairn_client_options_init(struct cairn_client_options *opts);

/*
 * cairn_client_open — parse the endpoint list and create the client. No connection is made
 * until the first call. *out is owned by the caller: free with cairn_client_close().
 * Returns 0, CAIRN_EINVAL (malformed endpoint URL, or https://: TLS is not supported yet),
 * CAIRN_ELIMIT (more than 16 endpoints), CAIRN_ENOMEM.
 */
int cairn_client_open(const struct cairn_client_options *opts, cairn_client **out);

/* cairn_client_close — close channels and free the client. Every stream opened on it must
 * have been destroyed first. NULL is a no-op. */
void cairn_client_close(cairn_client *cl);

/* cairn_client_endpoint_count / cairn_client_endpoint — the parsed list, as "host:port";
 * cairn_client_current_endpoint — the index calls go to now (it moves on failover). */
size_t cairn_client_endpoint_count(const cairn_client *cl);
const char *cairn_client_endpoint(const cairn_client *cl, size_t i);
size_t cairn_client_current_endpoint(cairn_client *cl);

/* cairn_client_free — free any response message a call returned. NULL is a no-op. */
void cairn_client_free(void *msg);

/*
 * cairn_client_call_unary — the generic unary call: method_path like "/etcdserverpb.KV/Range",
 * req packed as sent, the reply unpacked as resp_desc into *resp (caller frees with
 * cairn_client_free; NULL on error). timeout_ms: 0 = the client's command timeout, < 0 = no
 * deadline; the dial wait is not counted. Returns 0 or a negative cairn code; st (may be
 * NULL) gets the status either way.
 */
int cairn_client_call_unary(cairn_client *cl, const char *method_path,
                            const struct ProtobufCMessage *req,
                            const struct ProtobufCMessageDescriptor *resp_desc,
                            struct ProtobufCMessage **resp, int64_t timeout_ms,
                            struct cairn_client_status *st);

/* Typed unary calls: the command timeout, the same return and ownership rules as above. */
int cairn_client_range(cairn_client *cl, const struct Etcdserverpb__RangeRequest *req,
                       struct Etcdserverpb__RangeResponse **resp, struct cairn_client_status *st);
int cairn_client_put(cairn_client *cl, const struct Etcdserverpb__PutRequest *req,
                     struct Etcdserverpb__PutResponse **resp, struct cairn_client_status *st);
int cairn_client_delete_range(cairn_client *cl, const struct Etcdserverpb__DeleteRangeRequest *req,
                              struct Etcdserverpb__DeleteRangeResponse **resp,
                              struct cairn_client_status *st);
int cairn_client_txn(cairn_client *cl, const struct Etcdserverpb__TxnRequest *req,
                     struct Etcdserverpb__TxnResponse **resp, struct cairn_client_status *st);
int cairn_client_compact(cairn_client *cl, const struct Etcdserverpb__CompactionRequest *req,
                         struct Etcdserverpb__CompactionResponse **resp,
                         struct cairn_client_status *st);
/* lease: ttl_s is the requested TTL, id 0 = the server picks one */
int cairn_client_lease_grant(cairn_client *cl, int64_t ttl_s, int64_t id,
                             struct Etcdserverpb__LeaseGrantResponse **resp,
                             struct cairn_client_status *st);
int cairn_client_lease_revoke(cairn_client *cl, int64_t id,
                              struct Etcdserverpb__LeaseRevokeResponse **resp,
                              struct cairn_client_status *st);
int cairn_client_lease_ttl(cairn_client *cl, int64_t id, int with_keys,
                           struct Etcdserverpb__LeaseTimeToLiveResponse **resp,
                           struct cairn_client_status *st);
int cairn_client_lease_leases(cairn_client *cl, struct Etcdserverpb__LeaseLeasesResponse **resp,
                              struct cairn_client_status *st);
/* cluster: peer_urls is an array of n_peer_urls NUL-terminated strings */
int cairn_client_member_list(cairn_client *cl, struct Etcdserverpb__MemberListResponse **resp,
                             struct cairn_client_status *st);
int cairn_client_member_add(cairn_client *cl, const char *const *peer_urls, size_t n_peer_urls,
                            int is_learner, struct Etcdserverpb__MemberAddResponse **resp,
                            struct cairn_client_status *st);
int cairn_client_member_remove(cairn_client *cl, uint64_t id,
                               struct Etcdserverpb__MemberRemoveResponse **resp,
                               struct cairn_client_status *st);
int cairn_client_member_update(cairn_client *cl, uint64_t id, const char *const *peer_urls,
                               size_t n_peer_urls, struct Etcdserverpb__MemberUpdateResponse **resp,
                               struct cairn_client_status *st);
int cairn_client_member_promote(cairn_client *cl, uint64_t id,
                                struct Etcdserverpb__MemberPromoteResponse **resp,
                                struct cairn_client_status *st);
/* maintenance */
int cairn_client_server_status(cairn_client *cl, struct Etcdserverpb__StatusResponse **resp,
                               struct cairn_client_status *st);
int cairn_client_hashkv(cairn_client *cl, int64_t revision,
                        struct Etcdserverpb__HashKVResponse **resp, struct cairn_client_status *st);
int cairn_client_alarm(cairn_client *cl, const struct Etcdserverpb__AlarmRequest *req,
                       struct Etcdserverpb__AlarmResponse **resp, struct cairn_client_status *st);
int cairn_client_defragment(cairn_client *cl, struct Etcdserverpb__DefragmentResponse **resp,
                            struct cairn_client_status *st);
int cairn_client_move_leader(cairn_client *cl, uint64_t target_id,
                             struct Etcdserverpb__MoveLeaderResponse **resp,
                             struct cairn_client_status *st);

/*
 * cairn_client_snapshot — stream the current endpoint's backend snapshot. chunk() is called
 * for every piece in order with the bytes and the server's remaining_bytes; a non-zero return
 * cancels the stream and is returned. No deadline: cancel by returning non-zero. Returns 0
 * when the server ended the stream with OK, else a negative cairn code (st says why).
 */
int cairn_client_snapshot(cairn_client *cl,
                          int (*chunk)(void *arg, const uint8_t *data, size_t len,
                                       uint64_t remaining_bytes),
                          void *arg, struct cairn_client_status *st);

/*
 * Streams (Watch, LeaseKeepAlive, any other gRPC stream). cairn_client_stream_open starts a
 * call to method_path on the current endpoint (failing over while no server is reachable);
 * replies are unpacked as resp_desc. timeout_ms < 0 = no deadline (the usual case), 0 = the
 * command timeout. *out is owned by the caller: cairn_client_stream_destroy.
 *  _send: queue one message and wait until gRPC has taken it (flow control may block).
 *  _close_send: half-close; the server sees the end of the request stream.
 *  _recv: wait up to timeout_ms (< 0 = forever) for the next reply. Returns 0 with *msg set
 *         (free with cairn_client_free), CAIRN_ETIMEOUT when nothing came in time (the
 *         stream stays usable), CAIRN_ESTOPPED when the server ended the stream with OK, or
 *         the negative code of the final status (st has code and message).
 *  _cancel: ends the call at once; pending and later _recv return CAIRN_ECANCELED. Any thread.
 *  _destroy: cancels if still running, waits for outstanding operations, frees. NULL no-op.
 */
int cairn_client_stream_open(cairn_client *cl, const char *method_path,
                             const struct ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ms,
                             cairn_client_stream **out, struct cairn_client_status *st);
int cairn_client_stream_send(cairn_client_stream *s, const struct ProtobufCMessage *msg,
                             struct cairn_client_status *st);
int cairn_client_stream_close_send(cairn_client_stream *s, struct cairn_client_status *st);
int cairn_client_stream_recv(cairn_client_stream *s, struct ProtobufCMessage **msg,
                             int64_t timeout_ms, struct cairn_client_status *st);
void cairn_client_stream_cancel(cairn_client_stream *s);
void cairn_client_stream_destroy(cairn_client_stream *s);

/* Watch: open the /etcdserverpb.Watch/Watch stream (no deadline), then create, cancel or ask
 * for progress; replies with cairn_client_watch_recv (the _recv contract above). */
int cairn_client_watch_open(cairn_client *cl, cairn_client_stream **out,
                            struct cairn_client_status *st);
int cairn_client_watch_create(cairn_client_stream *s,
                              const struct Etcdserverpb__WatchCreateRequest *create,
                              struct cairn_client_status *st);
int cairn_client_watch_cancel(cairn_client_stream *s, int64_t watch_id,
                              struct cairn_client_status *st);
int cairn_client_watch_progress(cairn_client_stream *s, struct cairn_client_status *st);
int cairn_client_watch_recv(cairn_client_stream *s, struct Etcdserverpb__WatchResponse **resp,
                            int64_t timeout_ms, struct cairn_client_status *st);

/* LeaseKeepAlive: open the stream (no deadline), send one renewal per call, read replies.
 * A reply with TTL <= 0 means the lease has expired or was revoked. */
int cairn_client_keepalive_open(cairn_client *cl, cairn_client_stream **out,
                                struct cairn_client_status *st);
int cairn_client_keepalive_send(cairn_client_stream *s, int64_t id, struct cairn_client_status *st);
int cairn_client_keepalive_recv(cairn_client_stream *s,
                                struct Etcdserverpb__LeaseKeepAliveResponse **resp,
                                int64_t timeout_ms, struct cairn_client_status *st);
/* cairn_client_keepalive_once — open, renew id once, wait (command timeout) for the reply. */
int cairn_client_keepalive_once(cairn_client *cl, int64_t id,
                                struct Etcdserverpb__LeaseKeepAliveResponse **resp,
                                struct cairn_client_status *st);
/* ==== end of remote client ============================================================= */

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
