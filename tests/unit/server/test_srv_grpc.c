/* The gRPC dispatch layer end to end over loopback: unary, bidi, unknown method, malformed
 * input, bounded stream queues and shutdown with an open stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "srv_grpc.h"

#include "etcdserverpb/rpc.pb-c.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <string.h>

/* ---- a toy service: Range answers count = key length; Watch echoes creates ---- */

static void range_handler(struct srv_call *call, const ProtobufCMessage *msg)
{
    const Etcdserverpb__RangeRequest *req = (const Etcdserverpb__RangeRequest *)msg;
    if (req->key.len == 0) {
        srv_call_fail(call, SRV_INVALID_ARGUMENT, "etcdserver: key is not provided");
        return;
    }
    Etcdserverpb__RangeResponse resp = ETCDSERVERPB__RANGE_RESPONSE__INIT;
    resp.count = (int64_t)req->key.len;
    srv_call_reply(call, &resp.base);
}

static int watch_closed_cancelled = -1;

static void watch_handler(struct srv_call *call, const ProtobufCMessage *msg)
{
    const Etcdserverpb__WatchRequest *req = (const Etcdserverpb__WatchRequest *)msg;
    Etcdserverpb__WatchResponse resp = ETCDSERVERPB__WATCH_RESPONSE__INIT;
    resp.created = 1;
    resp.watch_id = req->create_request ? req->create_request->start_revision : -1;
    assert_int_equal(srv_stream_send(call, &resp.base), 0);
}

static void watch_close(struct srv_call *call, int cancelled)
{
    watch_closed_cancelled = cancelled;
    if (!cancelled)
        srv_stream_finish(call, SRV_OK, NULL);
}

static const struct srv_method methods[] = {
    {"/etcdserverpb.KV/Range", SRV_UNARY, &etcdserverpb__range_request__descriptor, NULL,
     range_handler, NULL},
    {"/etcdserverpb.Watch/Watch", SRV_BIDI, &etcdserverpb__watch_request__descriptor, NULL,
     watch_handler, watch_close},
};

/* ---- a minimal synchronous client on the core API ---- */

struct client {
    grpc_channel *ch;
    grpc_completion_queue *cq;
};

static void client_open(struct client *cl, int port)
{
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    cl->ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    cl->cq = grpc_completion_queue_create_for_pluck(NULL);
}

static void client_close(struct client *cl)
{
    grpc_channel_destroy(cl->ch);
    grpc_completion_queue_shutdown(cl->cq);
    grpc_completion_queue_destroy(cl->cq);
}

static gpr_timespec in_ms(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void run(struct client *cl, grpc_call *call, const grpc_op *ops, size_t n, void *tag)
{
    assert_int_equal(grpc_call_start_batch(call, ops, n, tag, NULL), GRPC_CALL_OK);
    grpc_event ev = grpc_completion_queue_pluck(cl->cq, tag, in_ms(10000), NULL);
    assert_int_equal(ev.type, GRPC_OP_COMPLETE);
}

/* One unary call with raw request bytes; returns the status, fills *resp_bytes. */
static grpc_status_code unary_raw(struct client *cl, const char *path, const uint8_t *req,
                                  size_t req_len, grpc_slice *resp, char *details, size_t dlen)
{
    grpc_call *call =
        grpc_channel_create_call(cl->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cl->cq,
                                 grpc_slice_from_static_string(path), NULL, in_ms(10000), NULL);
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, req_len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_metadata_array md_in, md_trail;
    grpc_metadata_array_init(&md_in);
    grpc_metadata_array_init(&md_trail);
    grpc_byte_buffer *rb = NULL;
    grpc_status_code status;
    grpc_slice sd;
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_in;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &rb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &md_trail;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &sd;
    run(cl, call, ops, 6, (void *)1);
    *resp = grpc_empty_slice();
    if (rb) {
        grpc_byte_buffer_reader r;
        assert_true(grpc_byte_buffer_reader_init(&r, rb));
        *resp = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        grpc_byte_buffer_destroy(rb);
    }
    snprintf(details, dlen, "%.*s", (int)GRPC_SLICE_LENGTH(sd), GRPC_SLICE_START_PTR(sd));
    grpc_slice_unref(sd);
    grpc_byte_buffer_destroy(bb);
    grpc_metadata_array_destroy(&md_in);
    grpc_metadata_array_destroy(&md_trail);
    grpc_call_unref(call);
    return status;
}

static struct srv_grpc *start_server(int *port, uint32_t queue_max)
{
    const char *listen[] = {"127.0.0.1:0"};
    struct srv_grpc_config cfg = {
        .listen = listen,
        .n_listen = 1,
        .max_recv_bytes = 64 * 1024,
        .stream_queue_max = queue_max,
        .methods = methods,
        .n_methods = CAIRN_ARRAY_LEN(methods),
    };
    struct srv_grpc *g = NULL;
    char err[256];
    assert_int_equal(srv_grpc_start(&cfg, &g, err, sizeof(err)), 0);
    *port = srv_grpc_port(g, 0);
    assert_true(*port > 0);
    return g;
}

static void test_unary_and_errors(void **state)
{
    (void)state;
    int port;
    struct srv_grpc *g = start_server(&port, 8);
    struct client cl;
    client_open(&cl, port);
    char details[256];
    grpc_slice resp;

    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key.data = (uint8_t *)"hello";
    req.key.len = 5;
    uint8_t buf[64];
    size_t n = etcdserverpb__range_request__pack(&req, buf);
    assert_int_equal(unary_raw(&cl, "/etcdserverpb.KV/Range", buf, n, &resp, details, 256),
                     GRPC_STATUS_OK);
    Etcdserverpb__RangeResponse *rr = etcdserverpb__range_response__unpack(
        NULL, GRPC_SLICE_LENGTH(resp), GRPC_SLICE_START_PTR(resp));
    assert_non_null(rr);
    assert_int_equal(rr->count, 5);
    etcdserverpb__range_response__free_unpacked(rr, NULL);
    grpc_slice_unref(resp);

    /* service error with etcd's string */
    assert_int_equal(unary_raw(&cl, "/etcdserverpb.KV/Range", buf, 0, &resp, details, 256),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(details, "etcdserver: key is not provided");
    grpc_slice_unref(resp);

    /* malformed protobuf: field 1 claims 100 bytes, 2 follow */
    const uint8_t bad[] = {0x0a, 100, 'a', 'b'};
    assert_int_equal(
        unary_raw(&cl, "/etcdserverpb.KV/Range", bad, sizeof(bad), &resp, details, 256),
        GRPC_STATUS_INTERNAL);
    grpc_slice_unref(resp);

    /* unknown method and service */
    assert_int_equal(unary_raw(&cl, "/etcdserverpb.KV/Nope", buf, n, &resp, details, 256),
                     GRPC_STATUS_UNIMPLEMENTED);
    assert_string_equal(details, "unknown method Nope for service etcdserverpb.KV");
    grpc_slice_unref(resp);

    /* over the receive limit */
    static uint8_t big[100 * 1024];
    memset(big, 0, sizeof(big));
    assert_int_equal(
        unary_raw(&cl, "/etcdserverpb.KV/Range", big, sizeof(big), &resp, details, 256),
        GRPC_STATUS_RESOURCE_EXHAUSTED);
    grpc_slice_unref(resp);

    /* still serving after all that */
    assert_int_equal(unary_raw(&cl, "/etcdserverpb.KV/Range", buf, n, &resp, details, 256),
                     GRPC_STATUS_OK);
    grpc_slice_unref(resp);
    client_close(&cl);
    srv_grpc_destroy(g);
}

/* Send our headers and wait for the server's (it sends them as a stream opens). */
static void open_stream(struct client *cl, grpc_call *call)
{
    grpc_metadata_array md;
    grpc_metadata_array_init(&md);
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &md;
    run(cl, call, ops, 2, (void *)4);
    grpc_metadata_array_destroy(&md);
}

static void send_watch_create(struct client *cl, grpc_call *call, int64_t rev)
{
    Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
    cr.start_revision = rev;
    Etcdserverpb__WatchRequest wr = ETCDSERVERPB__WATCH_REQUEST__INIT;
    wr.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
    wr.create_request = &cr;
    uint8_t buf[64];
    size_t n = etcdserverpb__watch_request__pack(&wr, buf);
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    run(cl, call, &op, 1, (void *)2);
    grpc_byte_buffer_destroy(bb);
}

static int64_t recv_watch_id(struct client *cl, grpc_call *call)
{
    grpc_byte_buffer *rb = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &rb;
    run(cl, call, &op, 1, (void *)3);
    assert_non_null(rb);
    grpc_byte_buffer_reader r;
    assert_true(grpc_byte_buffer_reader_init(&r, rb));
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    Etcdserverpb__WatchResponse *wr =
        etcdserverpb__watch_response__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    assert_non_null(wr);
    assert_true(wr->created);
    int64_t id = wr->watch_id;
    etcdserverpb__watch_response__free_unpacked(wr, NULL);
    grpc_slice_unref(s);
    grpc_byte_buffer_reader_destroy(&r);
    grpc_byte_buffer_destroy(rb);
    return id;
}

static void test_bidi_stream(void **state)
{
    (void)state;
    int port;
    struct srv_grpc *g = start_server(&port, 8);
    struct client cl;
    client_open(&cl, port);
    grpc_call *call = grpc_channel_create_call(
        cl.ch, NULL, GRPC_PROPAGATE_DEFAULTS, cl.cq,
        grpc_slice_from_static_string("/etcdserverpb.Watch/Watch"), NULL, in_ms(10000), NULL);
    open_stream(&cl, call);
    for (int64_t i = 1; i <= 20; i++) {
        send_watch_create(&cl, call, i);
        assert_int_equal(recv_watch_id(&cl, call), i);
    }
    /* half-close: the service finishes the stream with OK */
    watch_closed_cancelled = -1;
    grpc_status_code status;
    grpc_slice sd;
    grpc_metadata_array trail;
    grpc_metadata_array_init(&trail);
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[1].data.recv_status_on_client.status = &status;
    ops[1].data.recv_status_on_client.status_details = &sd;
    ops[1].data.recv_status_on_client.trailing_metadata = &trail;
    run(&cl, call, ops, 2, (void *)5);
    assert_int_equal(status, GRPC_STATUS_OK);
    assert_int_equal(watch_closed_cancelled, 0);
    grpc_slice_unref(sd);
    grpc_metadata_array_destroy(&trail);
    grpc_call_unref(call);
    client_close(&cl);
    srv_grpc_destroy(g);
}

static void test_shutdown_with_open_stream(void **state)
{
    (void)state;
    int port;
    struct srv_grpc *g = start_server(&port, 8);
    struct client cl;
    client_open(&cl, port);
    grpc_call *call = grpc_channel_create_call(
        cl.ch, NULL, GRPC_PROPAGATE_DEFAULTS, cl.cq,
        grpc_slice_from_static_string("/etcdserverpb.Watch/Watch"), NULL, in_ms(10000), NULL);
    open_stream(&cl, call);
    send_watch_create(&cl, call, 7);
    assert_int_equal(recv_watch_id(&cl, call), 7);
    watch_closed_cancelled = -1;
    srv_grpc_destroy(g); /* must not wait for the client */
    assert_int_equal(watch_closed_cancelled, 1);
    grpc_status_code status;
    grpc_slice sd;
    grpc_metadata_array trail;
    grpc_metadata_array_init(&trail);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.status = &status;
    op.data.recv_status_on_client.status_details = &sd;
    op.data.recv_status_on_client.trailing_metadata = &trail;
    run(&cl, call, &op, 1, (void *)7);
    assert_int_not_equal(status, GRPC_STATUS_OK);
    grpc_slice_unref(sd);
    grpc_metadata_array_destroy(&trail);
    grpc_call_unref(call);
    client_close(&cl);
}

int main(void)
{
    grpc_init(); /* the test's client; the server balances its own init */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_and_errors),
        cmocka_unit_test(test_bidi_stream),
        cmocka_unit_test(test_shutdown_with_open_stream),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    grpc_shutdown();
    return rc;
}
