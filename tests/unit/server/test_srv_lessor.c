/* Lease expiry bookkeeping against a brute-force model, plus the etcd-visible rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "srv_lessor.h"

#include <stdlib.h>

static void test_basic_expiry_and_renewal(void **state)
{
    (void)state;
    struct srv_lessor *l;
    assert_int_equal(srv_lessor_create(3, &l), 0);
    assert_int_equal(srv_lessor_set(l, 7, 10, 1000), 0);
    assert_int_equal(srv_lessor_set(l, 8, 5, 1000), 0);
    assert_int_equal(srv_lessor_remaining_s(l, 7, 1000), 10);
    assert_int_equal(srv_lessor_remaining_s(l, 7, 1001), 9); /* truncated, like etcd */
    assert_int_equal(srv_lessor_remaining_s(l, 9, 1000), -1);
    assert_int_equal(srv_lessor_next_expiry_ms(l), 6000);
    int64_t out[4];
    assert_int_equal(srv_lessor_expired(l, 5999, 500, out, 4), 0);
    assert_int_equal(srv_lessor_expired(l, 6000, 500, out, 4), 1);
    assert_int_equal(out[0], 8);
    assert_false(srv_lessor_renewable(l, 8, 6000)); /* being revoked: keep-alives get TTL 0 */
    assert_true(srv_lessor_renewable(l, 7, 6000));
    /* a revocation in flight is not proposed again until retry_ms passed */
    assert_int_equal(srv_lessor_expired(l, 6100, 500, out, 4), 0);
    assert_int_equal(srv_lessor_expired(l, 6500, 500, out, 4), 1);
    srv_lessor_remove(l, 8);
    /* renewal moves the expiry later; the stale heap entry is ignored */
    assert_int_equal(srv_lessor_set(l, 7, 10, 9000), 0);
    assert_int_equal(srv_lessor_expired(l, 11000, 500, out, 4), 0);
    assert_int_equal(srv_lessor_next_expiry_ms(l), 19000);
    assert_int_equal(srv_lessor_set(l, 1, 1, 0), 0);
    assert_int_equal(srv_lessor_set(l, 2, 1, 0), 0);
    assert_int_equal(srv_lessor_set(l, 3, 1, 0), CAIRN_ELIMIT);
    assert_int_equal(srv_lessor_count(l), 3);
    srv_lessor_destroy(l);
}

static void test_against_model(void **state)
{
    (void)state;
    enum { IDS = 300, STEPS = 200000 };
    static uint64_t model[IDS + 1]; /* 0 = absent, else expiry */
    struct srv_lessor *l;
    assert_int_equal(srv_lessor_create(IDS, &l), 0);
    srand(12345);
    uint64_t now = 0;
    for (int step = 0; step < STEPS; step++) {
        int64_t id = 1 + rand() % IDS;
        int op = rand() % 10;
        if (op < 5) {
            int64_t ttl = rand() % 20;
            assert_int_equal(srv_lessor_set(l, id, ttl, now), 0);
            model[id] = now + (uint64_t)ttl * 1000 + 1; /* +1: 0 means absent */
        } else if (op < 7) {
            srv_lessor_remove(l, id);
            model[id] = 0;
        } else if (op < 9) {
            now += (uint64_t)(rand() % 3000);
            int64_t out[IDS];
            size_t n = srv_lessor_expired(l, now, 100000, out, IDS);
            size_t want = 0;
            for (int64_t k = 1; k <= IDS; k++)
                want += model[k] != 0 && model[k] - 1 <= now;
            assert_int_equal(n, want);
            for (size_t k = 0; k < n; k++) {
                assert_true(model[out[k]] != 0 && model[out[k]] - 1 <= now);
                model[out[k]] = now + 100000 + 1;
            }
        } else {
            int64_t r = srv_lessor_remaining_s(l, id, now);
            if (model[id] == 0)
                assert_int_equal(r, -1);
            else
                assert_int_equal(r, model[id] - 1 <= now ? 0
                                                         : (int64_t)((model[id] - 1 - now) / 1000));
        }
    }
    size_t count = 0;
    for (int k = 1; k <= IDS; k++)
        count += model[k] != 0;
    assert_int_equal(srv_lessor_count(l), count);
    srv_lessor_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_expiry_and_renewal),
        cmocka_unit_test(test_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
