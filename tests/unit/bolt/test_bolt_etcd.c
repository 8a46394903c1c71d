/* etcd's layout helpers: revision keys, big-endian u64s, CRC-32C and SHA-256 against
 * published test vectors, the snapshot hash trailer, and bolt_etcd_status against an
 * independent count and against what etcdctl printed for a real etcd 3.4 snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bolt.h"
#include "bolt_format.h"
#include "crc32c.h"
#include "bolt_test_util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *g_data_dir = "data";

static void test_rev_keys(void **state)
{
    (void)state;
    uint8_t k[BOLT_ETCD_REV_TOMB_LEN];
    int64_t m, s;
    int tomb = -1;
    assert_int_equal(bolt_etcd_rev_encode(0x0102030405060708, 9, 0, k), BOLT_ETCD_REV_LEN);
    static const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, '_', 0, 0, 0, 0, 0, 0, 0, 9};
    assert_memory_equal(k, want, sizeof(want));
    assert_int_equal(bolt_etcd_rev_decode(k, BOLT_ETCD_REV_LEN, &m, &s, &tomb), 0);
    assert_int_equal(m, 0x0102030405060708);
    assert_int_equal(s, 9);
    assert_int_equal(tomb, 0);
    assert_int_equal(bolt_etcd_rev_encode(INT64_MAX, 0, 1, k), BOLT_ETCD_REV_TOMB_LEN);
    assert_int_equal(k[17], 't');
    assert_int_equal(bolt_etcd_rev_decode(k, BOLT_ETCD_REV_TOMB_LEN, &m, &s, &tomb), 0);
    assert_int_equal(m, INT64_MAX);
    assert_int_equal(tomb, 1);
    /* order of encoded revisions is numeric order */
    uint8_t a[18], b[18];
    bolt_etcd_rev_encode(255, 7, 0, a);
    bolt_etcd_rev_encode(256, 0, 0, b);
    assert_true(memcmp(a, b, BOLT_ETCD_REV_LEN) < 0);
    /* malformed */
    assert_int_equal(bolt_etcd_rev_decode(k, 16, &m, &s, NULL), CAIRN_ECORRUPT);
    k[17] = 'x';
    assert_int_equal(bolt_etcd_rev_decode(k, 18, &m, &s, NULL), CAIRN_ECORRUPT);
    k[8] = '-';
    assert_int_equal(bolt_etcd_rev_decode(k, 17, &m, &s, NULL), CAIRN_ECORRUPT);
    memset(k, 0xff, sizeof(k));
    k[8] = '_';
    assert_int_equal(bolt_etcd_rev_decode(k, 17, &m, &s, NULL), CAIRN_ECORRUPT); /* > int64 */
    for (size_t i = 1; i < BOLT_ETCD_BUCKET_COUNT; i++) /* ascending, as a writer needs */
        assert_true(strcmp(bolt_etcd_buckets[i - 1], bolt_etcd_buckets[i]) < 0);
    uint8_t u[8];
    bolt_etcd_u64_encode(0x1122334455667788u, u);
    assert_int_equal(u[0], 0x11);
    assert_int_equal(u[7], 0x88);
    assert_int_equal(bolt_etcd_u64_decode(u), 0x1122334455667788u);
}

static void test_hash_trailer(void **state)
{
    (void)state;
    int fd = tu_memfd();
    tu_write_dataset(fd, 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    const uint64_t db = (uint64_t)st.st_size;
    uint64_t got = 0;
    assert_int_equal(bolt_snapshot_verify_hash(fd, &got), CAIRN_ENOTFOUND);
    assert_int_equal(bolt_snapshot_append_hash(fd), 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal((uint64_t)st.st_size, db + BOLT_SHA256_LEN);
    assert_int_equal(st.st_size % 512, 32);
    assert_int_equal(bolt_snapshot_verify_hash(fd, &got), 0);
    assert_int_equal(got, db);
    /* the trailer is invisible to the reader */
    struct bolt_reader *r;
    assert_int_equal(bolt_reader_open_fd(fd, &r), 0);
    struct bolt_info in;
    bolt_reader_info(r, &in);
    assert_int_equal(in.size_bytes, db);
    tu_verify_dataset(r, 0);
    bolt_reader_close(r);
    /* one flipped byte in the database */
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 3 * 4096 + 100), 1);
    b ^= 1;
    assert_int_equal(pwrite(fd, &b, 1, 3 * 4096 + 100), 1);
    assert_int_equal(bolt_snapshot_verify_hash(fd, NULL), CAIRN_ECORRUPT);
    /* a size that is not whole pages cannot take a trailer */
    assert_int_equal(bolt_snapshot_append_hash(fd), CAIRN_EINVAL);
    close(fd);
}

/* bolt_etcd_status against a count made here from the generator. */
static void test_status_matches_independent_count(void **state)
{
    (void)state;
    int fd = tu_memfd();
    tu_write_dataset(fd, 1);
    uint8_t *key = malloc(TU_KEY_MAX), *val = malloc(TU_VAL_MAX);
    assert_non_null(key);
    assert_non_null(val);
    uint32_t crc = 0;
    uint64_t total = 0;
    int64_t rev = 0;
    for (size_t b = 0; b < tu_bucket_count(); b++) {
        const char *name = tu_bucket_name(b);
        crc = cairn_crc32c_table(crc, name, strlen(name));
        for (size_t i = 0; i < tu_entry_count(b, 1); i++) {
            size_t kl, vl;
            tu_entry(b, i, key, &kl, val, &vl);
            crc = cairn_crc32c_table(crc, key, kl);
            crc = cairn_crc32c_table(crc, val, vl);
            if (strcmp(name, "key") == 0)
                rev = (int64_t)bolt_etcd_u64_decode(key);
            total++;
        }
    }
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct bolt_reader *r;
    assert_int_equal(bolt_reader_open_fd(fd, &r), 0);
    struct bolt_etcd_status es;
    assert_int_equal(bolt_etcd_status(r, &es), 0);
    assert_int_equal(es.hash, crc);
    assert_int_equal(es.total_keys, total);
    assert_int_equal(es.revision, rev);
    assert_int_equal(es.revision, (int64_t)tu_entry_count(3, 1) + 1);
    assert_int_equal(es.total_size, (uint64_t)st.st_size);
    bolt_reader_close(r);
    free(key);
    free(val);
    close(fd);
}

/* A "key" bucket key too short for a revision: etcdctl would panic, we refuse. */
static void test_status_rejects_short_revision(void **state)
{
    (void)state;
    int fd = tu_memfd();
    struct bolt_writer *w;
    assert_int_equal(bolt_writer_create(fd, &w), 0);
    assert_int_equal(bolt_writer_bucket(w, "key", 3), 0);
    assert_int_equal(bolt_writer_put(w, "short", 5, "v", 1), 0);
    assert_int_equal(bolt_writer_finish(w), 0);
    bolt_writer_destroy(w);
    struct bolt_reader *r;
    assert_int_equal(bolt_reader_open_fd(fd, &r), 0);
    struct bolt_etcd_status es;
    assert_int_equal(bolt_etcd_status(r, &es), CAIRN_ECORRUPT);
    bolt_reader_close(r);
    close(fd);
}

/* The real etcd 3.4 snapshot: status as etcdctl printed it, its SHA-256 trailer (written by
 * etcd) verifies, and the keys are where etcd put them. */
static void test_real_etcd_snapshot(void **state)
{
    (void)state;
    char path[4096], json[256] = "";
    snprintf(path, sizeof(path), "%s/etcd34-snapshot.status.json", g_data_dir);
    FILE *jf = fopen(path, "r");
    assert_non_null(jf);
    assert_non_null(fgets(json, sizeof(json), jf));
    fclose(jf);
    unsigned long long hash, rev, keys, size;
    assert_int_equal(
        sscanf(json, "{\"hash\":%llu,\"revision\":%llu,\"totalKey\":%llu,\"totalSize\":%llu}",
               &hash, &rev, &keys, &size),
        4);
    snprintf(path, sizeof(path), "%s/etcd34-snapshot.db", g_data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(bolt_snapshot_verify_hash(fd, NULL), 0);
    close(fd);

    struct bolt_reader *r;
    assert_int_equal(bolt_reader_open(path, &r), 0);
    struct bolt_info in;
    bolt_reader_info(r, &in);
    assert_int_equal(in.freelist_pgid, BOLT_NO_FREELIST); /* etcd 3.4 sets NoFreelistSync */
    struct bolt_etcd_status es;
    assert_int_equal(bolt_etcd_status(r, &es), 0);
    assert_int_equal(es.hash, hash);
    assert_int_equal(es.revision, rev);
    assert_int_equal(es.total_keys, keys);
    assert_int_equal(es.total_size, size);

    /* the ten buckets etcd 3.4 creates, in bbolt's order: bolt_etcd_buckets */
    const char *const *want = bolt_etcd_buckets;
    struct bolt_cursor *c;
    struct bolt_item it;
    assert_int_equal(bolt_cursor_open(r, NULL, 0, &c), 0);
    for (size_t i = 0; i < BOLT_ETCD_BUCKET_COUNT; i++) {
        assert_int_equal(bolt_cursor_next(c, &it), 1);
        assert_int_equal(it.key_len, strlen(want[i]));
        assert_memory_equal(it.key, want[i], it.key_len);
    }
    assert_int_equal(bolt_cursor_next(c, &it), 0);
    bolt_cursor_close(c);

    uint8_t *v;
    size_t vl;
    assert_int_equal(bolt_reader_get(r, "meta", 4, "consistent_index", 16, &v, &vl), 0);
    assert_int_equal(vl, 8);
    assert_true(bolt_etcd_u64_decode(v) > 0);
    free(v);
    assert_int_equal(bolt_reader_get(r, "cluster", 7, "clusterVersion", 14, &v, &vl), 0);
    assert_int_equal(vl, 5);
    assert_memory_equal(v, "3.4.0", 5);
    free(v);
    /* revision 5 deleted "gone": an 18-byte tombstone key */
    uint8_t k[BOLT_ETCD_REV_TOMB_LEN];
    size_t kl = bolt_etcd_rev_encode(5, 0, 1, k);
    assert_int_equal(bolt_reader_get(r, "key", 3, k, kl, &v, &vl), 0);
    assert_non_null(memmem(v, vl, "gone", 4));
    free(v);
    /* the 20000-byte value sits on overflow pages */
    kl = bolt_etcd_rev_encode(7, 0, 0, k);
    assert_int_equal(bolt_reader_get(r, "key", 3, k, kl, &v, &vl), 0);
    assert_true(vl > 20000);
    free(v);
    assert_int_equal(bolt_cursor_open(r, "lease", 5, &c), 0);
    assert_int_equal(bolt_cursor_next(c, &it), 1);
    assert_int_equal(it.key_len, 8);
    bolt_cursor_close(c);
    bolt_reader_close(r);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_data_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rev_keys),
        cmocka_unit_test(test_hash_trailer),
        cmocka_unit_test(test_status_matches_independent_count),
        cmocka_unit_test(test_status_rejects_short_revision),
        cmocka_unit_test(test_real_etcd_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
