/* store/ MVCC semantics, case by case against etcd's documented behaviour. */
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

struct fx {
    char *dir;
    struct store *s;
    struct store_arena arena;
    ProtobufCAllocator *a;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_tmpdir("mvcc");
    f->s = tu_open(f->dir, 0, 0);
    store_arena_init(&f->arena, 1 << 16);
    f->a = store_arena_allocator(&f->arena);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    store_arena_destroy(&f->arena);
    tu_rmdir(f->dir);
    free(f);
    return 0;
}

static ProtobufCBinaryData bin(const char *s)
{
    ProtobufCBinaryData d = {strlen(s), (uint8_t *)s};
    return d;
}

static int bin_is(ProtobufCBinaryData d, const char *s)
{
    return d.len == strlen(s) && (d.len == 0 || memcmp(d.data, s, d.len) == 0);
}

static void test_fresh_store(void **state)
{
    struct fx *f = *state;
    struct store_read *r;
    assert_int_equal(store_read_begin(f->s, &r), 0);
    struct store_state st;
    assert_int_equal(store_read_state(r, &st), 0);
    assert_int_equal(st.revision, 1); /* etcd starts at revision 1 */
    assert_int_equal(st.compact_revision, -1);
    assert_int_equal(st.applied_index, 0);
    store_read_end(r);
    int err;
    Etcdserverpb__RangeResponse *rr = tu_range(f->s, "a", "", 0, 0, f->a, &err);
    assert_int_equal(err, 0);
    assert_int_equal(rr->header->revision, 1);
    assert_int_equal(rr->count, 0);
}

static void test_put_and_delete_revisions(void **state)
{
    struct fx *f = *state;
    struct store_result res;
    assert_int_equal(tu_put(f->s, "a", "1", 0, f->a, &res), 0);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.revision, 2);
    assert_int_equal(res.put->header->revision, 2);
    assert_null(res.put->prev_kv);
    assert_int_equal(res.n_events, 1);
    assert_int_equal(res.events[0]->kv->version, 1);
    assert_int_equal(res.events[0]->kv->create_revision, 2);

    assert_int_equal(tu_put(f->s, "a", "2", 0, f->a, &res), 0);
    assert_int_equal(res.revision, 3);
    assert_non_null(res.put->prev_kv);
    assert_true(bin_is(res.put->prev_kv->value, "1"));
    assert_int_equal(res.events[0]->kv->version, 2);
    assert_int_equal(res.events[0]->kv->create_revision, 2);
    assert_int_equal(res.events[0]->kv->mod_revision, 3);
    assert_non_null(res.events[0]->prev_kv);

    /* deleting resets the version; deleting nothing does not bump the revision */
    assert_int_equal(tu_del(f->s, "a", NULL, f->a, &res), 0);
    assert_int_equal(res.revision, 4);
    assert_int_equal(res.delete_range->deleted, 1);
    assert_int_equal(res.delete_range->n_prev_kvs, 1);
    assert_int_equal(res.events[0]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
    assert_int_equal(res.events[0]->kv->mod_revision, 4);
    assert_int_equal(tu_del(f->s, "a", NULL, f->a, &res), 0);
    assert_int_equal(res.revision, 4);
    assert_int_equal(res.delete_range->deleted, 0);
    assert_int_equal(res.delete_range->header->revision, 4);
    assert_int_equal(res.n_events, 0);
    assert_int_equal(tu_put(f->s, "a", "3", 0, f->a, &res), 0);
    assert_int_equal(res.revision, 5);
    assert_int_equal(res.events[0]->kv->version, 1);
    assert_int_equal(res.events[0]->kv->create_revision, 5);

    int err;
    Etcdserverpb__RangeResponse *rr = tu_range(f->s, "a", NULL, 3, 0, f->a, &err);
    assert_int_equal(err, 0);
    assert_int_equal(rr->n_kvs, 1);
    assert_true(bin_is(rr->kvs[0]->value, "2"));
    assert_int_equal(rr->header->revision, 5); /* the current revision, as etcd */
    rr = tu_range(f->s, "a", NULL, 4, 0, f->a, &err);
    assert_int_equal(rr->n_kvs, 0);
    tu_range(f->s, "a", NULL, 6, 0, f->a, &err);
    assert_int_equal(err, CAIRN_EFUTUREREV);
}

static void test_range_forms(void **state)
{
    struct fx *f = *state;
    struct store_result res;
    const char *keys[] = {"a", "ab", "abc", "b", "c"};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(keys); i++)
        assert_int_equal(tu_put(f->s, keys[i], keys[i], 0, f->a, &res), 0);
    int err;
    Etcdserverpb__RangeResponse *rr = tu_range(f->s, "a", "b", 0, 0, f->a, &err); /* prefix a */
    assert_int_equal(rr->count, 3);
    assert_int_equal(rr->n_kvs, 3);
    rr = tu_range(f->s, "ab", "", 0, 0, f->a, &err); /* "\0": from key */
    assert_int_equal(rr->count, 4);
    rr = tu_range(f->s, "a", "", 0, 2, f->a, &err);
    assert_int_equal(rr->count, 5);
    assert_int_equal(rr->n_kvs, 2);
    assert_true(rr->more);
    rr = tu_range(f->s, "a", "", 0, 5, f->a, &err);
    assert_false(rr->more);

    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    uint8_t zero = 0;
    req.key = bin("a");
    req.range_end.data = &zero;
    req.range_end.len = 1;
    req.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
    req.limit = 2;
    req.keys_only = 1;
    struct store_read *r;
    assert_int_equal(store_read_begin(f->s, &r), 0);
    Etcdserverpb__RangeResponse *resp;
    assert_int_equal(store_range(r, &req, f->a, &resp), 0);
    assert_int_equal(resp->n_kvs, 2);
    assert_true(bin_is(resp->kvs[0]->key, "c"));
    assert_true(bin_is(resp->kvs[1]->key, "b"));
    assert_int_equal(resp->kvs[0]->value.len, 0);
    assert_true(resp->more);
    req.count_only = 1;
    assert_int_equal(store_range(r, &req, f->a, &resp), 0);
    assert_int_equal(resp->n_kvs, 0);
    assert_int_equal(resp->count, 5);
    req.count_only = 0;
    req.limit = 0;
    req.min_mod_revision = 4;
    req.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE;
    assert_int_equal(store_range(r, &req, f->a, &resp), 0);
    assert_int_equal(resp->n_kvs, 3); /* abc, b, c have mod revisions 4, 5, 6 */
    assert_int_equal(resp->count, 5); /* count is before the filters */
    /* a page without the count: the same pairs and `more`, the scan stops past the limit */
    req.min_mod_revision = 0;
    req.keys_only = 0;
    req.limit = 2;
    assert_int_equal(store_range_flags(r, &req, STORE_RANGE_NO_COUNT, f->a, &resp), 0);
    assert_int_equal(resp->n_kvs, 2);
    assert_true(bin_is(resp->kvs[0]->key, "a"));
    assert_true(bin_is(resp->kvs[1]->key, "ab"));
    assert_true(resp->more);
    assert_int_equal(resp->count, 3); /* limit + 1 counted, not the 5 in the range */
    req.limit = 5;
    assert_int_equal(store_range_flags(r, &req, STORE_RANGE_NO_COUNT, f->a, &resp), 0);
    assert_int_equal(resp->n_kvs, 5);
    assert_false(resp->more);
    store_read_end(r);
}

static void test_ignore_value_and_lease(void **state)
{
    struct fx *f = *state;
    struct store_result res;
    Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
    p.key = bin("k");
    p.ignore_value = 1;
    struct store_op op = {.kind = STORE_OP_PUT, .put = &p};
    assert_int_equal(store_check_put(&p), 0);
    p.value = bin("v");
    assert_int_equal(store_check_put(&p), CAIRN_EVALUEPROVIDED);
    p.value = bin("");
    p.ignore_lease = 1;
    p.lease = 3;
    assert_int_equal(store_check_put(&p), CAIRN_ELEASEPROVIDED);
    p.ignore_lease = 0;
    p.lease = 0;
    p.key = bin("");
    assert_int_equal(store_check_put(&p), CAIRN_EEMPTYKEY);
    p.key = bin("k");
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_int_equal(res.err, CAIRN_EKEYNOTFOUND);
    assert_int_equal(res.revision, 1);
    assert_int_equal(tu_applied(f->s), 1); /* the entry is applied even though refused */

    Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    g.id = 7;
    g.ttl = 10;
    struct store_op gop = {.kind = STORE_OP_LEASE_GRANT, .lease_grant = &g};
    assert_int_equal(tu_apply(f->s, &gop, f->a, &res), 0);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.lease_grant->ttl, 10);
    assert_int_equal(tu_apply(f->s, &gop, f->a, &res), 0);
    assert_int_equal(res.err, CAIRN_ELEASEEXISTS);

    assert_int_equal(tu_put(f->s, "k", "v1", 7, f->a, &res), 0);
    assert_int_equal(res.err, 0);
    assert_int_equal(tu_put(f->s, "x", "v", 8, f->a, &res), 0);
    assert_int_equal(res.err, CAIRN_ELEASENOTFOUND);
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0); /* ignore_value keeps v1 */
    assert_int_equal(res.err, 0);
    assert_int_equal(res.events[0]->kv->lease, 0); /* lease not ignored: detached */
    assert_true(bin_is(res.events[0]->kv->value, "v1"));
    p.ignore_value = 0;
    p.ignore_lease = 1;
    p.value = bin("v2");
    assert_int_equal(tu_put(f->s, "k", "v1", 7, f->a, &res), 0);
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_int_equal(res.events[0]->kv->lease, 7);
    assert_true(bin_is(res.events[0]->kv->value, "v2"));
}

static void test_lease_revoke(void **state)
{
    struct fx *f = *state;
    struct store_result res;
    Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    g.id = 1;
    g.ttl = 5;
    struct store_op gop = {.kind = STORE_OP_LEASE_GRANT, .lease_grant = &g};
    assert_int_equal(tu_apply(f->s, &gop, f->a, &res), 0);
    g.id = 2;
    assert_int_equal(tu_apply(f->s, &gop, f->a, &res), 0);
    assert_int_equal(tu_put(f->s, "b", "1", 1, f->a, &res), 0);
    assert_int_equal(tu_put(f->s, "a", "1", 1, f->a, &res), 0);
    assert_int_equal(tu_put(f->s, "c", "1", 1, f->a, &res), 0);
    assert_int_equal(tu_put(f->s, "c", "2", 2, f->a, &res), 0); /* moves c to lease 2 */
    int64_t before = tu_rev(f->s);

    struct store_read *r;
    struct store_lease l;
    ProtobufCBinaryData *keys;
    size_t nk;
    assert_int_equal(store_read_begin(f->s, &r), 0);
    assert_int_equal(store_lease_get(r, 1, &l, f->a, 100, &keys, &nk), 0);
    assert_int_equal(nk, 2);
    assert_true(bin_is(keys[0], "a") && bin_is(keys[1], "b"));
    store_read_end(r);

    Etcdserverpb__LeaseRevokeRequest rv = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    rv.id = 1;
    struct store_op rop = {.kind = STORE_OP_LEASE_REVOKE, .lease_revoke = &rv};
    assert_int_equal(tu_apply(f->s, &rop, f->a, &res), 0);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.revision, before + 1); /* all keys in one revision */
    assert_int_equal(res.n_events, 2);
    assert_true(bin_is(res.events[0]->kv->key, "a")); /* key order, as etcd */
    assert_int_equal(res.events[1]->kv->mod_revision, before + 1);
    assert_int_equal(tu_apply(f->s, &rop, f->a, &res), 0);
    assert_int_equal(res.err, CAIRN_ELEASENOTFOUND);
    int err;
    Etcdserverpb__RangeResponse *rr = tu_range(f->s, "a", "", 0, 0, f->a, &err);
    assert_int_equal(rr->n_kvs, 1);
    assert_true(bin_is(rr->kvs[0]->key, "c"));
    /* a revoke with no keys attached changes nothing */
    rv.id = 2;
    assert_int_equal(tu_del(f->s, "c", NULL, f->a, &res), 0);
    before = tu_rev(f->s);
    assert_int_equal(tu_apply(f->s, &rop, f->a, &res), 0);
    assert_int_equal(res.revision, before);
}

static Etcdserverpb__RequestOp *mk_put_op(ProtobufCAllocator *a, const char *k, const char *v)
{
    Etcdserverpb__PutRequest *p = store_arena_alloc(a->allocator_data, sizeof(*p));
    etcdserverpb__put_request__init(p);
    p->key = bin(k);
    p->value = bin(v);
    Etcdserverpb__RequestOp *op = store_arena_alloc(a->allocator_data, sizeof(*op));
    etcdserverpb__request_op__init(op);
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    op->request_put = p;
    return op;
}

static Etcdserverpb__RequestOp *mk_range_op(ProtobufCAllocator *a, const char *k, int64_t rev)
{
    Etcdserverpb__RangeRequest *q = store_arena_alloc(a->allocator_data, sizeof(*q));
    etcdserverpb__range_request__init(q);
    q->key = bin(k);
    q->revision = rev;
    Etcdserverpb__RequestOp *op = store_arena_alloc(a->allocator_data, sizeof(*op));
    etcdserverpb__request_op__init(op);
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    op->request_range = q;
    return op;
}

static void test_txn(void **state)
{
    struct fx *f = *state;
    struct store_result res;
    assert_int_equal(tu_put(f->s, "a", "1", 0, f->a, &res), 0); /* rev 2 */

    Etcdserverpb__Compare c = ETCDSERVERPB__COMPARE__INIT;
    c.key = bin("a");
    c.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
    c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
    c.value = bin("1");
    Etcdserverpb__Compare *cmps[] = {&c};
    Etcdserverpb__RequestOp *succ[] = {mk_put_op(f->a, "b", "x"), mk_put_op(f->a, "c", "y"),
                                       mk_range_op(f->a, "b", 0)};
    Etcdserverpb__RequestOp *fail[] = {mk_range_op(f->a, "a", 0)};
    Etcdserverpb__TxnRequest t = ETCDSERVERPB__TXN_REQUEST__INIT;
    t.compare = cmps;
    t.n_compare = 1;
    t.success = succ;
    t.n_success = 3;
    t.failure = fail;
    t.n_failure = 1;
    struct store_op op = {.kind = STORE_OP_TXN, .txn = &t};
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_int_equal(res.err, 0);
    assert_true(res.txn->succeeded);
    assert_int_equal(res.revision, 3); /* two puts, one revision */
    assert_int_equal(res.txn->header->revision, 3);
    assert_int_equal(res.n_events, 2);
    Etcdserverpb__RangeResponse *in = res.txn->responses[2]->response_range;
    assert_int_equal(in->n_kvs, 1); /* the txn sees its own write */
    assert_int_equal(in->header->revision, 3);

    /* compare now fails (a == 1 still, so use a value that differs) */
    c.value = bin("2");
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_false(res.txn->succeeded);
    assert_int_equal(res.revision, 3); /* read-only path: no new revision */

    /* a value compare on a missing key fails even for NOT_EQUAL */
    c.key = bin("zz");
    c.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL;
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_false(res.txn->succeeded);
    /* version compare on a missing key uses version 0 */
    c.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
    c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
    c.version = 0;
    c.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_true(res.txn->succeeded);
    assert_int_equal(res.revision, 4);

    /* writing one key twice is refused, as etcd's front end would */
    Etcdserverpb__RequestOp *dup[] = {mk_put_op(f->a, "b", "1"), mk_put_op(f->a, "b", "2")};
    t.success = dup;
    t.n_success = 2;
    assert_int_equal(store_check_txn(&t, 128), CAIRN_EDUPKEY);
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_int_equal(res.err, CAIRN_EDUPKEY);
    assert_int_equal(res.revision, 4);

    /* a future revision read inside a txn fails the whole txn */
    Etcdserverpb__RequestOp *fut[] = {mk_put_op(f->a, "q", "1"), mk_range_op(f->a, "q", 5)};
    t.success = fut;
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_int_equal(res.err, CAIRN_EFUTUREREV);
    assert_int_equal(res.revision, 4);
}

static void test_nested_txn_and_check(void **state)
{
    struct fx *f = *state;
    struct store_result res;
    Etcdserverpb__TxnRequest inner = ETCDSERVERPB__TXN_REQUEST__INIT;
    Etcdserverpb__RequestOp *ithen[] = {mk_put_op(f->a, "x", "1")};
    Etcdserverpb__RequestOp *ielse[] = {mk_put_op(f->a, "x", "2")};
    inner.success = ithen;
    inner.n_success = 1;
    inner.failure = ielse;
    inner.n_failure = 1;
    Etcdserverpb__RequestOp nested = ETCDSERVERPB__REQUEST_OP__INIT;
    nested.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
    nested.request_txn = &inner;
    Etcdserverpb__RequestOp *outer_ops[] = {&nested, mk_put_op(f->a, "y", "1")};
    Etcdserverpb__TxnRequest outer = ETCDSERVERPB__TXN_REQUEST__INIT;
    outer.success = outer_ops;
    outer.n_success = 2;
    assert_int_equal(store_check_txn(&outer, 128), 0); /* x in then and else is fine */
    struct store_op op = {.kind = STORE_OP_TXN, .txn = &outer};
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.revision, 2);
    Etcdserverpb__TxnResponse *sub = res.txn->responses[0]->response_txn;
    assert_true(sub->succeeded);
    assert_int_equal(sub->header->revision, 0); /* etcd leaves nested headers empty */
    assert_int_equal(res.n_events, 2);
    assert_int_equal(res.events[1]->kv->mod_revision, 2);

    /* the same key put in the outer txn and the nested one is a duplicate */
    outer_ops[1] = mk_put_op(f->a, "x", "3");
    assert_int_equal(store_check_txn(&outer, 128), CAIRN_EDUPKEY);
    /* a delete range covering a put's key is a duplicate */
    Etcdserverpb__DeleteRangeRequest d = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    d.key = bin("a");
    d.range_end = bin("z");
    Etcdserverpb__RequestOp dop = ETCDSERVERPB__REQUEST_OP__INIT;
    dop.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
    dop.request_delete_range = &d;
    Etcdserverpb__RequestOp *dd[] = {&dop, mk_put_op(f->a, "m", "1")};
    outer.success = dd;
    assert_int_equal(store_check_txn(&outer, 128), CAIRN_EDUPKEY);
    d.range_end = bin("b");
    assert_int_equal(store_check_txn(&outer, 128), 0);
    assert_int_equal(store_check_txn(&outer, 1), CAIRN_ETOOMANYOPS);
}

static void test_compaction(void **state)
{
    struct fx *f = *state;
    struct store_result res;
    for (int i = 0; i < 20; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        assert_int_equal(tu_put(f->s, i % 2 ? "odd" : "even", v, 0, f->a, &res), 0);
    }
    assert_int_equal(tu_del(f->s, "odd", NULL, f->a, &res), 0);    /* rev 22 */
    assert_int_equal(tu_put(f->s, "last", "x", 0, f->a, &res), 0); /* rev 23 */
    struct store_read *r;
    uint32_t h_before, h_after;
    int64_t crev, hrev;
    assert_int_equal(store_read_begin(f->s, &r), 0);
    assert_int_equal(store_hash_kv(r, 0, &h_before, &crev, &hrev), 0);
    store_read_end(r);

    Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    c.revision = 22;
    struct store_op op = {.kind = STORE_OP_COMPACT, .compact = &c};
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.compact->header->revision, 23);
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_int_equal(res.err, CAIRN_ECOMPACTED); /* compacting at the same revision */
    c.revision = 30;
    assert_int_equal(tu_apply(f->s, &op, f->a, &res), 0);
    assert_int_equal(res.err, CAIRN_EFUTUREREV);

    int err;
    tu_range(f->s, "even", NULL, 21, 0, f->a, &err);
    assert_int_equal(err, CAIRN_ECOMPACTED);
    Etcdserverpb__RangeResponse *rr = tu_range(f->s, "even", NULL, 22, 0, f->a, &err);
    assert_int_equal(err, 0); /* reading at the compacted revision itself works */
    assert_int_equal(rr->n_kvs, 1);
    assert_int_equal(rr->kvs[0]->version, 10);

    /* physical compaction in small steps; the hash must not move while it runs */
    int done = 0, steps = 0;
    while (!done) {
        assert_int_equal(store_compact_work(f->s, 3, &done), 0);
        assert_int_equal(store_read_begin(f->s, &r), 0);
        assert_int_equal(store_hash_kv(r, 0, &h_after, &crev, &hrev), 0);
        assert_int_equal(crev, 22);
        store_read_end(r);
        steps++;
        assert_true(steps < 100);
    }
    assert_true(steps > 3);
    assert_int_equal(store_read_begin(f->s, &r), 0);
    assert_int_equal(store_hash_kv(r, 21, &h_after, &crev, &hrev), CAIRN_ECOMPACTED);
    assert_int_equal(store_hash_kv(r, 0, &h_after, &crev, &hrev), 0);
    Mvccpb__Event **ev;
    size_t n;
    struct store_rev pos = {1, 0};
    assert_int_equal(store_watch_history(r, (const uint8_t *)"a", 1, (const uint8_t *)"", 1, 0,
                                         &pos, 100, f->a, &ev, &n, &crev),
                     CAIRN_ECOMPACTED);
    pos = (struct store_rev){22, 0};
    assert_int_equal(store_watch_history(r, (const uint8_t *)"a", 1, (const uint8_t *)"", 1, 0,
                                         &pos, 100, f->a, &ev, &n, &crev),
                     0);
    assert_int_equal(n, 1); /* the delete at 22 is compacted away; "last" at 23 stays */
    store_read_end(r);
    rr = tu_range(f->s, "even", NULL, 0, 0, f->a, &err);
    assert_int_equal(rr->kvs[0]->version, 10);
    assert_int_equal(rr->kvs[0]->create_revision, 2);
}

static void test_watch_history(void **state)
{
    struct fx *f = *state;
    struct store_result res;
    for (int i = 0; i < 30; i++) {
        char k[16];
        snprintf(k, sizeof(k), "%c%d", i % 3 ? 'w' : 'o', i % 5);
        assert_int_equal(tu_put(f->s, k, "v", 0, f->a, &res), 0);
    }
    assert_int_equal(tu_del(f->s, "w", "x", f->a, &res), 0);
    int64_t cur = tu_rev(f->s);
    struct store_read *r;
    assert_int_equal(store_read_begin(f->s, &r), 0);
    struct store_rev pos = {5, 0};
    size_t total = 0, calls = 0;
    int64_t last = 0, crev;
    while (pos.main <= cur) {
        Mvccpb__Event **ev;
        size_t n;
        assert_int_equal(store_watch_history(r, (const uint8_t *)"w", 1, (const uint8_t *)"x", 1, 1,
                                             &pos, 4, f->a, &ev, &n, &crev),
                         0);
        for (size_t i = 0; i < n; i++) {
            assert_true(ev[i]->kv->key.data[0] == 'w');
            assert_true(ev[i]->kv->mod_revision >= last);
            last = ev[i]->kv->mod_revision;
            if (ev[i]->type == MVCCPB__EVENT__EVENT_TYPE__PUT && ev[i]->kv->version > 1)
                assert_non_null(ev[i]->prev_kv);
        }
        total += n;
        calls++;
        assert_true(calls < 100);
    }
    /* puts of w-keys at revisions >= 5: i in [3, 29] with i % 3 != 0 -> 18, plus deletes */
    size_t puts = 0;
    for (int i = 3; i < 30; i++)
        puts += i % 3 != 0;
    assert_int_equal(total, puts + 5);
    assert_true(calls > 1);
    /* single-key history through the index */
    pos = (struct store_rev){1, 0};
    Mvccpb__Event **ev;
    size_t n;
    assert_int_equal(store_watch_history(r, (const uint8_t *)"o0", 2, NULL, 0, 0, &pos, 100, f->a,
                                         &ev, &n, &crev),
                     0);
    assert_int_equal(n, 2); /* i = 0 and i = 15 */
    assert_true(pos.main > cur);
    store_read_end(r);
}

static void test_apply_idempotent(void **state)
{
    struct fx *f = *state;
    struct store_result res;
    assert_int_equal(tu_put(f->s, "a", "1", 0, f->a, &res), 0);
    Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
    p.key = bin("a");
    p.value = bin("2");
    struct store_op op = {.kind = STORE_OP_PUT, .put = &p};
    struct store_batch *b;
    assert_int_equal(store_batch_begin(f->s, 0, &b), 0);
    assert_int_equal(store_batch_apply(b, 1, 1, &op, f->a, &res), 0);
    assert_int_equal(store_batch_commit(b), 0);
    assert_true(res.skipped);
    assert_int_equal(tu_rev(f->s), 2);
    assert_int_equal(store_batch_begin(f->s, 0, &b), 0);
    assert_int_equal(store_batch_apply(b, 3, 1, &op, f->a, &res), 0);
    assert_int_equal(store_batch_commit(b), CAIRN_EINVAL); /* a gap */
    assert_int_equal(tu_rev(f->s), 2);
    assert_int_equal(tu_applied(f->s), 1);
}

static void test_map_growth(void **state)
{
    struct fx *f = *state;
    struct store_size sz0, sz1;
    assert_int_equal(store_size(f->s, &sz0), 0);
    /* one batch far larger than the 1 MiB map: commit must grow and redo it */
    enum { N = 3000 };
    static char keys[N][16];
    static char val[1000];
    memset(val, 'v', sizeof(val) - 1);
    Etcdserverpb__PutRequest *reqs = calloc(N, sizeof(*reqs));
    struct store_op *ops = calloc(N, sizeof(*ops));
    struct store_result *res = calloc(N, sizeof(*res));
    struct store_batch *b;
    assert_int_equal(store_batch_begin(f->s, 0, &b), 0);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "key%06d", i);
        etcdserverpb__put_request__init(&reqs[i]);
        reqs[i].key = bin(keys[i]);
        reqs[i].value = bin(val);
        ops[i].kind = STORE_OP_PUT;
        ops[i].put = &reqs[i];
        assert_int_equal(store_batch_apply(b, (uint64_t)i + 1, 1, &ops[i], f->a, &res[i]), 0);
    }
    assert_int_equal(store_batch_commit(b), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(res[i].err, 0);
        assert_int_equal(res[i].revision, i + 2);
    }
    assert_int_equal(store_size(f->s, &sz1), 0);
    assert_true(sz1.map_bytes > sz0.map_bytes);
    assert_true(sz1.batch_redos >= 1); /* MDB_MAP_FULL mid-batch: grown and redone */
    assert_true(sz1.map_grows >= 1);
    assert_true(sz1.db_bytes > (uint64_t)N * 1000);
    int err;
    Etcdserverpb__RangeResponse *rr = tu_range(f->s, "key", "kez", 0, 1, f->a, &err);
    assert_int_equal(rr->count, N);
    free(reqs);
    free(ops);
    free(res);
}

static void test_aux_tables(void **state)
{
    struct fx *f = *state;
    struct store_result res[3];
    struct store_op noop = {.kind = STORE_OP_NOOP};
    struct store_batch *b;
    const uint8_t *k1 = (const uint8_t *)"alice", *k2 = (const uint8_t *)"bob";
    assert_int_equal(store_batch_begin(f->s, 0, &b), 0);
    assert_int_equal(store_batch_apply(b, 1, 1, &noop, NULL, &res[0]), 0);
    assert_int_equal(store_batch_aux_put(b, 1, 7, k1, 5, (const uint8_t *)"v1", 2), 0);
    assert_int_equal(store_batch_aux_put(b, 1, 7, k2, 3, (const uint8_t *)"v2", 2), 0);
    assert_int_equal(store_batch_aux_put(b, 1, 8, k1, 5, (const uint8_t *)"other", 5), 0);
    assert_int_equal(store_batch_commit(b), 0);
    /* entry 2 deletes bob; then entry 1 is replayed: its write must not come back */
    assert_int_equal(store_batch_begin(f->s, 0, &b), 0);
    assert_int_equal(store_batch_apply(b, 2, 1, &noop, NULL, &res[1]), 0);
    assert_int_equal(store_batch_aux_del(b, 2, 7, k2, 3), 0);
    assert_int_equal(store_batch_commit(b), 0);
    assert_int_equal(store_batch_begin(f->s, 0, &b), 0);
    assert_int_equal(store_batch_apply(b, 1, 1, &noop, NULL, &res[2]), 0);
    assert_int_equal(store_batch_aux_put(b, 1, 7, k2, 3, (const uint8_t *)"v2", 2), 0);
    assert_int_equal(store_batch_commit(b), 0);
    assert_true(res[2].skipped);

    struct store_read *r;
    ProtobufCBinaryData v, keys[4], vals[4];
    size_t n;
    assert_int_equal(store_read_begin(f->s, &r), 0);
    assert_int_equal(store_aux_get(r, 7, k1, 5, &v), 0);
    assert_true(bin_is(v, "v1"));
    assert_int_equal(store_aux_get(r, 7, k2, 3, &v), CAIRN_ENOTFOUND);
    assert_int_equal(store_aux_scan(r, 7, NULL, 0, keys, vals, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_true(bin_is(keys[0], "alice"));
    assert_int_equal(store_aux_scan(r, 8, NULL, 0, keys, vals, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_true(bin_is(vals[0], "other"));
    assert_int_equal(store_aux_scan(r, 8, k1, 5, keys, vals, 4, &n), 0);
    assert_int_equal(n, 0);
    store_read_end(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_and_delete_revisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignore_value_and_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_txn_and_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aux_tables, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
