/*
 * Parsing heap_percent and memory_limit with Go's rules, and formatting byte counts.
 *
 * Go reads GOGC with strconv.ParseInt(s, 10, 32) (falling back to 100 on any error) and
 * GOMEMLIMIT with parseByteCount (throwing on any error): src/runtime/mgcpacer.go
 * readGOGC / readGOMEMLIMIT and src/runtime/string.go parseByteCount. The environment
 * forms below reproduce that; the flag forms are the same grammar but report errors.
 */
#include "alloc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Go's strconv.ParseInt(s, 10, bits) for bits ≤ 64: [+-]?[0-9]+, in range. */
static int parse_int(const char *s, size_t len, unsigned bits, int64_t *out)
{
    CAIRN_ASSERT(bits >= 2 && bits <= 64);
    if (len == 0)
        return CAIRN_EINVAL;
    bool neg = false;
    size_t i = 0;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return CAIRN_EINVAL; /* a sign alone */
    uint64_t un = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CAIRN_EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (un > (UINT64_MAX - d) / 10)
            return CAIRN_EINVAL;
        un = un * 10 + d;
    }
    uint64_t cutoff = (uint64_t)1 << (bits - 1); /* |min|; max is cutoff - 1 */
    if ((!neg && un >= cutoff) || (neg && un > cutoff))
        return CAIRN_EINVAL;
    /* -cutoff for bits == 64 is INT64_MIN: negate in unsigned arithmetic */
    *out = neg ? (int64_t)(0 - un) : (int64_t)un;
    CAIRN_ASSERT(neg ? *out <= 0 : *out >= 0);
    return 0;
}

/* Go's parseByteCount: ^[+-]?[0-9]+(([KMGT]i)?B)?$, non-negative, fits in int64. */
static int parse_byte_count(const char *s, int64_t *out)
{
    size_t len = strlen(s);
    if (len == 0)
        return CAIRN_EINVAL;
    char last = s[len - 1];
    int64_t n = 0;
    if (last >= '0' && last <= '9') {
        if (parse_int(s, len, 64, &n) != 0 || n < 0)
            return CAIRN_EINVAL;
        *out = n;
        return 0;
    }
    if (last != 'B' || len < 2)
        return CAIRN_EINVAL;
    char c = s[len - 2];
    if (c >= '0' && c <= '9') {
        if (parse_int(s, len - 1, 64, &n) != 0 || n < 0)
            return CAIRN_EINVAL;
        *out = n;
        return 0;
    }
    if (c != 'i' || len < 4)
        return CAIRN_EINVAL;
    static const char units[] = "KMGT";
    const char *u = memchr(units, s[len - 3], 4);
    if (u == NULL)
        return CAIRN_EINVAL;
    unsigned shift = 10u * (unsigned)(u - units + 1);
    CAIRN_ASSERT(shift >= 10 && shift <= 40);
    if (parse_int(s, len - 3, 64, &n) != 0 || n < 0)
        return CAIRN_EINVAL;
    if ((uint64_t)n > ((uint64_t)INT64_MAX >> shift))
        return CAIRN_EINVAL; /* overflow */
    *out = (int64_t)((uint64_t)n << shift);
    return 0;
}

int alloc_parse_heap_percent(const char *text, int32_t *out)
{
    CAIRN_ASSERT(out != NULL);
    if (text == NULL)
        return CAIRN_EINVAL;
    if (strcmp(text, "off") == 0) {
        *out = ALLOC_HEAP_PERCENT_OFF;
        return 0;
    }
    int64_t n = 0;
    if (parse_int(text, strlen(text), 32, &n) != 0)
        return CAIRN_EINVAL;
    CAIRN_ASSERT(n >= INT32_MIN && n <= INT32_MAX);
    *out = n < 0 ? ALLOC_HEAP_PERCENT_OFF : (int32_t)n;
    return 0;
}

int32_t alloc_env_heap_percent(const char *value)
{
    int32_t pct = ALLOC_HEAP_PERCENT_DEFAULT;
    if (value == NULL)
        return pct;
    /* Go: "off" → -1, an int32 → itself, anything else (even "") → 100 */
    if (alloc_parse_heap_percent(value, &pct) != 0)
        return ALLOC_HEAP_PERCENT_DEFAULT;
    return pct;
}

int alloc_parse_memory_limit(const char *text, int64_t *out)
{
    CAIRN_ASSERT(out != NULL);
    if (text == NULL)
        return CAIRN_EINVAL;
    if (strcmp(text, "off") == 0) {
        *out = ALLOC_NO_LIMIT;
        return 0;
    }
    int64_t n = 0;
    if (parse_byte_count(text, &n) != 0)
        return CAIRN_EINVAL;
    CAIRN_ASSERT(n >= 0);
    *out = n;
    return 0;
}

int alloc_env_memory_limit(const char *value, int64_t *out)
{
    CAIRN_ASSERT(out != NULL);
    if (value == NULL || value[0] == '\0') {
        *out = ALLOC_NO_LIMIT; /* unset and empty are the same to Go's getenv */
        return 0;
    }
    return alloc_parse_memory_limit(value, out);
}

static void set_err(char *err, size_t cap, const char *what, const char *value, const char *expect)
{
    if (err == NULL || cap == 0)
        return;
    snprintf(err, cap, "%s=\"%s\": malformed value; expected %s", what, value, expect);
}

#define EXPECT_PERCENT "an integer percent (e.g. 100, 500) or off"
#define EXPECT_LIMIT   "a byte count with an optional unit B, KiB, MiB, GiB, TiB (e.g. 512MiB) or off"

int alloc_configure(const char *flag_heap_percent, const char *flag_memory_limit, char *err,
                    size_t err_cap)
{
    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    int32_t pct = alloc_env_heap_percent(getenv("CAIRN_HEAP_PERCENT"));
    int64_t limit = ALLOC_NO_LIMIT;
    const char *env_limit = getenv("CAIRN_MEMORY_LIMIT");
    /* like Go, a malformed variable stops the start even if a flag overrides it */
    if (alloc_env_memory_limit(env_limit, &limit) != 0) {
        set_err(err, err_cap, "CAIRN_MEMORY_LIMIT", env_limit, EXPECT_LIMIT);
        return CAIRN_EINVAL;
    }
    if (flag_heap_percent != NULL && alloc_parse_heap_percent(flag_heap_percent, &pct) != 0) {
        set_err(err, err_cap, "--heap-percent", flag_heap_percent, EXPECT_PERCENT);
        return CAIRN_EINVAL;
    }
    if (flag_memory_limit != NULL && alloc_parse_memory_limit(flag_memory_limit, &limit) != 0) {
        set_err(err, err_cap, "--memory-limit", flag_memory_limit, EXPECT_LIMIT);
        return CAIRN_EINVAL;
    }
    CAIRN_ASSERT(pct >= ALLOC_HEAP_PERCENT_OFF && limit >= 0);
    (void)alloc_set_heap_percent(pct);
    (void)alloc_set_memory_limit(limit);
    return 0;
}

int alloc_format_bytes(uint64_t bytes, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes >= (uint64_t)INT64_MAX)
        return snprintf(buf, cap, "unlimited");
    size_t u = 0;
    while (u + 1 < CAIRN_ARRAY_LEN(units) && bytes >= ((uint64_t)1 << (10 * (u + 1))))
        u++;
    CAIRN_ASSERT(u < CAIRN_ARRAY_LEN(units));
    uint64_t whole = bytes >> (10 * u);
    uint64_t rem = bytes - (whole << (10 * u));
    if (u == 0 || rem == 0)
        return snprintf(buf, cap, "%llu %s", (unsigned long long)whole, units[u]);
    /* one decimal, rounded; 1023.96 KiB prints as "1024.0 KiB" rather than jumping unit */
    uint64_t tenths = (rem * 10 + ((uint64_t)1 << (10 * u)) / 2) >> (10 * u);
    if (tenths == 10) {
        whole++;
        tenths = 0;
    }
    return snprintf(buf, cap, "%llu.%llu %s", (unsigned long long)whole, (unsigned long long)tenths,
                    units[u]);
}
