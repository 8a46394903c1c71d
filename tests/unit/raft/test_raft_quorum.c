/* Quorum math: majority and joint commit indexes and vote outcomes, and check-quorum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raft_int.h"

#include <string.h>

/* Acknowledged index / vote of member id, from small tables in the test. */
struct table {
    uint64_t ids[8];
    uint64_t val[8];
    int n;
};

static uint64_t index_of(const void *ctx, uint64_t id)
{
    const struct table *t = ctx;
    for (int i = 0; i < t->n; i++)
        if (t->ids[i] == id)
            return t->val[i];
    return 0;
}

static int vote_of(const void *ctx, uint64_t id)
{
    const struct table *t = ctx;
    for (int i = 0; i < t->n; i++)
        if (t->ids[i] == id)
            return (int)t->val[i];
    return -1;
}

static void test_majority_index(void **state)
{
    (void)state;
    const uint64_t ids[] = {1, 2, 3, 4, 5};
    struct table t = {{1, 2, 3, 4, 5}, {10, 7, 9, 3, 5}, 5};
    /* sorted 10 9 7 5 3: three members have >= 7 */
    assert_int_equal(raft_majority_index(ids, 5, index_of, &t), 7);
    assert_int_equal(raft_majority_index(ids, 4, index_of, &t), 7); /* 10 9 7 3: 2+1 of 4 */
    assert_int_equal(raft_majority_index(ids, 1, index_of, &t), 10);
    assert_int_equal(raft_majority_index(ids, 2, index_of, &t), 7);
    assert_true(raft_majority_index(ids, 0, index_of, &t) == UINT64_MAX);
}

static void test_majority_vote(void **state)
{
    (void)state;
    const uint64_t ids[] = {1, 2, 3};
    struct table t = {{1, 2}, {1, 1}, 2};
    assert_int_equal(raft_majority_vote(ids, 3, vote_of, &t), RAFT_VOTE_WON);
    t.val[1] = 0; /* 1 yes, 1 no, 1 missing: still open */
    assert_int_equal(raft_majority_vote(ids, 3, vote_of, &t), RAFT_VOTE_PENDING);
    t.val[0] = 0; /* 2 no of 3: lost */
    assert_int_equal(raft_majority_vote(ids, 3, vote_of, &t), RAFT_VOTE_LOST);
    assert_int_equal(raft_majority_vote(ids, 0, vote_of, &t), RAFT_VOTE_WON);
}

static void test_joint(void **state)
{
    (void)state;
    struct raft_conf_state cs;
    memset(&cs, 0, sizeof(cs));
    cs.voters[0] = 1, cs.voters[1] = 2, cs.voters[2] = 3, cs.n_voters = 3;
    struct table t = {{1, 2, 3, 4, 5}, {9, 8, 2, 1, 1}, 5};
    assert_int_equal(raft_joint_index(&cs, index_of, &t), 8); /* outgoing empty */
    cs.voters_outgoing[0] = 3, cs.voters_outgoing[1] = 4, cs.voters_outgoing[2] = 5;
    cs.n_voters_outgoing = 3;
    assert_int_equal(raft_joint_index(&cs, index_of, &t), 1); /* the old half lags */
    struct table v = {{1, 2, 3}, {1, 1, 0}, 3};
    assert_int_equal(raft_joint_vote(&cs, vote_of, &v), RAFT_VOTE_PENDING);
    v.ids[2] = 4, v.val[2] = 0;
    v.ids[3] = 5, v.val[3] = 0, v.n = 4;
    assert_int_equal(raft_joint_vote(&cs, vote_of, &v), RAFT_VOTE_LOST);
    struct table w = {{1, 2, 3, 4}, {1, 1, 1, 1}, 4};
    assert_int_equal(raft_joint_vote(&cs, vote_of, &w), RAFT_VOTE_WON);
}

static void test_tracker_votes_and_quorum_active(void **state)
{
    (void)state;
    struct raft_allocator a;
    raft_allocator_resolve(NULL, &a);
    struct raft_tracker t;
    assert_int_equal(raft_tracker_init(&t, &a, 4, RAFT_UNLIMITED), 0);
    struct raft_conf_state cs;
    memset(&cs, 0, sizeof(cs));
    cs.voters[0] = 3, cs.voters[1] = 1, cs.voters[2] = 2, cs.n_voters = 3;
    cs.learners[0] = 9, cs.n_learners = 1;
    raft_tracker_set_conf(&t, &cs, 5);
    assert_int_equal(t.n, 4);
    for (uint32_t i = 1; i < t.n; i++) /* kept sorted by id */
        assert_true(t.prs[i - 1].id < t.prs[i].id);
    assert_true(raft_tracker_get(&t, 9)->learner);
    assert_false(raft_tracker_get(&t, 1)->learner);
    raft_tracker_record_vote(&t, 1, 1);
    raft_tracker_record_vote(&t, 1, 0); /* the first answer counts */
    raft_tracker_record_vote(&t, 9, 1); /* a learner's vote does not */
    assert_int_equal(raft_tracker_tally(&t), RAFT_VOTE_PENDING);
    raft_tracker_record_vote(&t, 2, 1);
    assert_int_equal(raft_tracker_tally(&t), RAFT_VOTE_WON);
    /* New members start active; after a check only those heard from since count. */
    assert_true(raft_tracker_quorum_active(&t, 1));
    assert_false(raft_tracker_quorum_active(&t, 1));
    raft_tracker_get(&t, 3)->recent_active = 1;
    assert_true(raft_tracker_quorum_active(&t, 1));
    /* Members leave, their rings are reused. */
    cs.n_voters = 2;
    cs.n_learners = 0;
    raft_tracker_set_conf(&t, &cs, 7);
    assert_int_equal(t.n, 2);
    assert_null(raft_tracker_get(&t, 2));
    raft_tracker_get(&t, 1)->match = 6;
    raft_tracker_get(&t, 3)->match = 4;
    assert_int_equal(raft_tracker_committed(&t), 4);
    raft_tracker_destroy(&t, &a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_majority_index),
        cmocka_unit_test(test_majority_vote),
        cmocka_unit_test(test_joint),
        cmocka_unit_test(test_tracker_votes_and_quorum_active),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
