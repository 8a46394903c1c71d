/* Sending one snapshot: a consistent copy of the store, streamed in chunks to a peer. */
#include "srv_peer_int.h"

#include "common.h"
#include "srv_peer_wire.h"

#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct snap_call {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    grpc_call *call;
    struct srv_peer_md md;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *result;
    int tag_status, tag_send, tag_recv;
};

/* One step: start a batch and wait for it (the pacing: gRPC completes a send when the
 * transport took it, so one send in flight is flow control). A step that stalls cancels the
 * call and still waits for the batch, so nothing is pending when it returns. 0, or a
 * negative code. */
static int step(struct snap_call *sc, const grpc_op *ops, size_t n, int *tag)
{
    grpc_call_error e = grpc_call_start_batch(sc->call, ops, n, tag, NULL);
    CAIRN_ASSERT(e == GRPC_CALL_OK);
    int ok = srv_peer_pluck(sc->cq, tag, now_ms() + SRV_PEER_SNAP_STALL_MS);
    if (ok >= 0)
        return ok ? 0 : CAIRN_EUNAVAILABLE;
    grpc_call_cancel(sc->call, NULL);
    ok = srv_peer_pluck(sc->cq, tag, now_ms() + 60000);
    CAIRN_ASSERT(ok >= 0); /* a cancelled call completes its batches */
    return CAIRN_ETIMEOUT;
}

static int send_chunk(struct snap_call *sc, const Cairnpb__SnapshotChunk *chunk, int first)
{
    grpc_byte_buffer *bb = srv_peer_encode(&chunk->base);
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (first) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = 3;
        ops[n++].data.send_initial_metadata.metadata = sc->md.md;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = bb;
    int rc = step(sc, ops, n, &sc->tag_send);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

/* Streams the copy; returns 0 once every byte went out and the half-close was sent. */
static int stream_copy(struct snap_call *sc, struct store_snapshot *ss, const struct raft_msg *sm,
                       uint64_t size, const atomic_int *stop, char *err, size_t err_len)
{
    uint8_t *buf = malloc(SRV_PEER_SNAP_CHUNK);
    if (!buf)
        return CAIRN_ENOMEM;
    Cairnpb__RaftMessage pb;
    Cairnpb__RaftSnapshotMeta pmeta;
    Cairnpb__RaftConfState pconf;
    srv_peer_wire_msg_view(sm, &pb, &pmeta, &pconf);
    uint64_t sent = 0;
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i <= size / SRV_PEER_SNAP_CHUNK + 1; i++) {
        size_t got = 0;
        rc = store_snapshot_read(ss, buf, SRV_PEER_SNAP_CHUNK, &got);
        if (rc < 0 || (got == 0 && i > 0))
            break;
        if (atomic_load(stop)) {
            rc = CAIRN_ESTOPPED;
            break;
        }
        Cairnpb__SnapshotChunk chunk = CAIRNPB__SNAPSHOT_CHUNK__INIT;
        if (i == 0) {
            chunk.msg = &pb;
            chunk.size_bytes = size;
        }
        chunk.data.data = buf;
        chunk.data.len = got;
        rc = send_chunk(sc, &chunk, i == 0);
        sent += got;
    }
    free(buf);
    if (rc == 0 && sent != size) {
        snprintf(err, err_len, "snapshot copy gave %llu of %llu bytes", (unsigned long long)sent,
                 (unsigned long long)size);
        rc = CAIRN_EIO;
    }
    return rc;
}

/* Half-close, then the receiver's SnapshotResult. */
static int finish(struct snap_call *sc, char *err, size_t err_len)
{
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &sc->init_md;
    ops[2].op = GRPC_OP_RECV_MESSAGE;
    ops[2].data.recv_message.recv_message = &sc->result;
    int rc = step(sc, ops, 3, &sc->tag_recv);
    if (rc < 0)
        return rc;
    Cairnpb__SnapshotResult *res = (Cairnpb__SnapshotResult *)srv_peer_decode(
        &cairnpb__snapshot_result__descriptor, sc->result);
    if (!res)
        return CAIRN_EUNAVAILABLE; /* refused: the status says why */
    rc = res->ok ? 0 : CAIRN_EIO;
    if (!res->ok)
        snprintf(err, err_len, "receiver: %s", res->error ? res->error : "failed");
    protobuf_c_message_free_unpacked(&res->base, NULL);
    return rc;
}

int srv_peer_snapshot_send(struct store *store, const char *target, uint64_t cluster_id,
                           const struct raft_msg *m, const atomic_int *stop, uint64_t *sent_bytes,
                           char *err, size_t err_len)
{
    CAIRN_ASSERT(store && target && m && m->type == RAFT_MSG_SNAP);
    struct store_snapshot *ss = NULL;
    struct raft_snapshot_meta meta;
    uint64_t size = 0;
    int rc = store_snapshot_begin(store, &ss, &meta, &size);
    if (rc < 0) {
        snprintf(err, err_len, "cannot copy the store: %s", cairn_strerror(rc));
        return rc;
    }
    /* the copy's own position: at or past what raft asked for (applied only grows) */
    *sent_bytes = size;
    struct raft_msg sm = *m;
    sm.snapshot = &meta;
    sm.entries = NULL;
    sm.n_entries = 0;
    sm.mem = NULL;
    struct snap_call sc;
    memset(&sc, 0, sizeof(sc));
    sc.details = grpc_empty_slice();
    grpc_metadata_array_init(&sc.init_md);
    grpc_metadata_array_init(&sc.trail_md);
    srv_peer_md_init(&sc.md, cluster_id, m->from, m->to);
    sc.ch = srv_peer_channel(target);
    sc.cq = grpc_completion_queue_create_for_pluck(NULL);
    sc.call = sc.ch
                  ? grpc_channel_create_call(sc.ch, NULL, GRPC_PROPAGATE_DEFAULTS, sc.cq,
                                             grpc_slice_from_static_string(SRV_PEER_PATH_SNAPSHOT),
                                             NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                  : NULL;
    if (!sc.call) {
        rc = CAIRN_ENOMEM;
    } else {
        grpc_op st;
        memset(&st, 0, sizeof(st));
        st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        st.data.recv_status_on_client.status = &sc.status;
        st.data.recv_status_on_client.status_details = &sc.details;
        st.data.recv_status_on_client.trailing_metadata = &sc.trail_md;
        grpc_call_error e = grpc_call_start_batch(sc.call, &st, 1, &sc.tag_status, NULL);
        CAIRN_ASSERT(e == GRPC_CALL_OK);
        rc = stream_copy(&sc, ss, &sm, size, stop, err, err_len);
        if (rc == 0)
            rc = finish(&sc, err, err_len);
        if (rc != 0)
            grpc_call_cancel(sc.call, NULL);
        CAIRN_ASSERT(srv_peer_pluck(sc.cq, &sc.tag_status, now_ms() + 60000) >= 0);
        if (sc.status != GRPC_STATUS_OK && !err[0]) {
            char msg[200];
            srv_peer_slice_str(sc.details, msg, sizeof(msg));
            snprintf(err, err_len, "status %d: %s", (int)sc.status, msg);
            if (rc == 0)
                rc = CAIRN_EUNAVAILABLE;
        }
        grpc_call_unref(sc.call);
    }
    store_snapshot_end(ss);
    if (sc.result)
        grpc_byte_buffer_destroy(sc.result);
    grpc_slice_unref(sc.details);
    grpc_metadata_array_destroy(&sc.init_md);
    grpc_metadata_array_destroy(&sc.trail_md);
    if (sc.ch)
        grpc_channel_destroy(sc.ch);
    grpc_completion_queue_shutdown(sc.cq);
    for (int i = 0; i < 1000; i++)
        if (grpc_completion_queue_pluck(sc.cq, NULL, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL)
                .type == GRPC_QUEUE_SHUTDOWN)
            break;
    grpc_completion_queue_destroy(sc.cq);
    return rc;
}
