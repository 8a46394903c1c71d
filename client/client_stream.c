/*
 * Streaming calls (Watch, LeaseKeepAlive, Snapshot). One pluck completion queue per stream;
 * at most one send, one receive and the final status batch outstanding, each with its own
 * tag, so a sender thread and a receiver thread can pluck at the same time.
 */
#include "client.h"

#include "common.h"

#include <grpc/byte_buffer.h>
#include <grpc/support/alloc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdlib.h>
#include <string.h>

struct cairn_client_stream {
    grpc_completion_queue *cq;
    grpc_call *call;
    const ProtobufCMessageDescriptor *desc;
    char target[CAIRN_CLIENT_ENDPOINT_MAX];
    int tag_send, tag_recv, tag_status; /* addresses used as tags */

    pthread_mutex_t mu; /* guards status harvesting (status_done and the fields below) */
    int status_done;    /* the status batch has completed and been plucked */
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata_array trailing_md;

    /* receive side: touched by the receiving thread only */
    int recv_pending; /* a RECV_MESSAGE batch is outstanding */
    int recv_started; /* RECV_INITIAL_METADATA went with the first receive */
    int recv_ended;   /* the server closed its side (or the call failed) */
    grpc_byte_buffer *recv_bb;
    grpc_metadata_array initial_md;

    /* send side: touched by the sending thread only */
    int send_closed;
};

/* Wait for the final status (the call has ended or been cancelled). Idempotent. */
static void harvest_status(cairn_client_stream *s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->status_done) {
        grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_status,
                                                    gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        CAIRN_ASSERT(ev.type == GRPC_OP_COMPLETE && ev.tag == &s->tag_status);
        s->status_done = 1;
    }
    pthread_mutex_unlock(&s->mu);
}

/* The stream's outcome as a return code: CAIRN_ESTOPPED for a clean end, else the error. */
static int final_status(cairn_client_stream *s, struct cairn_client_status *st)
{
    harvest_status(s);
    CAIRN_ASSERT(s->status_done);
    if (s->status == GRPC_STATUS_OK) {
        client_status_set(st, 0, "", s->target);
        return CAIRN_ESTOPPED;
    }
    char *msg = grpc_slice_to_c_string(s->details);
    client_status_set(st, (int)s->status, msg, s->target);
    int rc = client_status_to_error((int)s->status, msg);
    gpr_free(msg);
    CAIRN_ASSERT(rc < 0);
    return rc;
}

static int stream_start(cairn_client_stream *s, grpc_channel *ch, const char *method_path,
                        int64_t timeout_ms)
{
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice method = grpc_slice_from_copied_string(method_path);
    s->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, method, NULL,
                                       client_deadline(timeout_ms), NULL);
    grpc_slice_unref(method);
    CAIRN_ASSERT(s->call != NULL);

    grpc_op ops[1];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    grpc_call_error err = grpc_call_start_batch(s->call, ops, 1, &s->tag_status, NULL);
    CAIRN_ASSERT(err == GRPC_CALL_OK);

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    err = grpc_call_start_batch(s->call, ops, 1, &s->tag_send, NULL);
    CAIRN_ASSERT(err == GRPC_CALL_OK);
    grpc_event ev =
        grpc_completion_queue_pluck(s->cq, &s->tag_send, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    CAIRN_ASSERT(ev.type == GRPC_OP_COMPLETE);
    return ev.success;
}

int cairn_client_stream_open(cairn_client *cl, const char *method_path,
                             const struct ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ms,
                             cairn_client_stream **out, struct cairn_client_status *st)
{
    CAIRN_ASSERT(cl != NULL && method_path != NULL && method_path[0] == '/');
    CAIRN_ASSERT(resp_desc != NULL && out != NULL);
    *out = NULL;
    if (timeout_ms == 0)
        timeout_ms = cl->command_timeout_ms;
    size_t idx;
    grpc_channel *ch;
    int rc = client_conn_pick(cl, &idx, &ch, st);
    if (rc < 0)
        return rc;
    cairn_client_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        client_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return CAIRN_ENOMEM;
    }
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return CAIRN_ENOMEM;
    }
    s->desc = resp_desc;
    memcpy(s->target, cl->chan[idx].target, sizeof(s->target));
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->trailing_md);
    grpc_metadata_array_init(&s->initial_md);
    if (!stream_start(s, ch, method_path, timeout_ms)) {
        rc = final_status(s, st);
        cairn_client_stream_destroy(s);
        return rc == CAIRN_ESTOPPED ? CAIRN_EUNAVAILABLE : rc;
    }
    client_status_set(st, 0, "", s->target);
    *out = s;
    return 0;
}

int cairn_client_stream_send(cairn_client_stream *s, const struct ProtobufCMessage *msg,
                             struct cairn_client_status *st)
{
    CAIRN_ASSERT(s != NULL && msg != NULL);
    CAIRN_ASSERT(!s->send_closed);
    grpc_byte_buffer *bb = client_pack(msg);
    if (!bb) {
        client_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", s->target);
        return CAIRN_ENOMEM;
    }
    grpc_op ops[1];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_MESSAGE;
    ops[0].data.send_message.send_message = bb;
    grpc_call_error err = grpc_call_start_batch(s->call, ops, 1, &s->tag_send, NULL);
    CAIRN_ASSERT(err == GRPC_CALL_OK);
    grpc_event ev =
        grpc_completion_queue_pluck(s->cq, &s->tag_send, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    CAIRN_ASSERT(ev.type == GRPC_OP_COMPLETE);
    grpc_byte_buffer_destroy(bb);
    if (!ev.success) { /* the call is over: report why */
        int rc = final_status(s, st);
        return rc == CAIRN_ESTOPPED ? CAIRN_ECANCELED : rc;
    }
    client_status_set(st, 0, "", s->target);
    return 0;
}

int cairn_client_stream_close_send(cairn_client_stream *s, struct cairn_client_status *st)
{
    CAIRN_ASSERT(s != NULL);
    if (s->send_closed)
        return 0;
    s->send_closed = 1;
    grpc_op ops[1];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    grpc_call_error err = grpc_call_start_batch(s->call, ops, 1, &s->tag_send, NULL);
    CAIRN_ASSERT(err == GRPC_CALL_OK);
    grpc_event ev =
        grpc_completion_queue_pluck(s->cq, &s->tag_send, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    CAIRN_ASSERT(ev.type == GRPC_OP_COMPLETE);
    client_status_set(st, 0, "", s->target);
    return 0; /* a failure here shows up as the final status on the next receive */
}

int cairn_client_stream_recv(cairn_client_stream *s, struct ProtobufCMessage **msg,
                             int64_t timeout_ms, struct cairn_client_status *st)
{
    CAIRN_ASSERT(s != NULL && msg != NULL);
    *msg = NULL;
    if (s->recv_ended)
        return final_status(s, st);
    if (!s->recv_pending) {
        grpc_op ops[2];
        memset(ops, 0, sizeof(ops));
        size_t n = 0;
        if (!s->recv_started) {
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
            s->recv_started = 1;
        }
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &s->recv_bb;
        grpc_call_error err = grpc_call_start_batch(s->call, ops, n, &s->tag_recv, NULL);
        CAIRN_ASSERT(err == GRPC_CALL_OK);
        s->recv_pending = 1;
    }
    grpc_event ev =
        grpc_completion_queue_pluck(s->cq, &s->tag_recv, client_deadline(timeout_ms), NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        client_status_set(st, CLIENT_GRPC_DEADLINE_EXCEEDED, "no message yet", s->target);
        return CAIRN_ETIMEOUT; /* the receive stays pending for the next call */
    }
    CAIRN_ASSERT(ev.type == GRPC_OP_COMPLETE && ev.tag == &s->tag_recv);
    s->recv_pending = 0;
    if (!ev.success || !s->recv_bb) {
        s->recv_ended = 1;
        return final_status(s, st);
    }
    const char *why = NULL;
    *msg = client_unpack(s->recv_bb, s->desc, &why);
    grpc_byte_buffer_destroy(s->recv_bb);
    s->recv_bb = NULL;
    if (!*msg) { /* a stream we cannot read is over for us */
        grpc_call_cancel_with_status(s->call, GRPC_STATUS_INTERNAL, why, NULL);
        s->recv_ended = 1;
        harvest_status(s);
        client_status_set(st, GRPC_STATUS_INTERNAL, why, s->target);
        return CAIRN_EIO;
    }
    client_status_set(st, 0, "", s->target);
    return 0;
}

void cairn_client_stream_cancel(cairn_client_stream *s)
{
    CAIRN_ASSERT(s != NULL && s->call != NULL);
    grpc_call_cancel(s->call, NULL); /* thread-safe; a no-op on a finished call */
}

void cairn_client_stream_destroy(cairn_client_stream *s)
{
    if (!s)
        return;
    CAIRN_ASSERT(s->cq != NULL && s->call != NULL);
    grpc_call_cancel(s->call, NULL);
    if (s->recv_pending) {
        grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_recv,
                                                    gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        CAIRN_ASSERT(ev.type == GRPC_OP_COMPLETE);
        s->recv_pending = 0;
    }
    if (s->recv_bb)
        grpc_byte_buffer_destroy(s->recv_bb);
    harvest_status(s);
    grpc_call_unref(s->call);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_metadata_array_destroy(&s->initial_md);
    client_cq_finish(s->cq);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
