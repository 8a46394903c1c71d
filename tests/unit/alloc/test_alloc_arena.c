/*
 * Arenas: alignment and non-overlap, big allocations, reset reuse, max_bytes, accounting
 * back to zero, per-thread ownership and registration, and decoding real etcd requests
 * through the protobuf-c view. Run under ASan (each allocation is fenced by a poisoned
 * redzone, checked below) and under valgrind (the arena is a memcheck mempool).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc_int.h"
#include "etcdserverpb/rpc.pb-c.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define TEST_VALGRIND 1
#endif
#endif

static struct alloc_arena *make(size_t chunk, size_t max)
{
    struct alloc_arena_config cfg = {
        .subsys = ALLOC_SUBSYS_REQUEST_ARENAS, .chunk_bytes = chunk, .max_bytes = max};
    struct alloc_arena *a = NULL;
    assert_int_equal(alloc_arena_create(&cfg, &a), 0);
    assert_non_null(a);
    return a;
}

static void test_bad_config(void **state)
{
    (void)state;
    struct alloc_arena *a = NULL;
    struct alloc_arena_config cfg = {.subsys = ALLOC_SUBSYS_COUNT};
    assert_int_equal(alloc_arena_create(&cfg, &a), CAIRN_EINVAL);
    cfg.subsys = ALLOC_SUBSYS_OTHER;
    cfg.chunk_bytes = 1000;
    assert_int_equal(alloc_arena_create(&cfg, &a), CAIRN_EINVAL);
    cfg.chunk_bytes = (size_t)1 << 30;
    assert_int_equal(alloc_arena_create(&cfg, &a), CAIRN_EINVAL);
    assert_null(a);
    alloc_arena_destroy(NULL);
}

static void test_alignment_and_overlap(void **state)
{
    (void)state;
    alloc_testing_reset();
    struct alloc_arena *a = make(0, 0);
    enum { N = 3000 };
    static unsigned char *p[N];
    static size_t len[N];
    for (size_t i = 0; i < N; i++) {
        len[i] = (i * 7919) % 700; /* includes 0 and sizes across chunk boundaries */
        p[i] = alloc_arena_alloc(a, len[i]);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % ALLOC_ARENA_ALIGN, 0);
        memset(p[i], (int)(i & 0xff), len[i]);
    }
    for (size_t i = 0; i < N; i++) {
        for (size_t k = 0; k < len[i]; k++)
            if (p[i][k] != (unsigned char)(i & 0xff))
                fail_msg("allocation %zu overwritten at %zu", i, k);
        if (i > 0)
            assert_true(p[i] != p[i - 1]); /* size 0 too gets a unique pointer */
    }
    assert_true(alloc_arena_used_bytes(a) >= N * ALLOC_ARENA_ALIGN);
    assert_true(alloc_arena_held_bytes(a) > alloc_arena_used_bytes(a));
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_REQUEST_ARENAS) == alloc_arena_held_bytes(a));
    alloc_arena_destroy(a);
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_REQUEST_ARENAS) == 0);
}

static void test_big_allocations(void **state)
{
    (void)state;
    alloc_testing_reset();
    struct alloc_arena *a = make(16 << 10, 0);
    unsigned char *s1 = alloc_arena_alloc(a, 100);
    /* a quarter chunk or more gets a chunk of its own... */
    unsigned char *big = alloc_arena_alloc(a, 1 << 20);
    assert_non_null(s1);
    assert_non_null(big);
    memset(big, 0xab, 1 << 20);
    /* ...and small allocations continue right after the previous small one */
    unsigned char *s2 = alloc_arena_alloc(a, 100);
    assert_non_null(s2);
    assert_true(s2 > s1 && s2 - s1 < 256);
    assert_true(alloc_arena_held_bytes(a) > (1 << 20));
    size_t before_reset = alloc_arena_held_bytes(a);
    alloc_arena_reset(a);
    /* reset gives the big chunk back and keeps one standard chunk for the next request */
    assert_true(alloc_arena_held_bytes(a) < before_reset - (1 << 20) + 1);
    assert_true(alloc_arena_held_bytes(a) <= 2 * sizeof(struct alloc_arena) + (16 << 10) + 4096);
    assert_true(alloc_arena_used_bytes(a) == 0);
    unsigned char *again = alloc_arena_alloc(a, 100);
    assert_ptr_equal(again, s1);                 /* the kept chunk is reused from its start */
    assert_null(alloc_arena_alloc(a, SIZE_MAX)); /* impossible sizes fail cleanly */
    assert_null(alloc_arena_alloc(a, SIZE_MAX / 2));
    assert_non_null(alloc_arena_alloc(a, 10)); /* and the arena keeps working */
    alloc_arena_destroy(a);
    assert_true(alloc_live_total_bytes() == 0);
}

static void test_reset_cycles_bounded(void **state)
{
    (void)state;
    alloc_testing_reset();
    struct alloc_arena *a = make(8 << 10, 0);
    size_t held_after_first = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 300; i++) {
            char *p = alloc_arena_memdup(a, "request payload", 16);
            assert_non_null(p);
            assert_memory_equal(p, "request payload", 16);
        }
        alloc_arena_reset(a);
        if (round == 0)
            held_after_first = alloc_arena_held_bytes(a);
        /* a steady request size holds a steady amount between requests */
        assert_true(alloc_arena_held_bytes(a) == held_after_first);
    }
    assert_null(alloc_arena_memdup(a, "x", SIZE_MAX));
    alloc_arena_destroy(a);
    assert_true(alloc_live_total_bytes() == 0);
}

static void test_max_bytes(void **state)
{
    (void)state;
    alloc_testing_reset();
    struct alloc_arena *a = make(8 << 10, 64 << 10);
    size_t got = 0;
    for (int i = 0; i < 10000; i++) {
        if (alloc_arena_alloc(a, 1000) == NULL)
            break;
        got += 1000;
    }
    assert_true(got > 32 << 10 && got < 64 << 10); /* stopped by the bound, near it */
    assert_true(alloc_arena_held_bytes(a) <= (64 << 10) + 2 * sizeof(struct alloc_arena));
    assert_null(alloc_arena_alloc(a, 100 << 10)); /* a single oversize request too */
    alloc_arena_reset(a);
    assert_non_null(alloc_arena_alloc(a, 1000)); /* usable again after reset */
    alloc_arena_destroy(a);
}

static void test_accounting_per_subsystem(void **state)
{
    (void)state;
    alloc_testing_reset();
    struct alloc_arena_config cfg = {.subsys = ALLOC_SUBSYS_PROPOSALS};
    struct alloc_arena *a = NULL;
    assert_int_equal(alloc_arena_create(&cfg, &a), 0);
    assert_non_null(alloc_arena_alloc(a, 50000));
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_PROPOSALS) == alloc_arena_held_bytes(a));
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_REQUEST_ARENAS) == 0);
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_PROPOSALS) >= 50000);
    alloc_arena_destroy(a);
    assert_true(alloc_live_bytes(ALLOC_SUBSYS_PROPOSALS) == 0);
}

/* The sanitizers see each allocation's exact bounds despite the bump allocator. */
static void test_sanitizer_fences(void **state)
{
    (void)state;
    int checked = 0;
    struct alloc_arena *a = make(0, 0);
    unsigned char *p = alloc_arena_alloc(a, 24);
    unsigned char *q = alloc_arena_alloc(a, 8);
    assert_non_null(p);
    assert_non_null(q);
#ifdef TEST_ASAN
    assert_false(__asan_address_is_poisoned(p));
    assert_false(__asan_address_is_poisoned(p + 23));
    assert_true(__asan_address_is_poisoned(p + 24)); /* the byte after is fenced */
    assert_true(__asan_address_is_poisoned(q - 1));
    checked = 1;
#endif
#ifdef TEST_VALGRIND
    unsigned char vbits[32];
    if (RUNNING_ON_VALGRIND) {
        /* 1: all addressable, 3: some byte is not (asked without reporting an error) */
        assert_int_equal(VALGRIND_GET_VBITS(p, vbits, 24), 1);
        assert_int_equal(VALGRIND_GET_VBITS(p, vbits, 25), 3);
        checked = 1;
    }
#endif
    alloc_arena_reset(a);
#ifdef TEST_ASAN
    assert_true(__asan_address_is_poisoned(p)); /* use after reset is caught */
#endif
#ifdef TEST_VALGRIND
    if (RUNNING_ON_VALGRIND)
        assert_int_equal(VALGRIND_GET_VBITS(p, vbits, 1), 3);
#endif
    alloc_arena_destroy(a);
    if (!checked)
        skip(); /* neither ASan nor valgrind: nothing to observe */
}

/* --- protobuf-c through the arena: the etcd requests a server decodes --- */

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

static ProtobufCBinaryData bin(const char *s)
{
    ProtobufCBinaryData b = {strlen(s), (uint8_t *)(uintptr_t)s};
    return b;
}

static void test_protobuf_decode(void **state)
{
    (void)state;
    alloc_testing_reset();
    Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
    put.key = bin("/registry/pods/default/web-0");
    put.value = bin("{\"spec\":{\"containers\":[{\"image\":\"nginx:1.25\"}]}}");
    put.lease = 7587862;
    put.prev_kv = 1;
    Etcdserverpb__RequestOp op_put = ETCDSERVERPB__REQUEST_OP__INIT;
    op_put.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    op_put.request_put = &put;
    Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
    cmp.key = put.key;
    cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
    cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
    cmp.mod_revision = 42;
    Etcdserverpb__Compare *cmps[] = {&cmp};
    Etcdserverpb__RequestOp *ops[] = {&op_put, &op_put};
    Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
    txn.n_compare = 1;
    txn.compare = cmps;
    txn.n_success = 2;
    txn.success = ops;
    size_t len = 0;
    uint8_t *wire = pack(&txn.base, &len);

    struct alloc_arena *a = make(0, 0);
    for (int round = 0; round < 3; round++) {
        Etcdserverpb__TxnRequest *t =
            etcdserverpb__txn_request__unpack(alloc_arena_protobuf(a), len, wire);
        assert_non_null(t);
        assert_int_equal(t->n_compare, 1);
        assert_int_equal(t->compare[0]->mod_revision, 42);
        assert_int_equal(t->n_success, 2);
        Etcdserverpb__PutRequest *p = t->success[1]->request_put;
        assert_int_equal(p->lease, 7587862);
        assert_int_equal(p->key.len, put.key.len);
        assert_memory_equal(p->key.data, put.key.data, put.key.len);
        assert_memory_equal(p->value.data, put.value.data, put.value.len);
        assert_true(alloc_arena_used_bytes(a) > 0);
        /* harmless with the arena allocator: its free is a no-op */
        etcdserverpb__txn_request__free_unpacked(t, alloc_arena_protobuf(a));
        alloc_arena_reset(a);
        assert_true(alloc_arena_used_bytes(a) == 0);
    }
    /* a truncated message fails cleanly into the arena */
    assert_null(etcdserverpb__txn_request__unpack(alloc_arena_protobuf(a), len - 3, wire));
    alloc_arena_reset(a);
    alloc_arena_destroy(a);
    /* an arena too small for the message: unpack returns NULL, nothing crashes */
    struct alloc_arena *tiny = make(4096, 4096);
    Etcdserverpb__PutRequest big = ETCDSERVERPB__PUT_REQUEST__INIT;
    static uint8_t value[16384];
    memset(value, 'v', sizeof(value));
    big.key = bin("k");
    big.value.len = sizeof(value);
    big.value.data = value;
    size_t blen = 0;
    uint8_t *bwire = pack(&big.base, &blen);
    assert_null(etcdserverpb__put_request__unpack(alloc_arena_protobuf(tiny), blen, bwire));
    alloc_arena_destroy(tiny);
    free(bwire);
    free(wire);
    assert_true(alloc_live_total_bytes() == 0);
}

/* --- ownership: arenas on their own threads, linked to registered owners --- */

static void *arena_thread(void *arg)
{
    (void)arg;
    CAIRN_ASSERT(alloc_thread_register("arena-worker") == 0);
    CAIRN_ASSERT(alloc_thread_register("again") == CAIRN_EEXIST);
    struct alloc_arena *as[ALLOC_THREAD_ARENAS_MAX];
    struct alloc_arena_config cfg = {.subsys = ALLOC_SUBSYS_GRPC_BUFFERS, .chunk_bytes = 4096};
    for (size_t i = 0; i < ALLOC_THREAD_ARENAS_MAX; i++) {
        CAIRN_ASSERT(alloc_arena_create(&cfg, &as[i]) == 0);
        CAIRN_ASSERT(alloc_arena_alloc(as[i], 100) != NULL);
    }
    struct alloc_arena *extra = NULL;
    int rc = alloc_arena_create(&cfg, &extra); /* one too many for this thread */
    CAIRN_ASSERT(extra == NULL);
    /* a collect request reaches every arena of the thread */
    alloc_thread_request_collect();
    CAIRN_ASSERT(alloc_thread_poll() == 1);
    CAIRN_ASSERT(alloc_thread_poll() == 0);
    for (size_t i = ALLOC_THREAD_ARENAS_MAX; i > 0; i--) /* any order */
        alloc_arena_destroy(as[(i * 7) % ALLOC_THREAD_ARENAS_MAX]);
    alloc_thread_unregister();
    return (void *)(intptr_t)rc;
}

static void test_thread_owned_arenas(void **state)
{
    (void)state;
    alloc_testing_reset();
    pthread_t t;
    void *ret = NULL;
    assert_int_equal(pthread_create(&t, NULL, arena_thread, NULL), 0);
    assert_int_equal(pthread_join(t, &ret), 0);
    assert_int_equal((int)(intptr_t)ret, CAIRN_ELIMIT);
    assert_true(alloc_live_total_bytes() == 0);
    assert_int_equal(alloc_thread_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),          cmocka_unit_test(test_alignment_and_overlap),
        cmocka_unit_test(test_big_allocations),     cmocka_unit_test(test_reset_cycles_bounded),
        cmocka_unit_test(test_max_bytes),           cmocka_unit_test(test_accounting_per_subsystem),
        cmocka_unit_test(test_sanitizer_fences),    cmocka_unit_test(test_protobuf_decode),
        cmocka_unit_test(test_thread_owned_arenas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
