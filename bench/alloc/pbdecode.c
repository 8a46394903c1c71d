/*
 * pbdecode — what decoding an etcd request costs with each allocator, in ns per request:
 *   malloc : protobuf-c's default allocator (malloc/free, i.e. mimalloc through its
 *            override), then protobuf_c_message_free_unpacked;
 *   arena  : alloc_arena_protobuf() on one arena per thread, then alloc_arena_reset;
 *   heap   : a fresh mimalloc heap per request (mi_heap_new, mi_heap_malloc, then
 *            mi_heap_destroy), the per-request region TOOLCHAIN.md §4 tried.
 * Messages: Put (32 B key, 256 B value), Put with a 4 KiB value, Range (key, range_end,
 * limit) and a Txn (1 compare, 2 puts on success, 1 range on failure), as etcd clients
 * send them. Each run decodes every message N times per allocator, interleaved; the
 * table shows the median over the runs.
 *
 *   pbdecode [--runs 5] [--n 200000]
 */
#include "alloc.h"
#include "common.h"
#include "etcdserverpb/rpc.pb-c.h"

#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RUNS 21

struct wire {
    const char *name;
    const ProtobufCMessageDescriptor *desc;
    uint8_t *data;
    size_t len;
};

static ProtobufCBinaryData text(const char *s)
{
    ProtobufCBinaryData b = {strlen(s), (uint8_t *)(uintptr_t)s};
    return b;
}

static void pack(struct wire *w, const char *name, const ProtobufCMessage *m)
{
    w->name = name;
    w->desc = m->descriptor;
    w->len = protobuf_c_message_get_packed_size(m);
    w->data = malloc(w->len);
    CAIRN_ASSERT(w->data != NULL);
    CAIRN_ASSERT(protobuf_c_message_pack(m, w->data) == w->len);
}

static void build(struct wire w[4])
{
    static uint8_t value256[256], value4k[4096], value128[128];
    memset(value256, 'v', sizeof(value256));
    memset(value4k, 'w', sizeof(value4k));
    memset(value128, 'x', sizeof(value128));

    Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
    put.key = text("/registry/pods/default/web-12345");
    put.value.len = sizeof(value256);
    put.value.data = value256;
    put.lease = 7587862345;
    pack(&w[0], "Put 256 B", &put.base);

    put.value.len = sizeof(value4k);
    put.value.data = value4k;
    pack(&w[1], "Put 4 KiB", &put.base);

    Etcdserverpb__RangeRequest range = ETCDSERVERPB__RANGE_REQUEST__INIT;
    range.key = text("/registry/pods/default/");
    range.range_end = text("/registry/pods/default0");
    range.limit = 500;
    range.serializable = 1;
    pack(&w[2], "Range", &range.base);

    Etcdserverpb__PutRequest p1 = ETCDSERVERPB__PUT_REQUEST__INIT, p2 = p1;
    p1.key = text("/registry/leases/kube-node-lease/node-1");
    p1.value.len = sizeof(value128);
    p1.value.data = value128;
    p2.key = text("/registry/leases/kube-node-lease/node-2");
    p2.value = p1.value;
    Etcdserverpb__RequestOp op1 = ETCDSERVERPB__REQUEST_OP__INIT, op2 = op1, op3 = op1;
    op1.request_case = op2.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    op1.request_put = &p1;
    op2.request_put = &p2;
    op3.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    op3.request_range = &range;
    Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
    cmp.key = p1.key;
    cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
    cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
    cmp.mod_revision = 123456;
    Etcdserverpb__Compare *cmps[] = {&cmp};
    Etcdserverpb__RequestOp *success[] = {&op1, &op2}, *failure[] = {&op3};
    Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
    txn.n_compare = 1;
    txn.compare = cmps;
    txn.n_success = 2;
    txn.success = success;
    txn.n_failure = 1;
    txn.failure = failure;
    pack(&w[3], "Txn (1 cmp, 2 put, 1 range)", &txn.base);
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static volatile size_t sink; /* keeps the decoded messages observable */

static double run_malloc(const struct wire *w, unsigned n)
{
    double t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        ProtobufCMessage *m = protobuf_c_message_unpack(w->desc, NULL, w->len, w->data);
        CAIRN_ASSERT(m != NULL);
        sink += m->descriptor->sizeof_message;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return (now_ns() - t0) / n;
}

static double run_arena(const struct wire *w, unsigned n, struct alloc_arena *a)
{
    double t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        ProtobufCMessage *m =
            protobuf_c_message_unpack(w->desc, alloc_arena_protobuf(a), w->len, w->data);
        CAIRN_ASSERT(m != NULL);
        sink += m->descriptor->sizeof_message;
        alloc_arena_reset(a);
    }
    return (now_ns() - t0) / n;
}

static void *heap_alloc(void *heap, size_t size)
{
    return mi_heap_malloc(heap, size);
}

static void heap_free(void *heap, void *p)
{
    (void)heap;
    (void)p;
}

static double run_heap(const struct wire *w, unsigned n)
{
    double t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        mi_heap_t *h = mi_heap_new();
        CAIRN_ASSERT(h != NULL);
        ProtobufCAllocator pa = {heap_alloc, heap_free, h};
        ProtobufCMessage *m = protobuf_c_message_unpack(w->desc, &pa, w->len, w->data);
        CAIRN_ASSERT(m != NULL);
        sink += m->descriptor->sizeof_message;
        mi_heap_destroy(h);
    }
    return (now_ns() - t0) / n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    unsigned runs = 5, n = 200000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--runs") == 0)
            runs = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--n") == 0)
            n = (unsigned)atoi(argv[i + 1]);
    }
    if (runs == 0 || runs > MAX_RUNS || n == 0) {
        fprintf(stderr, "usage: pbdecode [--runs 1..%d] [--n N]\n", MAX_RUNS);
        return 2;
    }
    struct wire w[4];
    build(w);
    struct alloc_arena_config ac = {.subsys = ALLOC_SUBSYS_REQUEST_ARENAS};
    struct alloc_arena *arena = NULL;
    CAIRN_ASSERT(alloc_arena_create(&ac, &arena) == 0);
    static double t[4][3][MAX_RUNS];
    for (unsigned r = 0; r < runs; r++) {
        for (unsigned m = 0; m < 4; m++) { /* interleaved: load drift hits all alike */
            t[m][0][r] = run_malloc(&w[m], n);
            t[m][1][r] = run_arena(&w[m], n, arena);
            t[m][2][r] = run_heap(&w[m], n / 10 + 1); /* slow: fewer iterations */
        }
    }
    printf("pbdecode: ns per request, median of %u runs of %u decodes (heap: %u)\n\n", runs, n,
           n / 10 + 1);
    printf("| request | wire bytes | malloc | arena | heap per request | arena vs malloc |\n");
    printf("|---|---|---|---|---|---|\n");
    for (unsigned m = 0; m < 4; m++) {
        double ml = median(t[m][0], runs), ar = median(t[m][1], runs);
        double hp = median(t[m][2], runs);
        printf("| %s | %zu | %.0f | %.0f | %.0f | %.2fx |\n", w[m].name, w[m].len, ml, ar, hp,
               ml / ar);
    }
    alloc_arena_destroy(arena);
    for (unsigned m = 0; m < 4; m++)
        free(w[m].data);
    return sink == 0; /* never: the messages were decoded */
}
