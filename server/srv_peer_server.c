/* The receiving side of the peer transport: cairnpb.Peer/Stream and /Snapshot on the peer
 * gRPC server. Calls are checked against the cluster id, this member's id and the removed
 * members; messages go to the node thread through its request queue. */
#include "common.h"
#include "srv_log.h"
#include "srv_cluster.h"
#include "srv_node_int.h"
#include "srv_peer.h"
#include "srv_peer_wire.h"

#include "cairnpb/peer.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFUSAL_LOG_EVERY_MS 5000 /* a misconfigured peer retries: log its refusal now and then */

static struct srv_node *node_of(struct srv_call *call)
{
    return srv_call_user(call);
}

static int md_u64(struct srv_call *call, const char *key, uint64_t *out)
{
    size_t len = 0;
    const char *v = srv_call_metadata(call, key, &len);
    char buf[24];
    if (!v || len == 0 || len >= sizeof(buf))
        return CAIRN_EINVAL;
    memcpy(buf, v, len);
    buf[len] = '\0';
    char *end = NULL;
    *out = strtoull(buf, &end, 16);
    return *end == '\0' ? 0 : CAIRN_EINVAL;
}

/* Why a peer stream was refused; each reason is rate-limited on its own, so a removed member
 * that keeps retrying does not hide an intruder from another cluster. */
enum refusal {
    REFUSED_CLUSTER_ID = 0,
    REFUSED_REMOVED,
    REFUSED_MEMBER_ID,
};

static void log_refusal(struct srv_node *n, enum refusal why, const char *what, uint64_t from,
                        uint64_t cid)
{
    CAIRN_ASSERT((size_t)why < CAIRN_ARRAY_LEN(n->peer_refusal_log_ms));
    uint64_t now = srv_now_ms();
    uint64_t last = atomic_load(&n->peer_refusal_log_ms[why]);
    if (last && now - last < REFUSAL_LOG_EVERY_MS)
        return;
    atomic_store(&n->peer_refusal_log_ms[why], now);
    srv_log(SRV_LOG_WARN,
            "rejected a peer stream from member %" PRIx64 " (cluster %" PRIx64
            "): %s (local member %" PRIx64 ", cluster %" PRIx64 ")\n",
            from, cid, what, n->member_id, n->cluster_id);
}

/* Checks a peer call's identity; on refusal finishes the stream and returns -1. */
static int admit(struct srv_call *call, uint64_t *from_out)
{
    struct srv_node *n = node_of(call);
    uint64_t cid = 0, from = 0, to = 0;
    if (md_u64(call, SRV_PEER_MD_CLUSTER, &cid) < 0 || md_u64(call, SRV_PEER_MD_FROM, &from) < 0 ||
        md_u64(call, SRV_PEER_MD_TO, &to) < 0 || from == 0) {
        srv_stream_finish(call, SRV_INVALID_ARGUMENT, "cairn: peer call without member ids");
        return -1;
    }
    if (cid != n->cluster_id) {
        log_refusal(n, REFUSED_CLUSTER_ID, "cluster ID mismatch", from, cid);
        srv_stream_finish(call, SRV_FAILED_PRECONDITION, SRV_PEER_ERR_CLUSTER_ID);
        return -1;
    }
    if (srv_cluster_is_removed(n, from)) {
        log_refusal(n, REFUSED_REMOVED, "the sender was removed from the cluster", from, cid);
        srv_stream_finish(call, SRV_FAILED_PRECONDITION, SRV_PEER_ERR_REMOVED);
        return -1;
    }
    if (to != n->member_id) {
        log_refusal(n, REFUSED_MEMBER_ID, "member ID mismatch", from, cid);
        srv_stream_finish(call, SRV_FAILED_PRECONDITION, SRV_PEER_ERR_MEMBER_ID);
        return -1;
    }
    *from_out = from;
    return 0;
}

/* ---- Stream ---- */

struct rx_stream {
    uint64_t from;
    uint64_t batches;
};

static void free_peer_req(struct srv_req *r)
{
    free(r->peer);
    free(r);
}

static void on_stream_open(struct srv_call *call)
{
    uint64_t from = 0;
    if (admit(call, &from) < 0)
        return;
    struct rx_stream *rx = calloc(1, sizeof(*rx));
    if (!rx) {
        srv_stream_finish(call, SRV_RESOURCE_EXHAUSTED, "cairn: out of memory");
        return;
    }
    rx->from = from;
    srv_call_set_data(call, rx);
}

static void on_stream_request(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    struct rx_stream *rx = srv_call_get_data(call);
    if (!rx)
        return; /* refused at open */
    if (srv_cluster_is_removed(n, rx->from)) {
        /* removed while its stream was open: tell it now, as a new stream would be told,
         * or a removed follower that still has its streams never learns it should stop */
        srv_call_set_data(call, NULL);
        free(rx);
        srv_stream_finish(call, SRV_FAILED_PRECONDITION, SRV_PEER_ERR_REMOVED);
        return;
    }
    const Cairnpb__PeerBatch *b = (const Cairnpb__PeerBatch *)msg;
    rx->batches++;
    struct srv_peer_msgs *pm = NULL;
    int rc = b->n_msgs ? srv_peer_wire_unpack(b->msgs, b->n_msgs, rx->from, n->member_id, &pm) : 0;
    if (rc == CAIRN_EINVAL) {
        srv_call_set_data(call, NULL);
        free(rx);
        srv_stream_finish(call, SRV_INVALID_ARGUMENT, "cairn: malformed raft message");
        return;
    }
    if (pm) {
        struct srv_req *r = calloc(1, sizeof(*r));
        if (r) {
            r->kind = SRV_REQ_PEER;
            r->peer = pm;
            r->on_free = free_peer_req;
            (void)srv_node_submit(n, r); /* a full queue drops it: raft retransmits */
        } else {
            free(pm);
        }
    }
    Cairnpb__PeerAck ack = CAIRNPB__PEER_ACK__INIT;
    ack.batches = rx->batches;
    (void)srv_stream_send(call, &ack.base); /* a full queue skips an ack; the next one counts */
}

static void on_stream_close(struct srv_call *call, int cancelled)
{
    struct rx_stream *rx = srv_call_get_data(call);
    srv_call_set_data(call, NULL);
    free(rx);
    if (!cancelled)
        srv_stream_finish(call, SRV_OK, NULL);
}

/* ---- Snapshot ---- */

struct rx_snap {
    uint64_t from;
    struct store_restore *rs;
    struct srv_peer_msgs *msg; /* the SNAP message */
    uint64_t size, got;
    int failed;
};

static void free_snap_req(struct srv_req *r)
{
    struct srv_peer_snap_in *in = r->peer;
    if (in) {
        if (in->rs)
            store_restore_abort(in->rs);
        free(in->msg);
        free(in);
    }
    free(r);
}

static void snap_fail(struct srv_call *call, struct rx_snap *rx, enum srv_status code,
                      const char *msg)
{
    if (rx->failed)
        return;
    rx->failed = 1;
    srv_stream_finish(call, code, msg);
}

static void on_snap_open(struct srv_call *call)
{
    struct srv_node *n = node_of(call);
    uint64_t from = 0;
    if (admit(call, &from) < 0)
        return;
    if (atomic_exchange(&n->peer_snap_rx, 1)) {
        srv_stream_finish(call, SRV_UNAVAILABLE, "cairn: a snapshot is already being received");
        return;
    }
    struct rx_snap *rx = calloc(1, sizeof(*rx));
    if (!rx) {
        atomic_store(&n->peer_snap_rx, 0);
        srv_stream_finish(call, SRV_RESOURCE_EXHAUSTED, "cairn: out of memory");
        return;
    }
    rx->from = from;
    srv_call_set_data(call, rx);
}

static void on_snap_request(struct srv_call *call, const ProtobufCMessage *msg)
{
    struct srv_node *n = node_of(call);
    struct rx_snap *rx = srv_call_get_data(call);
    if (!rx || rx->failed)
        return;
    const Cairnpb__SnapshotChunk *ch = (const Cairnpb__SnapshotChunk *)msg;
    if (!rx->rs) {
        Cairnpb__RaftMessage *m = ch->msg;
        if (!m || m->type != RAFT_MSG_SNAP || ch->size_bytes == 0 ||
            srv_peer_wire_unpack(&m, 1, rx->from, n->member_id, &rx->msg) < 0) {
            snap_fail(call, rx, SRV_INVALID_ARGUMENT, "cairn: snapshot without a SNAP header");
            return;
        }
        rx->size = ch->size_bytes;
        int rc = store_restore_begin(n->store, &rx->rs);
        if (rc < 0) {
            rx->rs = NULL;
            snap_fail(call, rx, SRV_INTERNAL, cairn_strerror(rc));
            return;
        }
        srv_log(SRV_LOG_INFO,
                "receiving a snapshot (%" PRIu64 " bytes, index %" PRIu64 ") from member %" PRIx64
                "\n",
                rx->size, rx->msg->msgs[0].snapshot->index, rx->from);
    }
    if (rx->got + ch->data.len > rx->size) {
        snap_fail(call, rx, SRV_INVALID_ARGUMENT, "cairn: snapshot longer than announced");
        return;
    }
    /* a page-cache write; the fsync happens when the node thread installs it */
    int rc = ch->data.len ? store_restore_write(rx->rs, ch->data.data, ch->data.len) : 0;
    if (rc < 0) {
        snap_fail(call, rx, SRV_INTERNAL, cairn_strerror(rc));
        return;
    }
    rx->got += ch->data.len;
}

static void on_snap_close(struct srv_call *call, int cancelled)
{
    struct srv_node *n = node_of(call);
    struct rx_snap *rx = srv_call_get_data(call);
    srv_call_set_data(call, NULL);
    if (!rx)
        return; /* refused at open (the busy flag belongs to another call) */
    int complete = !cancelled && !rx->failed && rx->rs && rx->got == rx->size;
    struct srv_req *r = complete ? calloc(1, sizeof(*r)) : NULL;
    struct srv_peer_snap_in *in = r ? calloc(1, sizeof(*in)) : NULL;
    if (in) {
        in->rs = rx->rs;
        in->msg = rx->msg;
        r->kind = SRV_REQ_PEER_SNAP;
        r->peer = in;
        r->on_free = free_snap_req;
        rx->rs = NULL;
        rx->msg = NULL;
    } else {
        free(r);
        r = NULL;
    }
    if (rx->rs)
        store_restore_abort(rx->rs);
    free(rx->msg);
    int failed = rx->failed;
    free(rx);
    atomic_store(&n->peer_snap_rx, 0);
    if (cancelled || failed)
        return; /* the stream is over, or already finished with the reason */
    Cairnpb__SnapshotResult res = CAIRNPB__SNAPSHOT_RESULT__INIT;
    res.ok = r != NULL;
    res.error = (char *)(complete ? (r ? "" : "out of memory") : "snapshot incomplete");
    int submitted = r && srv_node_submit(n, r) == 0; /* installed by the node thread */
    if (r && !submitted)
        res.ok = 0, res.error = (char *)"node stopping or busy";
    (void)srv_stream_send(call, &res.base);
    srv_stream_finish(call, SRV_OK, NULL);
}

const struct srv_method srv_peer_methods[] = {
    {SRV_PEER_PATH_STREAM, SRV_BIDI, &cairnpb__peer_batch__descriptor, on_stream_open,
     on_stream_request, on_stream_close},
    {SRV_PEER_PATH_SNAPSHOT, SRV_BIDI, &cairnpb__snapshot_chunk__descriptor, on_snap_open,
     on_snap_request, on_snap_close},
};
const size_t srv_peer_n_methods = CAIRN_ARRAY_LEN(srv_peer_methods);
