/* Peer calls' common parts: channels, metadata, buffers, and one blocking unary call. */
#include "srv_peer_int.h"

#include "common.h"
#include "url.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void srv_peer_md_init(struct srv_peer_md *m, uint64_t cluster_id, uint64_t from, uint64_t to)
{
    static const char *const keys[3] = {SRV_PEER_MD_CLUSTER, SRV_PEER_MD_FROM, SRV_PEER_MD_TO};
    const uint64_t vals[3] = {cluster_id, from, to};
    memset(m, 0, sizeof(*m));
    for (int i = 0; i < 3; i++) {
        int len = snprintf(m->vals[i], sizeof(m->vals[i]), "%" PRIx64, vals[i]);
        CAIRN_ASSERT(len > 0 && (size_t)len < sizeof(m->vals[i]));
        m->md[i].key = grpc_slice_from_static_string(keys[i]);
        m->md[i].value = grpc_slice_from_static_buffer(m->vals[i], (size_t)len);
    }
}

grpc_channel *srv_peer_channel(const char *target)
{
    grpc_arg args[6];
    memset(args, 0, sizeof(args));
    const struct {
        const char *key;
        int value;
    } ints[] = {
        /* a fresh TCP connection per channel: a reconnect must not reuse a dead one */
        {GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1},
        {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, -1},
        {GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, SRV_PEER_BACKOFF_MIN_MS * 2},
        {GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, SRV_PEER_BACKOFF_MIN_MS * 2},
        {GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, SRV_PEER_BACKOFF_MAX_MS},
        {GRPC_ARG_ENABLE_RETRIES, 0},
    };
    CAIRN_ASSERT(CAIRN_ARRAY_LEN(ints) == CAIRN_ARRAY_LEN(args));
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ints); i++) {
        args[i].type = GRPC_ARG_INTEGER;
        args[i].key = (char *)ints[i].key;
        args[i].value.integer = ints[i].value;
    }
    grpc_channel_args ch_args = {CAIRN_ARRAY_LEN(args), args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, creds, &ch_args);
    grpc_channel_credentials_release(creds);
    return ch;
}

grpc_byte_buffer *srv_peer_encode(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(n);
    size_t w = protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    CAIRN_ASSERT(w == n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

ProtobufCMessage *srv_peer_decode(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    if (!bb || !grpc_byte_buffer_reader_init(&r, bb))
        return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    grpc_byte_buffer_reader_destroy(&r);
    return msg;
}

void srv_peer_slice_str(grpc_slice s, char *buf, size_t cap)
{
    CAIRN_ASSERT(cap > 0);
    size_t n = GRPC_SLICE_LENGTH(s);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, GRPC_SLICE_START_PTR(s), n);
    buf[n] = '\0';
}

int srv_peer_pluck(grpc_completion_queue *cq, void *tag, uint64_t deadline_ms)
{
    uint64_t now = mono_ms();
    int64_t wait = deadline_ms > now ? (int64_t)(deadline_ms - now) : 0;
    gpr_timespec dl =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(wait, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_pluck(cq, tag, dl, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT)
        return -1;
    CAIRN_ASSERT(ev.type == GRPC_OP_COMPLETE && ev.tag == tag);
    return ev.success ? 1 : 0;
}

int srv_peer_target(const char *urls, char *out, size_t cap)
{
    struct cairn_url u[8];
    size_t n = 0;
    if (cairn_url_list_parse(urls, u, CAIRN_ARRAY_LEN(u), &n) < 0 || n == 0 || u[0].tls)
        return CAIRN_EINVAL;
    return cairn_url_hostport(&u[0], out, cap) < 0 ? CAIRN_EINVAL : 0;
}

int srv_peer_call(const char *target, const char *path, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, const char *const *md, size_t n_md,
                  uint64_t timeout_ms, ProtobufCMessage **resp, int *status, char *msg,
                  size_t msg_len)
{
    CAIRN_ASSERT(target && path && req && resp && status && msg && msg_len > 0);
    CAIRN_ASSERT(n_md <= 4);
    *resp = NULL;
    *status = GRPC_STATUS_UNKNOWN;
    msg[0] = '\0';
    grpc_channel *ch = srv_peer_channel(target);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    if (!ch || !cq) {
        if (ch)
            grpc_channel_destroy(ch);
        if (cq)
            grpc_completion_queue_destroy(cq);
        return CAIRN_ENOMEM;
    }
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis((int64_t)timeout_ms, GPR_TIMESPAN));
    grpc_call *call =
        grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                 grpc_slice_from_static_string(path), NULL, deadline, NULL);
    grpc_metadata mds[4];
    memset(mds, 0, sizeof(mds));
    for (size_t i = 0; i < n_md; i++) {
        mds[i].key = grpc_slice_from_static_string(md[2 * i]);
        mds[i].value = grpc_slice_from_static_string(md[2 * i + 1]);
    }
    grpc_byte_buffer *send = srv_peer_encode(req);
    grpc_byte_buffer *recv = NULL;
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = n_md;
    ops[0].data.send_initial_metadata.metadata = n_md ? mds : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.status = &code;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    int tag;
    grpc_call_error e = grpc_call_start_batch(call, ops, 6, &tag, NULL);
    CAIRN_ASSERT(e == GRPC_CALL_OK);
    /* the call's own deadline ends it; the pluck bound only guards against a stuck queue */
    int ok = srv_peer_pluck(cq, &tag, mono_ms() + timeout_ms + 5000);
    if (ok < 0) {
        grpc_call_cancel(call, NULL);
        ok = srv_peer_pluck(cq, &tag, mono_ms() + 60000);
        CAIRN_ASSERT(ok >= 0);
    }
    *status = (int)code;
    srv_peer_slice_str(details, msg, msg_len);
    int rc = 0;
    if (code == GRPC_STATUS_OK) {
        *resp = srv_peer_decode(resp_desc, recv);
        if (!*resp) {
            snprintf(msg, msg_len, "malformed response from %s", target);
            rc = CAIRN_EINVAL;
        }
    } else {
        rc = CAIRN_EUNAVAILABLE;
    }
    grpc_slice_unref(details);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_byte_buffer_destroy(send);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_call_unref(call);
    grpc_channel_destroy(ch);
    grpc_completion_queue_shutdown(cq);
    for (int i = 0; i < 1000; i++)
        if (grpc_completion_queue_pluck(cq, NULL, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL).type ==
            GRPC_QUEUE_SHUTDOWN)
            break;
    grpc_completion_queue_destroy(cq);
    return rc;
}
