/* The raft log over raft_mem_storage: terms, slices across storage and the unstable tail,
 * conflicts and truncation, stable/restore, and the in-memory storage itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raft_int.h"
#include "raft_mem_storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    struct raft_mem_storage *ms;
    struct raft_storage st;
    struct raft_allocator a;
    struct raft_log log;
};

/* Entries index..index+n-1 with the given terms and 4-byte payloads "eNNN". */
static void make(struct raft_entry *e, char (*data)[5], uint64_t index, const uint64_t *terms,
                 size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memset(&e[i], 0, sizeof(e[i]));
        e[i].index = index + i;
        e[i].term = terms[i];
        snprintf(data[i], 5, "e%03u", (unsigned)(index + i));
        e[i].data = (const uint8_t *)data[i];
        e[i].len = 4;
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(raft_mem_storage_create(NULL, &f->ms), 0);
    raft_mem_storage_iface(f->ms, &f->st);
    raft_allocator_resolve(NULL, &f->a);
    /* storage holds 1..5 in terms 1 1 2 2 3 */
    const uint64_t terms[] = {1, 1, 2, 2, 3};
    struct raft_entry e[5];
    char d[5][5];
    make(e, d, 1, terms, 5);
    assert_int_equal(raft_mem_storage_append(f->ms, e, 5), 0);
    assert_int_equal(raft_log_init(&f->log, &f->st, &f->a), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    raft_log_destroy(&f->log);
    raft_mem_storage_free(f->ms);
    free(f);
    return 0;
}

static void test_terms_and_bounds(void **state)
{
    struct fixture *f = *state;
    uint64_t t = 0;
    assert_int_equal(raft_log_first_index(&f->log), 1);
    assert_int_equal(raft_log_last_index(&f->log), 5);
    assert_int_equal(raft_log_term(&f->log, 0, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(raft_log_term(&f->log, 4, &t), 0);
    assert_int_equal(t, 2);
    assert_int_equal(raft_log_term(&f->log, 6, &t), CAIRN_EUNAVAILABLE);
    assert_int_equal(raft_log_last_term(&f->log), 3);
    assert_true(raft_log_is_up_to_date(&f->log, 5, 3));
    assert_false(raft_log_is_up_to_date(&f->log, 4, 3));
    assert_true(raft_log_is_up_to_date(&f->log, 1, 4));
    /* after compaction below a snapshot, old indexes are gone */
    struct raft_conf_state cs;
    memset(&cs, 0, sizeof(cs));
    assert_int_equal(raft_mem_storage_create_snapshot(f->ms, 3, &cs), 0);
    assert_int_equal(raft_mem_storage_compact(f->ms, 3), 0);
    assert_int_equal(raft_log_first_index(&f->log), 4);
    assert_int_equal(raft_log_term(&f->log, 3, &t), 0); /* the snapshot's term */
    assert_int_equal(t, 2);
    assert_int_equal(raft_log_term(&f->log, 2, &t), CAIRN_ECOMPACTED);
    assert_int_equal(raft_log_term_or_zero(&f->log, 2), 0);
    struct raft_slice s;
    assert_int_equal(raft_log_slice(&f->log, 2, 5, RAFT_UNLIMITED, &s), CAIRN_ECOMPACTED);
}

static void test_append_conflicts_and_slices(void **state)
{
    struct fixture *f = *state;
    struct raft_entry e[4];
    char d[4][5];
    /* a leader of term 4 says: after 3/2 come 4/4 5/4 6/4 -> conflict at 4 */
    const uint64_t t4[] = {4, 4, 4};
    make(e, d, 4, t4, 3);
    assert_int_equal(raft_log_find_conflict(&f->log, e, 3), 4);
    uint64_t last_new = 0;
    assert_int_equal(raft_log_maybe_append(&f->log, 3, 1, 6, e, 3, &last_new), 0); /* mismatch */
    assert_int_equal(raft_log_maybe_append(&f->log, 3, 2, 6, e, 3, &last_new), 1);
    assert_int_equal(last_new, 6);
    assert_int_equal(f->log.committed, 6);
    assert_int_equal(raft_log_last_index(&f->log), 6);
    assert_int_equal(raft_log_stable_last(&f->log), 3); /* 4.. not yet persisted */
    /* a slice spanning storage (2, 3) and the unstable tail (4, 5, 6) */
    struct raft_slice s;
    assert_int_equal(raft_log_slice(&f->log, 2, 7, RAFT_UNLIMITED, &s), 0);
    assert_int_equal(s.n, 5);
    assert_non_null(s.merged);
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(s.e[i].index, 2 + i);
    assert_memory_equal(s.e[3].data, "e005", 4);
    raft_slice_free(&f->log, &s);
    /* byte limits: 4 bytes each, 9 bytes -> two entries; always at least one */
    assert_int_equal(raft_log_slice(&f->log, 2, 7, 9, &s), 0);
    assert_int_equal(s.n, 2);
    raft_slice_free(&f->log, &s);
    assert_int_equal(raft_log_slice(&f->log, 5, 7, 1, &s), 0);
    assert_int_equal(s.n, 1);
    assert_null(s.storage_mem);
    raft_slice_free(&f->log, &s);
    assert_int_equal(raft_log_slice(&f->log, 3, 7, 8, &s), 0); /* 3 from storage, 4 unstable */
    assert_int_equal(s.n, 2);
    raft_slice_free(&f->log, &s);
    /* the hint: last index <= 6 with a term <= 3 is 3 (term 2) */
    uint64_t ht = 0;
    assert_int_equal(raft_log_find_conflict_by_term(&f->log, 6, 3, &ht), 3);
    assert_int_equal(ht, 2);
    assert_int_equal(raft_log_find_conflict_by_term(&f->log, 9, 3, &ht), 9); /* beyond */
    /* persisting: the wrong term leaves the tail, the right one moves it to storage */
    raft_log_stable_to(&f->log, 6, 3);
    assert_int_equal(f->log.n, 3);
    assert_int_equal(raft_mem_storage_append(f->ms, f->log.ents, f->log.n), 0);
    raft_log_stable_to(&f->log, 6, 4);
    assert_int_equal(f->log.n, 0);
    assert_int_equal(raft_log_stable_last(&f->log), 6);
    assert_false(raft_log_has_conf_change(&f->log, 0, 6));
}

static void test_restore(void **state)
{
    struct fixture *f = *state;
    struct raft_snapshot_meta m;
    memset(&m, 0, sizeof(m));
    m.index = 20;
    m.term = 7;
    m.conf.voters[0] = 1;
    m.conf.n_voters = 1;
    raft_log_restore(&f->log, &m);
    assert_int_equal(raft_log_first_index(&f->log), 21);
    assert_int_equal(raft_log_last_index(&f->log), 20);
    assert_int_equal(raft_log_stable_last(&f->log), 0);
    uint64_t t = 0;
    assert_int_equal(raft_log_term(&f->log, 20, &t), 0);
    assert_int_equal(t, 7);
    assert_int_equal(raft_log_term(&f->log, 21, &t), CAIRN_EUNAVAILABLE);
    assert_int_equal(raft_log_term(&f->log, 12, &t), CAIRN_ECOMPACTED);
    /* entries after the snapshot go to the unstable tail */
    struct raft_entry e[2];
    char d[2][5];
    const uint64_t t8[] = {8, 8};
    make(e, d, 21, t8, 2);
    assert_int_equal(raft_log_append(&f->log, e, 2), 0);
    assert_int_equal(raft_log_last_index(&f->log), 22);
    assert_int_equal(raft_mem_storage_apply_snapshot(f->ms, &m), 0);
    assert_int_equal(raft_mem_storage_apply_snapshot(f->ms, &m), CAIRN_ECOMPACTED);
    raft_log_stable_snap_to(&f->log, 20);
    assert_false(f->log.has_snap);
    assert_int_equal(raft_log_stable_last(&f->log), 20);
}

static void test_mem_storage_errors(void **state)
{
    struct fixture *f = *state;
    struct raft_entry e[1];
    char d[1][5];
    const uint64_t t9[] = {9};
    make(e, d, 8, t9, 1);
    assert_int_equal(raft_mem_storage_append(f->ms, e, 1), CAIRN_EINVAL); /* a gap */
    struct raft_conf_state cs;
    memset(&cs, 0, sizeof(cs));
    assert_int_equal(raft_mem_storage_create_snapshot(f->ms, 9, &cs), CAIRN_EUNAVAILABLE);
    assert_int_equal(raft_mem_storage_compact(f->ms, 2), CAIRN_EINVAL); /* no snapshot */
    assert_int_equal(raft_mem_storage_create_snapshot(f->ms, 4, &cs), 0);
    assert_int_equal(raft_mem_storage_create_snapshot(f->ms, 4, &cs), CAIRN_ECOMPACTED);
    assert_int_equal(raft_mem_storage_compact(f->ms, 5), CAIRN_EINVAL); /* past it */
    assert_int_equal(raft_mem_storage_compact(f->ms, 2), 0);
    assert_int_equal(raft_mem_storage_compact(f->ms, 2), CAIRN_ECOMPACTED);
    assert_null(raft_mem_storage_entry(f->ms, 2));
    struct raft_entries out;
    assert_int_equal(f->st.entries(f->st.ctx, 1, 3, RAFT_UNLIMITED, &f->a, &out), CAIRN_ECOMPACTED);
    assert_int_equal(f->st.entries(f->st.ctx, 3, 9, RAFT_UNLIMITED, &f->a, &out),
                     CAIRN_EUNAVAILABLE);
    /* entries already covered by the compaction point are skipped on append */
    const uint64_t t1[] = {1};
    make(e, d, 2, t1, 1);
    assert_int_equal(raft_mem_storage_append(f->ms, e, 1), 0);
    assert_int_equal(raft_log_last_index(&f->log), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_terms_and_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_conflicts_and_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mem_storage_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
