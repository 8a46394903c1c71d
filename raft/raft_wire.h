/*
 * raft_wire — protobuf forms (proto/cairnpb/raft.proto) of raft/'s membership changes and
 * hard state, for tools, admin APIs and anyone who wants them as protobuf rather than as
 * raft/'s own entry encoding. A separate library (cairn_raft_wire, links cairn_proto) so the
 * core never depends on protobuf-c. Raft messages, entries and snapshot metadata go on the
 * wire as cairnpb.RaftMessage (proto/cairnpb/peer.proto), encoded by server/srv_peer_wire.c.
 * Owns nothing; never allocates except inside protobuf-c's unpack (freed before return).
 */
#ifndef CAIRN_RAFT_WIRE_H
#define CAIRN_RAFT_WIRE_H

#include "raft.h"

#include <stddef.h>
#include <stdint.h>

/* cc as a packed cairnpb.RaftConfChange into buf (cap bytes). 0 and *len, CAIRN_EINVAL
 * (malformed cc), CAIRN_ELIMIT (cap too small). */
int raft_wire_conf_change_pack(const struct raft_conf_change *cc, uint8_t *buf, size_t cap,
                               size_t *len);

/* Unpack a cairnpb.RaftConfChange; the context is copied into ctx_buf (ctx_cap bytes) and
 * cc->context points there. 0, CAIRN_ECORRUPT (not a valid change), CAIRN_ELIMIT (too many
 * changes or ctx_cap too small), CAIRN_ENOMEM. */
int raft_wire_conf_change_unpack(const uint8_t *buf, size_t len, uint8_t *ctx_buf, size_t ctx_cap,
                                 struct raft_conf_change *cc);

/* The data of a RAFT_ENTRY_CONF_CHANGE entry (raft's encoding) as a packed RaftConfChange. */
int raft_wire_conf_change_entry_to_pb(const struct raft_entry *e, uint8_t *buf, size_t cap,
                                      size_t *len);

int raft_wire_hard_state_pack(const struct raft_hard_state *hs, uint8_t *buf, size_t cap,
                              size_t *len);
int raft_wire_hard_state_unpack(const uint8_t *buf, size_t len, struct raft_hard_state *hs);

#endif /* CAIRN_RAFT_WIRE_H */
