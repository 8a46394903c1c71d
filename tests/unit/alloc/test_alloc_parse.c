/*
 * heap_percent / memory_limit parsing, case by case against Go's readGOGC (strconv
 * ParseInt(s, 10, 32), else 100) and readGOMEMLIMIT / parseByteCount (src/runtime/
 * mgcpacer.go and string.go), plus the strict flag forms and byte formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc_int.h"

#include <stdlib.h>
#include <string.h>

#define MiB (1ll << 20)
#define GiB (1ll << 30)
#define TiB (1ll << 40)

struct pct_case {
    const char *in;
    int flag_ok;      /* alloc_parse_heap_percent accepts it */
    int32_t flag_val; /* ...and gives this */
    int32_t env_val;  /* alloc_env_heap_percent (Go's GOGC) gives this */
};

static const struct pct_case pct_cases[] = {
    {"100", 1, 100, 100},
    {"0", 1, 0, 0}, /* GOGC=0: collect continuously */
    {"50", 1, 50, 50},
    {"500", 1, 500, 500},
    {"off", 1, -1, -1},
    {"-1", 1, -1, -1},
    {"-5", 1, -1, -1}, /* any negative disables (setGCPercent clamps to -1) */
    {"-2147483648", 1, -1, -1},
    {"2147483647", 1, 2147483647, 2147483647},
    {"2147483648", 0, 0, 100}, /* out of int32: ParseInt range error → 100 */
    {"-2147483649", 0, 0, 100},
    {"99999999999999999999", 0, 0, 100},
    {"+50", 1, 50, 50},  /* ParseInt takes a leading '+' */
    {"0050", 1, 50, 50}, /* leading zeros are fine */
    {"-0", 1, 0, 0},
    {"", 0, 0, 100},    /* unset or empty: the default */
    {"OFF", 0, 0, 100}, /* "off" is case-sensitive */
    {"Off", 0, 0, 100},
    {"off ", 0, 0, 100},
    {" 50", 0, 0, 100}, /* no spaces */
    {"50 ", 0, 0, 100},
    {"50%", 0, 0, 100},
    {"1.5", 0, 0, 100},
    {"1e3", 0, 0, 100},
    {"0x10", 0, 0, 100},  /* base 10 only */
    {"1_000", 0, 0, 100}, /* underscores only with base 0 */
    {"+", 0, 0, 100},
    {"-", 0, 0, 100},
    {"+-5", 0, 0, 100},
    {"--5", 0, 0, 100},
    {"abc", 0, 0, 100},
};

static void test_heap_percent_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(pct_cases); i++) {
        const struct pct_case *c = &pct_cases[i];
        int32_t v = 12345;
        int rc = alloc_parse_heap_percent(c->in, &v);
        if (c->flag_ok) {
            if (rc != 0 || v != c->flag_val)
                fail_msg("flag \"%s\": rc %d value %d, want %d", c->in, rc, v, c->flag_val);
        } else {
            if (rc != CAIRN_EINVAL || v != 12345)
                fail_msg("flag \"%s\" should be rejected untouched (rc %d, v %d)", c->in, rc, v);
        }
        int32_t env = alloc_env_heap_percent(c->in);
        if (env != c->env_val)
            fail_msg("env \"%s\": %d, want %d", c->in, env, c->env_val);
    }
    assert_int_equal(alloc_env_heap_percent(NULL), 100); /* unset */
    int32_t v = 0;
    assert_int_equal(alloc_parse_heap_percent(NULL, &v), CAIRN_EINVAL);
}

struct limit_case {
    const char *in;
    int ok;
    int64_t val;
};

static const struct limit_case limit_cases[] = {
    {"0", 1, 0},
    {"1", 1, 1},
    {"12345", 1, 12345},
    {"0B", 1, 0},
    {"1B", 1, 1},
    {"512B", 1, 512},
    {"1KiB", 1, 1024},
    {"4KiB", 1, 4096},
    {"1MiB", 1, MiB},
    {"512MiB", 1, 512 * MiB},
    {"1GiB", 1, GiB},
    {"3GiB", 1, 3 * GiB},
    {"1TiB", 1, TiB},
    {"8589934591GiB", 1, 8589934591ll * GiB}, /* 2^63 - 2^30: the largest whole GiB */
    {"9223372036854775807", 1, INT64_MAX},
    {"9223372036854775807B", 1, INT64_MAX},
    {"+1KiB", 1, 1024}, /* ParseInt takes '+' */
    {"-0", 1, 0},       /* ...and "-0" is zero, not negative */
    {"-0MiB", 1, 0},
    {"007MiB", 1, 7 * MiB},
    {"off", 1, INT64_MAX},
    {"9223372036854775808", 0, 0}, /* overflow */
    {"9223372036854775808B", 0, 0},
    {"8589934592GiB", 0, 0}, /* 2^63: overflow after the multiply */
    {"8388608TiB", 0, 0},
    {"99999999999999999999999TiB", 0, 0},
    {"-1", 0, 0}, /* negative */
    {"-1B", 0, 0},
    {"-1MiB", 0, 0},
    {"", 0, 0}, /* empty: an error in the flag form */
    {"B", 0, 0},
    {"KiB", 0, 0}, /* no digits */
    {"iB", 0, 0},
    {"1iB", 0, 0},    /* too short for a unit */
    {"1.5GiB", 0, 0}, /* no fractions */
    {"1.5", 0, 0},
    {"1e9", 0, 0},
    {"1 MiB", 0, 0}, /* no space before the unit */
    {" 1MiB", 0, 0},
    {"1MiB ", 0, 0},
    {"1mib", 0, 0}, /* case-sensitive */
    {"1MIB", 0, 0},
    {"1kiB", 0, 0},
    {"1Mib", 0, 0},
    {"1MB", 0, 0}, /* SI units are not accepted */
    {"1KB", 0, 0},
    {"1M", 0, 0},
    {"1K", 0, 0},
    {"1PiB", 0, 0}, /* no P or E */
    {"1EiB", 0, 0},
    {"1BB", 0, 0},
    {"0x10", 0, 0},
    {"1_000", 0, 0},
    {"+", 0, 0},
    {"+B", 0, 0},
    {"+MiB", 0, 0},
    {"OFF", 0, 0},
    {"none", 0, 0},
};

static void test_memory_limit_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(limit_cases); i++) {
        const struct limit_case *c = &limit_cases[i];
        int64_t v = -7;
        int rc = alloc_parse_memory_limit(c->in, &v);
        if (c->ok && (rc != 0 || v != c->val))
            fail_msg("\"%s\": rc %d value %lld, want %lld", c->in, rc, (long long)v,
                     (long long)c->val);
        if (!c->ok && (rc != CAIRN_EINVAL || v != -7))
            fail_msg("\"%s\" should be rejected untouched (rc %d)", c->in, rc);
        /* the environment form is the same grammar, except that "" means unset */
        int64_t e = -7;
        int erc = alloc_env_memory_limit(c->in, &e);
        if (c->in[0] == '\0') {
            assert_int_equal(erc, 0);
            assert_true(e == ALLOC_NO_LIMIT);
        } else if (erc != rc || (rc == 0 && e != v)) {
            fail_msg("env \"%s\": rc %d value %lld differs from the flag form", c->in, erc,
                     (long long)e);
        }
    }
    int64_t e = 0;
    assert_int_equal(alloc_env_memory_limit(NULL, &e), 0);
    assert_true(e == ALLOC_NO_LIMIT);
    assert_int_equal(alloc_parse_memory_limit(NULL, &e), CAIRN_EINVAL);
}

static void test_configure_precedence(void **state)
{
    (void)state;
    char err[256];
    alloc_testing_reset();
    unsetenv("CAIRN_HEAP_PERCENT");
    unsetenv("CAIRN_MEMORY_LIMIT");
    assert_int_equal(alloc_configure(NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(alloc_get_heap_percent(), 100);
    assert_true(alloc_get_memory_limit() == ALLOC_NO_LIMIT);

    setenv("CAIRN_HEAP_PERCENT", "250", 1);
    setenv("CAIRN_MEMORY_LIMIT", "64MiB", 1);
    assert_int_equal(alloc_configure(NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(alloc_get_heap_percent(), 250);
    assert_true(alloc_get_memory_limit() == 64 * MiB);

    /* flags win over the environment */
    assert_int_equal(alloc_configure("off", "1GiB", err, sizeof(err)), 0);
    assert_int_equal(alloc_get_heap_percent(), -1);
    assert_true(alloc_get_memory_limit() == GiB);

    /* a bad GOGC-style variable silently means 100, as in Go */
    setenv("CAIRN_HEAP_PERCENT", "lots", 1);
    assert_int_equal(alloc_configure(NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(alloc_get_heap_percent(), 100);

    /* a malformed flag is an error naming it, and nothing changes */
    (void)alloc_set_heap_percent(300);
    assert_int_equal(alloc_configure("12x", NULL, err, sizeof(err)), CAIRN_EINVAL);
    assert_non_null(strstr(err, "--heap-percent=\"12x\""));
    assert_int_equal(alloc_get_heap_percent(), 300);
    assert_int_equal(alloc_configure(NULL, "1.5GiB", err, sizeof(err)), CAIRN_EINVAL);
    assert_non_null(strstr(err, "--memory-limit=\"1.5GiB\""));
    assert_true(alloc_get_memory_limit() == 64 * MiB); /* the last good configure: env */

    /* a malformed GOMEMLIMIT-style variable is a startup error, even with the flag */
    setenv("CAIRN_MEMORY_LIMIT", "12 GB", 1);
    assert_int_equal(alloc_configure(NULL, "1GiB", err, sizeof(err)), CAIRN_EINVAL);
    assert_non_null(strstr(err, "CAIRN_MEMORY_LIMIT=\"12 GB\""));
    setenv("CAIRN_MEMORY_LIMIT", "off", 1);
    assert_int_equal(alloc_configure(NULL, NULL, NULL, 0), 0);
    assert_true(alloc_get_memory_limit() == ALLOC_NO_LIMIT);
    unsetenv("CAIRN_HEAP_PERCENT");
    unsetenv("CAIRN_MEMORY_LIMIT");
    alloc_testing_reset();
}

static void test_setters_return_previous(void **state)
{
    (void)state;
    alloc_testing_reset();
    assert_int_equal(alloc_set_heap_percent(500), 100);
    assert_int_equal(alloc_set_heap_percent(-20), 500);
    assert_int_equal(alloc_get_heap_percent(), ALLOC_HEAP_PERCENT_OFF);
    assert_int_equal(alloc_set_heap_percent(0), ALLOC_HEAP_PERCENT_OFF);
    assert_true(alloc_set_memory_limit(256 * MiB) == ALLOC_NO_LIMIT);
    assert_true(alloc_set_memory_limit(-1) == 256 * MiB); /* negative: read only */
    assert_true(alloc_get_memory_limit() == 256 * MiB);
    assert_true(alloc_set_memory_limit(ALLOC_NO_LIMIT) == 256 * MiB);
    alloc_testing_reset();
}

struct fmt_case {
    uint64_t in;
    const char *out;
};

static void test_format_bytes(void **state)
{
    (void)state;
    static const struct fmt_case cases[] = {
        {0, "0 B"},
        {1023, "1023 B"},
        {1024, "1 KiB"},
        {1536, "1.5 KiB"},
        {256ull << 20, "256 MiB"},
        {(3ull << 29), "1.5 GiB"},
        {(1ull << 40) + (1ull << 39), "1.5 TiB"},
        {(uint64_t)INT64_MAX, "unlimited"},
        {UINT64_MAX, "unlimited"},
    };
    char buf[32];
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(cases); i++) {
        alloc_format_bytes(cases[i].in, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].out);
    }
    /* every formatted whole unit parses back (without the space) to the same count */
    alloc_format_bytes(512ull << 20, buf, sizeof(buf));
    char *sp = strchr(buf, ' ');
    assert_non_null(sp);
    memmove(sp, sp + 1, strlen(sp));
    int64_t v = 0;
    assert_int_equal(alloc_parse_memory_limit(buf, &v), 0);
    assert_true(v == 512 * MiB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_percent_cases),   cmocka_unit_test(test_memory_limit_cases),
        cmocka_unit_test(test_configure_precedence), cmocka_unit_test(test_setters_return_previous),
        cmocka_unit_test(test_format_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
