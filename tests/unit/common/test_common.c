/* Error codes and URL parsing shared by every module. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "crc32c.h"
#include "u64map.h"
#include "url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void test_codes_in_reserved_range(void **state)
{
    (void)state;
#define CHECK(name, value, msg)                                                                    \
    assert_true(cairn_is_error(CAIRN_E##name));                                                    \
    assert_string_equal(cairn_strerror(CAIRN_E##name), msg);
    CAIRN_ERRNO_MAP(CHECK)
#undef CHECK
    assert_false(cairn_is_error(0));
    assert_false(cairn_is_error(-ENOMEM));
    assert_false(cairn_is_error(-30799)); /* MDB_KEYEXIST */
}

static void test_strerror_other_codes(void **state)
{
    (void)state;
    assert_string_equal(cairn_strerror(0), "success");
    assert_string_equal(cairn_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(cairn_strerror(-42998), "unknown error");
    assert_string_equal(cairn_strerror(12345), "unknown error");
    assert_non_null(cairn_version_string());
}

static void test_url_forms(void **state)
{
    (void)state;
    struct cairn_url u;
    const char *s = "http://127.0.0.1:2379";
    assert_int_equal(cairn_url_parse(s, strlen(s), &u), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 2379);
    assert_int_equal(u.tls, 0);
    s = "https://[::1]:32379/";
    assert_int_equal(cairn_url_parse(s, strlen(s), &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.tls, 1);
    char buf[64];
    assert_int_equal(cairn_url_hostport(&u, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "[::1]:32379");
    s = "localhost:1";
    assert_int_equal(cairn_url_parse(s, strlen(s), &u), 0);
    assert_int_equal(cairn_url_hostport(&u, buf, 5), CAIRN_ELIMIT);
}

static void test_url_rejects(void **state)
{
    (void)state;
    struct cairn_url u;
    const char *bad[] = {"",      "http://",          "unix://x:1", "127.0.0.1",
                         ":2379", "127.0.0.1:0",      "h:65536",    "h:12a",
                         "h:-1",  "http://[::1:2379", "h:1234567"};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad); i++)
        assert_int_equal(cairn_url_parse(bad[i], strlen(bad[i]), &u), CAIRN_EINVAL);
}

static void test_url_list(void **state)
{
    (void)state;
    struct cairn_url u[2];
    size_t n = 9;
    assert_int_equal(cairn_url_list_parse("a:1,http://b:2", u, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(u[1].host, "b");
    assert_int_equal(cairn_url_list_parse("a:1,b:2,c:3", u, 2, &n), CAIRN_ELIMIT);
    assert_int_equal(cairn_url_list_parse("a:1,,b:2", u, 2, &n), CAIRN_EINVAL);
}

/* The map against a plain array model under random inserts, lookups and deletes. */
static void test_u64map_model(void **state)
{
    (void)state;
    enum { KEYS = 2000 };
    static uintptr_t model[KEYS + 1];
    struct cairn_u64map m;
    cairn_u64map_init(&m);
    srand(7);
    size_t len = 0;
    for (int step = 0; step < 300000; step++) {
        uint64_t k = 1 + (uint64_t)(rand() % KEYS);
        int op = rand() % 3;
        if (op == 0) {
            uintptr_t v = (uintptr_t)rand() + 1;
            assert_int_equal(cairn_u64map_put(&m, k * 0x10000, (void *)v), 0);
            len += model[k] == 0;
            model[k] = v;
        } else if (op == 1) {
            void *v = cairn_u64map_del(&m, k * 0x10000);
            assert_true((uintptr_t)v == model[k]);
            len -= model[k] != 0;
            model[k] = 0;
        } else {
            assert_true((uintptr_t)cairn_u64map_get(&m, k * 0x10000) == model[k]);
        }
        assert_int_equal(m.len, len);
    }
    for (uint64_t k = 1; k <= KEYS; k++)
        assert_true((uintptr_t)cairn_u64map_get(&m, k * 0x10000) == model[k]);
    assert_null(cairn_u64map_get(&m, 0));
    cairn_u64map_free(&m);
}

static void test_crc32c(void **state)
{
    (void)state;
    /* the CRC-32C check value, and RFC 3720 B.4's 32 zero bytes */
    assert_int_equal(cairn_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(cairn_crc32c_table(0, "123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0};
    assert_int_equal(cairn_crc32c(0, zeros, sizeof(zeros)), 0x8A9136AAu);
    assert_int_equal(cairn_crc32c(0, NULL, 0), 0);
    /* chaining equals one pass */
    assert_int_equal(cairn_crc32c(cairn_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    /* the hardware path (when the CPU has it) equals the table for every length and
     * alignment around its 8-byte steps */
    uint8_t buf[100];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof(buf); n++)
            assert_int_equal(cairn_crc32c(0x12345678u, buf + off, n),
                             cairn_crc32c_table(0x12345678u, buf + off, n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_in_reserved_range),
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_strerror_other_codes),
        cmocka_unit_test(test_url_forms),
        cmocka_unit_test(test_url_rejects),
        cmocka_unit_test(test_url_list),
        cmocka_unit_test(test_u64map_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
