/* Big-endian key encoding: LMDB compares keys as bytes, so this makes byte order numeric. */
#include "store.h"

#include "common.h"

void store_u64_encode(uint64_t v, uint8_t out[STORE_U64_BYTES])
{
    for (int i = STORE_U64_BYTES - 1; i >= 0; i--) {
        out[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

uint64_t store_u64_decode(const uint8_t in[STORE_U64_BYTES])
{
    uint64_t v = 0;
    for (int i = 0; i < STORE_U64_BYTES; i++)
        v = (v << 8) | in[i];
    return v;
}

void store_rev_encode(struct store_rev rev, uint8_t out[STORE_REV_BYTES])
{
    CAIRN_ASSERT(rev.main >= 0 && rev.sub >= 0);
    store_u64_encode((uint64_t)rev.main, out);
    store_u64_encode((uint64_t)rev.sub, out + STORE_U64_BYTES);
}

int store_rev_decode(const uint8_t *in, size_t len, struct store_rev *out)
{
    if (len != STORE_REV_BYTES)
        return CAIRN_ECORRUPT;
    uint64_t m = store_u64_decode(in), s = store_u64_decode(in + STORE_U64_BYTES);
    if (m > INT64_MAX || s > INT64_MAX)
        return CAIRN_ECORRUPT;
    out->main = (int64_t)m;
    out->sub = (int64_t)s;
    return 0;
}

int store_rev_cmp(struct store_rev a, struct store_rev b)
{
    if (a.main != b.main)
        return a.main < b.main ? -1 : 1;
    if (a.sub != b.sub)
        return a.sub < b.sub ? -1 : 1;
    return 0;
}
