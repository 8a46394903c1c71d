/*
 * srv_peer_int.h — what the files of the peer transport share (srv_peer.c streams,
 * srv_peer_snap.c snapshot sender, srv_peer_call.c unary calls): channel creation, call
 * metadata, byte buffers.
 */
#ifndef CAIRN_SRV_PEER_INT_H
#define CAIRN_SRV_PEER_INT_H

#include "srv_peer.h"

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>

/* Metadata identifying a peer call: cluster id, sender, receiver (hex). */
struct srv_peer_md {
    grpc_metadata md[3];
    char vals[3][20];
};

void srv_peer_md_init(struct srv_peer_md *m, uint64_t cluster_id, uint64_t from, uint64_t to);

/* A channel to target on its own TCP connection (no shared subchannel), with cairn's
 * reconnect backoff and no message size limit; NULL on failure. */
grpc_channel *srv_peer_channel(const char *target);

/* Encodes msg into a new byte buffer. */
grpc_byte_buffer *srv_peer_encode(const ProtobufCMessage *msg);

/* Decodes a received byte buffer (not destroyed here); NULL if malformed or out of memory. */
ProtobufCMessage *srv_peer_decode(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb);

/* Copies a status-details slice into buf (NUL-terminated, truncated). */
void srv_peer_slice_str(grpc_slice s, char *buf, size_t cap);

/* Waits on a pluck completion queue for tag until deadline_ms (monotonic ms); 1 = the
 * batch succeeded, 0 = it failed, -1 = timed out. */
int srv_peer_pluck(grpc_completion_queue *cq, void *tag, uint64_t deadline_ms);

#endif /* CAIRN_SRV_PEER_INT_H */
