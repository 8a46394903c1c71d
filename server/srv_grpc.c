/* The gRPC core dispatch layer: registered methods, catch-all, call lifetime, stream queues. */
#include "srv_grpc.h"
#include "srv_log.h"

#include "alloc.h"
#include "common.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REQUESTS_PER_METHOD 8 /* outstanding request_call slots per registered method */
#define GENERIC_REQUESTS    4 /* catch-all slots answering UNIMPLEMENTED */
#define LISTEN_MAX          8
#define SHUTDOWN_WAIT_MS    5000
#define ARENA_CHUNK_BYTES   4096

struct tag {
    void (*fn)(struct tag *t, int ok);
};

/* A per-call bump arena: decoding and reply building allocate here, freed with the call. */
struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char mem[];
};

struct srv_grpc {
    grpc_server *server;
    grpc_completion_queue *cq;
    void **method_handles; /* grpc_server_register_method results, one per method */
    struct srv_grpc_config cfg;
    int ports[LISTEN_MAX];
    pthread_t thread;
    atomic_int shutting_down;
    int shutdown_done;
    atomic_long live_calls;
    struct tag t_shutdown;
};

struct srv_call {
    struct srv_grpc *g;                /* NULL for an in-process call */
    const struct srv_local_sink *sink; /* in-process calls only */
    const ProtobufCMessage *local_req; /* in-process: the request (see srv_local_request) */
    unsigned local_flags;              /* in-process: SRV_LOCAL_* */
    void *user;                        /* srv_call_user() */
    const struct srv_method *m;        /* NULL for the catch-all */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload; /* initial request for unary / server-stream */
    grpc_call_details details; /* catch-all only */
    grpc_byte_buffer *recv_buf;
    grpc_byte_buffer *send_buf;  /* the one stream message in flight */
    grpc_byte_buffer *final_buf; /* reply carried by the final batch */
    int cancelled_flag;          /* written by RECV_CLOSE_ON_SERVER */
    struct tag t_new, t_recv, t_send, t_close, t_final;
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t room; /* signalled when a stream send completes */
    /* stream state, under mu */
    grpc_byte_buffer **q;
    uint32_t q_head, q_len, q_cap;
    int send_in_flight;
    int initial_md_sent;
    int finish_pending;
    int finished; /* final status started (or call dead) */
    int dead;     /* cancelled or closed: no more sends */
    enum srv_status finish_code;
    char *finish_msg;
    int closed_notified;
    int service_released; /* the service's implicit reference was dropped */
    size_t request_bytes; /* size of the last request message on the wire */
    void *data;
    struct arena_chunk *arena;
    ProtobufCAllocator pb_alloc;
};

/* ---- arena ---- */

static void *arena_alloc(void *ctx, size_t size)
{
    struct srv_call *c = ctx;
    size = (size + 15) & ~(size_t)15;
    struct arena_chunk *a = c->arena;
    if (!a || a->cap - a->used < size) {
        size_t cap = size > ARENA_CHUNK_BYTES ? size : ARENA_CHUNK_BYTES;
        struct arena_chunk *n = alloc_malloc(ALLOC_SUBSYS_REQUEST_ARENAS, sizeof(*n) + cap);
        if (!n)
            return NULL;
        n->next = a;
        n->used = 0;
        n->cap = cap;
        c->arena = n;
        a = n;
    }
    void *p = a->mem + a->used;
    a->used += size;
    CAIRN_ASSERT(a->used <= a->cap);
    return p;
}

static void arena_free(void *ctx, void *p)
{
    (void)ctx, (void)p; /* freed all at once with the call */
}

static void arena_release(struct srv_call *c)
{
    for (int i = 0; c->arena && i < (1 << 24); i++) {
        struct arena_chunk *n = c->arena->next;
        alloc_free(ALLOC_SUBSYS_REQUEST_ARENAS, c->arena);
        c->arena = n;
    }
}

/* ---- call lifetime ---- */

static void on_new_registered(struct tag *t, int ok);
static void on_new_generic(struct tag *t, int ok);
static void on_close(struct tag *t, int ok);
static void on_recv(struct tag *t, int ok);
static void on_send(struct tag *t, int ok);
static void on_final(struct tag *t, int ok);

/* Outgoing messages are charged to ALLOC_SUBSYS_GRPC_BUFFERS until gRPC is done with them. */
static void out_destroy(grpc_byte_buffer *bb)
{
    alloc_account_sub(ALLOC_SUBSYS_GRPC_BUFFERS, grpc_byte_buffer_length(bb));
    grpc_byte_buffer_destroy(bb);
}

static struct srv_call *call_new(struct srv_grpc *g, const struct srv_method *m)
{
    struct srv_call *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->g = g;
    c->m = m;
    c->user = g->cfg.user;
    atomic_init(&c->refs, 1); /* the pending request_call */
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->room, &ca);
    pthread_condattr_destroy(&ca);
    grpc_metadata_array_init(&c->md);
    c->t_new.fn = m ? on_new_registered : on_new_generic;
    c->t_recv.fn = on_recv;
    c->t_send.fn = on_send;
    c->t_close.fn = on_close;
    c->t_final.fn = on_final;
    c->pb_alloc.alloc = arena_alloc;
    c->pb_alloc.free = arena_free;
    c->pb_alloc.allocator_data = c;
    if (!m)
        grpc_call_details_init(&c->details);
    atomic_fetch_add(&g->live_calls, 1);
    return c;
}

static void local_free(struct srv_call *c);

static void call_free(struct srv_call *c)
{
    struct srv_grpc *g = c->g;
    if (c->sink) {
        local_free(c);
        return;
    }
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->recv_buf)
        grpc_byte_buffer_destroy(c->recv_buf);
    if (c->send_buf)
        out_destroy(c->send_buf);
    if (c->final_buf)
        out_destroy(c->final_buf);
    for (uint32_t i = 0; i < c->q_len; i++)
        out_destroy(c->q[(c->q_head + i) % c->q_cap]);
    free(c->q);
    free(c->finish_msg);
    grpc_metadata_array_destroy(&c->md);
    if (!c->m)
        grpc_call_details_destroy(&c->details);
    if (c->call)
        grpc_call_unref(c->call);
    arena_release(c);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->room);
    free(c);
    atomic_fetch_sub(&g->live_calls, 1);
}

void srv_call_ref(struct srv_call *c)
{
    int old = atomic_fetch_add(&c->refs, 1);
    CAIRN_ASSERT(old > 0);
}

void srv_call_unref(struct srv_call *c)
{
    int old = atomic_fetch_sub(&c->refs, 1);
    CAIRN_ASSERT(old > 0);
    if (old == 1)
        call_free(c);
}

static int post_request(struct srv_grpc *g, const struct srv_method *m, size_t mi)
{
    if (atomic_load(&g->shutting_down))
        return 0;
    struct srv_call *c = call_new(g, m);
    if (!c)
        return CAIRN_ENOMEM;
    grpc_call_error e;
    if (m) {
        e = grpc_server_request_registered_call(
            g->server, g->method_handles[mi], &c->call, &c->deadline, &c->md,
            m->kind == SRV_BIDI ? NULL : &c->payload, g->cq, g->cq, &c->t_new);
    } else {
        e = grpc_server_request_call(g->server, &c->call, &c->details, &c->md, g->cq, g->cq,
                                     &c->t_new);
    }
    if (e != GRPC_CALL_OK) {
        srv_call_unref(c);
        return CAIRN_EIO;
    }
    return 0;
}

static size_t method_index(const struct srv_grpc *g, const struct srv_method *m)
{
    size_t i = (size_t)(m - g->cfg.methods);
    CAIRN_ASSERT(i < g->cfg.n_methods);
    return i;
}

static void start_batch(struct srv_call *c, const grpc_op *ops, size_t n, struct tag *t)
{
    srv_call_ref(c); /* held by the batch until its completion */
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, t, NULL);
    CAIRN_ASSERT(e == GRPC_CALL_OK);
}

static void post_recv_close(struct srv_call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled_flag;
    start_batch(c, &op, 1, &c->t_close);
}

static void post_recv(struct srv_call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_buf;
    start_batch(c, &op, 1, &c->t_recv);
}

/* Decode a byte buffer; returns NULL on a malformed message. */
static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb,
                                ProtobufCAllocator *a, size_t *bytes, uint64_t limit)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    *bytes = GRPC_SLICE_LENGTH(s);
    if (*bytes > limit) { /* over the limit: the caller answers RESOURCE_EXHAUSTED */
        grpc_slice_unref(s);
        grpc_byte_buffer_reader_destroy(&r);
        return NULL;
    }
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(d, a, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    grpc_byte_buffer_reader_destroy(&r);
    return msg;
}

static grpc_byte_buffer *encode(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(n);
    size_t w = protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    CAIRN_ASSERT(w == n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    alloc_account_add(ALLOC_SUBSYS_GRPC_BUFFERS, n);
    return bb;
}

/* The service holds one implicit reference from the start of the call until it ends the
 * call (reply, fail, finish) or is told the stream was cancelled. */
static void release_service_ref(struct srv_call *c)
{
    pthread_mutex_lock(&c->mu);
    int first = !c->service_released;
    c->service_released = 1;
    pthread_mutex_unlock(&c->mu);
    if (first)
        srv_call_unref(c);
}

/* Start the final batch: [initial metadata], [message], status. Caller holds no lock. */
static void start_final(struct srv_call *c, grpc_byte_buffer *bb, enum srv_status code,
                        const char *message, int send_md)
{
    grpc_op ops[3];
    size_t n = 0;
    grpc_slice details = grpc_slice_from_copied_string(message ? message : "");
    memset(ops, 0, sizeof(ops));
    if (send_md)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (bb) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)code;
    ops[n++].data.send_status_from_server.status_details = &details;
    CAIRN_ASSERT(n <= CAIRN_ARRAY_LEN(ops));
    CAIRN_ASSERT(c->final_buf == NULL);
    c->final_buf = bb; /* destroyed with the call, after the batch completed */
    start_batch(c, ops, n, &c->t_final);
    grpc_slice_unref(details); /* only needs to live during start_batch */
}

/* End a call once with an optional reply; later attempts are ignored. */
static void local_end(struct srv_call *c, const ProtobufCMessage *msg, enum srv_status code,
                      const char *message);

static void end_call(struct srv_call *c, const ProtobufCMessage *msg, enum srv_status code,
                     const char *message)
{
    if (c->sink) {
        local_end(c, msg, code, message);
        release_service_ref(c);
        return;
    }
    grpc_byte_buffer *bb = msg ? encode(msg) : NULL;
    pthread_mutex_lock(&c->mu);
    int go = !c->finished;
    c->finished = 1;
    int send_md = !c->initial_md_sent;
    c->initial_md_sent = 1;
    pthread_mutex_unlock(&c->mu);
    if (go)
        start_final(c, bb, code, message, send_md);
    else if (bb)
        out_destroy(bb);
    release_service_ref(c);
}

void srv_call_reply(struct srv_call *c, const ProtobufCMessage *resp)
{
    CAIRN_ASSERT(resp != NULL);
    end_call(c, resp, SRV_OK, NULL);
}

void srv_call_fail(struct srv_call *c, enum srv_status code, const char *message)
{
    CAIRN_ASSERT(code != SRV_OK);
    end_call(c, NULL, code, message);
}

/* A send batch: [initial metadata] + message, or initial metadata alone (bb == NULL). */
static void start_send(struct srv_call *c, grpc_byte_buffer *bb, int send_md)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    CAIRN_ASSERT(bb != NULL || send_md);
    if (send_md)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (bb) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
    }
    CAIRN_ASSERT(c->send_buf == NULL);
    c->send_buf = bb;
    start_batch(c, ops, n, &c->t_send);
}

static int local_send(struct srv_call *c, const ProtobufCMessage *msg);

int srv_stream_send(struct srv_call *c, const ProtobufCMessage *msg)
{
    CAIRN_ASSERT(c->m && c->m->kind != SRV_UNARY);
    if (c->sink)
        return local_send(c, msg);
    grpc_byte_buffer *bb = encode(msg);
    pthread_mutex_lock(&c->mu);
    if (c->dead || c->finished || c->finish_pending) {
        pthread_mutex_unlock(&c->mu);
        out_destroy(bb);
        return CAIRN_ECANCELED;
    }
    if (c->send_in_flight) {
        if (c->q_len == c->q_cap) {
            pthread_mutex_unlock(&c->mu);
            out_destroy(bb);
            return CAIRN_ELIMIT;
        }
        c->q[(c->q_head + c->q_len) % c->q_cap] = bb;
        c->q_len++;
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    c->send_in_flight = 1;
    int send_md = !c->initial_md_sent;
    c->initial_md_sent = 1;
    pthread_mutex_unlock(&c->mu);
    start_send(c, bb, send_md);
    return 0;
}

int srv_stream_wait_room(struct srv_call *c, uint64_t timeout_ms)
{
    struct timespec ts = cairn_deadline_after_ms(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    while (rc == 0 && !c->sink && !c->dead && !c->finished && c->q_len >= c->q_cap / 2)
        if (pthread_cond_timedwait(&c->room, &c->mu, &ts) != 0)
            rc = CAIRN_ETIMEOUT;
    if (c->dead || c->finished)
        rc = CAIRN_ECANCELED;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void srv_stream_finish(struct srv_call *c, enum srv_status code, const char *message)
{
    CAIRN_ASSERT(c->m && c->m->kind != SRV_UNARY);
    if (c->sink) {
        local_end(c, NULL, code, message);
        release_service_ref(c);
        return;
    }
    pthread_mutex_lock(&c->mu);
    int now = 0, send_md = 0;
    if (!c->finished && !c->finish_pending) {
        if (c->dead) {
            c->finished = 1;
        } else if (c->send_in_flight) {
            c->finish_pending = 1; /* on_send starts it when the queue drains */
            c->finish_code = code;
            free(c->finish_msg);
            c->finish_msg = message ? strdup(message) : NULL;
        } else {
            c->finished = 1;
            now = 1;
            send_md = !c->initial_md_sent;
            c->initial_md_sent = 1;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (now)
        start_final(c, NULL, code, message, send_md);
    release_service_ref(c);
}

static void on_send(struct tag *t, int ok)
{
    struct srv_call *c = CAIRN_CONTAINER_OF(t, struct srv_call, t_send);
    grpc_byte_buffer *next = NULL;
    int final = 0;
    pthread_mutex_lock(&c->mu);
    if (c->send_buf)
        out_destroy(c->send_buf);
    c->send_buf = NULL;
    if (!ok)
        c->dead = 1;
    if (c->dead) {
        for (uint32_t i = 0; i < c->q_len; i++)
            out_destroy(c->q[(c->q_head + i) % c->q_cap]);
        c->q_len = 0;
    }
    if (c->q_len > 0) {
        next = c->q[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
    } else {
        c->send_in_flight = 0;
        if (c->finish_pending) {
            c->finish_pending = 0;
            c->finished = 1;
            final = !c->dead;
        }
    }
    pthread_mutex_unlock(&c->mu);
    pthread_cond_broadcast(&c->room);
    if (next)
        start_send(c, next, 0);
    else if (final)
        start_final(c, NULL, c->finish_code, c->finish_msg, 0);
    srv_call_unref(c);
}

static void on_final(struct tag *t, int ok)
{
    struct srv_call *c = CAIRN_CONTAINER_OF(t, struct srv_call, t_final);
    (void)ok; /* a failed final batch means the client left: nothing to do */
    srv_call_unref(c);
}

/* Tell a stream's service once that the client is gone (cancelled) or done sending. */
static void notify_close(struct srv_call *c, int cancelled)
{
    pthread_mutex_lock(&c->mu);
    int first = !c->closed_notified;
    c->closed_notified = 1;
    if (cancelled)
        c->dead = 1;
    pthread_mutex_unlock(&c->mu);
    pthread_cond_broadcast(&c->room);
    if (first && c->m && c->m->on_close)
        c->m->on_close(c, cancelled);
    if (cancelled)
        release_service_ref(c); /* the service keeps the call only through its own ref */
}

static void on_close(struct tag *t, int ok)
{
    struct srv_call *c = CAIRN_CONTAINER_OF(t, struct srv_call, t_close);
    int cancelled = !ok || c->cancelled_flag;
    pthread_mutex_lock(&c->mu);
    c->dead = 1; /* the call is over either way: no more sends */
    pthread_mutex_unlock(&c->mu);
    /* the call is complete: a stream's service hears about it now if it has not yet, so
     * on_close runs exactly once for every stream */
    if (c->m && c->m->kind != SRV_UNARY) {
        notify_close(c, cancelled);
        release_service_ref(c); /* idempotent: a finished stream released it already */
    }
    srv_call_unref(c);
}

/* grpc-go's wording, which etcd clients see: over the limit, or not a valid message. */
static void decode_error(const struct srv_call *c, char *buf, size_t cap, const char *prefix)
{
    if (c->request_bytes > c->g->cfg.max_recv_bytes)
        snprintf(buf, cap, "grpc: received message larger than max (%zu vs. %llu)",
                 c->request_bytes, (unsigned long long)c->g->cfg.max_recv_bytes);
    else
        snprintf(buf, cap, "%sunexpected EOF", prefix);
}

static void on_recv(struct tag *t, int ok)
{
    struct srv_call *c = CAIRN_CONTAINER_OF(t, struct srv_call, t_recv);
    grpc_byte_buffer *bb = c->recv_buf;
    c->recv_buf = NULL;
    if (!ok || !bb) {
        /* at server shutdown a pending read ends "successfully" with no message */
        notify_close(c, !ok || atomic_load(&c->g->shutting_down));
        srv_call_unref(c);
        return;
    }
    ProtobufCMessage *req =
        decode(c->m->req_desc, bb, NULL, &c->request_bytes, c->g->cfg.max_recv_bytes);
    grpc_byte_buffer_destroy(bb);
    if (!req) {
        char msg[160];
        decode_error(c, msg, sizeof(msg), "grpc: failed to unmarshal the received message ");
        srv_stream_finish(
            c, c->request_bytes > c->g->cfg.max_recv_bytes ? SRV_RESOURCE_EXHAUSTED : SRV_INTERNAL,
            msg);
        srv_call_unref(c);
        return;
    }
    c->m->on_request(c, req);
    protobuf_c_message_free_unpacked(req, NULL);
    pthread_mutex_lock(&c->mu);
    int more = !c->dead && !c->finished && !c->finish_pending;
    pthread_mutex_unlock(&c->mu);
    if (more)
        post_recv(c);
    srv_call_unref(c);
}

static void on_new_registered(struct tag *t, int ok)
{
    struct srv_call *c = CAIRN_CONTAINER_OF(t, struct srv_call, t_new);
    struct srv_grpc *g = c->g;
    const struct srv_method *m = c->m;
    if (!ok) { /* server shutting down: the request slot comes back unused */
        srv_call_unref(c);
        return;
    }
    (void)post_request(g, m, method_index(g, m)); /* keep the slot count constant */
    post_recv_close(c);
    if (m->kind == SRV_BIDI) {
        c->q_cap = g->cfg.stream_queue_max;
        c->q = calloc(c->q_cap, sizeof(*c->q));
        if (!c->q) {
            srv_stream_finish(c, SRV_RESOURCE_EXHAUSTED, "cairn: out of memory");
            return;
        }
        /* Headers go out at once: a gRPC-core client (python's grpcio) with retries on
         * completes its own sends only after the server's headers arrive. */
        c->initial_md_sent = 1;
        c->send_in_flight = 1;
        start_send(c, NULL, 1);
        if (m->on_open)
            m->on_open(c);
        post_recv(c);
        return;
    }
    if (m->kind == SRV_SERVER_STREAM) {
        c->q_cap = g->cfg.stream_queue_max;
        c->q = calloc(c->q_cap, sizeof(*c->q));
        if (!c->q) {
            srv_stream_finish(c, SRV_RESOURCE_EXHAUSTED, "cairn: out of memory");
            return;
        }
    }
    ProtobufCMessage *req = c->payload ? decode(m->req_desc, c->payload, &c->pb_alloc,
                                                &c->request_bytes, g->cfg.max_recv_bytes)
                                       : NULL;
    if (c->payload) {
        grpc_byte_buffer_destroy(c->payload);
        c->payload = NULL;
    }
    if (!req) {
        char msg[160];
        decode_error(c, msg, sizeof(msg), "grpc: error unmarshalling request: ");
        end_call(c, NULL,
                 c->request_bytes > g->cfg.max_recv_bytes ? SRV_RESOURCE_EXHAUSTED : SRV_INTERNAL,
                 msg);
        return;
    }
    m->on_request(c, req);
}

/* Is svc (e.g. "etcdserverpb.KV") the service of one of our methods? */
static int known_service(const struct srv_grpc *g, const char *svc, size_t len)
{
    for (size_t i = 0; i < g->cfg.n_methods; i++) {
        const char *path = g->cfg.methods[i].path;
        if (path[0] == '/' && strncmp(path + 1, svc, len) == 0 && path[1 + len] == '/')
            return 1;
    }
    return 0;
}

static void on_new_generic(struct tag *t, int ok)
{
    struct srv_call *c = CAIRN_CONTAINER_OF(t, struct srv_call, t_new);
    if (!ok) {
        srv_call_unref(c);
        return;
    }
    (void)post_request(c->g, NULL, 0);
    post_recv_close(c);
    /* grpc-go's wording: "unknown service S" or "unknown method M for service S" */
    char msg[512];
    const char *p = (const char *)GRPC_SLICE_START_PTR(c->details.method);
    size_t len = GRPC_SLICE_LENGTH(c->details.method);
    if (len > 0 && p[0] == '/')
        p++, len--;
    const char *slash = memchr(p, '/', len);
    if (slash && !known_service(c->g, p, (size_t)(slash - p))) {
        len = (size_t)(slash - p);
        slash = NULL;
    }
    if (slash)
        snprintf(msg, sizeof(msg), "unknown method %.*s for service %.*s",
                 (int)(len - (size_t)(slash - p) - 1), slash + 1, (int)(slash - p), p);
    else
        snprintf(msg, sizeof(msg), "unknown service %.*s", (int)len, p);
    end_call(c, NULL, SRV_UNIMPLEMENTED, msg);
}

/* ---- accessors ---- */

void *srv_call_user(const struct srv_call *c)
{
    return c->user;
}

void *srv_call_get_data(const struct srv_call *c)
{
    return c->data;
}

void srv_call_set_data(struct srv_call *c, void *data)
{
    c->data = data;
}

const struct srv_method *srv_call_method(const struct srv_call *c)
{
    return c->m;
}

size_t srv_call_request_bytes(const struct srv_call *c)
{
    if (c->sink && c->local_req) /* an in-process request is never encoded unless asked */
        return protobuf_c_message_get_packed_size(c->local_req);
    return c->request_bytes;
}

ProtobufCAllocator *srv_call_allocator(struct srv_call *c)
{
    return &c->pb_alloc;
}

const char *srv_call_metadata(const struct srv_call *c, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < c->md.count; i++) {
        const grpc_metadata *md = &c->md.metadata[i];
        if (GRPC_SLICE_LENGTH(md->key) == klen &&
            memcmp(GRPC_SLICE_START_PTR(md->key), key, klen) == 0) {
            *len = GRPC_SLICE_LENGTH(md->value);
            return (const char *)GRPC_SLICE_START_PTR(md->value);
        }
    }
    return NULL;
}

/* ---- in-process calls ---- */

int srv_local_open(const struct srv_method *m, void *user, const struct srv_local_sink *sink,
                   struct srv_call **out)
{
    CAIRN_ASSERT(m != NULL && sink != NULL && sink->message != NULL && sink->end != NULL);
    struct srv_call *c = calloc(1, sizeof(*c));
    if (!c)
        return CAIRN_ENOMEM;
    c->m = m;
    c->sink = sink;
    c->user = user;
    /* one reference for the caller, one implicit for the service (release_service_ref) */
    atomic_init(&c->refs, 2);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->room, NULL);
    c->pb_alloc.alloc = arena_alloc;
    c->pb_alloc.free = arena_free;
    c->pb_alloc.allocator_data = c;
    c->initial_md_sent = 1; /* nothing to send: keeps the shared code paths quiet */
    *out = c;
    if (m->kind == SRV_BIDI && m->on_open)
        m->on_open(c);
    return 0;
}

void srv_local_request(struct srv_call *c, const ProtobufCMessage *req)
{
    CAIRN_ASSERT(c->sink != NULL && req != NULL);
    CAIRN_ASSERT(req->descriptor == c->m->req_desc);
    pthread_mutex_lock(&c->mu);
    int over = c->dead || c->finished;
    pthread_mutex_unlock(&c->mu);
    if (over) /* a stream the service ended already: nothing listens */
        return;
    /* --max-request-bytes is checked against the wire size, as for a remote call: computed
     * when a handler asks (srv_call_request_bytes), while req is known to be valid */
    c->local_req = req;
    c->request_bytes = 0;
    c->m->on_request(c, req);
    if (c->m->kind == SRV_BIDI)
        c->local_req = NULL; /* the caller may reuse req once this returns */
}

void srv_local_set_flags(struct srv_call *c, unsigned flags)
{
    CAIRN_ASSERT(c->sink != NULL && (flags & ~SRV_LOCAL_NO_COUNT) == 0);
    c->local_flags = flags;
}

unsigned srv_call_local_flags(const struct srv_call *c)
{
    return c->local_flags;
}

void srv_local_close(struct srv_call *c)
{
    CAIRN_ASSERT(c->sink != NULL);
    if (c->m->kind != SRV_UNARY) {
        /* as a client's cancel: on_close runs once for every stream, ended or not */
        notify_close(c, 1);
        release_service_ref(c); /* idempotent; a stream is over for the service now */
    }
    srv_call_unref(c);
}

/* The final status to the sink, once. The sink may free its state after end(). */
static void local_end(struct srv_call *c, const ProtobufCMessage *msg, enum srv_status code,
                      const char *message)
{
    pthread_mutex_lock(&c->mu);
    int tell = !c->finished && !c->dead; /* dead: the caller closed the stream, sink gone */
    c->finished = 1;
    if (tell) {
        if (msg && code == SRV_OK)
            (void)c->sink->message(c->sink->arg, msg);
        c->sink->end(c->sink->arg, code, code == SRV_OK ? NULL : message);
    }
    pthread_mutex_unlock(&c->mu);
}

static int local_send(struct srv_call *c, const ProtobufCMessage *msg)
{
    pthread_mutex_lock(&c->mu);
    int rc = c->dead || c->finished ? CAIRN_ECANCELED : c->sink->message(c->sink->arg, msg);
    pthread_mutex_unlock(&c->mu);
    CAIRN_ASSERT(rc == 0 || rc == CAIRN_ELIMIT || rc == CAIRN_ECANCELED || rc == CAIRN_ENOMEM);
    return rc;
}

static void local_free(struct srv_call *c)
{
    CAIRN_ASSERT(c->g == NULL && c->call == NULL);
    arena_release(c);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->room);
    free(c);
}

/* ---- server ---- */

static void on_shutdown(struct tag *t, int ok)
{
    struct srv_grpc *g = CAIRN_CONTAINER_OF(t, struct srv_grpc, t_shutdown);
    (void)ok;
    g->shutdown_done = 1;
}

static void *poll_thread(void *arg)
{
    struct srv_grpc *g = arg;
    /* this thread decodes requests and builds replies: the reclaimer asks it to collect */
    int registered = alloc_thread_register("grpc") == 0;
    gpr_timespec shutdown_at = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    for (;;) {
        gpr_timespec deadline =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(200, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(g->cq, deadline, NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            ((struct tag *)ev.tag)->fn(ev.tag, ev.success);
        else if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        alloc_thread_poll();
        if (g->shutdown_done) {
            if (atomic_load(&g->live_calls) == 0)
                break;
            gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
            if (gpr_time_cmp(shutdown_at, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0)
                shutdown_at =
                    gpr_time_add(now, gpr_time_from_millis(SHUTDOWN_WAIT_MS, GPR_TIMESPAN));
            else if (gpr_time_cmp(now, shutdown_at) > 0) {
                srv_log(SRV_LOG_WARN, "%ld gRPC calls still held at shutdown\n",
                        (long)atomic_load(&g->live_calls));
                break;
            }
        }
    }
    if (registered)
        alloc_thread_unregister();
    return NULL;
}

int srv_grpc_start(const struct srv_grpc_config *cfg, struct srv_grpc **out, char *err,
                   size_t err_len)
{
    CAIRN_ASSERT(cfg->n_listen > 0 && cfg->n_methods > 0);
    if (cfg->n_listen > LISTEN_MAX) {
        snprintf(err, err_len, "too many listen addresses (max %d)", LISTEN_MAX);
        return CAIRN_ELIMIT;
    }
    struct srv_grpc *g = calloc(1, sizeof(*g));
    if (!g)
        return CAIRN_ENOMEM;
    g->cfg = *cfg;
    if (g->cfg.stream_queue_max == 0)
        g->cfg.stream_queue_max = 1024;
    g->method_handles = calloc(cfg->n_methods, sizeof(void *));
    if (!g->method_handles) {
        free(g);
        return CAIRN_ENOMEM;
    }
    g->t_shutdown.fn = on_shutdown;
    grpc_init();
    grpc_arg args[2];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    args[0].value.integer = 0; /* a second server on our port must fail, not share it */
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    /* gRPC core enforces a backstop of 8x the limit; below it the dispatch layer answers
     * in grpc-go's words, which etcd clients and tests expect */
    uint64_t core_limit = cfg->max_recv_bytes * 8;
    args[1].value.integer = core_limit > INT32_MAX ? INT32_MAX : (int)core_limit;
    grpc_channel_args ch_args = {2, args};
    g->cq = grpc_completion_queue_create_for_next(NULL);
    g->server = grpc_server_create(&ch_args, NULL);
    grpc_server_register_completion_queue(g->server, g->cq, NULL);
    for (size_t i = 0; i < cfg->n_methods; i++) {
        const struct srv_method *m = &cfg->methods[i];
        g->method_handles[i] = grpc_server_register_method(
            g->server, m->path, NULL,
            m->kind == SRV_BIDI ? GRPC_SRM_PAYLOAD_NONE : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
            0);
        CAIRN_ASSERT(g->method_handles[i] != NULL);
    }
    int rc = 0;
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    for (size_t i = 0; i < cfg->n_listen; i++) {
        g->ports[i] = grpc_server_add_http2_port(g->server, cfg->listen[i], creds);
        if (g->ports[i] == 0) {
            snprintf(err, err_len, "cannot listen on %s (address in use or invalid)",
                     cfg->listen[i]);
            rc = CAIRN_EIO;
            break;
        }
    }
    grpc_server_credentials_release(creds);
    grpc_server_start(g->server);
    for (size_t i = 0; rc == 0 && i < cfg->n_methods; i++)
        for (int k = 0; rc == 0 && k < REQUESTS_PER_METHOD; k++)
            rc = post_request(g, &cfg->methods[i], i);
    for (int k = 0; rc == 0 && k < GENERIC_REQUESTS; k++)
        rc = post_request(g, NULL, 0);
    if (rc == 0 && pthread_create(&g->thread, NULL, poll_thread, g) != 0)
        rc = CAIRN_ESYSTEM;
    if (rc != 0) {
        atomic_store(&g->shutting_down, 1);
        grpc_server_shutdown_and_notify(g->server, g->cq, &g->t_shutdown);
        grpc_server_cancel_all_calls(g->server);
        poll_thread(g);
        grpc_server_destroy(g->server);
        grpc_completion_queue_shutdown(g->cq);
        while (grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(g->cq);
        free(g->method_handles);
        free(g);
        grpc_shutdown();
        return rc;
    }
    *out = g;
    return 0;
}

int srv_grpc_port(const struct srv_grpc *g, size_t i)
{
    CAIRN_ASSERT(i < g->cfg.n_listen);
    return g->ports[i];
}

void srv_grpc_shutdown(struct srv_grpc *g)
{
    if (atomic_exchange(&g->shutting_down, 1))
        return;
    grpc_server_shutdown_and_notify(g->server, g->cq, &g->t_shutdown);
    grpc_server_cancel_all_calls(g->server);
}

void srv_grpc_destroy(struct srv_grpc *g)
{
    srv_grpc_shutdown(g);
    pthread_join(g->thread, NULL);
    grpc_server_destroy(g->server);
    grpc_completion_queue_shutdown(g->cq);
    for (int i = 0; i < 1000000; i++) { /* bounded drain: late completions of dead calls */
        grpc_event ev = grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            ((struct tag *)ev.tag)->fn(ev.tag, 0);
    }
    grpc_completion_queue_destroy(g->cq);
    free(g->method_handles);
    free(g);
    grpc_shutdown();
}
