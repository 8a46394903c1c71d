/* The seeded PRNG: deterministic per seed, different across seeds, unbiased bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raft.h"

static void test_same_seed_same_sequence(void **state)
{
    (void)state;
    struct raft_rand a, b;
    raft_rand_seed(&a, 42);
    raft_rand_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(raft_rand_next(&a), raft_rand_next(&b));
    raft_rand_seed(&b, 43);
    int same = 0;
    for (int i = 0; i < 1000; i++)
        same += raft_rand_next(&a) == raft_rand_next(&b);
    assert_int_equal(same, 0);
}

static void test_below_is_in_range_and_covers_it(void **state)
{
    (void)state;
    struct raft_rand r;
    raft_rand_seed(&r, 0);
    int seen[10] = {0};
    for (int i = 0; i < 10000; i++) {
        uint64_t v = raft_rand_below(&r, 10);
        assert_true(v < 10);
        seen[v]++;
    }
    for (int i = 0; i < 10; i++) /* expected 1000 each; 5 sigma is about 150 */
        assert_in_range(seen[i], 850, 1150);
    assert_int_equal(raft_rand_below(&r, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_sequence),
        cmocka_unit_test(test_below_is_in_range_and_covers_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
