/* Protobuf forms of raft/'s conf changes and hard state (see raft_wire.h). */
#include "raft_wire.h"

#include "common.h"
#include "cairnpb/raft.pb-c.h"

#include <string.h>

/* raft.proto numbers its enums exactly as raft.h does. */
_Static_assert((int)CAIRNPB__RAFT_MESSAGE_TYPE__RAFT_MSG_TRANSFER_LEADER == RAFT_MSG_TYPE_MAX,
               "message types");
_Static_assert((int)CAIRNPB__RAFT_ENTRY_TYPE__RAFT_ENTRY_CONF_CHANGE == (int)RAFT_ENTRY_CONF_CHANGE,
               "entry types");
_Static_assert((int)CAIRNPB__RAFT_CONF_CHANGE_TYPE__RAFT_CC_REMOVE == (int)RAFT_CC_REMOVE,
               "cc types");
_Static_assert((int)CAIRNPB__RAFT_CONF_CHANGE_TRANSITION__RAFT_CC_JOINT_EXPLICIT ==
                   (int)RAFT_CC_JOINT_EXPLICIT,
               "cc transitions");

int raft_wire_conf_change_pack(const struct raft_conf_change *cc, uint8_t *buf, size_t cap,
                               size_t *len)
{
    if (cc->n_changes > RAFT_MAX_NODES || cc->transition > RAFT_CC_JOINT_EXPLICIT ||
        (cc->context_len && !cc->context))
        return CAIRN_EINVAL;
    Cairnpb__RaftConfChangeSingle singles[RAFT_MAX_NODES];
    Cairnpb__RaftConfChangeSingle *ptrs[RAFT_MAX_NODES];
    Cairnpb__RaftConfChange pb = CAIRNPB__RAFT_CONF_CHANGE__INIT;
    pb.transition = (Cairnpb__RaftConfChangeTransition)cc->transition;
    for (uint32_t i = 0; i < cc->n_changes; i++) {
        if (cc->changes[i].type > RAFT_CC_REMOVE || cc->changes[i].id == 0)
            return CAIRN_EINVAL;
        cairnpb__raft_conf_change_single__init(&singles[i]);
        singles[i].type = (Cairnpb__RaftConfChangeType)cc->changes[i].type;
        singles[i].node_id = cc->changes[i].id;
        ptrs[i] = &singles[i];
    }
    pb.n_changes = cc->n_changes;
    pb.changes = ptrs;
    pb.context.len = cc->context_len;
    pb.context.data = (uint8_t *)(uintptr_t)cc->context; /* read only by pack */
    size_t need = cairnpb__raft_conf_change__get_packed_size(&pb);
    if (need > cap)
        return CAIRN_ELIMIT;
    *len = cairnpb__raft_conf_change__pack(&pb, buf);
    CAIRN_ASSERT(*len == need);
    return 0;
}

int raft_wire_conf_change_unpack(const uint8_t *buf, size_t len, uint8_t *ctx_buf, size_t ctx_cap,
                                 struct raft_conf_change *cc)
{
    memset(cc, 0, sizeof(*cc));
    Cairnpb__RaftConfChange *pb = cairnpb__raft_conf_change__unpack(NULL, len, buf);
    if (!pb)
        return CAIRN_ECORRUPT;
    int rc = 0;
    if (pb->n_changes > RAFT_MAX_NODES || pb->context.len > ctx_cap)
        rc = CAIRN_ELIMIT;
    else if ((uint32_t)pb->transition > RAFT_CC_JOINT_EXPLICIT)
        rc = CAIRN_ECORRUPT;
    for (size_t i = 0; rc == 0 && i < pb->n_changes; i++) {
        if ((uint32_t)pb->changes[i]->type > RAFT_CC_REMOVE || pb->changes[i]->node_id == 0)
            rc = CAIRN_ECORRUPT;
        cc->changes[i].type = (uint8_t)pb->changes[i]->type;
        cc->changes[i].id = pb->changes[i]->node_id;
    }
    if (rc == 0) {
        cc->transition = (uint8_t)pb->transition;
        cc->n_changes = (uint32_t)pb->n_changes;
        cc->context_len = (uint32_t)pb->context.len;
        if (pb->context.len) {
            memcpy(ctx_buf, pb->context.data, pb->context.len);
            cc->context = ctx_buf;
        }
    }
    cairnpb__raft_conf_change__free_unpacked(pb, NULL);
    if (rc != 0)
        memset(cc, 0, sizeof(*cc));
    return rc;
}

int raft_wire_conf_change_entry_to_pb(const struct raft_entry *e, uint8_t *buf, size_t cap,
                                      size_t *len)
{
    struct raft_conf_change cc;
    if (e->type != RAFT_ENTRY_CONF_CHANGE || raft_conf_change_decode(e->data, e->len, &cc) != 0)
        return CAIRN_ECORRUPT;
    return raft_wire_conf_change_pack(&cc, buf, cap, len);
}

int raft_wire_hard_state_pack(const struct raft_hard_state *hs, uint8_t *buf, size_t cap,
                              size_t *len)
{
    Cairnpb__RaftHardState pb = CAIRNPB__RAFT_HARD_STATE__INIT;
    pb.term = hs->term;
    pb.vote = hs->vote;
    pb.commit = hs->commit;
    size_t need = cairnpb__raft_hard_state__get_packed_size(&pb);
    if (need > cap)
        return CAIRN_ELIMIT;
    *len = cairnpb__raft_hard_state__pack(&pb, buf);
    CAIRN_ASSERT(*len == need);
    return 0;
}

int raft_wire_hard_state_unpack(const uint8_t *buf, size_t len, struct raft_hard_state *hs)
{
    Cairnpb__RaftHardState *pb = cairnpb__raft_hard_state__unpack(NULL, len, buf);
    if (!pb)
        return CAIRN_ECORRUPT;
    hs->term = pb->term;
    hs->vote = pb->vote;
    hs->commit = pb->commit;
    cairnpb__raft_hard_state__free_unpacked(pb, NULL);
    return 0;
}
