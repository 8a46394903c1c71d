/*
 * bolt_format.h — bolt/'s internal view of bbolt's on-disk structures: offsets, flags and
 * little-endian accessors. bbolt writes its Go structs as they sit in memory on amd64, so
 * every integer is little-endian and the layout is fixed (no padding in these structs).
 * Not for use outside bolt/.
 */
#ifndef CAIRN_BOLT_FORMAT_H
#define CAIRN_BOLT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* page header: id u64, flags u16, count u16, overflow u32 */
#define BOLT_PAGE_HDR       16u
#define BOLT_PAGE_OFF_ID    0u
#define BOLT_PAGE_OFF_FLAGS 8u
#define BOLT_PAGE_OFF_COUNT 10u
#define BOLT_PAGE_OFF_OVFL  12u

#define BOLT_FLAG_BRANCH   0x01u
#define BOLT_FLAG_LEAF     0x02u
#define BOLT_FLAG_META     0x04u
#define BOLT_FLAG_FREELIST 0x10u

/* leaf element: flags u32, pos u32, ksize u32, vsize u32; branch element: pos u32,
 * ksize u32, pgid u64. Both 16 bytes; pos counts from the element's own first byte. */
#define BOLT_ELEM_SIZE        16u
#define BOLT_LEAF_FLAG_BUCKET 0x01u

/* bucket header (a bucket's value in its parent): root pgid u64, sequence u64. root 0
 * means inline: a leaf page image follows the header inside the value. */
#define BOLT_BUCKET_HDR 16u

/* meta (after the page header): magic u32, version u32, pageSize u32, flags u32,
 * root bucket {root u64, sequence u64}, freelist u64, pgid u64, txid u64, checksum u64.
 * The checksum is FNV-64a over the 56 bytes before it. */
#define BOLT_MAGIC          0xED0CDAEDu
#define BOLT_VERSION        2u
#define BOLT_META_OFF_MAGIC 0u
#define BOLT_META_OFF_VER   4u
#define BOLT_META_OFF_PSIZE 8u
#define BOLT_META_OFF_FLAGS 12u
#define BOLT_META_OFF_ROOT  16u
#define BOLT_META_OFF_SEQ   24u
#define BOLT_META_OFF_FREE  32u
#define BOLT_META_OFF_PGID  40u
#define BOLT_META_OFF_TXID  48u
#define BOLT_META_OFF_CSUM  56u
#define BOLT_META_SIZE      64u

/* freelist page: count u16 in the header, then u64 ids; count 0xFFFF means the real count
 * is the first u64. */
#define BOLT_FREELIST_COUNT_OVERFLOW 0xFFFFu

/* bbolt inlines a bucket whose single leaf page is at most a quarter page. */
#define BOLT_INLINE_MAX(page_size) ((page_size) / 4u)

static inline uint16_t bolt_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t bolt_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t bolt_le64(const uint8_t *p)
{
    return (uint64_t)bolt_le32(p) | ((uint64_t)bolt_le32(p + 4) << 32);
}

static inline void bolt_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void bolt_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void bolt_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* meta page encode/check (bolt_meta.c) */
struct bolt_meta {
    uint32_t page_size;
    uint32_t flags;
    uint64_t root_pgid;
    uint64_t root_seq;
    uint64_t freelist_pgid;
    uint64_t pgid; /* high-water mark */
    uint64_t txid;
};

uint64_t bolt_fnv64a(const uint8_t *p, size_t n);

/* Fills a whole page (page_size bytes, page id pgid) with the meta page image. */
void bolt_meta_encode(const struct bolt_meta *m, uint64_t pgid, uint8_t *page, size_t page_size);

/* Parses the meta at page + BOLT_PAGE_HDR (len bytes available from page). Checks the page
 * flags, magic, version and checksum only. Returns 0 or CAIRN_ECORRUPT. */
int bolt_meta_decode(const uint8_t *page, size_t len, struct bolt_meta *m);

#endif /* CAIRN_BOLT_FORMAT_H */
