/* Put, get, delete, compact and the range iterator over in-process KV calls. */
#include "embed.h"

#include "mvccpb/kv.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 1000u
#define PAGE_MAX     100000u

size_t embed_prefix_end(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t i = n;
    while (i > 0 && p[i - 1] == 0xff)
        i--;
    if (i == 0) {
        out[0] = 0;
        return 1;
    }
    memcpy(out, p, i);
    out[i - 1]++;
    return i;
}

void embed_kv_from_pb(const struct Mvccpb__KeyValue *kv, struct cairn_kv *out)
{
    CAIRN_ASSERT(kv != NULL && out != NULL);
    out->key = kv->key.data;
    out->key_len = kv->key.len;
    out->value = kv->value.data;
    out->value_len = kv->value.len;
    out->create_revision = kv->create_revision;
    out->mod_revision = kv->mod_revision;
    out->version = kv->version;
    out->lease = kv->lease;
}

static ProtobufCBinaryData bytes(const void *p, size_t n)
{
    ProtobufCBinaryData b = {.len = n, .data = (uint8_t *)(uintptr_t)p};
    return b;
}

static int64_t header_revision(const Etcdserverpb__ResponseHeader *h)
{
    return h ? h->revision : 0;
}

static int check_key(const void *key, size_t key_len)
{
    if (!key && key_len > 0)
        return embed_error(CAIRN_EINVAL, "key is NULL with a non-zero length");
    return 0;
}

/* ---- put ---- */

static int copy_put(void *arg, const ProtobufCMessage *m)
{
    const Etcdserverpb__PutResponse *r = (const Etcdserverpb__PutResponse *)m;
    *(int64_t *)arg = header_revision(r->header);
    return 0;
}

int cairn_put(cairn_node *nd, const void *key, size_t key_len, const void *value, size_t value_len,
              int64_t lease, int64_t *revision)
{
    CAIRN_ASSERT(nd != NULL);
    if (check_key(key, key_len) < 0 || (!value && value_len > 0))
        return embed_error(CAIRN_EINVAL, "key or value is NULL with a non-zero length");
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key = bytes(key, key_len);
    req.value = bytes(value, value_len);
    req.lease = lease;
    int64_t rev = 0;
    int rc = embed_call(nd, EMBED_PUT, &req.base, copy_put, &rev);
    if (rc == 0 && revision)
        *revision = rev;
    return rc;
}

/* ---- get ---- */

struct get_out {
    void *value;
    size_t value_len;
    struct cairn_kv kv;
    int found;
};

static int copy_get(void *arg, const ProtobufCMessage *m)
{
    const Etcdserverpb__RangeResponse *r = (const Etcdserverpb__RangeResponse *)m;
    struct get_out *o = arg;
    if (r->n_kvs == 0)
        return 0;
    CAIRN_ASSERT(r->n_kvs == 1);
    const Mvccpb__KeyValue *kv = r->kvs[0];
    o->value = malloc(kv->value.len + 1);
    if (!o->value)
        return CAIRN_ENOMEM;
    if (kv->value.len)
        memcpy(o->value, kv->value.data, kv->value.len);
    ((char *)o->value)[kv->value.len] = '\0';
    o->value_len = kv->value.len;
    embed_kv_from_pb(kv, &o->kv);
    o->kv.key = NULL;
    o->kv.value = NULL;
    o->found = 1;
    return 0;
}

int cairn_get(cairn_node *nd, const void *key, size_t key_len, void **value, size_t *value_len,
              struct cairn_kv *kv)
{
    CAIRN_ASSERT(nd != NULL && value != NULL);
    *value = NULL;
    if (value_len)
        *value_len = 0;
    if (check_key(key, key_len) < 0)
        return CAIRN_EINVAL;
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = bytes(key, key_len);
    struct get_out o;
    memset(&o, 0, sizeof(o));
    int rc = embed_call(nd, EMBED_RANGE, &req.base, copy_get, &o);
    if (rc < 0) {
        free(o.value);
        return rc;
    }
    if (!o.found)
        return embed_error(CAIRN_ENOTFOUND, "key not found");
    *value = o.value;
    if (value_len)
        *value_len = o.value_len;
    if (kv)
        *kv = o.kv;
    return 0;
}

/* ---- delete, compact ---- */

struct del_out {
    int64_t deleted, revision;
};

static int copy_del(void *arg, const ProtobufCMessage *m)
{
    const Etcdserverpb__DeleteRangeResponse *r = (const Etcdserverpb__DeleteRangeResponse *)m;
    struct del_out *o = arg;
    o->deleted = r->deleted;
    o->revision = header_revision(r->header);
    return 0;
}

int cairn_delete(cairn_node *nd, const void *key, size_t key_len, const void *range_end,
                 size_t range_end_len, int64_t *deleted, int64_t *revision)
{
    CAIRN_ASSERT(nd != NULL);
    if (check_key(key, key_len) < 0)
        return CAIRN_EINVAL;
    Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    req.key = bytes(key, key_len);
    if (range_end)
        req.range_end = bytes(range_end, range_end_len);
    struct del_out o = {0, 0};
    int rc = embed_call(nd, EMBED_DELETE, &req.base, copy_del, &o);
    if (rc == 0 && deleted)
        *deleted = o.deleted;
    if (rc == 0 && revision)
        *revision = o.revision;
    return rc;
}

int cairn_compact(cairn_node *nd, int64_t revision, int physical)
{
    CAIRN_ASSERT(nd != NULL);
    Etcdserverpb__CompactionRequest req = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    req.revision = revision;
    req.physical = physical != 0;
    return embed_call(nd, EMBED_COMPACT, &req.base, NULL, NULL);
}

/* ---- range iterator ---- */

struct cairn_iter {
    cairn_node *nd;
    uint8_t *next_key; /* where the next page starts (owned) */
    size_t next_key_len;
    uint8_t *end; /* range end (owned), NULL = one key */
    size_t end_len;
    int64_t revision; /* fixed by the first page */
    int64_t count;
    int64_t remaining; /* pairs the limit still allows; -1 = no limit */
    uint32_t page_size;
    int serializable, keys_only;
    int more;       /* the server has pairs after this page */
    int first_done; /* the first page fixed revision and count */
    /* the current page: pairs and their bytes in one block */
    struct cairn_kv *page;
    size_t page_len, pos;
};

static int copy_page(void *arg, const ProtobufCMessage *m)
{
    const Etcdserverpb__RangeResponse *r = (const Etcdserverpb__RangeResponse *)m;
    struct cairn_iter *it = arg;
    size_t total = 0;
    for (size_t i = 0; i < r->n_kvs; i++)
        total += r->kvs[i]->key.len + r->kvs[i]->value.len;
    struct cairn_kv *page = malloc(r->n_kvs * sizeof(*page) + total + 1);
    if (!page)
        return CAIRN_ENOMEM;
    uint8_t *p = (uint8_t *)(page + r->n_kvs);
    for (size_t i = 0; i < r->n_kvs; i++) {
        embed_kv_from_pb(r->kvs[i], &page[i]);
        memcpy(p, r->kvs[i]->key.data, r->kvs[i]->key.len);
        page[i].key = p;
        p += r->kvs[i]->key.len;
        if (r->kvs[i]->value.len)
            memcpy(p, r->kvs[i]->value.data, r->kvs[i]->value.len);
        page[i].value = p;
        p += r->kvs[i]->value.len;
    }
    free(it->page);
    it->page = page;
    it->page_len = r->n_kvs;
    it->pos = 0;
    it->more = r->more;
    if (!it->first_done) {
        it->first_done = 1;
        if (it->revision == 0)
            it->revision = header_revision(r->header);
        it->count = r->count;
    }
    return 0;
}

static int fetch_page(struct cairn_iter *it)
{
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = bytes(it->next_key, it->next_key_len);
    if (it->end)
        req.range_end = bytes(it->end, it->end_len);
    req.revision = it->revision; /* 0 for the first page without a revision: the latest */
    int64_t lim = it->page_size;
    if (it->remaining >= 0 && it->remaining < lim)
        lim = it->remaining;
    req.limit = it->end ? lim : 0;
    req.serializable = it->serializable != 0;
    req.keys_only = it->keys_only != 0;
    /* the first page gives the total; later ones need not count the rest again */
    return embed_call_flags(it->nd, EMBED_RANGE, &req.base, it->first_done ? SRV_LOCAL_NO_COUNT : 0,
                            copy_page, it);
}

int cairn_range(cairn_node *nd, const void *key, size_t key_len,
                const struct cairn_range_options *opts, cairn_iter **out)
{
    CAIRN_ASSERT(nd != NULL && out != NULL);
    *out = NULL;
    if (check_key(key, key_len) < 0)
        return CAIRN_EINVAL;
    struct cairn_range_options o;
    memset(&o, 0, sizeof(o));
    if (opts)
        o = *opts;
    if (o.revision < 0 || o.limit < 0)
        return embed_error(CAIRN_EINVAL, "revision and limit must be >= 0");
    if (o.page_size > PAGE_MAX)
        return embed_error(CAIRN_EINVAL, "page_size must be <= %u", PAGE_MAX);
    struct cairn_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return embed_error(CAIRN_ENOMEM, "out of memory");
    it->nd = nd;
    it->page_size = o.page_size ? o.page_size : PAGE_DEFAULT;
    it->remaining = o.limit > 0 ? o.limit : -1;
    it->serializable = o.serializable;
    it->keys_only = o.keys_only;
    it->next_key = malloc(key_len + 1);
    size_t end_cap = o.prefix ? key_len + 1 : o.range_end_len + 1;
    it->end = (o.prefix || o.range_end) ? malloc(end_cap) : NULL;
    if (!it->next_key || ((o.prefix || o.range_end) && !it->end)) {
        cairn_iter_free(it);
        return embed_error(CAIRN_ENOMEM, "out of memory");
    }
    if (key_len)
        memcpy(it->next_key, key, key_len);
    it->next_key_len = key_len;
    if (o.prefix) {
        it->end_len = embed_prefix_end(key, key_len, it->end);
    } else if (o.range_end) {
        if (o.range_end_len)
            memcpy(it->end, o.range_end, o.range_end_len);
        it->end_len = o.range_end_len;
    }
    it->revision = o.revision;
    int rc = fetch_page(it);
    if (rc < 0) {
        cairn_iter_free(it);
        return rc;
    }
    *out = it;
    return 0;
}

int cairn_iter_next(cairn_iter *it, struct cairn_kv *kv)
{
    CAIRN_ASSERT(it != NULL && kv != NULL);
    if (it->pos == it->page_len) {
        if (!it->more || it->remaining == 0 || !it->end)
            return 0;
        /* the next page starts right after the last key of this one */
        const struct cairn_kv *last = &it->page[it->page_len - 1];
        uint8_t *k = realloc(it->next_key, last->key_len + 1);
        if (!k)
            return embed_error(CAIRN_ENOMEM, "out of memory");
        memcpy(k, last->key, last->key_len);
        k[last->key_len] = 0;
        it->next_key = k;
        it->next_key_len = last->key_len + 1;
        int rc = fetch_page(it);
        if (rc < 0)
            return rc;
        if (it->page_len == 0)
            return 0;
    }
    CAIRN_ASSERT(it->pos < it->page_len);
    *kv = it->page[it->pos++];
    if (it->remaining > 0)
        it->remaining--;
    return 1;
}

int64_t cairn_iter_revision(const cairn_iter *it)
{
    return it->revision;
}

int64_t cairn_iter_count(const cairn_iter *it)
{
    return it->count;
}

void cairn_iter_free(cairn_iter *it)
{
    if (!it)
        return;
    free(it->next_key);
    free(it->end);
    free(it->page);
    free(it);
}
