/* Record formats of the key index and helpers that build protobuf-c responses. */
#include "store_int.h"

#include <string.h>

int store_bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    if (al != bl)
        return al < bl ? -1 : 1;
    return 0;
}

/* User key bytes first, then the revision: all revisions of one key sit together, oldest
 * first, and keys keep etcd's byte order. */
int store_kidx_cmp(const MDB_val *a, const MDB_val *b)
{
    CAIRN_ASSERT(a->mv_size >= STORE_REV_BYTES && b->mv_size >= STORE_REV_BYTES);
    size_t al = a->mv_size - STORE_REV_BYTES, bl = b->mv_size - STORE_REV_BYTES;
    const uint8_t *ap = a->mv_data, *bp = b->mv_data;
    int c = store_bytes_cmp(ap, al, bp, bl);
    if (c != 0)
        return c;
    return memcmp(ap + al, bp + bl, STORE_REV_BYTES);
}

void store_kidx_key(const uint8_t *key, size_t klen, struct store_rev rev, uint8_t *buf)
{
    CAIRN_ASSERT(klen <= STORE_MAX_KEY_BYTES);
    if (klen)
        memcpy(buf, key, klen);
    store_rev_encode(rev, buf + klen);
}

int store_kv_decode(const MDB_val *k, const MDB_val *v, struct store_kv_ref *out)
{
    if (k->mv_size < STORE_REV_BYTES || v->mv_size < STORE_REC_HDR_BYTES)
        return CAIRN_ECORRUPT;
    const uint8_t *kp = k->mv_data, *vp = v->mv_data;
    out->key = kp;
    out->key_len = k->mv_size - STORE_REV_BYTES;
    int rc = store_rev_decode(kp + out->key_len, STORE_REV_BYTES, &out->mod);
    if (rc != 0)
        return rc;
    out->tombstone = (vp[0] & STORE_REC_TOMBSTONE) != 0;
    out->create_rev = (int64_t)store_u64_decode(vp + 1);
    out->version = (int64_t)store_u64_decode(vp + 9);
    out->lease = (int64_t)store_u64_decode(vp + 17);
    out->value = vp + STORE_REC_HDR_BYTES;
    out->value_len = v->mv_size - STORE_REC_HDR_BYTES;
    return 0;
}

/* Lease ids are signed; biasing the sign bit keeps byte order equal to numeric order. */
void store_lease_key(int64_t id, uint8_t out[STORE_U64_BYTES])
{
    store_u64_encode((uint64_t)id ^ (1ULL << 63), out);
}

int64_t store_lease_id_decode(const uint8_t in[STORE_U64_BYTES])
{
    return (int64_t)(store_u64_decode(in) ^ (1ULL << 63));
}

void *store_alloc(ProtobufCAllocator *a, size_t n)
{
    CAIRN_ASSERT(a != NULL && a->alloc != NULL);
    return a->alloc(a->allocator_data, n ? n : 1);
}

int store_bytes(ProtobufCAllocator *a, int copy, const uint8_t *p, size_t n,
                ProtobufCBinaryData *out)
{
    out->len = n;
    if (n == 0) {
        out->data = NULL;
        return 0;
    }
    if (!copy) {
        out->data = (uint8_t *)p; /* zero copy: points into the read txn's map */
        return 0;
    }
    out->data = store_alloc(a, n);
    if (out->data == NULL)
        return -1;
    memcpy(out->data, p, n);
    return 0;
}

Etcdserverpb__ResponseHeader *store_header(ProtobufCAllocator *a, int64_t rev)
{
    Etcdserverpb__ResponseHeader *h = store_alloc(a, sizeof(*h));
    if (h == NULL)
        return NULL;
    etcdserverpb__response_header__init(h);
    h->revision = rev;
    return h;
}

Mvccpb__KeyValue *store_kv_make(ProtobufCAllocator *a, int copy, const struct store_kv_ref *ref,
                                int keys_only)
{
    CAIRN_ASSERT(ref != NULL && !ref->tombstone);
    Mvccpb__KeyValue *kv = store_alloc(a, sizeof(*kv));
    if (kv == NULL)
        return NULL;
    mvccpb__key_value__init(kv);
    if (store_bytes(a, copy, ref->key, ref->key_len, &kv->key) != 0)
        return NULL;
    kv->create_revision = ref->create_rev;
    kv->mod_revision = ref->mod.main;
    kv->version = ref->version;
    kv->lease = ref->lease;
    if (!keys_only && store_bytes(a, copy, ref->value, ref->value_len, &kv->value) != 0)
        return NULL;
    return kv;
}
