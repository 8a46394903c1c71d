/*
 * embed/ — the embedded API: cairn_open() and the key-value, watch, lease and status calls
 * of include/cairn.h, on the same node object cairnd runs (server/srv_node.h).
 *
 * Promises: every call goes through the same service code as a gRPC request (validation,
 * limits, raft, etcd's errors), handed over in-process with srv_local_open (no encoding of
 * requests, no network); replies are copied out on the answering thread straight into the
 * caller's result, so a read holds its LMDB transaction only for that copy.
 * Owns: the node, its watch thread and the watchers registered on it.
 * Never: lets a slow watch callback block the node thread (bounded per-watch queues, the
 * hub's catch-up path past them); keeps a pointer into a request after the call returned.
 *
 * Files: embed_node.c (config, open, close, errors), embed_call.c (synchronous in-process
 * calls), embed_kv.c (put, get, delete, range iterator, compact), embed_txn.c (txn builder),
 * embed_watch.c (watches and the watch thread), embed_lease.c, embed_status.c (status,
 * HashKV, memory).
 */
#ifndef CAIRN_EMBED_H
#define CAIRN_EMBED_H

#include "cairn.h"
#include "common.h"
#include "server.h"
#include "srv_grpc.h"
#include "srv_node.h"

#include "etcdserverpb/rpc.pb-c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum embed_method {
    EMBED_RANGE = 0,
    EMBED_PUT,
    EMBED_DELETE,
    EMBED_TXN,
    EMBED_COMPACT,
    EMBED_WATCH,
    EMBED_LEASE_GRANT,
    EMBED_LEASE_REVOKE,
    EMBED_LEASE_KEEPALIVE,
    EMBED_LEASE_TTL,
    EMBED_STATUS,
    EMBED_HASHKV,
    EMBED_METHOD_COUNT
};

struct embed_watch_thread;

struct cairn_config {
    struct srv_config cfg;
};

struct cairn_node {
    struct srv_node *srv;
    const struct srv_method *methods[EMBED_METHOD_COUNT];
    struct embed_watch_thread *wt; /* started with the first watch */
    pthread_mutex_t wt_mu;         /* guards starting wt */
    /* cairn_close: new calls are refused once closing is set, and close waits until no
     * caller is inside a service handler (serializable reads run on the caller's thread
     * and must not race the store's closing); callers waiting for the node thread are
     * answered by the node's stop */
    atomic_int closing;
    atomic_int inside;
};

/* Enter a service handler on the caller's thread: 0, or CAIRN_ESTOPPED (closing). Every
 * successful embed_enter is paired with embed_leave. */
int embed_enter(struct cairn_node *nd);
void embed_leave(struct cairn_node *nd);

/* Record the message for cairn_errmsg() on this thread and return code (for `return`). */
int embed_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forget the last message (a call that succeeds clears it). */
void embed_clear_error(void);

/* Copies the reply out, on the answering thread; returns 0 or a negative code (ENOMEM). */
typedef int (*embed_copy_fn)(void *arg, const ProtobufCMessage *resp);

/*
 * embed_call — one synchronous in-process call: method m with req, the reply given to copy
 * (may be NULL) before this returns. For a stream method the first message is the answer
 * and the stream is closed after it. Returns 0, the copy's error, or the cairn code of the
 * failure status (the message goes to cairn_errmsg()).
 */
int embed_call(struct cairn_node *nd, enum embed_method m, const ProtobufCMessage *req,
               embed_copy_fn copy, void *arg);
/* The same with SRV_LOCAL_* flags for the service (srv_local_set_flags). */
int embed_call_flags(struct cairn_node *nd, enum embed_method m, const ProtobufCMessage *req,
                     unsigned flags, embed_copy_fn copy, void *arg);

/* The range end for "every key starting with prefix" into out (room for n + 1 bytes);
 * returns its length ("\0", 1 byte, when the prefix is empty or all 0xff: every key). */
size_t embed_prefix_end(const uint8_t *prefix, size_t n, uint8_t *out);

/* Convert a store pair (mvccpb.KeyValue) to the public form; pointers alias kv's bytes. */
struct Mvccpb__KeyValue;
void embed_kv_from_pb(const struct Mvccpb__KeyValue *kv, struct cairn_kv *out);

/* embed_watch.c: end every watcher (ESTOPPED) and stop the watch thread; cairn_close calls it
 * before the node stops. */
void embed_watch_shutdown(struct cairn_node *nd);

#endif /* CAIRN_EMBED_H */
