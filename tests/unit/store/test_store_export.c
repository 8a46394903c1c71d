/* Export in etcd's key-bucket encoding and import back: a store rebuilt from its export
 * hashes, reads and watches like the original, and exports the same bytes. */
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

struct dump {
    uint8_t **k, **v;
    size_t *kl, *vl;
    size_t n, cap;
};

static int collect(void *arg, struct store_rev rev, int tombstone, const Mvccpb__KeyValue *kv)
{
    struct dump *d = arg;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->k = realloc(d->k, d->cap * sizeof(*d->k));
        d->v = realloc(d->v, d->cap * sizeof(*d->v));
        d->kl = realloc(d->kl, d->cap * sizeof(*d->kl));
        d->vl = realloc(d->vl, d->cap * sizeof(*d->vl));
    }
    uint8_t *k = malloc(18);
    store_u64_encode((uint64_t)rev.main, k);
    k[8] = '_';
    store_u64_encode((uint64_t)rev.sub, k + 9);
    d->kl[d->n] = 17;
    if (tombstone)
        k[d->kl[d->n]++] = 't';
    d->vl[d->n] = mvccpb__key_value__get_packed_size(kv);
    d->v[d->n] = malloc(d->vl[d->n] + 1);
    mvccpb__key_value__pack(kv, d->v[d->n]);
    d->k[d->n++] = k;
    return 0;
}

static void dump_free(struct dump *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->k[i]);
        free(d->v[i]);
    }
    free(d->k);
    free(d->v);
    free(d->kl);
    free(d->vl);
    memset(d, 0, sizeof(*d));
}

static void export_all(struct store *s, struct dump *d)
{
    struct store_read *r;
    assert_int_equal(store_read_begin(s, &r), 0);
    assert_int_equal(store_export_revisions(r, collect, d), 0);
    store_read_end(r);
}

static uint32_t hash_at(struct store *s, int64_t rev)
{
    struct store_read *r;
    uint32_t h;
    int64_t c, hr;
    CAIRN_ASSERT(store_read_begin(s, &r) == 0);
    CAIRN_ASSERT(store_hash_kv(r, rev, &h, &c, &hr) == 0);
    store_read_end(r);
    return h;
}

static void fill(struct store *s, ProtobufCAllocator *a)
{
    struct store_result res;
    Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    g.ttl = 30;
    struct store_op gop = {.kind = STORE_OP_LEASE_GRANT, .lease_grant = &g};
    for (g.id = 1; g.id <= 3; g.id++)
        CAIRN_ASSERT(tu_apply(s, &gop, a, &res) == 0 && res.err == 0);
    for (int i = 0; i < 400; i++) {
        char k[16], v[32];
        snprintf(k, sizeof(k), "key%02d", (i * 7) % 50);
        snprintf(v, sizeof(v), "v%d", i);
        CAIRN_ASSERT(tu_put(s, k, v, i % 9 == 0 ? 1 + i % 3 : 0, a, &res) == 0);
        if (i % 6 == 5)
            CAIRN_ASSERT(tu_del(s, k, NULL, a, &res) == 0);
    }
    /* one txn writing a key twice: delete from "key4" on (range_end "\0"), then put key45 */
    Etcdserverpb__DeleteRangeRequest d = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    static uint8_t zero = 0;
    d.key.data = (uint8_t *)"key4";
    d.key.len = 4;
    d.range_end.data = &zero;
    d.range_end.len = 1;
    Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
    p.key.data = (uint8_t *)"key45";
    p.key.len = 5;
    Etcdserverpb__RequestOp o1 = ETCDSERVERPB__REQUEST_OP__INIT,
                            o2 = ETCDSERVERPB__REQUEST_OP__INIT;
    o1.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
    o1.request_delete_range = &d;
    o2.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    o2.request_put = &p;
    Etcdserverpb__RequestOp *ops[] = {&o1, &o2};
    Etcdserverpb__TxnRequest t = ETCDSERVERPB__TXN_REQUEST__INIT;
    t.success = ops;
    t.n_success = 2;
    struct store_op top = {.kind = STORE_OP_TXN, .txn = &t};
    CAIRN_ASSERT(tu_apply(s, &top, a, &res) == 0 && res.err == 0);
    Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    c.revision = 300;
    struct store_op cop = {.kind = STORE_OP_COMPACT, .compact = &c};
    CAIRN_ASSERT(tu_apply(s, &cop, a, &res) == 0 && res.err == 0);
    int done;
    CAIRN_ASSERT(store_compact_work(s, 100, &done) == 0 && !done); /* partly compacted */
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct store_arena ar;
    store_arena_init(&ar, 1 << 16);
    ProtobufCAllocator *a = store_arena_allocator(&ar);
    char *da = tu_tmpdir("expa"), *db = tu_tmpdir("expb");
    struct store *sa = tu_open(da, 0, 0), *sb = tu_open(db, 0, 0);
    fill(sa, a);
    struct dump d = {0};
    export_all(sa, &d);
    struct store_read *r;
    struct store_state st;
    assert_int_equal(store_read_begin(sa, &r), 0);
    assert_int_equal(store_read_state(r, &st), 0);
    struct store_lease leases[8];
    size_t nl;
    assert_int_equal(store_lease_scan(r, INT64_MIN, leases, 8, &nl), 0);
    store_read_end(r);
    assert_int_equal(nl, 3);

    struct store_import *im;
    assert_int_equal(store_import_begin(sb, &im), 0);
    for (size_t i = 0; i < d.n; i++)
        assert_int_equal(store_import_revision(im, d.k[i], d.kl[i], d.v[i], d.vl[i]), 0);
    for (size_t i = 0; i < nl; i++)
        assert_int_equal(store_import_lease(im, leases[i].id, leases[i].ttl_s, 0), 0);
    assert_int_equal(store_import_finish(im, st.compact_revision, st.applied_index, 1), 0);

    assert_int_equal(tu_rev(sb), st.revision);
    assert_int_equal(tu_applied(sb), st.applied_index);
    for (int64_t rev = st.compact_revision + 1; rev <= st.revision; rev += 17) {
        assert_int_equal(hash_at(sa, rev), hash_at(sb, rev));
        int e1, e2;
        Etcdserverpb__RangeResponse *r1 = tu_range(sa, "key", "kez", rev, 0, a, &e1);
        Etcdserverpb__RangeResponse *r2 = tu_range(sb, "key", "kez", rev, 0, a, &e2);
        assert_int_equal(e1, 0);
        assert_int_equal(e2, 0);
        assert_true(tu_msg_equal(&r1->base, &r2->base));
    }
    assert_int_equal(hash_at(sa, 0), hash_at(sb, 0));
    for (int64_t id = 1; id <= 3; id++) {
        struct store_read *ra, *rb;
        struct store_lease la, lb;
        ProtobufCBinaryData *ka, *kb;
        size_t na, nb;
        assert_int_equal(store_read_begin(sa, &ra), 0);
        assert_int_equal(store_read_begin(sb, &rb), 0);
        assert_int_equal(store_lease_get(ra, id, &la, a, 100, &ka, &na), 0);
        assert_int_equal(store_lease_get(rb, id, &lb, a, 100, &kb, &nb), 0);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++)
            assert_memory_equal(ka[i].data, kb[i].data, ka[i].len);
        store_read_end(ra);
        store_read_end(rb);
    }
    /* the import is physically compacted already; its export is the same bytes */
    struct dump d2 = {0};
    export_all(sb, &d2);
    assert_int_equal(d2.n, d.n);
    for (size_t i = 0; i < d.n; i++) {
        assert_int_equal(d2.kl[i], d.kl[i]);
        assert_memory_equal(d2.k[i], d.k[i], d.kl[i]);
        assert_int_equal(d2.vl[i], d.vl[i]);
        assert_memory_equal(d2.v[i], d.v[i], d.vl[i]);
    }
    /* and it keeps going */
    struct store_result res;
    assert_int_equal(tu_put(sb, "after", "import", 1, a, &res), 0);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.revision, st.revision + 1);
    dump_free(&d);
    dump_free(&d2);
    store_close(sa);
    store_close(sb);
    tu_rmdir(da);
    tu_rmdir(db);
    store_arena_destroy(&ar);
}

static void test_import_rejects(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("expbad");
    struct store *s = tu_open(dir, 0, 0);
    Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
    kv.key.data = (uint8_t *)"a";
    kv.key.len = 1;
    kv.mod_revision = 5;
    kv.create_revision = 5;
    kv.version = 1;
    uint8_t v[64], k[17];
    size_t vl = mvccpb__key_value__pack(&kv, v);
    store_u64_encode(5, k);
    k[8] = '_';
    store_u64_encode(0, k + 9);
    struct store_import *im;
    assert_int_equal(store_import_begin(s, &im), 0);
    assert_int_equal(store_import_revision(im, k, 17, v, vl), 0);
    assert_int_equal(store_import_revision(im, k, 17, v, vl), CAIRN_EINVAL); /* not ascending */
    assert_int_equal(store_import_revision(im, k, 16, v, vl), CAIRN_EINVAL);
    store_u64_encode(6, k);
    assert_int_equal(store_import_revision(im, k, 17, v, vl), CAIRN_ECORRUPT); /* mod != 6 */
    uint8_t junk[3] = {0xff, 0xff, 0xff};
    assert_int_equal(store_import_revision(im, k, 17, junk, 3), CAIRN_ECORRUPT);
    store_import_abort(im);
    assert_int_equal(tu_rev(s), 1); /* nothing happened */
    struct store_result res;
    struct store_arena ar;
    store_arena_init(&ar, 1 << 12);
    assert_int_equal(tu_put(s, "x", "y", 0, store_arena_allocator(&ar), &res), 0);
    assert_int_equal(res.revision, 2);
    store_arena_destroy(&ar);
    store_close(s);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_import_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
