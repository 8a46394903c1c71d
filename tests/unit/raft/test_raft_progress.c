/* Flow control: the inflights ring (messages and bytes) and the progress state machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raft_int.h"

#include <string.h>

static uint64_t ring[2 * 4];

static struct raft_inflights inflights(uint32_t cap, uint64_t max_bytes)
{
    struct raft_inflights in;
    memset(&in, 0, sizeof(in));
    in.index = ring;
    in.cap = cap;
    in.max_bytes = max_bytes;
    return in;
}

static void test_inflights_by_count_and_wrap(void **state)
{
    (void)state;
    struct raft_inflights in = inflights(4, RAFT_UNLIMITED);
    for (uint64_t i = 1; i <= 4; i++) {
        assert_false(raft_inflights_full(&in));
        raft_inflights_add(&in, i * 10, 5);
    }
    assert_true(raft_inflights_full(&in));
    assert_int_equal(in.bytes, 20);
    raft_inflights_free_le(&in, 25); /* frees 10 and 20 */
    assert_int_equal(in.count, 2);
    assert_int_equal(in.bytes, 10);
    raft_inflights_add(&in, 50, 1); /* wraps around the ring */
    raft_inflights_add(&in, 60, 1);
    assert_true(raft_inflights_full(&in));
    raft_inflights_free_first(&in);
    assert_int_equal(in.count, 3);
    raft_inflights_free_le(&in, 1000);
    assert_int_equal(in.count, 0);
    assert_int_equal(in.bytes, 0);
    raft_inflights_free_first(&in); /* empty: nothing happens */
    assert_int_equal(in.count, 0);
}

static void test_inflights_by_bytes(void **state)
{
    (void)state;
    struct raft_inflights in = inflights(4, 100);
    raft_inflights_add(&in, 1, 60);
    assert_false(raft_inflights_full(&in));
    raft_inflights_add(&in, 2, 60); /* a message may overshoot; then the window is full */
    assert_true(raft_inflights_full(&in));
    raft_inflights_free_le(&in, 1);
    assert_false(raft_inflights_full(&in));
    raft_inflights_reset(&in);
    assert_int_equal(in.count + in.bytes, 0);
}

static struct raft_progress progress(void)
{
    struct raft_progress p;
    memset(&p, 0, sizeof(p));
    p.in = inflights(4, RAFT_UNLIMITED);
    raft_progress_reset(&p, 0, 11);
    return p;
}

static void test_probe(void **state)
{
    (void)state;
    struct raft_progress p = progress();
    assert_false(raft_progress_is_paused(&p));
    raft_progress_sent(&p, 0, 0, 0); /* an empty probe also waits for its answer */
    assert_true(raft_progress_is_paused(&p));
    /* a stale rejection (for another probe) changes nothing */
    assert_false(raft_progress_maybe_decr_to(&p, 7, 3));
    /* rejection of next-1 = 10 with hint 4: jump back to 5 at once */
    assert_true(raft_progress_maybe_decr_to(&p, 10, 4));
    assert_int_equal(p.next, 5);
    assert_false(raft_progress_is_paused(&p));
    assert_true(raft_progress_maybe_update(&p, 8));
    assert_int_equal(p.match, 8);
    assert_int_equal(p.next, 9);
    assert_false(raft_progress_maybe_update(&p, 6)); /* old ack */
    raft_progress_become_replicate(&p);
    assert_int_equal(p.state, RAFT_PROGRESS_REPLICATE);
    assert_int_equal(p.next, 9);
}

static void test_replicate_and_snapshot(void **state)
{
    (void)state;
    struct raft_progress p = progress();
    raft_progress_maybe_update(&p, 10);
    raft_progress_become_replicate(&p);
    raft_progress_sent(&p, 3, 13, 30); /* optimistic: next moves on */
    raft_progress_sent(&p, 0, 0, 0);   /* an empty append moves nothing */
    assert_int_equal(p.next, 14);
    assert_int_equal(p.in.count, 1);
    assert_false(raft_progress_maybe_decr_to(&p, 9, 0)); /* at or below match: stale */
    assert_true(raft_progress_maybe_decr_to(&p, 12, 0));
    assert_int_equal(p.next, 11);
    raft_progress_become_snapshot(&p, 40);
    assert_true(raft_progress_is_paused(&p));
    raft_progress_become_probe(&p); /* resumes after the snapshot */
    assert_int_equal(p.next, 41);
    raft_progress_maybe_update(&p, 50);
    raft_progress_become_snapshot(&p, 20);
    raft_progress_become_probe(&p); /* match is further than the snapshot */
    assert_int_equal(p.next, 51);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inflights_by_count_and_wrap),
        cmocka_unit_test(test_inflights_by_bytes),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_replicate_and_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
