/*
 * srv_peer_wire.h — raft messages on the wire (cairnpb.RaftMessage, proto/cairnpb/peer.proto).
 *
 * Encoding is by hand, straight from struct raft_msg into the caller's buffer, so a Ready's
 * messages go out without building protobuf-c structs; the bytes are exactly what protobuf-c
 * would write (fields in number order, proto3 zero values omitted, repeated scalars packed),
 * which the unit test checks. Decoding uses the generated protobuf-c code and then copies
 * into one block the node thread owns.
 *
 * Promises: a decoded message is structurally valid for raft_step (known type, entry types,
 * member counts within RAFT_MAX_NODES, a snapshot exactly on SNAP) and addressed as the
 * stream says (from, to). Never: allocates while encoding.
 */
#ifndef CAIRN_SRV_PEER_WIRE_H
#define CAIRN_SRV_PEER_WIRE_H

#include "raft.h"

#include "cairnpb/peer.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* Bytes of a PeerBatch holding msgs[idx[0..n)]. */
size_t srv_peer_wire_batch_size(const struct raft_msg *msgs, const size_t *idx, size_t n);

/* Writes that PeerBatch into out (at least srv_peer_wire_batch_size bytes); returns the
 * number of bytes written. */
size_t srv_peer_wire_batch_pack(const struct raft_msg *msgs, const size_t *idx, size_t n,
                                uint8_t *out);

/* Views m as a protobuf-c RaftMessage for messages without entries (the snapshot header):
 * pb, meta and conf are caller storage; pb points at m's conf arrays, so m must outlive pb. */
void srv_peer_wire_msg_view(const struct raft_msg *m, Cairnpb__RaftMessage *pb,
                            Cairnpb__RaftSnapshotMeta *meta, Cairnpb__RaftConfState *conf);

/* Received messages: one malloc'd block; free(block) releases everything. */
struct srv_peer_msgs {
    size_t n;
    struct raft_msg *msgs;
};

/*
 * Copies pbs[0..n) into one block. Every message must come from `from` and be addressed to
 * `to` (0 = do not check). Returns 0 and *out, CAIRN_EINVAL (a message that is not a valid
 * raft message: the whole batch is refused) or CAIRN_ENOMEM.
 */
int srv_peer_wire_unpack(Cairnpb__RaftMessage *const *pbs, size_t n, uint64_t from, uint64_t to,
                         struct srv_peer_msgs **out);

#endif /* CAIRN_SRV_PEER_WIRE_H */
