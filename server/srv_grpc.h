/*
 * srv_grpc.h — the thin dispatch layer between the gRPC core C API and cairn's services.
 *
 * There is no gRPC code generator for C, so this layer is ours: a method table knows each
 * method's path, streaming kind and request type; requests are decoded with protobuf-c
 * into a per-call arena and handed to the service; replies are packed and sent from any
 * thread (grpc_call_start_batch is thread-safe). Unknown methods get UNIMPLEMENTED from a
 * pool of catch-all requests, and a malformed message gets INTERNAL like grpc-go does.
 *
 * Promises: each call is freed exactly once, after every batch on it completed and the
 * service let go of it; a stream never has more than one send in flight, and its
 * outbound queue is bounded (srv_stream_send refuses past the bound so the caller can
 * switch to a slower path instead of buffering without limit).
 * Owns: the grpc_server, its completion queue and polling thread(s), and every call ctx.
 * Never: blocks a polling thread on disk or on the node loop.
 */
#ifndef CAIRN_SRV_GRPC_H
#define CAIRN_SRV_GRPC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

struct srv_grpc;
struct srv_call;

enum srv_call_kind {
    SRV_UNARY = 0,     /* one request, one reply */
    SRV_SERVER_STREAM, /* one request, many replies (Snapshot) */
    SRV_BIDI,          /* many requests, many replies (Watch, LeaseKeepAlive) */
};

/* gRPC status codes used by cairn (values are gRPC's). */
enum srv_status {
    SRV_OK = 0,
    SRV_CANCELLED = 1,
    SRV_UNKNOWN = 2,
    SRV_INVALID_ARGUMENT = 3,
    SRV_DEADLINE_EXCEEDED = 4,
    SRV_NOT_FOUND = 5,
    SRV_ALREADY_EXISTS = 6,
    SRV_PERMISSION_DENIED = 7,
    SRV_RESOURCE_EXHAUSTED = 8,
    SRV_FAILED_PRECONDITION = 9,
    SRV_ABORTED = 10,
    SRV_OUT_OF_RANGE = 11,
    SRV_UNIMPLEMENTED = 12,
    SRV_INTERNAL = 13,
    SRV_UNAVAILABLE = 14,
    SRV_DATA_LOSS = 15,
    SRV_UNAUTHENTICATED = 16,
};

/*
 * A service method. For SRV_UNARY and SRV_SERVER_STREAM, on_request runs once with the
 * decoded request; for SRV_BIDI, on_open runs when the stream starts, on_request for each
 * message and on_close once when the client half-closes, cancels or the server shuts
 * down. Handlers run on a polling thread and must not block. `req` lives in the call's
 * arena until the call ends (or, for streams, until the next message is read).
 */
struct srv_method {
    const char *path; /* "/etcdserverpb.KV/Range" */
    enum srv_call_kind kind;
    const ProtobufCMessageDescriptor *req_desc;
    void (*on_open)(struct srv_call *call);
    void (*on_request)(struct srv_call *call, const ProtobufCMessage *req);
    void (*on_close)(struct srv_call *call, int cancelled);
};

struct srv_grpc_config {
    const char *const *listen; /* "127.0.0.1:2379"... */
    size_t n_listen;
    uint64_t max_recv_bytes;   /* --max-request-bytes (+ gRPC overhead) */
    uint32_t stream_queue_max; /* bound on queued replies per stream */
    const struct srv_method *methods;
    size_t n_methods;
    void *user; /* passed back via srv_call_user() */
};

/* Create, bind every address and start one polling thread. Returns 0, CAIRN_EINVAL (a bad
 * listen address), CAIRN_EIO (address in use: the message names it), CAIRN_ENOMEM.
 * grpc_init() is called here and balanced by srv_grpc_destroy(). */
int srv_grpc_start(const struct srv_grpc_config *cfg, struct srv_grpc **out, char *err,
                   size_t err_len);

/* Stop accepting and cancel every open call (streams see on_close(cancelled=1)); calls the
 * service still holds stay valid until it ends or unrefs them. Idempotent, any thread. */
void srv_grpc_shutdown(struct srv_grpc *g);

/* Shut down (if not yet), wait up to 5 s for the service to let go of every call, join
 * the polling thread and free everything. Call once, after the service stopped using it. */
void srv_grpc_destroy(struct srv_grpc *g);

/* The bound port of listen address i (useful with port 0 in tests). */
int srv_grpc_port(const struct srv_grpc *g, size_t i);

/* The call's user pointer (from srv_grpc_config.user) and its per-call slot. */
void *srv_call_user(const struct srv_call *call);
void *srv_call_get_data(const struct srv_call *call);
void srv_call_set_data(struct srv_call *call, void *data);
const struct srv_method *srv_call_method(const struct srv_call *call);

/* Look up a metadata value sent by the client (e.g. "token"); NULL if absent. The value is
 * valid for the life of the call; *len gets its length. */
const char *srv_call_metadata(const struct srv_call *call, const char *key, size_t *len);

/* Wire size of the request being handled (etcd's --max-request-bytes applies to it). */
size_t srv_call_request_bytes(const struct srv_call *call);

/* The per-call protobuf-c allocator (arena), for building replies cheaply. */
ProtobufCAllocator *srv_call_allocator(struct srv_call *call);

/*
 * Unary / final replies. Exactly one of srv_call_reply or srv_call_fail ends a unary call.
 * Thread-safe: may be called from the node thread. resp is packed before return.
 */
void srv_call_reply(struct srv_call *call, const ProtobufCMessage *resp);
void srv_call_fail(struct srv_call *call, enum srv_status code, const char *message);

/*
 * Streams. srv_stream_send queues a message (packed before return); returns 0, or
 * CAIRN_ELIMIT if the stream's queue is at its bound, or CAIRN_ECANCELED if the stream
 * is gone. srv_stream_finish sends the final status after the queue drains; the service
 * must not touch the call after on_close has run. Thread-safe.
 */
int srv_stream_send(struct srv_call *call, const ProtobufCMessage *msg);
void srv_stream_finish(struct srv_call *call, enum srv_status code, const char *message);
/* Block (a worker thread, never a polling thread) until the stream's queue is at most half
 * full: 0, CAIRN_ECANCELED (stream gone) or CAIRN_ETIMEOUT. Flow control for big streams. */
int srv_stream_wait_room(struct srv_call *call, uint64_t timeout_ms);
/* Keep a stream call alive outside a handler (e.g. queued on the node thread). */
void srv_call_ref(struct srv_call *call);
void srv_call_unref(struct srv_call *call);

/*
 * In-process calls: the embedded API (embed/) calls the same service methods without gRPC.
 * The service cannot tell the difference: srv_call_reply, srv_call_fail, srv_stream_send and
 * srv_stream_finish hand the message to the sink instead of the network.
 *
 * The sink's functions run on whichever thread answers (the caller's own thread for work a
 * handler finishes inline, the node thread otherwise), under the call's lock, so never
 * concurrently for one call; they must not call back into the call. message() gets each
 * reply or stream message and must copy what it keeps (it may point into a read
 * transaction); for streams it returns 0, or CAIRN_ELIMIT when its bounded queue is full
 * (srv_stream_send passes that on, so the service falls back to its slow path). end() runs
 * exactly once with the final status; message is NULL for OK. After end() the call never
 * touches the sink again.
 */
struct srv_local_sink {
    int (*message)(void *arg, const ProtobufCMessage *msg);
    void (*end)(void *arg, enum srv_status code, const char *message);
    void *arg;
};

/* Create a call to method m for service user pointer user (srv_call_user). For a SRV_BIDI
 * method, m->on_open runs before this returns. The caller holds one reference, dropped by
 * srv_local_close. Returns 0 or CAIRN_ENOMEM. */
int srv_local_open(const struct srv_method *m, void *user, const struct srv_local_sink *sink,
                   struct srv_call **out);

/* Hand the call a request: exactly once for unary and server-stream methods, any number of
 * times for SRV_BIDI. req must stay valid until the call ends (unary) or this returns
 * (bidi, where services copy what they keep). */
void srv_local_request(struct srv_call *c, const ProtobufCMessage *req);

/* Options an in-process caller may set before srv_local_request (srv_call_local_flags reads
 * them; 0 for gRPC calls). SRV_LOCAL_NO_COUNT: a Range page need not count the rest of the
 * range (the caller pages through it and has the total). */
#define SRV_LOCAL_NO_COUNT 1u
void srv_local_set_flags(struct srv_call *c, unsigned flags);
unsigned srv_call_local_flags(const struct srv_call *c);

/* The caller is done: a stream still open is cancelled (the service's on_close runs with
 * cancelled = 1); the caller's reference is dropped. A unary call that has not ended yet
 * still ends normally (its sink is called); the call is freed after both let go. */
void srv_local_close(struct srv_call *c);

#endif /* CAIRN_SRV_GRPC_H */
