/* Unary calls: pack, send on the picked endpoint, unpack; failover for idempotent reads. */
#include "client.h"

#include "common.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <protobuf-c/protobuf-c.h>
#include <string.h>

grpc_byte_buffer *client_pack(const struct ProtobufCMessage *msg)
{
    CAIRN_ASSERT(msg != NULL && msg->descriptor != NULL);
    CAIRN_ASSERT(msg->descriptor->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(len);
    size_t packed = protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    CAIRN_ASSERT(packed == len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

struct ProtobufCMessage *
client_unpack(grpc_byte_buffer *bb, const struct ProtobufCMessageDescriptor *desc, const char **why)
{
    CAIRN_ASSERT(bb != NULL && desc != NULL);
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) { /* returns 0 on failure */
        *why = "cannot read the response (bad compression?)";
        return NULL;
    }
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    grpc_byte_buffer_reader_destroy(&r);
    if (!msg)
        *why = "malformed response message";
    return msg;
}

/* One attempt on one channel. Returns the cairn code; *resp set only on success. */
static int unary_once(grpc_channel *ch, const char *target, const char *method_path,
                      grpc_byte_buffer *req_bb, const ProtobufCMessageDescriptor *resp_desc,
                      ProtobufCMessage **resp, int64_t timeout_ms, struct cairn_client_status *st)
{
    CAIRN_ASSERT(ch != NULL && req_bb != NULL);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice method = grpc_slice_from_copied_string(method_path);
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                                               client_deadline(timeout_ms), NULL);
    grpc_slice_unref(method);
    CAIRN_ASSERT(call != NULL);

    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_byte_buffer *resp_bb = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int tag_byte = 0;
    grpc_call_error err = grpc_call_start_batch(call, ops, 6, &tag_byte, NULL);
    CAIRN_ASSERT(err == GRPC_CALL_OK);
    grpc_event ev =
        grpc_completion_queue_pluck(cq, &tag_byte, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    CAIRN_ASSERT(ev.type == GRPC_OP_COMPLETE && ev.tag == &tag_byte);

    int rc;
    char *msg = grpc_slice_to_c_string(details);
    if (status == GRPC_STATUS_OK && resp_bb == NULL) {
        client_status_set(st, GRPC_STATUS_INTERNAL, "the server sent no response message", target);
        rc = CAIRN_EIO;
    } else if (status == GRPC_STATUS_OK) {
        const char *why = NULL;
        *resp = client_unpack(resp_bb, resp_desc, &why);
        client_status_set(st, *resp ? 0 : GRPC_STATUS_INTERNAL, *resp ? "" : why, target);
        rc = *resp ? 0 : CAIRN_EIO;
    } else {
        client_status_set(st, (int)status, msg, target);
        rc = client_status_to_error((int)status, msg);
    }
    gpr_free(msg);
    if (resp_bb)
        grpc_byte_buffer_destroy(resp_bb);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    client_cq_finish(cq);
    return rc;
}

int cairn_client_call_unary(cairn_client *cl, const char *method_path,
                            const struct ProtobufCMessage *req,
                            const struct ProtobufCMessageDescriptor *resp_desc,
                            struct ProtobufCMessage **resp, int64_t timeout_ms,
                            struct cairn_client_status *st)
{
    CAIRN_ASSERT(cl != NULL && method_path != NULL && method_path[0] == '/');
    CAIRN_ASSERT(req != NULL && resp_desc != NULL && resp != NULL);
    *resp = NULL;
    if (timeout_ms == 0)
        timeout_ms = cl->command_timeout_ms;
    int idempotent = client_method_is_idempotent(method_path);
    grpc_byte_buffer *bb = client_pack(req);
    if (!bb) {
        client_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return CAIRN_ENOMEM;
    }
    int rc = CAIRN_EUNAVAILABLE;
    size_t first = SIZE_MAX;
    /* Each attempt starts on a connected endpoint (client_conn_pick fails over while none
     * answers). Only an idempotent read goes on after a server said UNAVAILABLE. */
    for (size_t attempt = 0; attempt < cl->ep.n; attempt++) {
        size_t idx;
        grpc_channel *ch;
        rc = client_conn_pick(cl, &idx, &ch, st);
        if (rc < 0)
            break;
        if (first == SIZE_MAX)
            first = idx;
        rc = unary_once(ch, cl->chan[idx].target, method_path, bb, resp_desc, resp, timeout_ms, st);
        if (rc != CAIRN_EUNAVAILABLE || !idempotent || !client_conn_failover(cl, idx, first))
            break;
    }
    grpc_byte_buffer_destroy(bb);
    CAIRN_ASSERT((rc == 0) == (*resp != NULL));
    return rc;
}
