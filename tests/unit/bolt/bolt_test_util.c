/* Helpers for bolt/'s unit tests; see bolt_test_util.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bolt_test_util.h"
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int tu_memfd(void)
{
    int fd = memfd_create("bolt-test", MFD_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

void tu_put_file(int fd, const uint8_t *p, size_t n)
{
    assert_int_equal(ftruncate(fd, 0), 0);
    size_t done = 0;
    while (done < n) {
        ssize_t k = pwrite(fd, p + done, n - done, (off_t)done);
        assert_true(k > 0);
        done += (size_t)k;
    }
}

uint8_t *tu_get_file(int fd, size_t *n)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    uint8_t *p = malloc((size_t)st.st_size + 1);
    assert_non_null(p);
    size_t done = 0;
    while (done < (size_t)st.st_size) {
        ssize_t k = pread(fd, p + done, (size_t)st.st_size - done, (off_t)done);
        assert_true(k > 0);
        done += (size_t)k;
    }
    *n = done;
    return p;
}

uint64_t tu_rand(struct tu_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

/* ---- the data set ------------------------------------------------------------------- */

static const char *const bucket_names[] = {"a", "b", "big", "key", "wide", "z-last"};
static const size_t big_sizes[] = {0, 1, 4000, 4096, 70000, 300000, TU_VAL_MAX, 10};

size_t tu_bucket_count(void)
{
    return CAIRN_ARRAY_LEN(bucket_names);
}

const char *tu_bucket_name(size_t b)
{
    assert_true(b < tu_bucket_count());
    return bucket_names[b];
}

size_t tu_entry_count(size_t b, int scale)
{
    static const size_t full[] = {0, 3, CAIRN_ARRAY_LEN(big_sizes), 20000, 300, 1};
    static const size_t small[] = {0, 3, 4, 300, 20, 1};
    assert_true(b < tu_bucket_count());
    return scale ? full[b] : small[b];
}

static void fill(struct tu_rng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(tu_rand(r) >> 56);
}

void tu_entry(size_t b, size_t i, uint8_t *key, size_t *klen, uint8_t *val, size_t *vlen)
{
    struct tu_rng r = {((uint64_t)b + 1) * 1000003u + i * 7919u + 1};
    switch (b) {
    case 1: /* three tiny entries: an inline bucket */
        *klen = (size_t)snprintf((char *)key, 16, "b%zu", i);
        *vlen = i;
        break;
    case 2: /* values around and far above a page; the last key is as long as bbolt allows */
        *klen = (size_t)snprintf((char *)key, 16, "big%02zu", i);
        if (i == CAIRN_ARRAY_LEN(big_sizes) - 1) {
            memset(key + *klen, 'x', TU_KEY_MAX - *klen);
            *klen = TU_KEY_MAX;
        }
        *vlen = big_sizes[i];
        break;
    case 3: /* etcd revision keys */
        *klen = bolt_etcd_rev_encode((int64_t)i + 2, (int64_t)(i % 3), i % 11 == 5, key);
        *vlen = 20 + tu_rand(&r) % 280;
        break;
    case 4: /* long keys, some longer than a page: tall trees with fat branch pages */
        key[0] = (uint8_t)(i >> 24);
        key[1] = (uint8_t)(i >> 16);
        key[2] = (uint8_t)(i >> 8);
        key[3] = (uint8_t)i;
        *klen = 4 + 100 + tu_rand(&r) % (i % 10 == 9 ? 9000 : 2900);
        fill(&r, key + 4, *klen - 4);
        *vlen = tu_rand(&r) % 100;
        break;
    case 5:
        *klen = 4;
        memcpy(key, "last", 4);
        *vlen = 5;
        break;
    default:
        fail_msg("bucket %zu has no entries", b);
    }
    fill(&r, val, *vlen);
}

void tu_write_dataset(int fd, int scale)
{
    uint8_t *key = malloc(TU_KEY_MAX), *val = malloc(TU_VAL_MAX);
    assert_non_null(key);
    assert_non_null(val);
    struct bolt_writer *w;
    assert_int_equal(bolt_writer_create(fd, &w), 0);
    for (size_t b = 0; b < tu_bucket_count(); b++) {
        const char *name = tu_bucket_name(b);
        assert_int_equal(bolt_writer_bucket(w, name, strlen(name)), 0);
        for (size_t i = 0; i < tu_entry_count(b, scale); i++) {
            size_t klen, vlen;
            tu_entry(b, i, key, &klen, val, &vlen);
            assert_int_equal(bolt_writer_put(w, key, klen, val, vlen), 0);
        }
    }
    assert_int_equal(bolt_writer_finish(w), 0);
    bolt_writer_destroy(w);
    free(key);
    free(val);
}

void tu_verify_dataset(struct bolt_reader *r, int scale)
{
    uint8_t *key = malloc(TU_KEY_MAX), *val = malloc(TU_VAL_MAX);
    assert_non_null(key);
    assert_non_null(val);
    struct bolt_cursor *root, *c;
    struct bolt_item it, bi;
    assert_int_equal(bolt_cursor_open(r, NULL, 0, &root), 0);
    for (size_t b = 0; b < tu_bucket_count(); b++) {
        const char *name = tu_bucket_name(b);
        assert_int_equal(bolt_cursor_next(root, &bi), 1);
        assert_true(bi.is_bucket);
        assert_int_equal(bi.key_len, strlen(name));
        assert_memory_equal(bi.key, name, bi.key_len);
        assert_int_equal(bolt_cursor_open(r, name, strlen(name), &c), 0);
        for (size_t i = 0; i < tu_entry_count(b, scale); i++) {
            size_t klen, vlen;
            tu_entry(b, i, key, &klen, val, &vlen);
            assert_int_equal(bolt_cursor_next(c, &it), 1);
            assert_false(it.is_bucket);
            assert_int_equal(it.key_len, klen);
            assert_memory_equal(it.key, key, klen);
            assert_int_equal(it.val_len, vlen);
            if (vlen)
                assert_memory_equal(it.val, val, vlen);
        }
        assert_int_equal(bolt_cursor_next(c, &it), 0);
        assert_int_equal(bolt_cursor_next(c, &it), 0); /* the end stays the end */
        bolt_cursor_close(c);
    }
    assert_int_equal(bolt_cursor_next(root, &bi), 0);
    bolt_cursor_close(root);
    free(key);
    free(val);
}

/* ---- the tx.Check() rules ------------------------------------------------------------ */

enum { PG_NONE, PG_USED, PG_FREE };

struct ck {
    const uint8_t *f;
    size_t len;
    uint32_t ps;
    uint64_t npages;
    uint8_t *state;
    char *err;
    size_t errlen;
};

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static int ck_fail(struct ck *c, const char *msg, uint64_t id)
{
    snprintf(c->err, c->errlen, "%s (page %llu)", msg, (unsigned long long)id);
    return -1;
}

static int ck_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int x = memcmp(a, b, al < bl ? al : bl);
    return x ? x : (al > bl) - (al < bl);
}

static int ck_tree(struct ck *c, const uint8_t *p, size_t plen, uint64_t id, const uint8_t *pk,
                   size_t pklen, int depth);

static int ck_page(struct ck *c, uint64_t id, const uint8_t *pk, size_t pklen, int depth)
{
    if (depth > 64)
        return ck_fail(c, "too deep", id);
    if (id < 2 || id >= c->npages)
        return ck_fail(c, "page out of bounds", id);
    const uint8_t *p = c->f + id * c->ps;
    if (rd64(p) != id)
        return ck_fail(c, "page id mismatch", id);
    uint64_t ovf = rd32(p + 12);
    if (id + ovf >= c->npages)
        return ck_fail(c, "overflow past high water", id);
    for (uint64_t i = 0; i <= ovf; i++) {
        if (c->state[id + i] == PG_USED)
            return ck_fail(c, "multiple references", id + i);
        if (c->state[id + i] == PG_FREE)
            return ck_fail(c, "reachable freed", id + i);
        c->state[id + i] = PG_USED;
    }
    return ck_tree(c, p, (size_t)((ovf + 1) * c->ps), id, pk, pklen, depth);
}

static int ck_bucket_value(struct ck *c, const uint8_t *v, size_t vlen, uint64_t id, int depth)
{
    if (vlen < 16)
        return ck_fail(c, "bucket value too short", id);
    uint64_t root = rd64(v);
    if (root)
        return ck_page(c, root, NULL, 0, depth + 1);
    if (rd16(v + 16 + 8) != 0x02)
        return ck_fail(c, "inline bucket not a leaf", id);
    return ck_tree(c, v + 16, vlen - 16, id, NULL, 0, depth + 1);
}

static int ck_tree(struct ck *c, const uint8_t *p, size_t plen, uint64_t id, const uint8_t *pk,
                   size_t pklen, int depth)
{
    if (plen < 16)
        return ck_fail(c, "page too short", id);
    uint16_t flags = rd16(p + 8), n = rd16(p + 10);
    if (flags != 0x01 && flags != 0x02)
        return ck_fail(c, "invalid page type", id);
    if (16u + 16u * n > plen || (flags == 0x01 && n == 0))
        return ck_fail(c, "bad element count", id);
    const uint8_t *prev = NULL;
    size_t prevlen = 0;
    for (uint16_t i = 0; i < n; i++) {
        const uint8_t *el = p + 16 + 16 * (size_t)i;
        int leaf = flags == 0x02;
        uint64_t pos = leaf ? rd32(el + 4) : rd32(el);
        uint64_t kl = leaf ? rd32(el + 8) : rd32(el + 4);
        uint64_t vl = leaf ? rd32(el + 12) : 0;
        if ((uint64_t)(el - p) + pos + kl + vl > plen)
            return ck_fail(c, "element out of page", id);
        const uint8_t *k = el + pos;
        if (prev && ck_cmp(prev, prevlen, k, kl) >= 0)
            return ck_fail(c, "keys out of order", id);
        if (i == 0 && pk && ck_cmp(pk, pklen, k, kl) != 0)
            return ck_fail(c, "branch key differs from child's first key", id);
        prev = k;
        prevlen = kl;
        int rc = 0;
        if (!leaf)
            rc = ck_page(c, rd64(el + 8), k, kl, depth + 1);
        else if (rd32(el) & 1)
            rc = ck_bucket_value(c, k + kl, vl, id, depth);
        if (rc)
            return rc;
    }
    return 0;
}

static int ck_meta(const uint8_t *p, uint64_t *txid)
{
    const uint8_t *m = p + 16;
    uint64_t h = 14695981039346656037ull;
    for (int i = 0; i < 56; i++) {
        h ^= m[i];
        h *= 1099511628211ull;
    }
    if (rd32(m) != 0xED0CDAEDu || rd32(m + 4) != 2 || rd64(m + 56) != h)
        return -1;
    *txid = rd64(m + 48);
    return 0;
}

int tu_check_file(const uint8_t *f, size_t len, char *err, size_t errlen)
{
    struct ck c = {.f = f, .len = len, .err = err, .errlen = errlen};
    uint64_t tx0 = 0, tx1 = 0;
    if (len < 32 || ck_meta(f, &tx0) != 0)
        return ck_fail(&c, "meta 0 invalid", 0);
    c.ps = rd32(f + 16 + 8);
    if (c.ps < 512 || len < 2u * c.ps || ck_meta(f + c.ps, &tx1) != 0)
        return ck_fail(&c, "meta 1 invalid", 1);
    const uint8_t *m = f + (tx1 > tx0 ? c.ps : 0) + 16;
    c.npages = rd64(m + 40);
    if (c.npages * c.ps > len)
        return ck_fail(&c, "file shorter than the high water mark", c.npages);
    c.state = calloc(c.npages, 1);
    assert_non_null(c.state);
    c.state[0] = c.state[1] = PG_USED;
    int rc = 0;
    uint64_t fl = rd64(m + 32);
    if (fl != UINT64_MAX) {
        if (fl < 2 || fl >= c.npages || !(rd16(f + fl * c.ps + 8) & 0x10)) {
            rc = ck_fail(&c, "bad freelist page", fl);
        } else {
            const uint8_t *p = f + fl * c.ps;
            uint64_t n = rd16(p + 10), first = 0, ovf = rd32(p + 12);
            if (n == 0xFFFF) {
                n = rd64(p + 16);
                first = 1;
            }
            for (uint64_t i = 0; i <= ovf && !rc; i++)
                c.state[fl + i] = PG_USED;
            for (uint64_t i = 0; i < n && !rc; i++) {
                uint64_t id = rd64(p + 16 + 8 * (first + i));
                if (id >= c.npages || c.state[id] != PG_NONE)
                    rc = ck_fail(&c, "freelist id bad or freed twice", id);
                else
                    c.state[id] = PG_FREE;
            }
        }
    }
    if (!rc)
        rc = ck_page(&c, rd64(m + 16), NULL, 0, 0);
    /* without a synced freelist, bbolt counts every unreachable page as free */
    for (uint64_t i = 0; i < c.npages && !rc && fl != UINT64_MAX; i++)
        if (c.state[i] == PG_NONE)
            rc = ck_fail(&c, "unreachable unfreed", i);
    free(c.state);
    return rc;
}
