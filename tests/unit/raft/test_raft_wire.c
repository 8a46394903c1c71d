/* Protobuf forms of conf changes and hard state (raft_wire.h, proto/cairnpb/raft.proto). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raft_wire.h"

#include "cairnpb/raft.pb-c.h"

#include <string.h>

static void test_enum_numbers_match_raft_h(void **state)
{
    (void)state;
    assert_int_equal(CAIRNPB__RAFT_MESSAGE_TYPE__RAFT_MSG_APP, RAFT_MSG_APP);
    assert_int_equal(CAIRNPB__RAFT_MESSAGE_TYPE__RAFT_MSG_HEARTBEAT_RESP, RAFT_MSG_HEARTBEAT_RESP);
    assert_int_equal(CAIRNPB__RAFT_MESSAGE_TYPE__RAFT_MSG_TIMEOUT_NOW, RAFT_MSG_TIMEOUT_NOW);
    assert_int_equal(CAIRNPB__RAFT_MESSAGE_TYPE__RAFT_MSG_TRANSFER_LEADER,
                     RAFT_MSG_TRANSFER_LEADER);
    assert_int_equal(CAIRNPB__RAFT_MESSAGE_FLAG__RAFT_MSGF_TRANSFER, RAFT_MSGF_TRANSFER);
    assert_int_equal(CAIRNPB__RAFT_ENTRY_TYPE__RAFT_ENTRY_CONF_CHANGE, RAFT_ENTRY_CONF_CHANGE);
    assert_int_equal(CAIRNPB__RAFT_CONF_CHANGE_TYPE__RAFT_CC_ADD_LEARNER, RAFT_CC_ADD_LEARNER);
    assert_int_equal(CAIRNPB__RAFT_CONF_CHANGE_TRANSITION__RAFT_CC_JOINT_IMPLICIT,
                     RAFT_CC_JOINT_IMPLICIT);
}

static void test_conf_change_round_trip(void **state)
{
    (void)state;
    struct raft_conf_change cc;
    memset(&cc, 0, sizeof(cc));
    cc.transition = RAFT_CC_JOINT_EXPLICIT;
    cc.changes[0] = (struct raft_cc_single){RAFT_CC_ADD_VOTER, 4};
    cc.changes[1] = (struct raft_cc_single){RAFT_CC_REMOVE, 1};
    cc.n_changes = 2;
    cc.context = (const uint8_t *)"ctx";
    cc.context_len = 3;
    uint8_t buf[128], ctx[8];
    size_t len = 0;
    assert_int_equal(raft_wire_conf_change_pack(&cc, buf, sizeof(buf), &len), 0);
    struct raft_conf_change out;
    assert_int_equal(raft_wire_conf_change_unpack(buf, len, ctx, sizeof(ctx), &out), 0);
    assert_int_equal(out.transition, RAFT_CC_JOINT_EXPLICIT);
    assert_int_equal(out.n_changes, 2);
    assert_int_equal(out.changes[0].id, 4);
    assert_int_equal(out.changes[1].type, RAFT_CC_REMOVE);
    assert_ptr_equal(out.context, ctx);
    assert_memory_equal(out.context, "ctx", 3);
    assert_int_equal(raft_wire_conf_change_unpack(buf, len, ctx, 2, &out), CAIRN_ELIMIT);
    assert_int_equal(raft_wire_conf_change_pack(&cc, buf, 4, &len), CAIRN_ELIMIT);
    assert_int_equal(raft_wire_conf_change_unpack((const uint8_t *)"\xff\xff", 2, ctx, 8, &out),
                     CAIRN_ECORRUPT);
    cc.changes[1].id = 0;
    assert_int_equal(raft_wire_conf_change_pack(&cc, buf, sizeof(buf), &len), CAIRN_EINVAL);
    /* a node id of 0 on the wire is refused too */
    Cairnpb__RaftConfChangeSingle s = CAIRNPB__RAFT_CONF_CHANGE_SINGLE__INIT, *ps = &s;
    Cairnpb__RaftConfChange pb = CAIRNPB__RAFT_CONF_CHANGE__INIT;
    pb.n_changes = 1;
    pb.changes = &ps;
    len = cairnpb__raft_conf_change__pack(&pb, buf);
    assert_int_equal(raft_wire_conf_change_unpack(buf, len, ctx, 8, &out), CAIRN_ECORRUPT);
    /* an entry in raft's own encoding converts to the same protobuf bytes */
    cc.changes[1].id = 1;
    uint8_t raw[128], a[128], b[128];
    size_t rawlen = 0, alen = 0, blen = 0;
    assert_int_equal(raft_conf_change_encode(&cc, raw, sizeof(raw), &rawlen), 0);
    struct raft_entry e = {.term = 1, .index = 1, .type = RAFT_ENTRY_CONF_CHANGE};
    e.data = raw;
    e.len = (uint32_t)rawlen;
    assert_int_equal(raft_wire_conf_change_entry_to_pb(&e, a, sizeof(a), &alen), 0);
    assert_int_equal(raft_wire_conf_change_pack(&cc, b, sizeof(b), &blen), 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    e.type = RAFT_ENTRY_NORMAL;
    assert_int_equal(raft_wire_conf_change_entry_to_pb(&e, a, sizeof(a), &alen), CAIRN_ECORRUPT);
}

static void test_hard_state(void **state)
{
    (void)state;
    struct raft_hard_state hs = {.term = 7, .vote = 3, .commit = 123456789}, out;
    uint8_t buf[64];
    size_t len = 0;
    assert_int_equal(raft_wire_hard_state_pack(&hs, buf, sizeof(buf), &len), 0);
    assert_int_equal(raft_wire_hard_state_unpack(buf, len, &out), 0);
    assert_int_equal(out.term, 7);
    assert_int_equal(out.vote, 3);
    assert_int_equal(out.commit, 123456789);
    assert_int_equal(raft_wire_hard_state_pack(&hs, buf, 2, &len), CAIRN_ELIMIT);
    assert_int_equal(raft_wire_hard_state_unpack((const uint8_t *)"\x08", 1, &out), CAIRN_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enum_numbers_match_raft_h),
        cmocka_unit_test(test_conf_change_round_trip),
        cmocka_unit_test(test_hard_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
