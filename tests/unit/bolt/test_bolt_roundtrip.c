/* bolt_writer -> file -> bolt_reader: identical content, a file bbolt's tx.Check() rules
 * accept, the writer streaming as it goes, cursors seeking, argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bolt.h"
#include "bolt_test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void check_file_ok(int fd)
{
    size_t n;
    uint8_t *f = tu_get_file(fd, &n);
    char err[200] = "";
    int rc = tu_check_file(f, n, err, sizeof(err));
    if (rc != 0)
        fail_msg("tx.Check rules: %s", err);
    free(f);
}

static void test_roundtrip_full(void **state)
{
    (void)state;
    int fd = tu_memfd();
    tu_write_dataset(fd, 1);
    check_file_ok(fd);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct bolt_reader *r;
    assert_int_equal(bolt_reader_open_fd(fd, &r), 0);
    struct bolt_info in;
    bolt_reader_info(r, &in);
    assert_int_equal(in.page_size, BOLT_PAGE_SIZE);
    assert_int_equal(in.txid, 2);
    assert_int_equal(in.meta_index, 0);
    assert_int_equal(in.size_bytes, (uint64_t)st.st_size);
    assert_int_equal(in.page_count * BOLT_PAGE_SIZE, in.size_bytes);
    assert_true(in.freelist_pgid < in.page_count);
    assert_true(in.size_bytes > 3u * TU_VAL_MAX / 2); /* the 1 MiB value and friends */
    tu_verify_dataset(r, 1);
    tu_verify_dataset(r, 1); /* cursors do not disturb the reader */
    bolt_reader_close(r);
    close(fd);
}

/* Leaves reach the file while the bucket is still being written. */
static void test_writer_streams(void **state)
{
    (void)state;
    int fd = tu_memfd();
    struct bolt_writer *w;
    assert_int_equal(bolt_writer_create(fd, &w), 0);
    assert_int_equal(bolt_writer_bucket(w, "key", 3), 0);
    uint8_t val[200];
    memset(val, 'v', sizeof(val));
    const int64_t n = 30000;
    for (int64_t i = 0; i < n; i++) {
        uint8_t k[BOLT_ETCD_REV_TOMB_LEN];
        size_t kl = bolt_etcd_rev_encode(i + 1, 0, 0, k);
        assert_int_equal(bolt_writer_put(w, k, kl, val, sizeof(val)), 0);
    }
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    /* ~6.5 MB of entries: all but the open pages and the staging buffer are on disk */
    assert_true((uint64_t)st.st_size > (uint64_t)n * sizeof(val) * 9 / 10);
    assert_true(bolt_writer_size_bytes(w) >= (uint64_t)st.st_size);
    assert_int_equal(bolt_writer_finish(w), 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(bolt_writer_size_bytes(w), (uint64_t)st.st_size);
    bolt_writer_destroy(w);
    check_file_ok(fd);
    struct bolt_reader *r;
    assert_int_equal(bolt_reader_open_fd(fd, &r), 0);
    struct bolt_etcd_status es;
    assert_int_equal(bolt_etcd_status(r, &es), 0);
    assert_int_equal(es.total_keys, (uint64_t)n);
    assert_int_equal(es.revision, n);
    bolt_reader_close(r);
    close(fd);
}

static void expect_next_key(struct bolt_cursor *c, const uint8_t *k, size_t kl)
{
    struct bolt_item it;
    assert_int_equal(bolt_cursor_next(c, &it), 1);
    assert_int_equal(it.key_len, kl);
    assert_memory_equal(it.key, k, kl);
}

static void test_seek_and_get(void **state)
{
    (void)state;
    int fd = tu_memfd();
    tu_write_dataset(fd, 1);
    struct bolt_reader *r;
    assert_int_equal(bolt_reader_open_fd(fd, &r), 0);
    uint8_t *key = malloc(TU_KEY_MAX), *val = malloc(TU_VAL_MAX);
    assert_non_null(key);
    assert_non_null(val);
    size_t kl, vl;
    struct bolt_cursor *c;
    struct bolt_item it;
    const size_t nkey = tu_entry_count(3, 1);
    assert_int_equal(bolt_cursor_open(r, "key", 3, &c), 0);
    for (size_t i = 0; i < nkey; i += 997) { /* exact hits, in and across leaves */
        tu_entry(3, i, key, &kl, val, &vl);
        assert_int_equal(bolt_cursor_seek(c, key, kl), 0);
        expect_next_key(c, key, kl);
        /* a key just above entry i lands on entry i + 1 */
        key[kl] = 0xff;
        assert_int_equal(bolt_cursor_seek(c, key, kl + 1), 0);
        if (i + 1 < nkey) {
            tu_entry(3, i + 1, key, &kl, val, &vl);
            expect_next_key(c, key, kl);
        } else {
            assert_int_equal(bolt_cursor_next(c, &it), 0);
        }
    }
    assert_int_equal(bolt_cursor_seek(c, "\xff\xff", 2), 0); /* past the end */
    assert_int_equal(bolt_cursor_next(c, &it), 0);
    assert_int_equal(bolt_cursor_seek(c, NULL, 0), 0); /* back to the start */
    tu_entry(3, 0, key, &kl, val, &vl);
    expect_next_key(c, key, kl);
    bolt_cursor_close(c);

    /* seek in the tall "wide" tree (fat branch pages) */
    assert_int_equal(bolt_cursor_open(r, "wide", 4, &c), 0);
    for (size_t i = 0; i < tu_entry_count(4, 1); i += 37) {
        tu_entry(4, i, key, &kl, val, &vl);
        assert_int_equal(bolt_cursor_seek(c, key, kl), 0);
        expect_next_key(c, key, kl);
    }
    bolt_cursor_close(c);

    /* get: the 1 MiB value, an empty value, absent keys and buckets */
    uint8_t *got;
    size_t glen;
    tu_entry(2, 6, key, &kl, val, &vl);
    assert_int_equal(vl, TU_VAL_MAX);
    assert_int_equal(bolt_reader_get(r, "big", 3, key, kl, &got, &glen), 0);
    assert_int_equal(glen, vl);
    assert_memory_equal(got, val, vl);
    free(got);
    tu_entry(2, 0, key, &kl, val, &vl);
    assert_int_equal(bolt_reader_get(r, "big", 3, key, kl, &got, &glen), 0);
    assert_non_null(got);
    assert_int_equal(glen, 0);
    free(got);
    assert_int_equal(bolt_reader_get(r, "big", 3, "big", 3, &got, &glen), CAIRN_ENOTFOUND);
    assert_null(got);
    assert_int_equal(bolt_reader_get(r, "nope", 4, "k", 1, &got, &glen), CAIRN_ENOTFOUND);
    assert_int_equal(bolt_reader_get(r, "bi", 2, "k", 1, &got, &glen), CAIRN_ENOTFOUND);
    assert_int_equal(bolt_cursor_open(r, "zz", 2, &c), CAIRN_ENOTFOUND);
    assert_null(c);
    /* the empty inline bucket opens and is empty */
    assert_int_equal(bolt_cursor_open(r, "a", 1, &c), 0);
    assert_int_equal(bolt_cursor_next(c, &it), 0);
    bolt_cursor_close(c);
    free(key);
    free(val);
    bolt_reader_close(r);
    close(fd);
}

static void test_empty_database(void **state)
{
    (void)state;
    int fd = tu_memfd();
    struct bolt_writer *w;
    assert_int_equal(bolt_writer_create(fd, &w), 0);
    assert_int_equal(bolt_writer_finish(w), 0);
    assert_int_equal(bolt_writer_size_bytes(w), 4u * BOLT_PAGE_SIZE);
    bolt_writer_destroy(w);
    check_file_ok(fd);
    struct bolt_reader *r;
    assert_int_equal(bolt_reader_open_fd(fd, &r), 0);
    struct bolt_cursor *c;
    struct bolt_item it;
    assert_int_equal(bolt_cursor_open(r, NULL, 0, &c), 0);
    assert_int_equal(bolt_cursor_next(c, &it), 0);
    bolt_cursor_close(c);
    assert_int_equal(bolt_cursor_open(r, "key", 3, &c), CAIRN_ENOTFOUND);
    struct bolt_etcd_status es;
    assert_int_equal(bolt_etcd_status(r, &es), 0);
    assert_int_equal(es.total_keys, 0);
    assert_int_equal(es.revision, 0);
    assert_int_equal(es.hash, 0);
    bolt_reader_close(r);
    close(fd);
}

static void test_writer_arguments(void **state)
{
    (void)state;
    struct bolt_writer *w = (void *)1;
    assert_int_equal(bolt_writer_create(-1, &w), CAIRN_EINVAL);
    assert_null(w);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(bolt_writer_create(p[1], &w), CAIRN_EIO); /* not a seekable file */
    close(p[0]);
    close(p[1]);

    int fd = tu_memfd();
    assert_int_equal(bolt_writer_create(fd, &w), 0);
    assert_int_equal(bolt_writer_bucket(w, "", 0), CAIRN_EINVAL);
    assert_int_equal(bolt_writer_bucket(w, "b", 1), 0);
    static uint8_t huge[BOLT_KEY_MAX + 1];
    assert_int_equal(bolt_writer_put(w, "", 0, "v", 1), CAIRN_EINVAL);
    assert_int_equal(bolt_writer_put(w, huge, sizeof(huge), "v", 1), CAIRN_EINVAL);
    assert_int_equal(bolt_writer_put(w, "k", 1, NULL, 3), CAIRN_EINVAL);
    assert_int_equal(bolt_writer_put(w, huge, BOLT_KEY_MAX, NULL, 0), 0); /* the limit is ok */
    assert_int_equal(bolt_writer_bucket(w, huge, sizeof(huge)), CAIRN_EINVAL);
    assert_int_equal(bolt_writer_finish(w), 0); /* the refused calls left no trace */
    bolt_writer_destroy(w);
    check_file_ok(fd);
    close(fd);
    bolt_writer_destroy(NULL);
}

static void test_reader_open_path(void **state)
{
    (void)state;
    char path[] = "/tmp/bolt-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    tu_write_dataset(fd, 0);
    close(fd);
    struct bolt_reader *r;
    assert_int_equal(bolt_reader_open(path, &r), 0);
    tu_verify_dataset(r, 0);
    bolt_reader_close(r);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(bolt_reader_open(path, &r), CAIRN_ENOTFOUND);
    assert_null(r);
    assert_int_equal(bolt_reader_open("/tmp", &r), CAIRN_EINVAL); /* a directory */
    bolt_reader_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_full),   cmocka_unit_test(test_writer_streams),
        cmocka_unit_test(test_seek_and_get),     cmocka_unit_test(test_empty_database),
        cmocka_unit_test(test_writer_arguments), cmocka_unit_test(test_reader_open_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
