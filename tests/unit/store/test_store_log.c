/* The raft log in store/: append, conflicting suffix, terms, entries() limits, prefix
 * compaction, hard/conf state, and raft's storage interface across a reopen. */
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

static void *t_alloc(void *ctx, size_t n)
{
    (*(int *)ctx)++;
    return malloc(n);
}

static void t_free(void *ctx, void *p)
{
    (*(int *)ctx)--;
    free(p);
}

static void mk_entries(struct raft_entry *e, uint8_t (*data)[32], uint64_t first, size_t n,
                       uint64_t term)
{
    for (size_t i = 0; i < n; i++) {
        e[i].index = first + i;
        e[i].term = term;
        e[i].type = RAFT_ENTRY_NORMAL;
        int len = snprintf((char *)data[i], 32, "entry-%llu-t%llu", (unsigned long long)(first + i),
                           (unsigned long long)term);
        e[i].len = (uint32_t)len;
        e[i].data = data[i];
    }
}

static int append(struct store *s, const struct raft_entry *e, size_t n)
{
    struct store_batch *b;
    int rc = store_batch_begin(s, 0, &b);
    if (rc == 0)
        rc = store_batch_append(b, e, n);
    if (rc != 0) {
        store_batch_abort(b);
        return rc;
    }
    return store_batch_commit(b);
}

static void test_log(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("log");
    struct store *s = tu_open(dir, 0, 0);
    struct raft_storage st;
    store_raft_storage(s, &st);
    uint64_t fi, li, term;
    assert_int_equal(st.first_index(st.ctx, &fi), 0);
    assert_int_equal(st.last_index(st.ctx, &li), 0);
    assert_int_equal(fi, 1);
    assert_int_equal(li, 0);
    assert_int_equal(st.term(st.ctx, 0, &term), 0);
    assert_int_equal(term, 0);

    struct raft_entry e[10];
    uint8_t data[10][32];
    mk_entries(e, data, 1, 10, 1);
    assert_int_equal(append(s, e, 10), 0);
    assert_int_equal(st.last_index(st.ctx, &li), 0);
    assert_int_equal(li, 10);
    /* a conflicting suffix from 6 on, term 2, shorter than the old tail */
    struct raft_entry e2[2];
    uint8_t data2[2][32];
    mk_entries(e2, data2, 6, 2, 2);
    assert_int_equal(append(s, e2, 2), 0);
    assert_int_equal(st.last_index(st.ctx, &li), 0);
    assert_int_equal(li, 7);
    assert_int_equal(st.term(st.ctx, 7, &term), 0);
    assert_int_equal(term, 2);
    assert_int_equal(st.term(st.ctx, 8, &term), CAIRN_EUNAVAILABLE);
    /* a gap is refused */
    mk_entries(e2, data2, 9, 1, 2);
    assert_int_equal(append(s, e2, 1), CAIRN_EINVAL);

    int live = 0;
    struct raft_allocator al = {&live, t_alloc, t_free};
    struct raft_entries out;
    assert_int_equal(st.entries(st.ctx, 2, 8, UINT64_MAX, &al, &out), 0);
    assert_int_equal(out.n, 6);
    assert_int_equal(out.e[0].index, 2);
    assert_int_equal(out.e[5].term, 2);
    assert_memory_equal(out.e[4].data, "entry-6-t2", 10);
    al.free(al.ctx, out.mem);
    /* max_bytes: each entry is 9-10 bytes; 15 bytes allow one, but one is always given */
    assert_int_equal(st.entries(st.ctx, 2, 8, 15, &al, &out), 0);
    assert_int_equal(out.n, 1);
    al.free(al.ctx, out.mem);
    assert_int_equal(st.entries(st.ctx, 2, 8, 0, &al, &out), 0);
    assert_int_equal(out.n, 1);
    al.free(al.ctx, out.mem);
    assert_int_equal(st.entries(st.ctx, 2, 9, 100, &al, &out), CAIRN_EUNAVAILABLE);
    assert_int_equal(live, 0);

    /* hard state, conf state and applied entries, then a reopen */
    struct raft_hard_state hs = {5, 3, 7};
    struct raft_conf_state cs = {0};
    cs.voters[0] = 1;
    cs.voters[1] = 2;
    cs.n_voters = 2;
    cs.learners[0] = 9;
    cs.n_learners = 1;
    cs.auto_leave = 1;
    struct store_batch *b;
    struct store_result res[7];
    struct store_op noop = {.kind = STORE_OP_NOOP};
    assert_int_equal(store_batch_begin(s, 0, &b), 0);
    assert_int_equal(store_batch_set_hard_state(b, &hs), 0);
    assert_int_equal(store_batch_set_conf_state(b, &cs), 0);
    assert_int_equal(store_batch_set_ids(b, 0xc1, 0x31), 0);
    for (uint64_t i = 1; i <= 7; i++)
        assert_int_equal(store_batch_apply(b, i, i < 6 ? 1 : 2, &noop, NULL, &res[i - 1]), 0);
    assert_int_equal(store_batch_log_compact(b, 4), 0);
    assert_int_equal(store_batch_commit(b), 0);
    store_close(s);

    s = tu_open(dir, 0, 0);
    store_raft_storage(s, &st);
    struct raft_hard_state hs2;
    struct raft_conf_state cs2;
    assert_int_equal(st.initial_state(st.ctx, &hs2, &cs2), 0);
    assert_memory_equal(&hs, &hs2, sizeof(hs));
    assert_int_equal(cs2.n_voters, 2);
    assert_int_equal(cs2.voters[1], 2);
    assert_int_equal(cs2.learners[0], 9);
    assert_int_equal(cs2.auto_leave, 1);
    assert_int_equal(st.first_index(st.ctx, &fi), 0);
    assert_int_equal(fi, 5);
    assert_int_equal(st.term(st.ctx, 4, &term), 0);
    assert_int_equal(term, 1);
    assert_int_equal(st.term(st.ctx, 3, &term), CAIRN_ECOMPACTED);
    assert_int_equal(st.entries(st.ctx, 4, 6, UINT64_MAX, &al, &out), CAIRN_ECOMPACTED);
    struct raft_snapshot_meta meta;
    assert_int_equal(st.snapshot(st.ctx, &meta), 0);
    assert_int_equal(meta.index, 7);
    assert_int_equal(meta.term, 2);
    assert_int_equal(meta.conf.n_voters, 2);
    /* compacting beyond what was applied is refused */
    assert_int_equal(store_batch_begin(s, 0, &b), 0);
    assert_int_equal(store_batch_log_compact(b, 8), 0);
    assert_int_equal(store_batch_commit(b), CAIRN_EINVAL);
    /* entries below the log start are skipped by append */
    mk_entries(e, data, 3, 6, 2);
    assert_int_equal(append(s, e, 6), 0);
    assert_int_equal(st.last_index(st.ctx, &li), 0);
    assert_int_equal(li, 8);
    struct store_read *r;
    assert_int_equal(store_read_begin(s, &r), 0);
    struct store_state ss;
    assert_int_equal(store_read_state(r, &ss), 0);
    assert_int_equal(ss.cluster_id, 0xc1);
    assert_int_equal(ss.member_id, 0x31);
    store_read_end(r);
    store_close(s);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
