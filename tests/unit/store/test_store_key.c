/* Key encoding: byte order must equal numeric order, and decoding must reject junk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "store.h"

#include <string.h>

static void test_u64_big_endian(void **state)
{
    (void)state;
    uint8_t b[8];
    store_u64_encode(0x0102030405060708ULL, b);
    const uint8_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(b, want, 8);
    assert_int_equal(store_u64_decode(b), 0x0102030405060708ULL);
}

static void test_byte_order_is_numeric_order(void **state)
{
    (void)state;
    const struct store_rev revs[] = {{0, 0},   {1, 0},   {1, 1},
                                     {1, 255}, {1, 256}, {2, 0},
                                     {255, 7}, {256, 0}, {INT64_MAX, INT64_MAX}};
    for (size_t i = 0; i + 1 < CAIRN_ARRAY_LEN(revs); i++) {
        uint8_t a[16], b[16];
        store_rev_encode(revs[i], a);
        store_rev_encode(revs[i + 1], b);
        assert_true(memcmp(a, b, 16) < 0);
        assert_int_equal(store_rev_cmp(revs[i], revs[i + 1]), -1);
        assert_int_equal(store_rev_cmp(revs[i + 1], revs[i]), 1);
        struct store_rev back;
        assert_int_equal(store_rev_decode(a, 16, &back), 0);
        assert_int_equal(store_rev_cmp(back, revs[i]), 0);
    }
}

static void test_decode_rejects(void **state)
{
    (void)state;
    uint8_t b[16];
    memset(b, 0xff, sizeof(b));
    struct store_rev r;
    assert_int_equal(store_rev_decode(b, 16, &r), CAIRN_ECORRUPT);
    assert_int_equal(store_rev_decode(b, 15, &r), CAIRN_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64_big_endian),
        cmocka_unit_test(test_byte_order_is_numeric_order),
        cmocka_unit_test(test_decode_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
