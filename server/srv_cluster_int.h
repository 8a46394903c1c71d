/*
 * srv_cluster_int.h — the membership module's state, shared by srv_cluster.c (ids, table,
 * bootstrap, applying entries) and srv_cluster_svc.c (the Cluster service and changes).
 */
#ifndef CAIRN_SRV_CLUSTER_INT_H
#define CAIRN_SRV_CLUSTER_INT_H

#include "srv_cluster.h"

#include "etcdserverpb/rpc.pb-c.h"

#include <pthread.h>

/* Membership requests (srv_req.member_op). */
enum srv_member_op {
    SRV_MEMBER_ADD = 1,
    SRV_MEMBER_REMOVE,
    SRV_MEMBER_UPDATE,
    SRV_MEMBER_PROMOTE,
};

struct srv_cluster {
    pthread_mutex_t mu; /* guards everything below against gRPC-thread readers */
    struct srv_member members[SRV_MEMBERS_MAX];
    size_t n_members;
    struct raft_conf_state conf; /* the applied configuration (learner or voter) */
    uint64_t removed[SRV_REMOVED_MAX];
    size_t n_removed;
    /* Where to find members the table does not describe yet: the founders from
     * --initial-cluster, or the member list fetched when joining. */
    struct srv_member book[SRV_MEMBERS_MAX];
    size_t n_book;
    /* node thread only */
    uint64_t next_publish_ms;
    struct srv_req *retry; /* membership changes refused as busy, retried each tick */
};

/* Lookups; c->mu held. */
const struct srv_member *srv_cluster_find(const struct srv_cluster *c, uint64_t id);
int srv_cluster_is_learner(const struct srv_cluster *c, uint64_t id);

/* Fills an etcdserverpb.Member from m (URL arrays from a). 0 or CAIRN_ENOMEM. */
int srv_cluster_member_pb(const struct srv_cluster *c, const struct srv_member *m,
                          ProtobufCAllocator *a, Etcdserverpb__Member *out);
/* The other way; URLs sorted. 0 or CAIRN_EINVAL (too long). */
int srv_cluster_member_from_pb(const Etcdserverpb__Member *pb, struct srv_member *out);
/* Joins n strings with commas into buf; 0 or CAIRN_ELIMIT. */
int srv_cluster_join_urls(char *const *urls, size_t n, char *buf, size_t cap);

#endif /* CAIRN_SRV_CLUSTER_INT_H */
