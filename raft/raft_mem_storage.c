/* In-memory struct raft_storage: a contiguous entry array after a compaction point. The
 * data of each appended batch sits in one refcounted block (as in raft_log.c). */
#include "raft_mem_storage.h"

#include "raft_int.h"

#include <string.h>

struct raft_mem_storage {
    struct raft_allocator alloc;
    struct raft_hard_state hs;
    struct raft_conf_state cs;
    struct raft_snapshot_meta snap; /* latest snapshot, index 0 = none */
    uint64_t base_index;            /* compaction point: ents[i].index == base_index + 1 + i */
    uint64_t base_term;
    struct raft_entry *ents;
    uint64_t **blk; /* blk[i]: the block holding ents[i].data (refcount first), or NULL */
    size_t n;
    size_t cap;
};

static void unref(struct raft_mem_storage *ms, size_t i)
{
    uint64_t *b = ms->blk[i];
    if (!b)
        return;
    CAIRN_ASSERT(*b > 0);
    if (--*b == 0)
        raft_mem_free(&ms->alloc, b);
    ms->blk[i] = NULL;
}

int raft_mem_storage_create(const struct raft_allocator *alloc, struct raft_mem_storage **out)
{
    struct raft_allocator a;
    raft_allocator_resolve(alloc, &a);
    struct raft_mem_storage *ms = raft_mem_alloc(&a, sizeof(*ms));
    if (!ms)
        return CAIRN_ENOMEM;
    memset(ms, 0, sizeof(*ms));
    ms->alloc = a;
    *out = ms;
    return 0;
}

static void truncate_from(struct raft_mem_storage *ms, size_t k)
{
    for (size_t i = k; i < ms->n; i++)
        unref(ms, i);
    if (k < ms->n)
        ms->n = k;
}

void raft_mem_storage_free(struct raft_mem_storage *ms)
{
    if (!ms)
        return;
    truncate_from(ms, 0);
    raft_mem_free(&ms->alloc, ms->ents);
    raft_mem_free(&ms->alloc, ms->blk);
    raft_mem_free(&ms->alloc, ms);
}

static uint64_t last_index(const struct raft_mem_storage *ms)
{
    return ms->base_index + ms->n;
}

const struct raft_entry *raft_mem_storage_entry(const struct raft_mem_storage *ms, uint64_t index)
{
    if (index <= ms->base_index || index > last_index(ms))
        return NULL;
    return &ms->ents[index - ms->base_index - 1];
}

static int ms_initial_state(void *ctx, struct raft_hard_state *hs, struct raft_conf_state *cs)
{
    const struct raft_mem_storage *ms = ctx;
    *hs = ms->hs;
    *cs = ms->cs;
    return 0;
}

static int ms_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                      const struct raft_allocator *alloc, struct raft_entries *out)
{
    const struct raft_mem_storage *ms = ctx;
    memset(out, 0, sizeof(*out));
    if (lo <= ms->base_index)
        return CAIRN_ECOMPACTED;
    if (hi > last_index(ms) + 1 || lo >= hi)
        return CAIRN_EUNAVAILABLE;
    const struct raft_entry *src = raft_mem_storage_entry(ms, lo);
    size_t n = 0;
    uint64_t bytes = 0;
    for (; n < hi - lo; n++) {
        if (n > 0 && (bytes + src[n].len > max_bytes || bytes + src[n].len < bytes))
            break;
        bytes += src[n].len;
    }
    uint8_t *blk = alloc->alloc(alloc->ctx, n * sizeof(struct raft_entry) + (size_t)bytes);
    if (!blk)
        return CAIRN_ENOMEM;
    struct raft_entry *e = (struct raft_entry *)(void *)blk;
    uint8_t *d = blk + n * sizeof(struct raft_entry);
    for (size_t i = 0; i < n; i++) {
        e[i] = src[i];
        if (src[i].len) {
            memcpy(d, src[i].data, src[i].len);
            e[i].data = d;
            d += src[i].len;
        }
    }
    out->e = e;
    out->n = n;
    out->mem = blk;
    return 0;
}

static int ms_term(void *ctx, uint64_t index, uint64_t *term)
{
    const struct raft_mem_storage *ms = ctx;
    if (index < ms->base_index)
        return CAIRN_ECOMPACTED;
    if (index > last_index(ms))
        return CAIRN_EUNAVAILABLE;
    *term = index == ms->base_index ? ms->base_term : raft_mem_storage_entry(ms, index)->term;
    return 0;
}

static int ms_first_index(void *ctx, uint64_t *index)
{
    const struct raft_mem_storage *ms = ctx;
    *index = ms->base_index + 1;
    return 0;
}

static int ms_last_index(void *ctx, uint64_t *index)
{
    *index = last_index(ctx);
    return 0;
}

static int ms_snapshot(void *ctx, struct raft_snapshot_meta *meta)
{
    const struct raft_mem_storage *ms = ctx;
    *meta = ms->snap;
    return ms->snap.index ? 0 : CAIRN_EUNAVAILABLE;
}

void raft_mem_storage_iface(struct raft_mem_storage *ms, struct raft_storage *out)
{
    out->ctx = ms;
    out->initial_state = ms_initial_state;
    out->entries = ms_entries;
    out->term = ms_term;
    out->first_index = ms_first_index;
    out->last_index = ms_last_index;
    out->snapshot = ms_snapshot;
}

static int reserve(struct raft_mem_storage *ms, size_t need)
{
    if (need <= ms->cap)
        return 0;
    size_t cap = ms->cap ? ms->cap : 64;
    while (cap < need)
        cap *= 2;
    struct raft_entry *v = raft_mem_alloc(&ms->alloc, cap * sizeof(*v));
    uint64_t **b = raft_mem_alloc(&ms->alloc, cap * sizeof(*b));
    if (!v || !b) {
        raft_mem_free(&ms->alloc, v);
        raft_mem_free(&ms->alloc, b);
        return CAIRN_ENOMEM;
    }
    if (ms->n) {
        memcpy(v, ms->ents, ms->n * sizeof(*v));
        memcpy(b, ms->blk, ms->n * sizeof(*b));
    }
    raft_mem_free(&ms->alloc, ms->ents);
    raft_mem_free(&ms->alloc, ms->blk);
    ms->ents = v;
    ms->blk = b;
    ms->cap = cap;
    return 0;
}

int raft_mem_storage_append(struct raft_mem_storage *ms, const struct raft_entry *e, size_t n)
{
    /* Skip what a snapshot already covers. */
    while (n > 0 && e[0].index <= ms->base_index) {
        e++;
        n--;
    }
    if (n == 0)
        return 0;
    if (e[0].index > last_index(ms) + 1)
        return CAIRN_EINVAL;
    size_t at = (size_t)(e[0].index - ms->base_index - 1);
    if (reserve(ms, at + n) != 0)
        return CAIRN_ENOMEM;
    uint64_t bytes = raft_entries_bytes(e, n), refs = 0;
    uint64_t *b = NULL;
    if (bytes > 0 && !(b = raft_mem_alloc(&ms->alloc, sizeof(*b) + (size_t)bytes)))
        return CAIRN_ENOMEM;
    truncate_from(ms, at);
    uint8_t *d = b ? (uint8_t *)(b + 1) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct raft_entry c = e[i];
        CAIRN_ASSERT(c.index == e[0].index + i);
        c.data = NULL;
        ms->blk[ms->n] = NULL;
        if (c.len) {
            memcpy(d, e[i].data, c.len);
            c.data = d;
            d += c.len;
            ms->blk[ms->n] = b;
            refs++;
        }
        ms->ents[ms->n++] = c;
    }
    if (b)
        *b = refs;
    return 0;
}

void raft_mem_storage_set_hard_state(struct raft_mem_storage *ms, const struct raft_hard_state *hs)
{
    ms->hs = *hs;
}

void raft_mem_storage_hard_state(const struct raft_mem_storage *ms, struct raft_hard_state *hs)
{
    *hs = ms->hs;
}

void raft_mem_storage_set_conf(struct raft_mem_storage *ms, const struct raft_conf_state *cs)
{
    ms->cs = *cs;
}

int raft_mem_storage_apply_snapshot(struct raft_mem_storage *ms,
                                    const struct raft_snapshot_meta *meta)
{
    if (meta->index <= ms->snap.index || meta->index <= ms->base_index)
        return CAIRN_ECOMPACTED;
    truncate_from(ms, 0);
    ms->base_index = meta->index;
    ms->base_term = meta->term;
    ms->snap = *meta;
    ms->cs = meta->conf;
    return 0;
}

int raft_mem_storage_create_snapshot(struct raft_mem_storage *ms, uint64_t index,
                                     const struct raft_conf_state *cs)
{
    if (index <= ms->snap.index || index < ms->base_index)
        return CAIRN_ECOMPACTED;
    if (index > last_index(ms))
        return CAIRN_EUNAVAILABLE;
    uint64_t term = 0;
    CAIRN_ASSERT(ms_term(ms, index, &term) == 0);
    ms->snap.index = index;
    ms->snap.term = term;
    ms->snap.conf = *cs;
    return 0;
}

int raft_mem_storage_compact(struct raft_mem_storage *ms, uint64_t index)
{
    if (index <= ms->base_index)
        return CAIRN_ECOMPACTED;
    if (index > ms->snap.index || index > last_index(ms))
        return CAIRN_EINVAL;
    size_t k = (size_t)(index - ms->base_index);
    uint64_t term = ms->ents[k - 1].term;
    for (size_t i = 0; i < k; i++)
        unref(ms, i);
    memmove(ms->ents, ms->ents + k, (ms->n - k) * sizeof(*ms->ents));
    memmove(ms->blk, ms->blk + k, (ms->n - k) * sizeof(*ms->blk));
    ms->n -= k;
    ms->base_index = index;
    ms->base_term = term;
    return 0;
}

int raft_mem_storage_save(struct raft_mem_storage *ms, const struct raft_ready *rd)
{
    int rc = 0;
    if (rd->snapshot)
        rc = raft_mem_storage_apply_snapshot(ms, rd->snapshot);
    if (rc == 0 || rc == CAIRN_ECOMPACTED)
        rc = raft_mem_storage_append(ms, rd->entries, rd->n_entries);
    if (rc != 0)
        return rc;
    if (rd->hs_changed)
        ms->hs = rd->hs;
    if (rd->conf_changed)
        ms->cs = rd->conf;
    return 0;
}
