/* The fake etcd server of fake_server.h: gRPC core, generic calls, one thread, one queue. */
#include "fake_server.h"

#include "common.h"

#include "etcdserverpb/rpc.pb-c.h"

#include <arpa/inet.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum tag_kind { T_NEW, T_RECV, T_SEND, T_FINAL, T_CLOSE, T_SHUTDOWN };

struct call_ctx;
struct op_tag {
    struct call_ctx *ctx;
    enum tag_kind kind;
};

struct call_ctx {
    struct fake_server *fs;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    struct op_tag t_new, t_recv, t_send, t_final, t_close;
    int refs; /* outstanding batches */
    char method[96];
    grpc_byte_buffer *recv_bb;
    grpc_byte_buffer *send_bb;
    int cancelled;
    int sent_md;
    int snap_sent;
};

struct fake_server {
    grpc_server *srv;
    grpc_completion_queue *cq;
    pthread_t th;
    int port;
    enum fake_mode mode;
    uint64_t id;
    atomic_int calls;
    int live; /* call contexts not yet freed (server thread only) */
    int shutdown_seen;
    struct op_tag t_shutdown;
};

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static ProtobufCMessage *unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d)
{
    grpc_byte_buffer_reader r;
    CAIRN_ASSERT(grpc_byte_buffer_reader_init(&r, bb));
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    ProtobufCMessage *m =
        protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    grpc_byte_buffer_reader_destroy(&r);
    return m;
}

static void post_new(struct fake_server *fs)
{
    struct call_ctx *c = calloc(1, sizeof(*c));
    CAIRN_ASSERT(c != NULL);
    c->fs = fs;
    c->t_new = (struct op_tag){c, T_NEW};
    c->t_recv = (struct op_tag){c, T_RECV};
    c->t_send = (struct op_tag){c, T_SEND};
    c->t_final = (struct op_tag){c, T_FINAL};
    c->t_close = (struct op_tag){c, T_CLOSE};
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    fs->live++;
    grpc_call_error e =
        grpc_server_request_call(fs->srv, &c->call, &c->details, &c->md, fs->cq, fs->cq, &c->t_new);
    CAIRN_ASSERT(e == GRPC_CALL_OK);
}

static void ctx_free_if_done(struct call_ctx *c)
{
    if (c->refs > 0)
        return;
    if (c->call)
        grpc_call_unref(c->call);
    if (c->recv_bb)
        grpc_byte_buffer_destroy(c->recv_bb);
    if (c->send_bb)
        grpc_byte_buffer_destroy(c->send_bb);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    c->fs->live--;
    free(c);
}

static void start(struct call_ctx *c, grpc_op *ops, size_t n, struct op_tag *tag)
{
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    CAIRN_ASSERT(e == GRPC_CALL_OK);
    c->refs++;
}

static void start_recv(struct call_ctx *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_bb;
    start(c, &op, 1, &c->t_recv);
}

/* Final batch: initial metadata if not sent yet, an optional message, the status. */
static void finish(struct call_ctx *c, const ProtobufCMessage *reply, grpc_status_code code,
                   const char *msg)
{
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (!c->sent_md) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->sent_md = 1;
    }
    if (reply) {
        c->send_bb = pack(reply);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->send_bb;
    }
    grpc_slice details = grpc_slice_from_copied_string(msg ? msg : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    ops[n++].data.send_status_from_server.status_details = &details;
    start(c, ops, n, &c->t_final);
    grpc_slice_unref(details);
}

static void send_msg(struct call_ctx *c, const ProtobufCMessage *m)
{
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (!c->sent_md) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->sent_md = 1;
    }
    c->send_bb = pack(m);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = c->send_bb;
    start(c, ops, n, &c->t_send);
}

static int is(const struct call_ctx *c, const char *method)
{
    return strcmp(c->method, method) == 0;
}

static void send_snapshot_chunk(struct call_ctx *c)
{
    static uint8_t blob[FAKE_SNAPSHOT_CHUNK_BYTES];
    memset(blob, 'a' + c->snap_sent, sizeof(blob));
    Etcdserverpb__SnapshotResponse r = ETCDSERVERPB__SNAPSHOT_RESPONSE__INIT;
    r.blob.data = blob;
    r.blob.len = sizeof(blob);
    r.remaining_bytes =
        (uint64_t)(FAKE_SNAPSHOT_CHUNKS - 1 - c->snap_sent) * FAKE_SNAPSHOT_CHUNK_BYTES;
    send_msg(c, &r.base);
}

/* A request message arrived on c (recv_bb is set). */
static void on_request(struct call_ctx *c)
{
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    h.member_id = c->fs->id;
    if (is(c, "/etcdserverpb.Watch/Watch")) {
        Etcdserverpb__WatchRequest *req = (Etcdserverpb__WatchRequest *)unpack(
            c->recv_bb, &etcdserverpb__watch_request__descriptor);
        CAIRN_ASSERT(req != NULL);
        Etcdserverpb__WatchResponse r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
        r.header = &h;
        if (req->request_union_case == ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST) {
            r.watch_id = req->create_request->watch_id;
            r.created = 1;
        }
        protobuf_c_message_free_unpacked(&req->base, NULL);
        send_msg(c, &r.base);
        return;
    }
    if (is(c, "/etcdserverpb.Lease/LeaseKeepAlive")) {
        Etcdserverpb__LeaseKeepAliveRequest *req = (Etcdserverpb__LeaseKeepAliveRequest *)unpack(
            c->recv_bb, &etcdserverpb__lease_keep_alive_request__descriptor);
        CAIRN_ASSERT(req != NULL);
        Etcdserverpb__LeaseKeepAliveResponse r = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
        r.header = &h;
        r.id = req->id;
        r.ttl = FAKE_KEEPALIVE_TTL;
        protobuf_c_message_free_unpacked(&req->base, NULL);
        send_msg(c, &r.base);
        return;
    }
    if (is(c, "/etcdserverpb.Maintenance/Snapshot")) {
        send_snapshot_chunk(c);
        return;
    }
    atomic_fetch_add(&c->fs->calls, 1);
    if (c->fs->mode == FAKE_MODE_UNAVAILABLE) {
        finish(c, NULL, GRPC_STATUS_UNAVAILABLE, FAKE_UNAVAILABLE_MSG);
    } else if (is(c, "/etcdserverpb.KV/Range")) {
        if (c->fs->mode == FAKE_MODE_SILENT)
            return; /* hold the call: the client's deadline (T_CLOSE) ends it */
        Etcdserverpb__RangeRequest *req = (Etcdserverpb__RangeRequest *)unpack(
            c->recv_bb, &etcdserverpb__range_request__descriptor);
        CAIRN_ASSERT(req != NULL);
        int64_t rev = req->revision;
        protobuf_c_message_free_unpacked(&req->base, NULL);
        Etcdserverpb__RangeResponse r = ETCDSERVERPB__RANGE_RESPONSE__INIT;
        r.header = &h;
        r.count = FAKE_RANGE_COUNT;
        if (rev == 1)
            finish(c, NULL, GRPC_STATUS_OUT_OF_RANGE, FAKE_COMPACTED_MSG);
        else
            finish(c, &r.base, GRPC_STATUS_OK, NULL);
    } else if (is(c, "/etcdserverpb.KV/Put")) {
        Etcdserverpb__PutResponse r = ETCDSERVERPB__PUT_RESPONSE__INIT;
        r.header = &h;
        finish(c, &r.base, GRPC_STATUS_OK, NULL);
    } else {
        finish(c, NULL, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
    }
}

static int is_stream(const struct call_ctx *c)
{
    return is(c, "/etcdserverpb.Watch/Watch") || is(c, "/etcdserverpb.Lease/LeaseKeepAlive");
}

static void on_event(struct op_tag *t, int ok)
{
    struct call_ctx *c = t->ctx;
    switch (t->kind) {
    case T_NEW: {
        if (!ok) { /* server shutting down */
            ctx_free_if_done(c);
            return;
        }
        post_new(c->fs);
        size_t n = GRPC_SLICE_LENGTH(c->details.method);
        CAIRN_ASSERT(n < sizeof(c->method));
        memcpy(c->method, GRPC_SLICE_START_PTR(c->details.method), n);
        c->method[n] = '\0';
        grpc_op op;
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        op.data.recv_close_on_server.cancelled = &c->cancelled;
        start(c, &op, 1, &c->t_close);
        start_recv(c);
        return;
    }
    case T_RECV:
        c->refs--;
        if (ok && c->recv_bb) {
            on_request(c);
            grpc_byte_buffer_destroy(c->recv_bb);
            c->recv_bb = NULL;
        } else if (ok && is_stream(c)) {
            finish(c, NULL, GRPC_STATUS_OK, NULL); /* the client half-closed */
        }
        break;
    case T_SEND:
        c->refs--;
        grpc_byte_buffer_destroy(c->send_bb);
        c->send_bb = NULL;
        if (!ok)
            break;
        if (is(c, "/etcdserverpb.Maintenance/Snapshot")) {
            if (++c->snap_sent < FAKE_SNAPSHOT_CHUNKS)
                send_snapshot_chunk(c);
            else
                finish(c, NULL, GRPC_STATUS_OK, NULL);
        } else {
            start_recv(c);
        }
        break;
    case T_FINAL:
        c->refs--;
        if (c->send_bb) {
            grpc_byte_buffer_destroy(c->send_bb);
            c->send_bb = NULL;
        }
        break;
    case T_CLOSE:
        c->refs--;
        break;
    case T_SHUTDOWN:
        c = NULL;
        break;
    }
    if (c)
        ctx_free_if_done(c);
}

static void *server_main(void *arg)
{
    struct fake_server *fs = arg;
    while (!(fs->shutdown_seen && fs->live == 0)) {
        grpc_event ev =
            grpc_completion_queue_next(fs->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        CAIRN_ASSERT(ev.type == GRPC_OP_COMPLETE);
        struct op_tag *t = ev.tag;
        if (t->kind == T_SHUTDOWN)
            fs->shutdown_seen = 1;
        else
            on_event(t, ev.success);
    }
    grpc_server_destroy(fs->srv);
    grpc_completion_queue_shutdown(fs->cq);
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(fs->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    grpc_completion_queue_destroy(fs->cq);
    return NULL;
}

struct fake_server *fake_server_start(enum fake_mode mode, uint64_t member_id)
{
    grpc_init();
    struct fake_server *fs = calloc(1, sizeof(*fs));
    CAIRN_ASSERT(fs != NULL);
    fs->mode = mode;
    fs->id = member_id;
    fs->t_shutdown = (struct op_tag){NULL, T_SHUTDOWN};
    fs->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_arg arg = {
        .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    fs->srv = grpc_server_create(&args, NULL);
    grpc_server_register_completion_queue(fs->srv, fs->cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    fs->port = grpc_server_add_http2_port(fs->srv, "127.0.0.1:0", creds);
    grpc_server_credentials_release(creds);
    CAIRN_ASSERT(fs->port > 0);
    grpc_server_start(fs->srv);
    for (int i = 0; i < 4; i++)
        post_new(fs);
    CAIRN_ASSERT(pthread_create(&fs->th, NULL, server_main, fs) == 0);
    return fs;
}

int fake_server_port(const struct fake_server *fs)
{
    return fs->port;
}

int fake_server_calls(struct fake_server *fs)
{
    return atomic_load(&fs->calls);
}

void fake_server_stop(struct fake_server *fs)
{
    grpc_server_shutdown_and_notify(fs->srv, fs->cq, &fs->t_shutdown);
    grpc_server_cancel_all_calls(fs->srv);
    pthread_join(fs->th, NULL);
    free(fs);
    grpc_shutdown();
}

int fake_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CAIRN_ASSERT(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CAIRN_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    CAIRN_ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}
