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
 * Sections: errors; the remote client (cairn_client_*: a program talking to a cairn or
 * etcd cluster over the network); the embedded node (cairn_open and the calls on it: a
 * cairn member inside the program).
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

/* ==== embedded node (embed/) ===============================================================
 * A cairn member inside your process: the same node cairnd runs (raft log, MVCC store,
 * leases, watches), called directly instead of over gRPC. By default it is one member with
 * no network listener; the configuration can add a client listener (then etcdctl and other
 * etcd clients reach the same data) and cluster membership (peer URLs, initial cluster), with
 * the same option names as cairnd's flags.
 *
 * Threads: every function below may be called from any thread, concurrently, unless it says
 * otherwise. Calls block the calling thread until the node answers (a write: until it is
 * committed by a quorum and applied, so an acknowledged write survives a crash). Several
 * threads writing at once share one disk flush per batch (group commit), so throughput comes
 * from concurrency: one thread issuing one put at a time gets one flush per put.
 *
 * Ownership: keys and values passed in are copied before a call returns. Pointers handed
 * out (struct cairn_kv fields, events) are valid for as long as the function that produced
 * them says; copy what you keep. Memory returned as void ** is freed with cairn_free().
 *
 * Errors: besides the return code, cairn_errmsg() gives a one-line message for the last
 * failure on the calling thread (etcd's wording where etcd has one, e.g. "etcdserver: mvcc:
 * required revision has been compacted").
 *
 * Process-wide: the memory manager (heap percent, memory limit) is shared by every node in a
 * process. A storage failure the node cannot continue after (disk full during a commit, a
 * corrupt log) ends the process with a message, as cairnd does, rather than acknowledge
 * writes it cannot keep. */

typedef struct cairn_config cairn_config;
typedef struct cairn_node cairn_node;
typedef struct cairn_iter cairn_iter;
typedef struct cairn_txn cairn_txn;
typedef struct cairn_watcher cairn_watcher;

/* cairn_errmsg — the message of the last failed cairn_* call on this thread ("" if none).
 * Valid until the next cairn_* call on the same thread. */
const char *cairn_errmsg(void);

/* cairn_free — free memory a cairn_* call returned (values). NULL is a no-op. */
void cairn_free(void *p);

/*
 * Configuration. cairn_config_new gives the embedded defaults: name "default", data dir
 * "default.cairn" (relative to the working directory), no client listener, no peer listener,
 * a one-member cluster. Options are cairnd's flag names without the dashes, e.g.
 *   cairn_config_set(c, "data-dir", "/var/lib/app/cairn");
 *   cairn_config_set(c, "listen-client-urls", "http://127.0.0.1:2379");
 *   cairn_config_set(c, "initial-cluster", "a=http://127.0.0.1:2380,b=...");
 *   cairn_config_set(c, "memory-limit", "256MiB");
 * (`cairnd --help` lists them all.) Setters return 0, CAIRN_ENOTFOUND for an unknown option
 * or CAIRN_EINVAL for a bad value (cairn_errmsg() says why); a failed set changes nothing.
 * A config is owned by the caller, used by one thread at a time, and may be freed as soon
 * as cairn_open returned.
 */
int cairn_config_new(cairn_config **out);
int cairn_config_set(cairn_config *cfg, const char *option, const char *value);
/* argv-style, as main() gets it: "--option=value" or "--option value"; argv[0] (the program
 * name) is skipped. */
int cairn_config_parse_args(cairn_config *cfg, int argc, const char *const *argv);
/* An etcd-style YAML configuration file (the keys cairnd's --config-file takes). */
int cairn_config_load_file(cairn_config *cfg, const char *path);
void cairn_config_free(cairn_config *cfg);

/*
 * cairn_open — open (or create) the data directory and start the member: raft, the store
 * and, if configured, the client and peer listeners. A one-member node is ready for writes
 * when this returns; a cluster member is ready once the cluster has a leader (calls made
 * before that wait, up to their timeout). Returns 0, CAIRN_EINVAL (bad configuration),
 * CAIRN_EIO (data directory or listen address unusable), CAIRN_EBUSY (another process has
 * the data directory open), CAIRN_ENOMEM; cairn_errmsg() says which. *out is owned by the
 * caller: cairn_close().
 */
int cairn_open(const cairn_config *cfg, cairn_node **out);

/*
 * cairn_close — stop the member and free it. Everything acknowledged is on disk before it
 * returns. Calls in flight on other threads finish or fail with CAIRN_ESTOPPED, and calls
 * made while it runs fail with CAIRN_ESTOPPED; once it returned the handle is gone, so the
 * program must make sure no thread uses it any more. A leader of a multi-member cluster
 * hands leadership to a follower first. Open watches end (their callback sees
 * CAIRN_ESTOPPED) and are freed here: do not use their handles afterwards. Call once, not
 * from a watch callback. Returns 0. NULL is a no-op.
 */
int cairn_close(cairn_node *node);

/* cairn_listen_port — the bound TCP port of the i-th client listen URL (0 = the port was
 * chosen by the system, useful in tests), or CAIRN_ENOTFOUND when there is no such
 * listener. */
int cairn_listen_port(const cairn_node *node, size_t i);

/* A key-value pair as the store holds it (etcd's mvccpb.KeyValue). */
struct cairn_kv {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    int64_t create_revision; /* revision of the put that created the key */
    int64_t mod_revision;    /* revision of the last put */
    int64_t version;         /* puts since creation (1 = just created) */
    int64_t lease;           /* lease id, 0 = none */
};

/* cairn_put — set key to value (attached to lease, 0 = none). *revision (may be NULL) gets
 * the store revision of the write. Errors: CAIRN_EEMPTYKEY, CAIRN_ETOOLARGE (over
 * max-request-bytes), CAIRN_ELEASENOTFOUND, CAIRN_ENOSPACE (quota alarm), CAIRN_EMEMLIMIT
 * (the memory hard stop refused it), CAIRN_ETIMEOUT, CAIRN_ENOLEADER, CAIRN_ESTOPPED. */
int cairn_put(cairn_node *node, const void *key, size_t key_len, const void *value,
              size_t value_len, int64_t lease, int64_t *revision);

/* cairn_get — the current value of key (a linearizable read). *value gets a copy (free with
 * cairn_free; NUL-terminated for convenience, the NUL not counted in *value_len); kv (may
 * be NULL) gets the revisions, its key/value pointers set to NULL. CAIRN_ENOTFOUND if the
 * key does not exist. */
int cairn_get(cairn_node *node, const void *key, size_t key_len, void **value, size_t *value_len,
              struct cairn_kv *kv);

/* cairn_delete — delete key, or every key in [key, range_end) when range_end is non-NULL
 * (range_end "\0" with length 1 = every key >= key). *deleted and *revision may be NULL. */
int cairn_delete(cairn_node *node, const void *key, size_t key_len, const void *range_end,
                 size_t range_end_len, int64_t *deleted, int64_t *revision);

struct cairn_range_options {
    const void *range_end; /* NULL = key alone (unless prefix); "\0" (len 1) = all >= key */
    size_t range_end_len;
    int prefix;         /* 1 = every key starting with key (range_end is ignored) */
    int64_t revision;   /* read at this revision; 0 = the latest */
    int64_t limit;      /* at most this many pairs; 0 = all */
    int serializable;   /* 1 = read this member's state without a quorum round */
    int keys_only;      /* 1 = values are not read (value_len is 0) */
    uint32_t page_size; /* pairs fetched per internal read; 0 = 1000 */
};

/*
 * cairn_range — iterate over a range of keys in key order, at one revision: the first page
 * fixes the revision (opts->revision or the latest) and later pages read at it, so the whole
 * iteration sees one consistent snapshot however long it takes (if the range is compacted
 * past that revision meanwhile, cairn_iter_next fails with CAIRN_ECOMPACTED). opts may be
 * NULL (a single key, linearizable). The iterator is owned by the caller (cairn_iter_free),
 * used by one thread at a time.
 */
int cairn_range(cairn_node *node, const void *key, size_t key_len,
                const struct cairn_range_options *opts, cairn_iter **out);
/* 1 with *kv filled (pointers valid until the next cairn_iter_next or cairn_iter_free),
 * 0 at the end, or a negative error. */
int cairn_iter_next(cairn_iter *it, struct cairn_kv *kv);
/* The revision the iteration reads at, and the number of keys in the range then. */
int64_t cairn_iter_revision(const cairn_iter *it);
int64_t cairn_iter_count(const cairn_iter *it);
void cairn_iter_free(cairn_iter *it);

/* cairn_compact — discard history before revision (etcd's Compact). physical = 1 waits until
 * the space is reclaimed in the store. CAIRN_ECOMPACTED if already compacted past it,
 * CAIRN_EFUTUREREV if revision is ahead of the store. */
int cairn_compact(cairn_node *node, int64_t revision, int physical);

/*
 * Transactions: If(compares) Then(ops) Else(ops), atomically at one revision (etcd's Txn).
 *   cairn_txn *t; cairn_txn_new(&t);
 *   cairn_txn_compare(t, "k", 1, CAIRN_CMP_VALUE, CAIRN_CMP_EQ, 0, "old", 3);
 *   cairn_txn_put(t, 1, "k", 1, "new", 3, 0);      // on success
 *   cairn_txn_get(t, 0, "k", 1, NULL, 0);          // on failure
 *   int ok; cairn_txn_commit(node, t, &ok, NULL);
 * Keys and values are copied in. A txn is owned by the caller (cairn_txn_free), used by one
 * thread at a time, and may be committed once.
 */
enum cairn_cmp_target { /* etcd's Compare.CompareTarget values */
                        CAIRN_CMP_VERSION = 0,
                        CAIRN_CMP_CREATE = 1,
                        CAIRN_CMP_MOD = 2,
                        CAIRN_CMP_VALUE = 3,
                        CAIRN_CMP_LEASE = 4,
};
enum cairn_cmp_op { /* etcd's Compare.CompareResult values */
                    CAIRN_CMP_EQ = 0,
                    CAIRN_CMP_GT = 1,
                    CAIRN_CMP_LT = 2,
                    CAIRN_CMP_NE = 3,
};
int cairn_txn_new(cairn_txn **out);
/* number is the revision/version/lease compared against; value for CAIRN_CMP_VALUE. */
int cairn_txn_compare(cairn_txn *t, const void *key, size_t key_len, enum cairn_cmp_target target,
                      enum cairn_cmp_op op, int64_t number, const void *value, size_t value_len);
/* on_success: 1 = the Then branch, 0 = the Else branch. range_end as in cairn_delete. */
int cairn_txn_put(cairn_txn *t, int on_success, const void *key, size_t key_len, const void *value,
                  size_t value_len, int64_t lease);
int cairn_txn_delete(cairn_txn *t, int on_success, const void *key, size_t key_len,
                     const void *range_end, size_t range_end_len);
int cairn_txn_get(cairn_txn *t, int on_success, const void *key, size_t key_len,
                  const void *range_end, size_t range_end_len);
/* Commit: *succeeded = 1 if every compare held (Then ran), 0 if not (Else ran); *revision
 * (may be NULL) the store revision after it. Errors as cairn_put, plus CAIRN_ETOOMANYOPS,
 * CAIRN_EDUPKEY. */
int cairn_txn_commit(cairn_node *node, cairn_txn *t, int *succeeded, int64_t *revision);
/* After a commit: the pairs the i-th op of the branch that ran returned (a get's range;
 * 0 for puts and deletes), and pair j of it (pointers valid until cairn_txn_free). */
size_t cairn_txn_result_count(const cairn_txn *t, size_t op);
int cairn_txn_result_kv(const cairn_txn *t, size_t op, size_t j, struct cairn_kv *kv);
void cairn_txn_free(cairn_txn *t);

/*
 * Watches. The callback receives batches of events in revision order. It runs on the node's
 * watch thread (one per node, shared by all its watches), one batch at a time, never
 * concurrently with itself. A slow callback does not slow writes or other members: each
 * watch has a bounded queue (64 batches); when it is full the watch falls behind and later
 * catches up from the store's history, as a slow etcd watcher does, so no event is lost
 * unless the history it needs is compacted first — then the watch ends with
 * CAIRN_ECOMPACTED. Callbacks may call any cairn_* function except cairn_close; a long
 * callback delays the other watches of the node.
 */
enum cairn_event_type {
    CAIRN_EVENT_PUT = 0,
    CAIRN_EVENT_DELETE = 1,
};
struct cairn_event {
    enum cairn_event_type type;
    struct cairn_kv kv;      /* for a delete: key and mod_revision (the delete's revision) */
    struct cairn_kv prev_kv; /* the pair before the event, when asked for (prev_kv) */
    int has_prev_kv;
};
struct cairn_watch_batch {
    const struct cairn_event *events; /* valid during the callback only */
    size_t n_events;                  /* 0 for a progress notification or the end */
    int64_t revision;                 /* the store revision the batch is current to */
    int end;                          /* 0, or why the watch ended: CAIRN_ECOMPACTED,
                                         CAIRN_ESTOPPED (node closing), CAIRN_ECANCELED */
    int64_t compact_revision;         /* with CAIRN_ECOMPACTED: the oldest revision kept */
};
typedef void (*cairn_watch_fn)(void *arg, const struct cairn_watch_batch *batch);
struct cairn_watch_options {
    const void *range_end; /* as cairn_range_options */
    size_t range_end_len;
    int prefix;
    int64_t start_revision; /* 0 = events after now; else replay from this revision */
    int prev_kv;            /* 1 = fill prev_kv */
    int progress_notify;    /* 1 = empty batches when idle, carrying the revision */
};
/* cairn_watch — start watching; opts may be NULL. When it returns 0 the watch is
 * registered: every write that completes afterwards is delivered. A start_revision that is
 * compacted already gives, as etcd does, a watch that ends at once (CAIRN_ECOMPACTED, with
 * compact_revision). *out is owned by the caller: cairn_watch_cancel(), also after the watch
 * ended. */
int cairn_watch(cairn_node *node, const void *key, size_t key_len,
                const struct cairn_watch_options *opts, cairn_watch_fn fn, void *arg,
                cairn_watcher **out);
/* cairn_watch_cancel — stop and free the watch. When it returns, the callback is not
 * running and will not run again (called from the watch's own callback, it takes effect
 * when the callback returns). NULL is a no-op. */
void cairn_watch_cancel(cairn_watcher *w);

/* Leases. ttl_s in seconds. cairn_lease_grant: *id in = the wanted id or 0 (the node picks),
 * out = the lease's id; *granted_ttl_s (may be NULL) the TTL granted. keep-alive renews once
 * (*ttl_s = the new TTL); time-to-live reads the remaining and granted TTL. Attach a key
 * with cairn_put(..., lease, ...); revoking deletes the attached keys. */
int cairn_lease_grant(cairn_node *node, int64_t ttl_s, int64_t *id, int64_t *granted_ttl_s);
int cairn_lease_revoke(cairn_node *node, int64_t id);
int cairn_lease_keepalive(cairn_node *node, int64_t id, int64_t *ttl_s);
int cairn_lease_ttl(cairn_node *node, int64_t id, int64_t *remaining_ttl_s, int64_t *granted_ttl_s);

/* cairn_status — the member as etcdctl endpoint status shows it. */
struct cairn_status {
    uint64_t member_id;
    uint64_t cluster_id;
    uint64_t leader; /* member id of the leader, 0 = none */
    uint64_t raft_term;
    uint64_t raft_index;
    uint64_t raft_applied_index;
    int64_t revision;
    int64_t db_size_bytes;
    int64_t db_size_in_use_bytes;
    int is_learner;
};
int cairn_status(cairn_node *node, struct cairn_status *out);

/* cairn_hash_kv — etcd's HashKV of the store up to revision (0 = latest): equal on members
 * that agree. *hash_revision (may be NULL) the revision hashed. */
int cairn_hash_kv(cairn_node *node, int64_t revision, uint32_t *hash, int64_t *hash_revision);

/* Memory (process-wide; the same settings as cairnd's --heap-percent and --memory-limit). */
struct cairn_memory_stats {
    uint64_t live_bytes;   /* heap accounted by cairn's subsystems */
    uint64_t goal_bytes;   /* heap size that starts the next reclaim cycle, 0 = none */
    int64_t limit_bytes;   /* the memory limit, -1 = off */
    int32_t heap_percent;  /* -1 = off */
    uint64_t rss_bytes;    /* the process's resident set */
    uint64_t in_use_bytes; /* anonymous resident memory: what the limit is checked against */
    uint64_t cycles;       /* reclaim cycles so far */
    double cycles_per_min;
    double pause_p99_ms;
    uint64_t refusals; /* requests refused by the hard stop */
};
int cairn_memory_stats(struct cairn_memory_stats *out);
/* Values as the flags take them: "100", "off"; "512MiB", "off". NULL or "" leaves a setting
 * unchanged. Both are checked before either changes: CAIRN_EINVAL changes nothing. */
int cairn_memory_set(const char *heap_percent, const char *memory_limit);
/* ==== end of embedded node ============================================================= */

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
