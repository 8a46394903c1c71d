/* The meta page: the only place bbolt checksums, and what both reader and writer agree on. */
#include "bolt.h"
#include "bolt_format.h"
#include "common.h"

#include <string.h>

uint64_t bolt_fnv64a(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull; /* FNV-64 offset basis */
    CAIRN_ASSERT(p != NULL || n == 0);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull; /* FNV-64 prime */
    }
    return h;
}

void bolt_meta_encode(const struct bolt_meta *m, uint64_t pgid, uint8_t *page, size_t page_size)
{
    CAIRN_ASSERT(page_size >= BOLT_PAGE_HDR + BOLT_META_SIZE);
    CAIRN_ASSERT(m->root_pgid < m->pgid);
    CAIRN_ASSERT(m->freelist_pgid < m->pgid || m->freelist_pgid == BOLT_NO_FREELIST);
    memset(page, 0, page_size);
    bolt_put64(page + BOLT_PAGE_OFF_ID, pgid);
    bolt_put16(page + BOLT_PAGE_OFF_FLAGS, BOLT_FLAG_META);
    uint8_t *meta = page + BOLT_PAGE_HDR;
    bolt_put32(meta + BOLT_META_OFF_MAGIC, BOLT_MAGIC);
    bolt_put32(meta + BOLT_META_OFF_VER, BOLT_VERSION);
    bolt_put32(meta + BOLT_META_OFF_PSIZE, m->page_size);
    bolt_put32(meta + BOLT_META_OFF_FLAGS, m->flags);
    bolt_put64(meta + BOLT_META_OFF_ROOT, m->root_pgid);
    bolt_put64(meta + BOLT_META_OFF_SEQ, m->root_seq);
    bolt_put64(meta + BOLT_META_OFF_FREE, m->freelist_pgid);
    bolt_put64(meta + BOLT_META_OFF_PGID, m->pgid);
    bolt_put64(meta + BOLT_META_OFF_TXID, m->txid);
    bolt_put64(meta + BOLT_META_OFF_CSUM, bolt_fnv64a(meta, BOLT_META_OFF_CSUM));
}

int bolt_meta_decode(const uint8_t *page, size_t len, struct bolt_meta *m)
{
    CAIRN_ASSERT(page != NULL);
    CAIRN_ASSERT(m != NULL);
    if (len < BOLT_PAGE_HDR + BOLT_META_SIZE)
        return CAIRN_ECORRUPT;
    if ((bolt_le16(page + BOLT_PAGE_OFF_FLAGS) & BOLT_FLAG_META) == 0)
        return CAIRN_ECORRUPT;
    const uint8_t *meta = page + BOLT_PAGE_HDR;
    if (bolt_le32(meta + BOLT_META_OFF_MAGIC) != BOLT_MAGIC ||
        bolt_le32(meta + BOLT_META_OFF_VER) != BOLT_VERSION)
        return CAIRN_ECORRUPT;
    if (bolt_le64(meta + BOLT_META_OFF_CSUM) != bolt_fnv64a(meta, BOLT_META_OFF_CSUM))
        return CAIRN_ECORRUPT;
    m->page_size = bolt_le32(meta + BOLT_META_OFF_PSIZE);
    m->flags = bolt_le32(meta + BOLT_META_OFF_FLAGS);
    m->root_pgid = bolt_le64(meta + BOLT_META_OFF_ROOT);
    m->root_seq = bolt_le64(meta + BOLT_META_OFF_SEQ);
    m->freelist_pgid = bolt_le64(meta + BOLT_META_OFF_FREE);
    m->pgid = bolt_le64(meta + BOLT_META_OFF_PGID);
    m->txid = bolt_le64(meta + BOLT_META_OFF_TXID);
    return 0;
}
