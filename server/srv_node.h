/*
 * srv_node.h — one cairn member: raft/ on store/, served over etcd's v3 gRPC API.
 *
 * cairnd is a thin main over this; cairn_open() gives the same object to programs that
 * embed cairn. Promises: every write goes through the raft log with group commit (many
 * proposals per Ready, one fsync); an acknowledged write is durable; srv_node_stop()
 * finishes the batch in progress, answers everything pending with "server stopped" and
 * returns within about two seconds.
 */
#ifndef CAIRN_SRV_NODE_H
#define CAIRN_SRV_NODE_H

#include "server.h"

#include <stddef.h>

struct srv_node;

/* Open the data directory, start raft and the gRPC listeners. Returns 0, or a negative
 * cairn code with a one-line reason in err (address in use, bad data dir, ...). */
int srv_node_start(const struct srv_config *cfg, struct srv_node **out, char *err, size_t err_len);

/* Graceful stop (see above) and free. Call once from the thread that started it. */
void srv_node_stop(struct srv_node *n);

/* The bound client port of listen URL i (tests use port 0); CAIRN_ENOTFOUND if none. */
int srv_node_client_port(const struct srv_node *n, size_t i);

/* Wait up to timeout_ms until a one-member node has elected itself (other members wait for
 * their peers; this returns at once for them). 0 or CAIRN_ETIMEOUT. Any thread. */
int srv_node_wait_ready(struct srv_node *n, uint64_t timeout_ms);

/* A client-facing method (KV, Lease, Watch, Maintenance, Cluster, cairnpb.Admin) by its
 * gRPC path, for in-process calls (srv_local_open with the node as user); NULL if none. */
struct srv_method;
const struct srv_method *srv_node_method(const char *path);

#endif /* CAIRN_SRV_NODE_H */
