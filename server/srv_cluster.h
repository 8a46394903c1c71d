/*
 * srv_cluster.h — membership: member ids, the member table, bootstrap and join, and the
 * etcdserverpb.Cluster service (MemberAdd/Remove/Update/List/Promote).
 *
 * Ids (equal on every member, as etcd computes them): a founding member's id is FNV-1a 64 of
 * its sorted peer URLs joined with "," followed by --initial-cluster-token; the cluster id is
 * FNV-1a 64 of the founders' ids in increasing order (8 bytes each, little-endian) followed by
 * the token, so every founder computes the same from the same --initial-cluster. A member added
 * later gets its id from the leader (its URLs, the token, the leader's id and clock), carried
 * in the conf-change entry; a joining member (--initial-cluster-state existing) learns its id
 * and the cluster id by asking the members listed in --initial-cluster (Cluster.MemberList on
 * their peer URLs) for the member whose peer URLs are its own. Ids are never reused: removed
 * ids are remembered and refused by the transport.
 *
 * The member table (id, name, peer URLs, client URLs) lives in the store's aux tables and
 * changes only by applying log entries, in the batch that applies them, so every member holds
 * the same table at the same applied index and a snapshot carries it: membership conf-change
 * entries (add, remove, promote; context = cairnpb.ConfChangeContext with the member and the
 * proposer) and cairnpb.ClusterRequest entries (a member's name and client URLs, published by
 * the member itself once it runs; peer URL updates). The founders' conf-change entry (index 1,
 * written by raft/) has no context: its members come from --initial-cluster (founders) or
 * from the member list fetched at join. Learner or voter is read from the raft configuration.
 *
 * Threads: the table is read by gRPC threads under a mutex and written by the node thread.
 * Membership changes are proposed by the leader's node thread; a follower forwards the
 * client's call to the leader's peer URL (same method) from a short-lived thread.
 */
#ifndef CAIRN_SRV_CLUSTER_H
#define CAIRN_SRV_CLUSTER_H

#include "raft.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

struct srv_node;
struct srv_req;
struct srv_cluster;

#define SRV_AUX_MEMBERS      0x10 /* aux table: member id (8 bytes BE) -> etcdserverpb.Member */
#define SRV_AUX_REMOVED      0x11 /* aux table: removed member id (8 bytes BE) -> "" */
#define SRV_MEMBERS_MAX      RAFT_MAX_NODES
#define SRV_REMOVED_MAX      4096 /* removed ids remembered in memory */
#define SRV_MEMBER_NAME_MAX  256
#define SRV_MEMBER_URLS_MAX  1024
#define SRV_JOIN_TIMEOUT_MS  10000 /* a joining member asks the others for this long */
#define SRV_PUBLISH_RETRY_MS 1000  /* a member re-publishes its attributes until applied */
#define SRV_LEARNERS_MAX     1     /* etcd 3.4's limit */

struct srv_member {
    uint64_t id;
    char name[SRV_MEMBER_NAME_MAX];
    char peer_urls[SRV_MEMBER_URLS_MAX]; /* comma-separated, sorted */
    char client_urls[SRV_MEMBER_URLS_MAX];
};

/* ---- ids (pure; unit tested) ---- */

/* FNV-1a 64 of the sorted, comma-joined URLs and the token; never 0. */
uint64_t srv_cluster_member_id(const char *sorted_urls, const char *token);
/* FNV-1a 64 of the sorted ids and the token; never 0. ids is sorted in place. */
uint64_t srv_cluster_id_of(uint64_t *ids, size_t n, const char *token);
/* Sorts a comma-separated URL list in place (at most 32 URLs). 0 or CAIRN_EINVAL. */
int srv_cluster_sort_urls(char *urls, size_t cap);

/*
 * Parses --initial-cluster ("name=url,name=url2,other=url3": a name may repeat for several
 * URLs) into out[0..*n): names, sorted URLs and ids. CAIRN_EINVAL with a message in err for
 * a malformed list, a bad URL or a URL used twice; CAIRN_ELIMIT past max members.
 */
int srv_cluster_parse_initial(const char *initial_cluster, const char *token,
                              struct srv_member *out, size_t max, size_t *n, char *err,
                              size_t err_len);

/* ---- node integration (srv_node.c) ---- */

/*
 * At start, before raft: loads the table (restart), or bootstraps a new cluster from
 * --initial-cluster (fills voters[0..*n_voters) for raft's bootstrap), or joins an existing
 * one. Sets n->member_id and n->cluster_id and persists them. n->store must be open.
 */
int srv_cluster_open(struct srv_node *n, const struct store_state *st, uint64_t *voters,
                     uint32_t *n_voters, char *err, size_t err_len);
void srv_cluster_close(struct srv_node *n);

/* Pushes every known member's peer address to the transport (after open and changes). */
void srv_cluster_sync_transport(struct srv_node *n);

/* What applying one entry did, for answering its proposer after the commit. */
struct srv_cluster_effect {
    uint64_t request_id; /* 0: nobody waits */
    uint64_t proposer;
    int err;           /* the request's error (the entry is applied either way) */
    int changed;       /* the table or the configuration changed */
    int self_removed;  /* this member was removed */
    uint64_t added_id; /* MemberAdd: the new member */
};

/* Node thread, inside handle_ready after store_batch_apply(index) of a conf-change entry:
 * records the table change in b (aux) and in memory. conf_before is the configuration
 * before this entry; on return it is the configuration after it. */
void srv_cluster_apply_conf_change(struct srv_node *n, struct store_batch *b,
                                   const struct raft_entry *e, struct raft_conf_state *conf,
                                   struct srv_cluster_effect *fx);
/* The same for a cairnpb.ClusterRequest entry (InternalRequest.cluster bytes). */
void srv_cluster_apply_request(struct srv_node *n, struct store_batch *b, uint64_t index,
                               const uint8_t *data, size_t len, struct srv_cluster_effect *fx);
/* After a snapshot was restored: reload the table and configuration from the store. */
void srv_cluster_reload(struct srv_node *n, const struct raft_conf_state *conf);
/* Answers the request that proposed an applied entry (node thread; req is the waiter). */
void srv_cluster_answer(struct srv_node *n, struct srv_req *req,
                        const struct srv_cluster_effect *fx);
/* Node thread: a membership request (SRV_REQ_MEMBER) on the leader. */
void srv_cluster_handle(struct srv_node *n, struct srv_req *req);
/* Node thread, every loop: publish this member's attributes until the table has them,
 * retry changes refused as busy, expire them. */
void srv_cluster_tick(struct srv_node *n);
/* Node thread at stop: fails retried requests. */
void srv_cluster_fail_pending(struct srv_node *n, int code);

/* Any thread. */
int srv_cluster_is_removed(struct srv_node *n, uint64_t id);
/* The peer URLs of a member (table or bootstrap book) into buf; 0 or CAIRN_ENOTFOUND. */
int srv_cluster_peer_urls(struct srv_node *n, uint64_t id, char *buf, size_t cap);
/* Member count and the number of voters in the applied configuration. */
size_t srv_cluster_size(struct srv_node *n);

#endif /* CAIRN_SRV_CLUSTER_H */
