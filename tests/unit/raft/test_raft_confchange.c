/* Membership changes: the entry codec, the apply rules of joint consensus, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raft_int.h"

#include <string.h>

static struct raft_conf_state conf(const uint64_t *v, uint32_t nv, const uint64_t *l, uint32_t nl)
{
    struct raft_conf_state cs;
    memset(&cs, 0, sizeof(cs));
    memcpy(cs.voters, v, nv * sizeof(*v));
    cs.n_voters = nv;
    if (nl)
        memcpy(cs.learners, l, nl * sizeof(*l));
    cs.n_learners = nl;
    return cs;
}

static struct raft_conf_change cc1(uint8_t transition, uint8_t type, uint64_t id)
{
    struct raft_conf_change cc;
    memset(&cc, 0, sizeof(cc));
    cc.transition = transition;
    cc.n_changes = 1;
    cc.changes[0].type = type;
    cc.changes[0].id = id;
    return cc;
}

static const char *describe(const struct raft_conf_state *cs)
{
    static char buf[256];
    return raft_describe_conf(buf, sizeof(buf), cs);
}

static void test_codec_round_trip(void **state)
{
    (void)state;
    struct raft_conf_change cc = cc1(RAFT_CC_JOINT_EXPLICIT, RAFT_CC_ADD_LEARNER, 7);
    cc.changes[1] = (struct raft_cc_single){RAFT_CC_REMOVE, 0x1122334455667788ULL};
    cc.n_changes = 2;
    cc.context = (const uint8_t *)"peer-urls";
    cc.context_len = 9;
    uint8_t buf[128];
    size_t len = 0;
    assert_int_equal(raft_conf_change_encode(&cc, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, raft_conf_change_size(&cc));
    struct raft_conf_change out;
    assert_int_equal(raft_conf_change_decode(buf, len, &out), 0);
    assert_int_equal(out.transition, RAFT_CC_JOINT_EXPLICIT);
    assert_int_equal(out.n_changes, 2);
    assert_int_equal(out.changes[1].id, 0x1122334455667788ULL);
    assert_int_equal(out.changes[1].type, RAFT_CC_REMOVE);
    assert_int_equal(out.context_len, 9);
    assert_memory_equal(out.context, "peer-urls", 9);
    /* too small a buffer, then every kind of corruption */
    assert_int_equal(raft_conf_change_encode(&cc, buf, len - 1, &len), CAIRN_ELIMIT);
    assert_int_equal(raft_conf_change_decode(buf, 5, &out), CAIRN_ECORRUPT);
    assert_int_equal(raft_conf_change_decode(buf, len + 1, &out), CAIRN_ECORRUPT);
    buf[0] = 2; /* version */
    assert_int_equal(raft_conf_change_decode(buf, len, &out), CAIRN_ECORRUPT);
    buf[0] = 1;
    buf[2] = 40; /* n_changes */
    assert_int_equal(raft_conf_change_decode(buf, len, &out), CAIRN_ECORRUPT);
    buf[2] = 2;
    buf[4] = 9; /* change type */
    assert_int_equal(raft_conf_change_decode(buf, len, &out), CAIRN_ECORRUPT);
    /* malformed changes are refused by the encoder */
    struct raft_conf_change bad = cc1(3, RAFT_CC_ADD_VOTER, 1);
    assert_int_equal(raft_conf_change_encode(&bad, buf, sizeof(buf), &len), CAIRN_EINVAL);
    bad = cc1(RAFT_CC_AUTO, RAFT_CC_ADD_VOTER, 0);
    assert_int_equal(raft_conf_change_encode(&bad, buf, sizeof(buf), &len), CAIRN_EINVAL);
    bad = cc1(RAFT_CC_AUTO, RAFT_CC_ADD_VOTER, 1);
    bad.context_len = 3; /* but no context */
    assert_int_equal(raft_conf_change_encode(&bad, buf, sizeof(buf), &len), CAIRN_EINVAL);
}

static void test_simple_changes(void **state)
{
    (void)state;
    const uint64_t v123[] = {1, 2, 3}, l4[] = {4};
    struct raft_conf_state cs = conf(v123, 3, NULL, 0), out;
    struct raft_conf_change cc = cc1(RAFT_CC_AUTO, RAFT_CC_ADD_LEARNER, 4);
    assert_int_equal(raft_conf_apply(&cs, &cc, &out), 0);
    assert_string_equal(describe(&out), "voters=(1 2 3) learners=(4)");
    cs = out;
    cc = cc1(RAFT_CC_AUTO, RAFT_CC_ADD_VOTER, 4); /* promote */
    assert_int_equal(raft_conf_apply(&cs, &cc, &out), 0);
    assert_string_equal(describe(&out), "voters=(1 2 3 4)");
    cc = cc1(RAFT_CC_AUTO, RAFT_CC_ADD_LEARNER, 2); /* demote: one voter changes */
    assert_int_equal(raft_conf_apply(&out, &cc, &cs), 0);
    assert_string_equal(describe(&cs), "voters=(1 3 4) learners=(2)");
    cc = cc1(RAFT_CC_AUTO, RAFT_CC_REMOVE, 2);
    assert_int_equal(raft_conf_apply(&cs, &cc, &out), 0);
    assert_string_equal(describe(&out), "voters=(1 3 4)");
    cc = cc1(RAFT_CC_AUTO, RAFT_CC_ADD_LEARNER, 4);
    cs = conf(v123, 3, l4, 1);
    assert_int_equal(raft_conf_apply(&cs, &cc, &out), 0); /* already one: no change */
    assert_true(raft_conf_equal(&cs, &out));
    /* the last voter cannot go */
    const uint64_t v1[] = {1};
    cs = conf(v1, 1, NULL, 0);
    cc = cc1(RAFT_CC_AUTO, RAFT_CC_REMOVE, 1);
    assert_int_equal(raft_conf_apply(&cs, &cc, &out), CAIRN_EINVAL);
}

static void test_joint_changes(void **state)
{
    (void)state;
    const uint64_t v123[] = {1, 2, 3};
    struct raft_conf_state cs = conf(v123, 3, NULL, 0), joint, out;
    /* replace 3 by 4: two voters change, so AUTO goes through a joint configuration */
    struct raft_conf_change cc = cc1(RAFT_CC_AUTO, RAFT_CC_ADD_VOTER, 4);
    cc.changes[1] = (struct raft_cc_single){RAFT_CC_REMOVE, 3};
    cc.n_changes = 2;
    assert_int_equal(raft_conf_apply(&cs, &cc, &joint), 0);
    assert_string_equal(describe(&joint), "voters=(1 2 4)&&(1 2 3) autoleave");
    assert_true(raft_conf_is_joint(&joint));
    assert_true(raft_conf_is_voter(&joint, 3)); /* still, in the outgoing half */
    assert_int_equal(raft_conf_apply(&joint, &cc, &out), CAIRN_EINVAL); /* joint while joint */
    struct raft_conf_change leave;
    memset(&leave, 0, sizeof(leave));
    assert_int_equal(raft_conf_apply(&joint, &leave, &out), 0);
    assert_string_equal(describe(&out), "voters=(1 2 4)");
    assert_int_equal(raft_conf_apply(&out, &leave, &cs), CAIRN_EINVAL); /* not joint */
    /* explicit: demoting a voter parks it in learners_next until the joint ends */
    cs = conf(v123, 3, NULL, 0);
    cc = cc1(RAFT_CC_JOINT_EXPLICIT, RAFT_CC_ADD_LEARNER, 3);
    assert_int_equal(raft_conf_apply(&cs, &cc, &joint), 0);
    assert_string_equal(describe(&joint), "voters=(1 2)&&(1 2 3) learners_next=(3)");
    assert_int_equal(raft_conf_apply(&joint, &leave, &out), 0);
    assert_string_equal(describe(&out), "voters=(1 2) learners=(3)");
    /* a joint transition even for one change when asked */
    cc = cc1(RAFT_CC_JOINT_IMPLICIT, RAFT_CC_ADD_VOTER, 5);
    assert_int_equal(raft_conf_apply(&out, &cc, &joint), 0);
    assert_string_equal(describe(&joint), "voters=(1 2 5)&&(1 2) learners=(3) autoleave");
}

static void test_bootstrap_and_limits(void **state)
{
    (void)state;
    struct raft_conf_state empty, out;
    memset(&empty, 0, sizeof(empty));
    struct raft_conf_change cc;
    memset(&cc, 0, sizeof(cc));
    for (uint64_t id = 1; id <= 5; id++)
        cc.changes[cc.n_changes++] = (struct raft_cc_single){RAFT_CC_ADD_VOTER, id};
    assert_int_equal(raft_conf_apply(&empty, &cc, &out), 0); /* no quorum to keep yet */
    assert_int_equal(out.n_voters, 5);
    cc.transition = RAFT_CC_JOINT_IMPLICIT;
    assert_int_equal(raft_conf_apply(&empty, &cc, &out), CAIRN_EINVAL);
    /* more members than RAFT_MAX_NODES */
    struct raft_conf_state big;
    memset(&big, 0, sizeof(big));
    for (uint64_t id = 1; id <= RAFT_MAX_NODES; id++)
        big.voters[big.n_voters++] = id;
    struct raft_conf_change add = cc1(RAFT_CC_AUTO, RAFT_CC_ADD_LEARNER, 100);
    assert_int_equal(raft_conf_apply(&big, &add, &out), CAIRN_EINVAL);
    uint64_t members[RAFT_MAX_NODES];
    assert_int_equal(raft_conf_members(&big, members), RAFT_MAX_NODES);
}

static void test_validate(void **state)
{
    (void)state;
    const uint64_t v12[] = {1, 2}, dup[] = {1, 1}, zero[] = {0}, l1[] = {1};
    struct raft_conf_state cs = conf(v12, 2, NULL, 0);
    assert_int_equal(raft_conf_validate(&cs), 0);
    cs = conf(dup, 2, NULL, 0);
    assert_int_equal(raft_conf_validate(&cs), CAIRN_EINVAL);
    cs = conf(zero, 1, NULL, 0);
    assert_int_equal(raft_conf_validate(&cs), CAIRN_EINVAL);
    cs = conf(v12, 2, l1, 1); /* a learner that also votes */
    assert_int_equal(raft_conf_validate(&cs), CAIRN_EINVAL);
    cs = conf(v12, 2, NULL, 0);
    cs.auto_leave = 1; /* auto-leave outside a joint configuration */
    assert_int_equal(raft_conf_validate(&cs), CAIRN_EINVAL);
    cs.auto_leave = 0;
    cs.learners_next[0] = 3, cs.n_learners_next = 1; /* not an outgoing voter */
    assert_int_equal(raft_conf_validate(&cs), CAIRN_EINVAL);
    cs.n_voters = RAFT_MAX_NODES + 1;
    assert_int_equal(raft_conf_validate(&cs), CAIRN_EINVAL);
    struct raft_conf_change cc = cc1(RAFT_CC_AUTO, RAFT_CC_ADD_VOTER, 3);
    struct raft_conf_state out;
    assert_int_equal(raft_conf_apply(&cs, &cc, &out), CAIRN_EINVAL); /* from an invalid one */
}

static void test_describe_entries(void **state)
{
    (void)state;
    char buf[128];
    struct raft_conf_change cc = cc1(RAFT_CC_JOINT_IMPLICIT, RAFT_CC_ADD_VOTER, 4);
    cc.changes[1] = (struct raft_cc_single){RAFT_CC_REMOVE, 1};
    cc.n_changes = 2;
    uint8_t data[64];
    size_t len = 0;
    assert_int_equal(raft_conf_change_encode(&cc, data, sizeof(data), &len), 0);
    struct raft_entry e = {.term = 3, .index = 9, .type = RAFT_ENTRY_CONF_CHANGE};
    e.data = data;
    e.len = (uint32_t)len;
    assert_string_equal(raft_describe_entry(buf, sizeof(buf), &e), "3/9 conf(v4 r1 joint)");
    e.len = 3;
    assert_string_equal(raft_describe_entry(buf, sizeof(buf), &e), "3/9 conf(corrupt)");
    e.type = RAFT_ENTRY_NORMAL;
    e.data = (const uint8_t *)"\x01\x02\x03";
    assert_string_equal(raft_describe_entry(buf, sizeof(buf), &e), "3/9 <3 bytes>");
    e.data = (const uint8_t *)"abc";
    assert_string_equal(raft_describe_entry(buf, 6, &e), "3/9 \""); /* truncated */
    assert_string_equal(raft_role_str(9), "unknown");
    assert_string_equal(raft_msg_type_str(99), "UNKNOWN");
    assert_string_equal(raft_progress_state_str(7), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_round_trip), cmocka_unit_test(test_simple_changes),
        cmocka_unit_test(test_joint_changes),    cmocka_unit_test(test_bootstrap_and_limits),
        cmocka_unit_test(test_validate),         cmocka_unit_test(test_describe_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
