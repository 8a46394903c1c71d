/*
 * Readers on other threads while the writer commits batches, grows the map, compacts and
 * defragments (the reader gate). Every batch keeps an invariant readers check in their own
 * read txn: key "count" holds the number of "item/" keys, and the revision never goes back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "store.h"
#include "store_test_util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READERS 2
#define BATCHES 300

struct shared {
    struct store *s;
    atomic_int stop;
    atomic_long reads;
    atomic_int bad;
};

static void *reader(void *arg)
{
    struct shared *sh = arg;
    struct store_arena ar;
    store_arena_init(&ar, 1 << 16);
    int64_t last_rev = 0;
    while (!atomic_load(&sh->stop)) {
        struct store_read *r;
        if (store_read_begin(sh->s, &r) != 0) {
            atomic_store(&sh->bad, 1);
            break;
        }
        Etcdserverpb__RangeRequest q = ETCDSERVERPB__RANGE_REQUEST__INIT;
        q.key.data = (uint8_t *)"count";
        q.key.len = 5;
        Etcdserverpb__RangeResponse *c, *items;
        int rc = store_range(r, &q, store_arena_allocator(&ar), &c);
        q.key.data = (uint8_t *)"item/";
        q.range_end.data = (uint8_t *)"item0";
        q.range_end.len = 5;
        q.count_only = 1;
        rc = rc ? rc : store_range(r, &q, store_arena_allocator(&ar), &items);
        if (rc == 0) {
            long want = 0;
            if (c->n_kvs == 1) {
                char buf[32] = {0};
                memcpy(buf, c->kvs[0]->value.data,
                       c->kvs[0]->value.len < 31 ? c->kvs[0]->value.len : 31);
                want = atol(buf);
            }
            if (items->count != want || c->header->revision < last_rev)
                atomic_store(&sh->bad, 2);
            last_rev = c->header->revision;
        } else {
            atomic_store(&sh->bad, 3);
        }
        store_read_end(r);
        store_arena_reset(&ar);
        atomic_fetch_add(&sh->reads, 1);
    }
    store_arena_destroy(&ar);
    return NULL;
}

static void test_readers_during_writes(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("threads");
    struct shared sh = {0};
    sh.s = tu_open(dir, 0, 256 << 10);
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, &sh), 0);
    struct store_arena ar;
    store_arena_init(&ar, 1 << 16);
    static char big[2000];
    memset(big, 'b', sizeof(big));
    long items = 0;
    uint64_t index = 0;
    for (int batch = 0; batch < BATCHES && !atomic_load(&sh.bad); batch++) {
        enum { N = 20 };
        Etcdserverpb__PutRequest p[N + 1];
        Etcdserverpb__DeleteRangeRequest d = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
        struct store_op ops[N + 2];
        struct store_result res[N + 2];
        char keys[N][32], count[32];
        size_t n = 0;
        if (batch % 10 == 9) { /* drop a slice of items */
            snprintf(keys[0], sizeof(keys[0]), "item/%04d", batch - 9);
            d.key.data = (uint8_t *)"item/";
            d.key.len = 5;
            d.range_end.data = (uint8_t *)keys[0];
            d.range_end.len = strlen(keys[0]);
            ops[n++] = (struct store_op){.kind = STORE_OP_DELETE_RANGE, .delete_range = &d};
        }
        for (int i = 0; i < N; i++) {
            snprintf(keys[i], sizeof(keys[i]), "item/%04d/%02d", batch, i);
            etcdserverpb__put_request__init(&p[i]);
            p[i].key.data = (uint8_t *)keys[i];
            p[i].key.len = strlen(keys[i]);
            p[i].value.data = (uint8_t *)big;
            p[i].value.len = sizeof(big);
            ops[n++] = (struct store_op){.kind = STORE_OP_PUT, .put = &p[i]};
        }
        struct store_batch *b;
        assert_int_equal(store_batch_begin(sh.s, 0, &b), 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(
                store_batch_apply(b, ++index, 1, &ops[i], store_arena_allocator(&ar), &res[i]), 0);
        /* "count" must describe this batch's outcome: known only after commit, so the
         * writer tracks it itself and sets it in the same batch */
        long deleted = 0;
        if (batch % 10 == 9) {
            /* keys below item/<batch-9> */
            Etcdserverpb__RangeRequest q = ETCDSERVERPB__RANGE_REQUEST__INIT;
            struct store_read *r;
            Etcdserverpb__RangeResponse *rr;
            q.key = d.key;
            q.range_end = d.range_end;
            q.count_only = 1;
            assert_int_equal(store_read_begin(sh.s, &r), 0);
            assert_int_equal(store_range(r, &q, store_arena_allocator(&ar), &rr), 0);
            deleted = rr->count;
            store_read_end(r);
        }
        items += N - deleted;
        snprintf(count, sizeof(count), "%ld", items);
        etcdserverpb__put_request__init(&p[N]);
        p[N].key.data = (uint8_t *)"count";
        p[N].key.len = 5;
        p[N].value.data = (uint8_t *)count;
        p[N].value.len = strlen(count);
        ops[n] = (struct store_op){.kind = STORE_OP_PUT, .put = &p[N]};
        assert_int_equal(
            store_batch_apply(b, ++index, 1, &ops[n], store_arena_allocator(&ar), &res[n]), 0);
        assert_int_equal(store_batch_commit(b), 0);
        store_arena_reset(&ar);
        int done;
        if (batch % 50 == 25) {
            Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
            c.revision = tu_rev(sh.s);
            struct store_op cop = {.kind = STORE_OP_COMPACT, .compact = &c};
            struct store_result cres;
            assert_int_equal(store_batch_begin(sh.s, 0, &b), 0);
            assert_int_equal(
                store_batch_apply(b, ++index, 1, &cop, store_arena_allocator(&ar), &cres), 0);
            assert_int_equal(store_batch_commit(b), 0);
            assert_int_equal(cres.err, 0);
        }
        assert_int_equal(store_compact_work(sh.s, 50, &done), 0);
        if (batch % 100 == 99) {
            struct store_defrag_report rep;
            assert_int_equal(store_defrag(sh.s, &rep), 0);
        }
    }
    atomic_store(&sh.stop, 1);
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(atomic_load(&sh.bad), 0);
    assert_true(atomic_load(&sh.reads) > 0);
    struct store_size sz;
    assert_int_equal(store_size(sh.s, &sz), 0);
    assert_true(sz.map_grows >= 1);
    printf("threads: %ld consistent reads during %d batches, %" PRIu64 " map grows\n",
           (long)atomic_load(&sh.reads), BATCHES, sz.map_grows);
    store_close(sh.s);
    store_arena_destroy(&ar);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_readers_during_writes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
