/* Snapshots streamed in chunks, restore into another node's store, and defragment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "store.h"
#include "store_test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t hash_of(struct store *s)
{
    struct store_read *r;
    uint32_t h;
    int64_t c, hr;
    CAIRN_ASSERT(store_read_begin(s, &r) == 0);
    CAIRN_ASSERT(store_hash_kv(r, 0, &h, &c, &hr) == 0);
    store_read_end(r);
    return h;
}

static void fill(struct store *s, ProtobufCAllocator *a, int n, int seed)
{
    struct store_result res;
    for (int i = 0; i < n; i++) {
        char k[32], v[64];
        snprintf(k, sizeof(k), "k%04d", (i * 7 + seed) % 500);
        snprintf(v, sizeof(v), "value-%d-%d", i, seed);
        CAIRN_ASSERT(tu_put(s, k, v, 0, a, &res) == 0 && res.err == 0);
        if (i % 5 == 4)
            CAIRN_ASSERT(tu_del(s, k, NULL, a, &res) == 0);
    }
}

static void test_snapshot_restore(void **state)
{
    (void)state;
    struct store_arena ar;
    store_arena_init(&ar, 1 << 16);
    ProtobufCAllocator *a = store_arena_allocator(&ar);
    char *d1 = tu_tmpdir("snap1"), *d2 = tu_tmpdir("snap2");
    struct store *s1 = tu_open(d1, 0, 0), *s2 = tu_open(d2, 0, 0);
    fill(s1, a, 800, 1);
    fill(s2, a, 50, 2);
    /* s2 has its own hard state and member id, which a restore keeps */
    struct store_batch *b;
    struct raft_hard_state hs = {9, 2, 3};
    assert_int_equal(store_batch_begin(s2, 0, &b), 0);
    assert_int_equal(store_batch_set_hard_state(b, &hs), 0);
    assert_int_equal(store_batch_set_ids(b, 77, 2), 0);
    assert_int_equal(store_batch_commit(b), 0);

    struct store_snapshot *ss;
    struct raft_snapshot_meta meta;
    uint64_t size;
    assert_int_equal(store_snapshot_begin(s1, &ss, &meta, &size), 0);
    assert_int_equal(meta.index, tu_applied(s1));
    assert_true(size > 0);
    fill(s1, a, 10, 3); /* writes after the copy are not in it */
    struct store_restore *rs;
    assert_int_equal(store_restore_begin(s2, &rs), 0);
    uint8_t buf[7000]; /* odd chunk size on purpose */
    size_t n, total = 0;
    do {
        assert_int_equal(store_snapshot_read(ss, buf, sizeof(buf), &n), 0);
        assert_int_equal(store_restore_write(rs, buf, n), 0);
        total += n;
    } while (n > 0);
    assert_int_equal(total, size);
    store_snapshot_end(ss);
    assert_int_equal(store_restore_finish(rs, NULL), 0);

    assert_int_equal(tu_applied(s2), meta.index);
    struct raft_storage st;
    store_raft_storage(s2, &st);
    uint64_t fi, li, term;
    assert_int_equal(st.first_index(st.ctx, &fi), 0);
    assert_int_equal(st.last_index(st.ctx, &li), 0);
    assert_int_equal(fi, meta.index + 1);
    assert_int_equal(li, meta.index);
    assert_int_equal(st.term(st.ctx, meta.index, &term), 0);
    assert_int_equal(term, meta.term);
    struct raft_hard_state hs2;
    struct raft_conf_state cs2;
    assert_int_equal(st.initial_state(st.ctx, &hs2, &cs2), 0);
    assert_int_equal(hs2.term, 9);
    assert_int_equal(hs2.vote, 2);
    assert_int_equal(hs2.commit, meta.index);
    struct store_read *r;
    struct store_state stt;
    assert_int_equal(store_read_begin(s2, &r), 0);
    assert_int_equal(store_read_state(r, &stt), 0);
    store_read_end(r);
    assert_int_equal(stt.member_id, 2);

    /* s1 rolled back to the copy's point must hash like s2 */
    int err;
    Etcdserverpb__RangeResponse *r1 = tu_range(s2, "k", "l", 0, 0, a, &err);
    assert_int_equal(err, 0);
    assert_true(r1->count > 300);
    store_close(s1);
    tu_rmdir(d1);
    d1 = tu_tmpdir("snap3");
    s1 = tu_open(d1, 0, 0);
    fill(s1, a, 800, 1);
    assert_int_equal(hash_of(s1), hash_of(s2));
    Etcdserverpb__RangeResponse *r0 = tu_range(s1, "k", "l", 0, 0, a, &err);
    assert_true(tu_msg_equal(&r0->base, &r1->base));

    /* the restored store keeps working: apply the next index */
    struct store_result res;
    assert_int_equal(tu_put(s2, "after", "restore", 0, a, &res), 0);
    assert_int_equal(res.err, 0);
    store_close(s1);
    store_close(s2);
    tu_rmdir(d1);
    tu_rmdir(d2);
    store_arena_destroy(&ar);
}

static void test_restore_rejects_garbage(void **state)
{
    (void)state;
    char *d = tu_tmpdir("snapbad");
    struct store *s = tu_open(d, 0, 0);
    struct store_restore *rs;
    assert_int_equal(store_restore_begin(s, &rs), 0);
    uint8_t junk[8192];
    memset(junk, 0x5a, sizeof(junk));
    assert_int_equal(store_restore_write(rs, junk, sizeof(junk)), 0);
    assert_int_not_equal(store_restore_finish(rs, NULL), 0);
    assert_int_equal(tu_rev(s), 1); /* still the old store */
    store_close(s);
    tu_rmdir(d);
}

static void test_defrag(void **state)
{
    (void)state;
    struct store_arena ar;
    store_arena_init(&ar, 1 << 16);
    ProtobufCAllocator *a = store_arena_allocator(&ar);
    char *d = tu_tmpdir("defrag");
    struct store *s = tu_open(d, 0, 0);
    fill(s, a, 3000, 5);
    Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    c.revision = tu_rev(s);
    struct store_op op = {.kind = STORE_OP_COMPACT, .compact = &c};
    struct store_result res;
    assert_int_equal(tu_apply(s, &op, a, &res), 0);
    assert_int_equal(res.err, 0);
    int done = 0;
    while (!done)
        assert_int_equal(store_compact_work(s, 500, &done), 0);
    uint32_t h = hash_of(s);
    int err;
    Etcdserverpb__RangeResponse *before = tu_range(s, "k", "l", 0, 0, a, &err);
    struct store_defrag_report rep;
    assert_int_equal(store_defrag(s, &rep), 0);
    assert_true(rep.db_bytes_after < rep.db_bytes_before);
    assert_true(rep.writes_blocked_us >= rep.reads_blocked_us);
    assert_int_equal(hash_of(s), h);
    Etcdserverpb__RangeResponse *after = tu_range(s, "k", "l", 0, 0, a, &err);
    assert_true(tu_msg_equal(&before->base, &after->base));
    assert_int_equal(tu_put(s, "x", "y", 0, a, &res), 0);
    store_close(s);
    s = tu_open(d, 0, 0);
    assert_int_equal(tu_rev(s), res.revision);
    store_close(s);
    tu_rmdir(d);
    store_arena_destroy(&ar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_restore_rejects_garbage),
        cmocka_unit_test(test_defrag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
