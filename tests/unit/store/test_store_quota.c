/*
 * Quota: fill a store past a small quota the way the server drives it (front-end check,
 * then an AlarmRequest{ACTIVATE, NOSPACE} through the log). The alarm fires, writes get
 * CAIRN_ENOSPACE, reads and deletes keep working, and compaction + defragment + disarm
 * bring writes back. MDB_MAP_FULL never shows: the map starts far below the quota.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTA_BYTES (4u << 20)
#define VALUE_BYTES 4000

static struct store_arena g_ar;
static ProtobufCAllocator *g_a;
static char g_val[VALUE_BYTES + 1];

static int alarm_op(struct store *s, Etcdserverpb__AlarmRequest__AlarmAction action,
                    struct store_result *res)
{
    Etcdserverpb__AlarmRequest q = ETCDSERVERPB__ALARM_REQUEST__INIT;
    q.action = action;
    q.memberid = 1;
    q.alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
    struct store_op op = {.kind = STORE_OP_ALARM, .alarm = &q};
    return tu_apply(s, &op, g_a, res);
}

/* What the server does with a put: quota check first, alarm on refusal, else propose. */
static int server_put(struct store *s, const char *key, struct store_result *res)
{
    Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
    p.key.data = (uint8_t *)key;
    p.key.len = strlen(key);
    p.value.data = (uint8_t *)g_val;
    p.value.len = VALUE_BYTES;
    struct store_op op = {.kind = STORE_OP_PUT, .put = &p};
    if (!store_quota_available(s, store_quota_cost(&op))) {
        struct store_result ar;
        CAIRN_ASSERT(alarm_op(s, ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE, &ar) == 0);
        return CAIRN_ENOSPACE;
    }
    CAIRN_ASSERT(tu_apply(s, &op, g_a, res) == 0);
    return res->err;
}

static int nospace_alarm_listed(struct store *s)
{
    struct store_read *r;
    CAIRN_ASSERT(store_read_begin(s, &r) == 0);
    Etcdserverpb__AlarmResponse *ar;
    CAIRN_ASSERT(store_alarm_list(r, g_a, &ar) == 0);
    int found = 0;
    for (size_t i = 0; i < ar->n_alarms; i++)
        found |= ar->alarms[i]->alarm == ETCDSERVERPB__ALARM_TYPE__NOSPACE &&
                 ar->alarms[i]->memberid == 1;
    store_read_end(r);
    return found;
}

static void test_quota(void **state)
{
    (void)state;
    store_arena_init(&g_ar, 1 << 16);
    g_a = store_arena_allocator(&g_ar);
    memset(g_val, 'q', VALUE_BYTES);
    char *dir = tu_tmpdir("quota");
    struct store *s = tu_open(dir, QUOTA_BYTES, 256 << 10);
    struct store_result res;
    struct store_size sz;

    /* 1. fill until the front end refuses */
    int i, rc = 0;
    char key[32];
    for (i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "fill/%06d", i);
        rc = server_put(s, key, &res);
        if (rc != 0)
            break;
        store_arena_reset(&g_ar);
    }
    assert_int_equal(rc, CAIRN_ENOSPACE);
    assert_true(i > 500);
    assert_int_equal(store_size(s, &sz), 0);
    printf("quota: %d puts of %d bytes fit under %u bytes; db %" PRIu64 " bytes, map %" PRIu64
           " bytes (started at 256 KiB)\n",
           i, VALUE_BYTES, QUOTA_BYTES, sz.db_bytes, sz.map_bytes);
    assert_true(sz.map_bytes > (256u << 10));
    assert_true(nospace_alarm_listed(s)); /* 2. the alarm fired */

    /* 3. writes are refused at apply too (every member), even under the quota check */
    Etcdserverpb__PutRequest small = ETCDSERVERPB__PUT_REQUEST__INIT;
    small.key.data = (uint8_t *)"tiny";
    small.key.len = 4;
    struct store_op op = {.kind = STORE_OP_PUT, .put = &small};
    int64_t rev = tu_rev(s);
    assert_int_equal(tu_apply(s, &op, g_a, &res), 0);
    assert_int_equal(res.err, CAIRN_ENOSPACE);
    assert_int_equal(tu_rev(s), rev);
    Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    g.id = 5;
    g.ttl = 60;
    struct store_op gop = {.kind = STORE_OP_LEASE_GRANT, .lease_grant = &g};
    assert_int_equal(tu_apply(s, &gop, g_a, &res), 0);
    assert_int_equal(res.err, CAIRN_ENOSPACE);
    Etcdserverpb__RequestOp rop = ETCDSERVERPB__REQUEST_OP__INIT;
    rop.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    rop.request_put = &small;
    Etcdserverpb__RequestOp *rops[] = {&rop};
    Etcdserverpb__TxnRequest t = ETCDSERVERPB__TXN_REQUEST__INIT;
    t.success = rops;
    t.n_success = 1;
    struct store_op top = {.kind = STORE_OP_TXN, .txn = &t};
    assert_int_equal(tu_apply(s, &top, g_a, &res), 0);
    assert_int_equal(res.err, CAIRN_ENOSPACE);

    /* 4. reads work */
    int err;
    Etcdserverpb__RangeResponse *rr = tu_range(s, "fill/", "fill0", 0, 3, g_a, &err);
    assert_int_equal(err, 0);
    assert_int_equal(rr->count, i);
    assert_int_equal(rr->n_kvs, 3);
    assert_int_equal(rr->kvs[0]->value.len, VALUE_BYTES);

    /* 5. deletes and compaction work */
    assert_int_equal(tu_del(s, "fill/", "fill0", g_a, &res), 0);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.delete_range->deleted, i);
    Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    c.revision = tu_rev(s);
    struct store_op cop = {.kind = STORE_OP_COMPACT, .compact = &c};
    assert_int_equal(tu_apply(s, &cop, g_a, &res), 0);
    assert_int_equal(res.err, 0);
    int done = 0, steps = 0;
    while (!done) {
        assert_int_equal(store_compact_work(s, 256, &done), 0);
        steps++;
    }
    assert_int_equal(store_size(s, &sz), 0);
    uint64_t before = sz.db_bytes;
    assert_false(store_quota_available(s, 300)); /* the file is still big: like etcd */

    /* 6. defragment shrinks the file; disarm; writes are back */
    struct store_defrag_report rep;
    assert_int_equal(store_defrag(s, &rep), 0);
    assert_int_equal(store_size(s, &sz), 0);
    printf("quota: compaction in %d steps; defragment %" PRIu64 " -> %" PRIu64
           " bytes, writes blocked %" PRIu64 " us, reads blocked %" PRIu64 " us\n",
           steps, before, sz.db_bytes, rep.writes_blocked_us, rep.reads_blocked_us);
    assert_true(sz.db_bytes < before / 4);
    assert_true(store_quota_available(s, 300));
    assert_true(nospace_alarm_listed(s)); /* still armed until someone disarms */
    assert_int_equal(tu_apply(s, &op, g_a, &res), 0);
    assert_int_equal(res.err, CAIRN_ENOSPACE);
    assert_int_equal(alarm_op(s, ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE, &res), 0);
    assert_int_equal(res.alarm->n_alarms, 1);
    assert_false(nospace_alarm_listed(s));
    assert_int_equal(server_put(s, "after", &res), 0);
    assert_int_equal(tu_apply(s, &gop, g_a, &res), 0);
    assert_int_equal(res.err, 0);

    store_close(s);
    tu_rmdir(dir);
    store_arena_destroy(&g_ar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_quota)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
