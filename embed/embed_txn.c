/* The transaction builder: compares and ops copied in, one in-process Txn call to commit. */
#include "embed.h"

#include "mvccpb/kv.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define TXN_ITEMS_MAX 65536 /* per list; the server's --max-txn-ops refuses far fewer */

struct list {
    void **items; /* Etcdserverpb__Compare * or Etcdserverpb__RequestOp *, each one block */
    size_t n, cap;
};

struct cairn_txn {
    struct list cmp, then, els;
    int committed;
    Etcdserverpb__TxnResponse *resp; /* after a commit (unpacked copy, owned) */
};

int cairn_txn_new(cairn_txn **out)
{
    CAIRN_ASSERT(out != NULL);
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return embed_error(CAIRN_ENOMEM, "out of memory");
    return 0;
}

static int list_add(struct list *l, void *item)
{
    if (l->n == TXN_ITEMS_MAX) {
        free(item);
        return embed_error(CAIRN_ELIMIT, "a txn takes at most %d compares or ops per branch",
                           TXN_ITEMS_MAX);
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        void **items = realloc(l->items, cap * sizeof(*items));
        if (!items) {
            free(item);
            return embed_error(CAIRN_ENOMEM, "out of memory");
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
    return 0;
}

static ProtobufCBinaryData copy_bytes(uint8_t **p, const void *src, size_t n)
{
    ProtobufCBinaryData b = {.len = n, .data = *p};
    if (n)
        memcpy(*p, src, n);
    *p += n;
    return b;
}

static int check_open(const cairn_txn *t, const void *key, size_t key_len)
{
    if (t->committed)
        return embed_error(CAIRN_EINVAL, "the txn was committed already");
    if (!key && key_len)
        return embed_error(CAIRN_EINVAL, "key is NULL with a non-zero length");
    return 0;
}

int cairn_txn_compare(cairn_txn *t, const void *key, size_t key_len, enum cairn_cmp_target target,
                      enum cairn_cmp_op op, int64_t number, const void *value, size_t value_len)
{
    CAIRN_ASSERT(t != NULL);
    if (check_open(t, key, key_len) < 0)
        return CAIRN_EINVAL;
    if ((unsigned)target > CAIRN_CMP_LEASE || (unsigned)op > CAIRN_CMP_NE)
        return embed_error(CAIRN_EINVAL, "unknown compare target or operator");
    if (target == CAIRN_CMP_VALUE && !value && value_len)
        return embed_error(CAIRN_EINVAL, "value is NULL with a non-zero length");
    size_t vlen = target == CAIRN_CMP_VALUE ? value_len : 0;
    Etcdserverpb__Compare *c = malloc(sizeof(*c) + key_len + vlen);
    if (!c)
        return embed_error(CAIRN_ENOMEM, "out of memory");
    etcdserverpb__compare__init(c);
    uint8_t *p = (uint8_t *)(c + 1);
    c->key = copy_bytes(&p, key, key_len);
    c->result = (Etcdserverpb__Compare__CompareResult)op;
    c->target = (Etcdserverpb__Compare__CompareTarget)target;
    switch (target) {
    case CAIRN_CMP_VERSION:
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
        c->version = number;
        break;
    case CAIRN_CMP_CREATE:
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
        c->create_revision = number;
        break;
    case CAIRN_CMP_MOD:
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
        c->mod_revision = number;
        break;
    case CAIRN_CMP_VALUE:
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
        c->value = copy_bytes(&p, value, vlen);
        break;
    case CAIRN_CMP_LEASE:
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
        c->lease = number;
        break;
    }
    return list_add(&t->cmp, c);
}

/* One block: the RequestOp, its request and the bytes. */
union op_req {
    Etcdserverpb__PutRequest put;
    Etcdserverpb__DeleteRangeRequest del;
    Etcdserverpb__RangeRequest range;
};
struct op_block {
    Etcdserverpb__RequestOp op;
    union op_req r;
};

static int add_op(cairn_txn *t, int on_success, int kind, const void *key, size_t key_len,
                  const void *v, size_t v_len, int64_t lease)
{
    CAIRN_ASSERT(t != NULL);
    if (check_open(t, key, key_len) < 0)
        return CAIRN_EINVAL;
    if (!v && v_len)
        return embed_error(CAIRN_EINVAL, "value or range end is NULL with a non-zero length");
    struct op_block *b = malloc(sizeof(*b) + key_len + v_len);
    if (!b)
        return embed_error(CAIRN_ENOMEM, "out of memory");
    etcdserverpb__request_op__init(&b->op);
    uint8_t *p = (uint8_t *)(b + 1);
    if (kind == 0) {
        etcdserverpb__put_request__init(&b->r.put);
        b->r.put.key = copy_bytes(&p, key, key_len);
        b->r.put.value = copy_bytes(&p, v, v_len);
        b->r.put.lease = lease;
        b->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
        b->op.request_put = &b->r.put;
    } else if (kind == 1) {
        etcdserverpb__delete_range_request__init(&b->r.del);
        b->r.del.key = copy_bytes(&p, key, key_len);
        if (v)
            b->r.del.range_end = copy_bytes(&p, v, v_len);
        b->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
        b->op.request_delete_range = &b->r.del;
    } else {
        etcdserverpb__range_request__init(&b->r.range);
        b->r.range.key = copy_bytes(&p, key, key_len);
        if (v)
            b->r.range.range_end = copy_bytes(&p, v, v_len);
        b->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
        b->op.request_range = &b->r.range;
    }
    return list_add(on_success ? &t->then : &t->els, b);
}

int cairn_txn_put(cairn_txn *t, int on_success, const void *key, size_t key_len, const void *value,
                  size_t value_len, int64_t lease)
{
    return add_op(t, on_success, 0, key, key_len, value, value_len, lease);
}

int cairn_txn_delete(cairn_txn *t, int on_success, const void *key, size_t key_len,
                     const void *range_end, size_t range_end_len)
{
    return add_op(t, on_success, 1, key, key_len, range_end, range_end_len, 0);
}

int cairn_txn_get(cairn_txn *t, int on_success, const void *key, size_t key_len,
                  const void *range_end, size_t range_end_len)
{
    return add_op(t, on_success, 2, key, key_len, range_end, range_end_len, 0);
}

/* The reply may point into a read transaction: keep a packed-and-unpacked copy. */
static int copy_txn(void *arg, const ProtobufCMessage *m)
{
    cairn_txn *t = arg;
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return CAIRN_ENOMEM;
    protobuf_c_message_pack(m, buf);
    t->resp = etcdserverpb__txn_response__unpack(NULL, n, buf);
    free(buf);
    return t->resp ? 0 : CAIRN_ENOMEM;
}

int cairn_txn_commit(cairn_node *nd, cairn_txn *t, int *succeeded, int64_t *revision)
{
    CAIRN_ASSERT(nd != NULL && t != NULL);
    if (t->committed)
        return embed_error(CAIRN_EINVAL, "the txn was committed already");
    Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
    req.compare = (Etcdserverpb__Compare **)t->cmp.items;
    req.n_compare = t->cmp.n;
    req.success = (Etcdserverpb__RequestOp **)t->then.items;
    req.n_success = t->then.n;
    req.failure = (Etcdserverpb__RequestOp **)t->els.items;
    req.n_failure = t->els.n;
    int rc = embed_call(nd, EMBED_TXN, &req.base, copy_txn, t);
    if (rc < 0)
        return rc;
    t->committed = 1;
    CAIRN_ASSERT(t->resp != NULL);
    if (succeeded)
        *succeeded = t->resp->succeeded;
    if (revision)
        *revision = t->resp->header ? t->resp->header->revision : 0;
    return 0;
}

static const Etcdserverpb__RangeResponse *op_range(const cairn_txn *t, size_t op)
{
    if (!t->resp || op >= t->resp->n_responses)
        return NULL;
    const Etcdserverpb__ResponseOp *r = t->resp->responses[op];
    return r->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE
               ? r->response_range
               : NULL;
}

size_t cairn_txn_result_count(const cairn_txn *t, size_t op)
{
    CAIRN_ASSERT(t != NULL);
    const Etcdserverpb__RangeResponse *r = op_range(t, op);
    return r ? r->n_kvs : 0;
}

int cairn_txn_result_kv(const cairn_txn *t, size_t op, size_t j, struct cairn_kv *kv)
{
    CAIRN_ASSERT(t != NULL && kv != NULL);
    const Etcdserverpb__RangeResponse *r = op_range(t, op);
    if (!r || j >= r->n_kvs)
        return embed_error(CAIRN_ENOTFOUND, "no such txn result");
    embed_kv_from_pb(r->kvs[j], kv);
    return 0;
}

static void list_free(struct list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
}

void cairn_txn_free(cairn_txn *t)
{
    if (!t)
        return;
    list_free(&t->cmp);
    list_free(&t->then);
    list_free(&t->els);
    if (t->resp)
        etcdserverpb__txn_response__free_unpacked(t->resp, NULL);
    free(t);
}
