/*
 * srv_node_int.h — the node's internals, shared by the files of server/ that implement it:
 * srv_node.c (node thread, raft Ready loop, request queue), srv_kv.c, srv_lease.c,
 * srv_maint.c (Maintenance, Health), srv_watch.c (watch hub and Watch), srv_cluster*.c
 * (membership, Cluster) and srv_peer*.c (peer transport; docs/cluster.md).
 *
 * A cluster: raft messages from peers arrive as SRV_REQ_PEER requests (SRV_REQ_PEER_SNAP with
 * a snapshot's data); each Ready's messages go out through the transport, those that need
 * not wait (a leader's appends) before the batch commit, the rest (votes, acks) after it.
 * A follower's proposals and ReadIndex requests are forwarded by raft; the entry carries the
 * proposer's member id and request id, so the proposer answers its own client.
 *
 * Threads: gRPC handlers run on the polling thread; they validate, answer serializable
 * reads from a short LMDB read transaction, and hand everything else to the node thread
 * through the bounded request queue (srv_node_submit). Only the node thread touches raft,
 * the store's write path, the waiter map, the lessor and the watch hub. The node thread
 * answers calls itself (srv_call_reply is thread-safe).
 */
#ifndef CAIRN_SRV_NODE_INT_H
#define CAIRN_SRV_NODE_INT_H

#include "alloc.h"
#include "common.h"
#include "raft.h"
#include "server.h"
#include "srv_grpc.h"
#include "srv_lessor.h"
#include "srv_node.h"
#include "store.h"
#include "u64map.h"

#include "cairnpb/internal.pb-c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define SRV_QUEUE_MAX          65536 /* queued requests; past it: "too many requests" */
#define SRV_REQUEST_TIMEOUT_MS 7000  /* a proposal or read not answered by then times out */
#define SRV_MAX_LEASES         1000000
#define SRV_SNAPSHOT_KEEP      5000     /* log entries kept behind a log compaction */
#define SRV_COMPACT_STEP_REVS  1000     /* revisions examined per physical compaction step */
#define SRV_BATCH_MAX          4096     /* requests taken off the queue per loop iteration */
#define SRV_LEASE_RETRY_MS     1000     /* an expired lease's revocation is retried after */
#define SRV_VERSION_STRING     "3.4.23" /* the etcd release whose API cairn serves */
#define SRV_WATCH_EVENTS_MAX   1000     /* events per WatchResponse and per catch-up read */
#define SRV_HANDOFF_MAX_MS     3000     /* a stopping leader waits at most this for a successor */
#define SRV_REMOVED_GRACE_MS   5000     /* a removed leader keeps replicating this long at most */
#define SRV_REMOVED_ANSWER_MS  1000     /* a removed follower stops after this: answers go out */

struct srv_watch_hub;
struct srv_cluster;
struct srv_peer_transport;
struct srv_peer_msgs;
struct srv_lease_fwd;

/* A snapshot received from the leader, waiting for raft to accept it. */
struct srv_peer_snap_in {
    struct store_restore *rs;  /* the data, written; finished (installed) by the node */
    struct srv_peer_msgs *msg; /* the SNAP message (one) */
};

enum srv_req_kind {
    SRV_REQ_PROPOSE = 0, /* data = packed InternalRequest */
    SRV_REQ_READ,        /* linearizable Range: range = the request */
    SRV_REQ_LEASE_RENEW, /* keep-alive from a stream: lease_id */
    SRV_REQ_LEASE_TTL,   /* TimeToLive: lease_id, keys */
    SRV_REQ_DEFRAG,
    SRV_REQ_MOVE_LEADER, /* target */
    SRV_REQ_WATCH,       /* watch hub work, see srv_watch.c */
    SRV_REQ_HASH,        /* Hash: needs the writer quiet for a consistent answer */
    SRV_REQ_PEER,        /* raft messages from a peer: peer = struct srv_peer_msgs */
    SRV_REQ_PEER_SNAP,   /* a received snapshot to install: peer = struct srv_peer_snap_in */
    SRV_REQ_MEMBER,      /* a membership change for the leader: member_op, member_req */
    SRV_REQ_PEER_LEASE,  /* a keep-alive a follower forwarded to this leader: lease_id */
};

struct srv_req {
    struct srv_req *next; /* request queue / waiter lists */
    struct srv_req *prev; /* waiter list (node thread) */
    enum srv_req_kind kind;
    struct srv_call *call; /* NULL for server-originated work */
    uint64_t id;           /* proposals: InternalRequest.header.id */
    uint64_t deadline_ms;
    uint8_t *data; /* proposals: packed InternalRequest (in the call arena) */
    size_t len;
    const Etcdserverpb__RangeRequest *range; /* SRV_REQ_READ (in the call arena) */
    int64_t lease_id;
    int lease_keys;
    uint64_t target;
    int physical;     /* Compact with physical=true waits for the work */
    int64_t revision; /* physical compaction: the header revision to answer with */
    int finish;       /* keep-alive stream: the client is done; end it in order */
    void *watch;      /* SRV_REQ_WATCH payload (srv_watch.c owns it) */
    void *peer;       /* SRV_REQ_PEER / SRV_REQ_PEER_SNAP payload (freed by on_free) */
    int member_op;    /* SRV_REQ_MEMBER: enum srv_member_op (srv_cluster_int.h) */
    const ProtobufCMessage *member_req;   /* SRV_REQ_MEMBER: the request (call arena) */
    void (*on_free)(struct srv_req *req); /* requests not in a call arena */
};

/* What the polling thread may read about raft without touching it (updated per Ready). */
struct srv_pub {
    uint64_t term;
    uint64_t lead;
    uint64_t commit;
    uint64_t last_index;
    uint64_t applied;
    uint8_t role;
    uint8_t is_learner;
    uint8_t sole_voter; /* this member is the only voter */
};

struct srv_node {
    struct srv_config cfg;
    uint64_t member_id;
    uint64_t cluster_id;
    struct store *store;
    struct raft *raft;
    struct srv_grpc *grpc; /* NULL without client URLs (embedded) */
    size_t n_client_listen;

    pthread_t thread;
    int thread_started;
    atomic_int stopping;
    atomic_uint_fast64_t next_id; /* request ids for proposals (any thread) */

    /* request queue: any thread → node thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct srv_req *q_head, *q_tail;
    uint32_t q_len;
    int wakeups;               /* transport reports waiting (under mu) */
    pthread_cond_t handoff_cv; /* srv_node_stop waits on it for the hand-off (under mu) */

    /* published status */
    pthread_mutex_t pub_mu;
    pthread_cond_t pub_cv;  /* the leader changed */
    atomic_int reads_local; /* linearizable reads may be served like serializable ones */
    struct srv_pub pub;

    /* node thread only */
    struct cairn_u64map waiters; /* id → proposal request */
    struct srv_req *wait_head;   /* waiters in submission order (for timeouts) */
    struct srv_req *wait_tail;
    struct srv_req *reads_waiting; /* linearizable reads not yet given a read index */
    struct srv_read_batch *read_batches;
    uint64_t read_ctx;
    struct srv_lessor *lessor;
    int leader; /* this node leads (lessor is live) */
    uint64_t term;
    uint64_t applied;
    int compaction_pending;
    struct srv_req *compact_waiters; /* physical compactions waiting for the work */
    uint64_t tick_ms;
    uint64_t next_tick_ms;
    uint64_t lease_id_seq;
    struct srv_watch_hub *hub;
    struct alloc_arena *batch_arena;
    struct raft_storage rs;
    uint64_t last_log_compact; /* index the raft log was last compacted to */

    /* cluster: membership, peers, leadership */
    struct srv_cluster *cluster;                 /* srv_cluster.c */
    struct srv_grpc *peer_grpc;                  /* the peer URLs' server (cairnpb.Peer, Cluster) */
    struct srv_peer_transport *peers;            /* srv_peer.c */
    struct srv_lease_fwd *lease_fwd;             /* srv_peer_lease.c (node thread creates it) */
    atomic_int peer_snap_rx;                     /* a snapshot is being received */
    atomic_uint_fast64_t peer_refusal_log_ms[4]; /* per refusal reason (srv_peer_server.c) */
    struct raft_conf_state conf;                 /* node thread: the applied configuration */
    struct store_restore *pending_restore;       /* node thread: data for a SNAP being stepped */
    uint64_t pending_restore_index;
    struct srv_req *move_waiters; /* MoveLeader calls waiting for the transfer */
    int handoff;                  /* stopping: 1 = hand leadership over, 2 = done */
    uint64_t handoff_deadline_ms;
    uint64_t removed_at_ms; /* this member's removal was applied (0 = not removed) */
    struct {
        uint64_t id, ms;
    } heard[RAFT_MAX_NODES * 2]; /* node thread: when each peer's last message arrived */
    int removed_signalled;
    uint64_t last_lead; /* node thread: the leader as of the last Ready */
};

/* Milliseconds on the monotonic clock. */
uint64_t srv_now_ms(void);

/* Hand a request to the node thread. On a full queue or a stopping node the call is
 * answered with the error here and CAIRN_EDROPPED / CAIRN_ESTOPPED is returned. */
int srv_node_submit(struct srv_node *n, struct srv_req *req);

/* A zeroed request of kind for call, in the call's arena (lives as long as the call). On
 * allocation failure the call is answered with ENOMEM and NULL is returned. Any thread. */
struct srv_req *srv_node_call_req(struct srv_call *call, enum srv_req_kind kind);

/* A proposal request for msg (an InternalRequest body case) in the call's arena. */
int srv_node_propose(struct srv_node *n, struct srv_call *call,
                     Cairnpb__InternalRequest__RequestCase kcase, ProtobufCMessage *body);

/* A proposal nobody waits for (alarms, lease revocations by expiry); any thread. */
int srv_node_propose_internal(struct srv_node *n, Cairnpb__InternalRequest__RequestCase kcase,
                              ProtobufCMessage *body);

/* Fill a response header: cluster, member, revision and the current raft term. */
void srv_node_header(struct srv_node *n, Etcdserverpb__ResponseHeader *h, int64_t revision);

/* Status snapshot for any thread. */
void srv_node_pub(struct srv_node *n, struct srv_pub *out);

/* Node thread: track a proposed request until its entry is applied (or it times out), and
 * take it back by id (NULL if it timed out already). */
void srv_node_wait(struct srv_node *n, struct srv_req *req);
struct srv_req *srv_node_unwait(struct srv_node *n, uint64_t id);

/* Node thread: 1 if a message from peer id arrived within the last ms milliseconds (etcd's
 * "active" peers for the reconfiguration checks). */
int srv_node_heard_within(const struct srv_node *n, uint64_t id, uint64_t ms);

/* Node thread: MoveLeader (answered once the target leads, or timed out). */
void srv_node_move_leader(struct srv_node *n, struct srv_req *req);

/* Stops the process on a storage or memory failure the node cannot continue after. */
CAIRN_NORETURN void srv_node_fatal(int rc, const char *what);

/* Service tables (each file provides its methods). */
extern const struct srv_method srv_kv_methods[];
extern const size_t srv_kv_n_methods;
extern const struct srv_method srv_lease_methods[];
extern const size_t srv_lease_n_methods;
extern const struct srv_method srv_maint_methods[];
extern const size_t srv_maint_n_methods;
extern const struct srv_method srv_watch_methods[];
extern const size_t srv_watch_n_methods;
extern const struct srv_method srv_admin_methods[];
extern const size_t srv_admin_n_methods;
extern const struct srv_method srv_cluster_methods[];
extern const size_t srv_cluster_n_methods;
extern const struct srv_method srv_peer_methods[]; /* on the peer server only */
extern const size_t srv_peer_n_methods;
extern const struct srv_method srv_peer_lease_methods[]; /* on the peer server only */
extern const size_t srv_peer_lease_n_methods;

/* Lease calls on a follower (srv_peer_lease.c). Node thread: hand a keep-alive (or a
 * stream's end) or a TimeToLive to the leader; 0 = taken, else serve it locally. */
int srv_peer_lease_forward(struct srv_node *n, struct srv_req *r);
/* Node thread, leader: a forwarded keep-alive (SRV_REQ_PEER_LEASE). */
void srv_peer_lease_renew(struct srv_node *n, struct srv_req *r);
/* After the node thread stopped: ends the forwarder, failing what is queued. */
void srv_peer_lease_stop(struct srv_node *n);

/* Node-thread hooks implemented by the service files. */
void srv_lease_on_applied(struct srv_node *n, const struct store_op *op,
                          const struct store_result *res);
void srv_lease_leadership(struct srv_node *n, int leader);
void srv_lease_tick(struct srv_node *n);
void srv_lease_handle(struct srv_node *n, struct srv_req *req);
/* Leader only: renew lease id for a keep-alive (local or forwarded by a follower); fills h
 * and returns the granted TTL, or 0 for an unknown or expiring lease (as etcd answers). */
int64_t srv_lease_renew_ttl(struct srv_node *n, int64_t id, Etcdserverpb__ResponseHeader *h);
void srv_maint_handle(struct srv_node *n, struct srv_req *req);

int srv_watch_hub_create(struct srv_node *n, struct srv_watch_hub **out);
void srv_watch_hub_destroy(struct srv_watch_hub *h);
int srv_watch_wants_prev_kv(const struct srv_watch_hub *h);
void srv_watch_on_events(struct srv_watch_hub *h, const struct store_result *res, size_t n_res,
                         int64_t revision);
void srv_watch_handle(struct srv_watch_hub *h, struct srv_req *req);
void srv_watch_tick(struct srv_watch_hub *h);   /* catch up unsynced watchers, progress */
void srv_watch_resync(struct srv_watch_hub *h); /* after a snapshot install: catch up all */

#endif /* CAIRN_SRV_NODE_INT_H */
