/* Helpers shared by store/'s tests. */
#include "store_test_util.h"

#include "common.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tu_tmpdir(const char *tag)
{
    char *p = malloc(256);
    CAIRN_ASSERT(p != NULL);
    snprintf(p, 256, "/tmp/cairn-store-%s-XXXXXX", tag);
    CAIRN_ASSERT(mkdtemp(p) != NULL);
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rmdir(char *dir)
{
    if (dir == NULL)
        return;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

struct store *tu_open(const char *dir, uint64_t quota_bytes, uint64_t map_initial_bytes)
{
    struct store_config cfg = {0};
    cfg.dir = dir;
    cfg.quota_bytes = quota_bytes;
    cfg.map_initial_bytes = map_initial_bytes ? map_initial_bytes : (1u << 20);
    cfg.unsafe_no_sync = 1;
    struct store *s = NULL;
    int rc = store_open(&cfg, &s);
    if (rc != 0)
        fprintf(stderr, "store_open(%s): %s\n", dir, cairn_strerror(rc));
    CAIRN_ASSERT(rc == 0);
    return s;
}

uint64_t tu_applied(struct store *s)
{
    struct store_read *r;
    CAIRN_ASSERT(store_read_begin(s, &r) == 0);
    struct store_state st;
    CAIRN_ASSERT(store_read_state(r, &st) == 0);
    store_read_end(r);
    return st.applied_index;
}

int64_t tu_rev(struct store *s)
{
    struct store_read *r;
    CAIRN_ASSERT(store_read_begin(s, &r) == 0);
    struct store_state st;
    CAIRN_ASSERT(store_read_state(r, &st) == 0);
    store_read_end(r);
    return st.revision;
}

int tu_apply(struct store *s, const struct store_op *op, ProtobufCAllocator *a,
             struct store_result *res)
{
    uint64_t idx = tu_applied(s) + 1;
    struct store_batch *b;
    int rc = store_batch_begin(s, STORE_BATCH_EVENTS_PREV_KV, &b);
    if (rc == 0)
        rc = store_batch_apply(b, idx, 1, op, a, res);
    if (rc == 0)
        rc = store_batch_commit(b);
    else
        store_batch_abort(b);
    return rc;
}

static ProtobufCBinaryData bin(const char *s)
{
    ProtobufCBinaryData d = {0, NULL};
    if (s != NULL) {
        d.len = strlen(s);
        d.data = (uint8_t *)s;
    }
    return d;
}

int tu_put(struct store *s, const char *key, const char *val, int64_t lease, ProtobufCAllocator *a,
           struct store_result *res)
{
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key = bin(key);
    req.value = bin(val);
    req.lease = lease;
    req.prev_kv = 1;
    struct store_op op = {.kind = STORE_OP_PUT, .put = &req};
    return tu_apply(s, &op, a, res);
}

int tu_del(struct store *s, const char *key, const char *end, ProtobufCAllocator *a,
           struct store_result *res)
{
    Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    req.key = bin(key);
    req.range_end = bin(end);
    req.prev_kv = 1;
    struct store_op op = {.kind = STORE_OP_DELETE_RANGE, .delete_range = &req};
    return tu_apply(s, &op, a, res);
}

Etcdserverpb__RangeResponse *tu_range(struct store *s, const char *key, const char *end,
                                      int64_t rev, int64_t limit, ProtobufCAllocator *a, int *err)
{
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = bin(key);
    if (end != NULL && end[0] == '\0') {
        static uint8_t zero = 0;
        req.range_end.data = &zero;
        req.range_end.len = 1;
    } else {
        req.range_end = bin(end);
    }
    req.revision = rev;
    req.limit = limit;
    struct store_read *r;
    CAIRN_ASSERT(store_read_begin(s, &r) == 0);
    Etcdserverpb__RangeResponse *resp = NULL;
    *err = store_range(r, &req, a, &resp);
    /* copy out of the map: the read ends here */
    Etcdserverpb__RangeResponse *copy = NULL;
    if (*err == 0) {
        size_t n = protobuf_c_message_get_packed_size(&resp->base);
        uint8_t *buf = malloc(n + 1);
        CAIRN_ASSERT(buf != NULL);
        protobuf_c_message_pack(&resp->base, buf);
        copy = etcdserverpb__range_response__unpack(a, n, buf);
        free(buf);
        CAIRN_ASSERT(copy != NULL);
    }
    store_read_end(r);
    return copy;
}

int tu_msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    size_t na = protobuf_c_message_get_packed_size(a);
    size_t nb = protobuf_c_message_get_packed_size(b);
    if (na != nb)
        return 0;
    uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
    CAIRN_ASSERT(pa != NULL && pb != NULL);
    protobuf_c_message_pack(a, pa);
    protobuf_c_message_pack(b, pb);
    int eq = memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return eq;
}
