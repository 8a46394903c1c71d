/* Hostile and damaged files: meta fallback, hand-made bad pages, truncation, and random
 * byte flips (on bolt_writer's output and on a real etcd snapshot). The reader must answer
 * CAIRN_ECORRUPT (or a plain "not found"), never crash, hang or over-allocate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bolt.h"
#include "bolt_format.h"
#include "bolt_test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *g_data_dir = "data";
static int g_fuzz_iters = 1500; /* argv[2] overrides (the soak run) */

/* Walks everything reachable: every bucket to its end, plus seeks and gets. Returns 0 or
 * the first error. */
static int walk_all(struct bolt_reader *r)
{
    struct bolt_cursor *root, *c;
    struct bolt_item b, it;
    int rc = bolt_cursor_open(r, NULL, 0, &root);
    if (rc)
        return rc;
    int n = 0;
    while ((rc = bolt_cursor_next(root, &b)) == 1) {
        int rc2 = bolt_cursor_open(r, b.key, b.key_len, &c);
        if (rc2 == 0) {
            while ((rc2 = bolt_cursor_next(c, &it)) == 1)
                n++;
            if (rc2 == 0)
                rc2 = bolt_cursor_seek(c, "\x00\x00\x00\x00\x00\x00\x00\x40", 8);
            if (rc2 == 0)
                rc2 = bolt_cursor_next(c, &it) < 0 ? CAIRN_ECORRUPT : 0;
            bolt_cursor_close(c);
        }
        if (rc2 < 0) {
            rc = rc2;
            break;
        }
    }
    bolt_cursor_close(root);
    uint8_t *v;
    size_t vl;
    int rc3 = bolt_reader_get(r, "meta", 4, "consistent_index", 16, &v, &vl);
    if (rc3 == 0)
        free(v);
    else if (rc == 0 && rc3 != CAIRN_ENOTFOUND)
        rc = rc3;
    (void)n;
    return rc < 0 ? rc : 0;
}

/* Opens f as a file and walks it: the combined result. */
static int open_and_walk(const uint8_t *f, size_t n)
{
    int fd = tu_memfd();
    tu_put_file(fd, f, n);
    struct bolt_reader *r;
    int rc = bolt_reader_open_fd(fd, &r);
    if (rc == 0) {
        struct bolt_etcd_status st;
        int rs = bolt_etcd_status(r, &st);
        rc = walk_all(r);
        if (rc == 0)
            rc = rs;
        bolt_reader_close(r);
    }
    close(fd);
    return rc;
}

static uint8_t *make_dataset(int scale, size_t *n)
{
    int fd = tu_memfd();
    tu_write_dataset(fd, scale);
    uint8_t *f = tu_get_file(fd, n);
    close(fd);
    return f;
}

static uint8_t *load_fixture(size_t *n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/etcd34-snapshot.db", g_data_dir);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        fail_msg("fixture %s missing", path);
    uint8_t *f = tu_get_file(fd, n);
    close(fd);
    return f;
}

/* ---- raw navigation for hand-made damage --------------------------------------------- */

static uint8_t *page_at(uint8_t *f, uint64_t pgid)
{
    return f + pgid * BOLT_PAGE_SIZE;
}

static uint8_t *elem_at(uint8_t *page, unsigned i)
{
    return page + BOLT_PAGE_HDR + (size_t)i * BOLT_ELEM_SIZE;
}

/* The element of top-level bucket `name` in the root leaf (meta 0's root). */
static uint8_t *root_elem(uint8_t *f, const char *name)
{
    uint8_t *root = page_at(f, bolt_le64(f + BOLT_PAGE_HDR + BOLT_META_OFF_ROOT));
    assert_int_equal(bolt_le16(root + BOLT_PAGE_OFF_FLAGS), BOLT_FLAG_LEAF);
    for (unsigned i = 0; i < bolt_le16(root + BOLT_PAGE_OFF_COUNT); i++) {
        uint8_t *el = elem_at(root, i);
        if (bolt_le32(el + 8) == strlen(name) &&
            memcmp(el + bolt_le32(el + 4), name, strlen(name)) == 0)
            return el;
    }
    fail_msg("bucket %s not in the root leaf", name);
    return NULL;
}

static uint8_t *bucket_value(uint8_t *el)
{
    return el + bolt_le32(el + 4) + bolt_le32(el + 8);
}

/* ---- tests --------------------------------------------------------------------------- */

static void reencode_meta(uint8_t *f, uint64_t pgid, void (*edit)(struct bolt_meta *))
{
    struct bolt_meta m;
    assert_int_equal(bolt_meta_decode(page_at(f, pgid), BOLT_PAGE_SIZE, &m), 0);
    edit(&m);
    bolt_meta_encode(&m, pgid, page_at(f, pgid), BOLT_PAGE_SIZE);
}

static void edit_txid3(struct bolt_meta *m)
{
    m->txid = 3;
}
static void edit_pgid_past_file(struct bolt_meta *m)
{
    m->pgid += 100;
}
static void edit_root_zero(struct bolt_meta *m)
{
    m->root_pgid = 0;
}
static void edit_pgid_plus1(struct bolt_meta *m)
{
    m->pgid += 1;
}

static int open_meta_index(const uint8_t *f, size_t n, uint64_t *txid)
{
    int fd = tu_memfd();
    tu_put_file(fd, f, n);
    struct bolt_reader *r;
    int rc = bolt_reader_open_fd(fd, &r);
    if (rc == 0) {
        struct bolt_info in;
        bolt_reader_info(r, &in);
        *txid = in.txid;
        rc = in.meta_index;
        tu_verify_dataset(r, 0); /* whichever meta won, the data is all there */
        bolt_reader_close(r);
    }
    close(fd);
    return rc;
}

static void test_meta_choice(void **state)
{
    (void)state;
    size_t n;
    uint8_t *orig = make_dataset(0, &n), *f = malloc(n);
    assert_non_null(f);
    uint64_t txid = 0;
    const size_t txid_off = BOLT_PAGE_HDR + BOLT_META_OFF_TXID;

    memcpy(f, orig, n);
    assert_int_equal(open_meta_index(f, n, &txid), 0);
    assert_int_equal(txid, 2);
    f[txid_off] ^= 0x40; /* meta 0's checksum no longer matches: meta 1 (txid 1) wins */
    assert_int_equal(open_meta_index(f, n, &txid), 1);
    assert_int_equal(txid, 1);
    f[BOLT_PAGE_SIZE + txid_off] ^= 0x40; /* both bad */
    assert_int_equal(open_meta_index(f, n, &txid), CAIRN_ECORRUPT);

    memcpy(f, orig, n);
    f[BOLT_PAGE_SIZE + BOLT_PAGE_HDR] ^= 1; /* meta 1's magic */
    assert_int_equal(open_meta_index(f, n, &txid), 0);

    memcpy(f, orig, n);
    reencode_meta(f, 1, edit_txid3); /* a valid meta 1 with the higher txid wins */
    assert_int_equal(open_meta_index(f, n, &txid), 1);
    assert_int_equal(txid, 3);

    memcpy(f, orig, n);
    reencode_meta(f, 0, edit_pgid_past_file); /* checksum fine, ids impossible */
    assert_int_equal(open_meta_index(f, n, &txid), 1);
    reencode_meta(f, 1, edit_root_zero);
    assert_int_equal(open_meta_index(f, n, &txid), CAIRN_ECORRUPT);
    free(f);
    free(orig);
}

/* The independent checker itself must see the damage bbolt's Check reports. */
static void test_checker_catches_damage(void **state)
{
    (void)state;
    size_t n;
    uint8_t *orig = make_dataset(0, &n);
    char err[200];
    assert_int_equal(tu_check_file(orig, n, err, sizeof(err)), 0);
    uint8_t *f = calloc(1, n + BOLT_PAGE_SIZE);
    assert_non_null(f);
    memcpy(f, orig, n);
    reencode_meta(f, 0, edit_pgid_plus1);
    reencode_meta(f, 1, edit_pgid_plus1);
    assert_int_equal(tu_check_file(f, n + BOLT_PAGE_SIZE, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unreachable unfreed"));
    /* list the root page as free as well as reachable */
    memcpy(f, orig, n);
    uint64_t fl = bolt_le64(f + BOLT_PAGE_HDR + BOLT_META_OFF_FREE);
    bolt_put16(page_at(f, fl) + BOLT_PAGE_OFF_COUNT, 1);
    bolt_put64(page_at(f, fl) + BOLT_PAGE_HDR, bolt_le64(f + BOLT_PAGE_HDR + BOLT_META_OFF_ROOT));
    assert_int_equal(tu_check_file(f, n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "reachable freed"));
    free(f);
    free(orig);
}

enum patch_kind {
    P_CHILD_SELF,
    P_CHILD_DUP,
    P_CHILD_META,
    P_CHILD_PAST,
    P_CHILD_MAX,
    P_COUNT_MAX,
    P_COUNT_ZERO,
    P_POS_HUGE,
    P_KSIZE_HUGE,
    P_OVERFLOW_HUGE,
    P_FLAGS_FREELIST,
    P_FLAGS_BOTH,
    P_ID_MISMATCH,
    P_LEAF_VSIZE_HUGE,
    P_LEAF_KEY_ORDER,
    P_BUCKET_ROOT_META,
    P_BUCKET_ROOT_PAST,
    P_INLINE_SHORT,
    P_INLINE_BRANCH,
    P_INLINE_COUNT,
    P_KINDS
};

/* Damages f (a scale-0 data set): the "key" bucket's root is a branch page. */
static void apply_patch(uint8_t *f, enum patch_kind k)
{
    struct bolt_info in = {.page_count = bolt_le64(f + BOLT_PAGE_HDR + BOLT_META_OFF_PGID)};
    uint8_t *kel = root_elem(f, "key");
    uint64_t kroot = bolt_le64(bucket_value(kel));
    uint8_t *br = page_at(f, kroot);
    assert_int_equal(bolt_le16(br + BOLT_PAGE_OFF_FLAGS), BOLT_FLAG_BRANCH);
    uint8_t *leaf = page_at(f, bolt_le64(elem_at(br, 0) + 8));
    uint8_t *bel = root_elem(f, "b");
    switch (k) {
    case P_CHILD_SELF:
        bolt_put64(elem_at(br, 1) + 8, kroot);
        break;
    case P_CHILD_DUP:
        bolt_put64(elem_at(br, 1) + 8, bolt_le64(elem_at(br, 0) + 8));
        break;
    case P_CHILD_META:
        bolt_put64(elem_at(br, 1) + 8, 1);
        break;
    case P_CHILD_PAST:
        bolt_put64(elem_at(br, 1) + 8, in.page_count);
        break;
    case P_CHILD_MAX:
        bolt_put64(elem_at(br, 1) + 8, UINT64_MAX);
        break;
    case P_COUNT_MAX:
        bolt_put16(br + BOLT_PAGE_OFF_COUNT, 0xFFFF);
        break;
    case P_COUNT_ZERO:
        bolt_put16(br + BOLT_PAGE_OFF_COUNT, 0);
        break;
    case P_POS_HUGE:
        bolt_put32(elem_at(br, 0), 0xFFFFFFF0u);
        break;
    case P_KSIZE_HUGE:
        bolt_put32(elem_at(br, 0) + 4, 0xFFFFFFFFu);
        break;
    case P_OVERFLOW_HUGE:
        bolt_put32(br + BOLT_PAGE_OFF_OVFL, 0xFFFFFFFFu);
        break;
    case P_FLAGS_FREELIST:
        bolt_put16(br + BOLT_PAGE_OFF_FLAGS, BOLT_FLAG_FREELIST);
        break;
    case P_FLAGS_BOTH:
        bolt_put16(br + BOLT_PAGE_OFF_FLAGS, BOLT_FLAG_BRANCH | BOLT_FLAG_LEAF);
        break;
    case P_ID_MISMATCH:
        bolt_put64(br + BOLT_PAGE_OFF_ID, kroot + 1);
        break;
    case P_LEAF_VSIZE_HUGE:
        bolt_put32(elem_at(leaf, 0) + 12, 0x7FFFFFFFu);
        break;
    case P_LEAF_KEY_ORDER: /* element 1's key below element 0's */
        memset(elem_at(leaf, 1) + bolt_le32(elem_at(leaf, 1) + 4), 0, 8);
        break;
    case P_BUCKET_ROOT_META:
        bolt_put64(bucket_value(kel), 1);
        break;
    case P_BUCKET_ROOT_PAST:
        bolt_put64(bucket_value(kel), in.page_count + 5);
        break;
    case P_INLINE_SHORT:
        bolt_put32(bel + 12, 10);
        break;
    case P_INLINE_BRANCH:
        bolt_put16(bucket_value(bel) + BOLT_BUCKET_HDR + BOLT_PAGE_OFF_FLAGS, BOLT_FLAG_BRANCH);
        break;
    case P_INLINE_COUNT:
        bolt_put16(bucket_value(bel) + BOLT_BUCKET_HDR + BOLT_PAGE_OFF_COUNT, 200);
        break;
    default:
        fail();
    }
}

static void test_hostile_pages(void **state)
{
    (void)state;
    size_t n;
    uint8_t *orig = make_dataset(0, &n), *f = malloc(n);
    assert_non_null(f);
    assert_int_equal(open_and_walk(orig, n), 0);
    for (int k = 0; k < P_KINDS; k++) {
        memcpy(f, orig, n);
        apply_patch(f, (enum patch_kind)k);
        int rc = open_and_walk(f, n);
        if (rc != CAIRN_ECORRUPT)
            fail_msg("patch %d: got %d (%s), want CAIRN_ECORRUPT", k, rc, cairn_strerror(rc));
    }
    free(f);
    free(orig);
}

static void test_truncated_and_foreign(void **state)
{
    (void)state;
    size_t n;
    uint8_t *f = make_dataset(0, &n);
    const size_t cuts[] = {0, 1, 100, 4095, 4096, 8191, 8192, 12288, n / 2, n - 4096, n - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
        assert_int_equal(open_and_walk(f, cuts[i]), CAIRN_ECORRUPT);
    size_t fn;
    uint8_t *fx = load_fixture(&fn);
    assert_int_equal(open_and_walk(fx, fn - BOLT_SHA256_LEN), 0); /* without the trailer */
    assert_int_equal(open_and_walk(fx, fn - BOLT_SHA256_LEN - 1), CAIRN_ECORRUPT);
    free(fx);
    memset(f, 0, n);
    assert_int_equal(open_and_walk(f, n), CAIRN_ECORRUPT);
    struct tu_rng r = {42};
    for (size_t i = 0; i < n; i++)
        f[i] = (uint8_t)tu_rand(&r);
    assert_int_equal(open_and_walk(f, n), CAIRN_ECORRUPT);
    free(f);
}

/* Random damage, biased toward the bytes that steer the reader: page headers and element
 * headers. Every outcome must be 0 (damage in payload bytes), ECORRUPT or ENOTFOUND. */
static void fuzz(const uint8_t *orig, size_t n, int iters, uint64_t seed, const char *what)
{
    uint8_t *f = malloc(n);
    assert_non_null(f);
    struct tu_rng r = {seed};
    const size_t pages = n / BOLT_PAGE_SIZE;
    int ok = 0, corrupt = 0, notfound = 0;
    for (int it = 0; it < iters; it++) {
        memcpy(f, orig, n);
        int flips = 1 + (int)(tu_rand(&r) % 4);
        for (int j = 0; j < flips; j++) {
            size_t pg = (size_t)(tu_rand(&r) % pages), off;
            switch (tu_rand(&r) % 3) {
            case 0:
                off = (size_t)(tu_rand(&r) % n);
                break;
            case 1:
                off = pg * BOLT_PAGE_SIZE + (size_t)(tu_rand(&r) % BOLT_PAGE_HDR);
                break;
            default:
                off = pg * BOLT_PAGE_SIZE + BOLT_PAGE_HDR + (size_t)(tu_rand(&r) % 256);
                break;
            }
            uint64_t how = tu_rand(&r);
            if (off >= n)
                continue;
            f[off] = how % 4 == 0   ? 0xFF
                     : how % 4 == 1 ? 0
                                    : (uint8_t)(f[off] ^ (1u << (how >> 8) % 8));
        }
        int rc = open_and_walk(f, n);
        if (rc == 0)
            ok++;
        else if (rc == CAIRN_ECORRUPT)
            corrupt++;
        else if (rc == CAIRN_ENOTFOUND)
            notfound++;
        else
            fail_msg("%s iteration %d: unexpected %d (%s)", what, it, rc, cairn_strerror(rc));
    }
    print_message("fuzz %s: %d runs: %d read fine, %d corrupt, %d not found\n", what, iters, ok,
                  corrupt, notfound);
    assert_true(corrupt > iters / 10); /* the damage does reach the structure */
    free(f);
}

static void test_fuzz_written(void **state)
{
    (void)state;
    size_t n;
    uint8_t *f = make_dataset(0, &n);
    fuzz(f, n, g_fuzz_iters, 0x9E3779B97F4A7C15ull, "bolt_writer file");
    free(f);
}

static void test_fuzz_etcd_fixture(void **state)
{
    (void)state;
    size_t n;
    uint8_t *f = load_fixture(&n);
    assert_int_equal(open_and_walk(f, n), 0);
    fuzz(f, n, g_fuzz_iters, 0xD1B54A32D192ED03ull, "etcd 3.4 snapshot");
    free(f);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_data_dir = argv[1];
    if (argc > 2)
        g_fuzz_iters = atoi(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_choice),   cmocka_unit_test(test_checker_catches_damage),
        cmocka_unit_test(test_hostile_pages), cmocka_unit_test(test_truncated_and_foreign),
        cmocka_unit_test(test_fuzz_written),  cmocka_unit_test(test_fuzz_etcd_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
