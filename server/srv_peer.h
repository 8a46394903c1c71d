/*
 * srv_peer.h — the peer transport: raft messages and snapshots between the members of a
 * cluster, over gRPC (service cairnpb.Peer, proto/cairnpb/peer.proto).
 *
 * Sending (this side is a gRPC client): one long-lived Stream call per peer carries PeerBatch
 * messages, at most one send in flight; batches queued meanwhile are coalesced into the next
 * send (concatenated PeerBatch encodings are one PeerBatch), so a busy leader sends few, large
 * messages. The receiver acknowledges every batch; a stream whose sends go unacknowledged for
 * dead_after_ms (a silent partition: TCP does not notice) or that cannot connect within
 * connect_timeout_ms is torn down and reconnected on a fresh channel (a new TCP connection)
 * with exponential backoff. Messages for a peer whose stream is down are dropped and the peer
 * is reported unreachable (raft retransmits and probes). A SNAP message starts a snapshot
 * sender thread for that peer instead: a consistent copy of the store (store_snapshot_begin)
 * is streamed in chunks on a separate channel, one send in flight (gRPC flow control paces
 * it), and its outcome is reported for raft_report_snapshot. The SNAP message sent carries the
 * copy's own metadata, which is at or past what raft asked for.
 * Receiving is srv_peer_server.c (methods on the peer gRPC server).
 *
 * Threads: the node thread calls srv_peer_send / srv_peer_set_addr / srv_peer_reports; one
 * transport thread polls the completion queue (stream lifecycle, acks, timers); one thread per
 * snapshot in flight. Every call carries the cluster id and both member ids as metadata.
 * Owns: channels, calls, queued batches, snapshot threads. Never: blocks the node thread
 * (a full queue drops), or touches raft (outcomes are reports the node thread collects).
 */
#ifndef CAIRN_SRV_PEER_H
#define CAIRN_SRV_PEER_H

#include "raft.h"
#include "store.h"

#include <protobuf-c/protobuf-c.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_PEER_MAX            64          /* peers known at once (members + departed) */
#define SRV_PEER_QUEUE_MAX      4096        /* batches queued per peer */
#define SRV_PEER_QUEUE_BYTES    (64u << 20) /* bytes queued per peer */
#define SRV_PEER_SEND_BYTES     (8u << 20)  /* bytes coalesced into one send */
#define SRV_PEER_MSG_MAX_BYTES  (96u << 20) /* receive limit on the peer server */
#define SRV_PEER_SNAP_CHUNK     (1u << 20)  /* snapshot chunk size */
#define SRV_PEER_SNAP_STALL_MS  30000       /* a snapshot send step that takes longer fails */
#define SRV_PEER_BACKOFF_MIN_MS 50
#define SRV_PEER_BACKOFF_MAX_MS 1000
#define SRV_PEER_TARGET_MAX     280
#define SRV_PEER_MD_CLUSTER     "cairn-cluster-id"
#define SRV_PEER_MD_FROM        "cairn-from"
#define SRV_PEER_MD_TO          "cairn-to"
#define SRV_PEER_MD_FORWARDED   "cairn-forwarded"
#define SRV_PEER_PATH_STREAM    "/cairnpb.Peer/Stream"
#define SRV_PEER_PATH_SNAPSHOT  "/cairnpb.Peer/Snapshot"
#define SRV_PEER_ERR_CLUSTER_ID "etcdserver: cluster ID mismatch"
#define SRV_PEER_ERR_REMOVED    "the member has been permanently removed from the cluster"
#define SRV_PEER_ERR_MEMBER_ID  "cairn: member ID mismatch"

struct srv_peer_transport;

struct srv_peer_config {
    uint64_t self_id;
    uint64_t cluster_id;
    struct store *store;         /* snapshots are copied from it */
    uint64_t dead_after_ms;      /* unacknowledged sends for this long: reconnect */
    uint64_t connect_timeout_ms; /* a stream not up after this long: reconnect */
    void (*wake)(void *user);    /* reports are waiting (called from transport threads) */
    void *user;
};

/* Starts the transport thread. 0, CAIRN_ENOMEM or CAIRN_ESYSTEM. grpc_init() must have
 * been called (the node holds it for its lifetime). */
int srv_peer_create(const struct srv_peer_config *cfg, struct srv_peer_transport **out);

/* Cancels every stream and snapshot, joins the threads and frees. */
void srv_peer_destroy(struct srv_peer_transport *t);

/* Address book (node thread): peer id → its first peer URL. A new address reconnects. 0,
 * CAIRN_EINVAL (no usable URL) or CAIRN_ELIMIT (too many peers). */
int srv_peer_set_addr(struct srv_peer_transport *t, uint64_t id, const char *peer_urls);
/* Forget a peer (removed member): its stream is closed and messages to it are dropped. */
void srv_peer_forget(struct srv_peer_transport *t, uint64_t id);

/*
 * Sends the messages of msgs[0..n) whose after_persist equals phase (node thread, during a
 * Ready). Returns how many peer ids it wrote into unreachable[0..cap): peers whose messages
 * were dropped (stream down, queue full, unknown address), to be reported to raft after
 * raft_advance().
 */
size_t srv_peer_send(struct srv_peer_transport *t, const struct raft_msg *msgs, size_t n, int phase,
                     uint64_t *unreachable, size_t cap);

enum srv_peer_report_kind {
    SRV_PEER_UNREACHABLE = 1, /* a stream to the peer broke with messages outstanding */
    SRV_PEER_SNAPSHOT = 2,    /* a snapshot send finished: ok says how */
};

struct srv_peer_report {
    uint64_t id;
    uint8_t kind;
    uint8_t ok;
};

/* Reports gathered since the last call, at most cap (node thread, outside a Ready). */
size_t srv_peer_reports(struct srv_peer_transport *t, struct srv_peer_report *out, size_t cap);

/* 1 once a peer refused us because this member was removed from the cluster. */
int srv_peer_refused_removed(const struct srv_peer_transport *t);

/* Counters for tests and logs. */
struct srv_peer_stats {
    uint64_t batches_sent;  /* gRPC messages sent on streams (after coalescing) */
    uint64_t msgs_sent;     /* raft messages queued for sending */
    uint64_t msgs_dropped;  /* raft messages dropped (stream down, queue full) */
    uint64_t reconnects;    /* streams started */
    uint64_t snapshots_ok;  /* snapshots sent and accepted */
    uint64_t snapshots_bad; /* snapshot sends that failed */
};
void srv_peer_stats(struct srv_peer_transport *t, struct srv_peer_stats *out);

/*
 * One unary call to a peer URL's host:port (blocking; never on a polling or the node
 * thread). md holds n_md key/value pairs of metadata. On gRPC status OK returns 0 and *resp
 * (free with protobuf_c_message_free_unpacked(*resp, NULL)); otherwise *status and msg get the
 * status and its message and it returns CAIRN_EUNAVAILABLE (or CAIRN_ENOMEM / CAIRN_EINVAL).
 */
int srv_peer_call(const char *target, const char *path, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, const char *const *md, size_t n_md,
                  uint64_t timeout_ms, ProtobufCMessage **resp, int *status, char *msg,
                  size_t msg_len);

/* "host:port" of the first URL in a comma-separated list. 0 or CAIRN_EINVAL. */
int srv_peer_target(const char *urls, char *out, size_t cap);

/* Sends one snapshot (the snapshot sender thread's body; exposed for tests): a copy of store
 * to target as the SNAP message m with the copy's metadata. 0 or a negative code; *stop is
 * polled between chunks. */
int srv_peer_snapshot_send(struct store *store, const char *target, uint64_t cluster_id,
                           const struct raft_msg *m, const atomic_int *stop, uint64_t *sent_bytes,
                           char *err, size_t err_len);

#endif /* CAIRN_SRV_PEER_H */
