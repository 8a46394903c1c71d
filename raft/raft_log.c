/*
 * The raft log: the persisted part read through struct raft_storage plus the unstable
 * tail (a snapshot and/or entries) that the caller has not yet been told to persist.
 * The data of the entries appended together (a proposal batch, one append message) sits in
 * one block from the log's allocator, freed when its last entry leaves the tail: one
 * allocation per batch instead of one per entry.
 */
#include "raft_int.h"

#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void default_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

void raft_allocator_resolve(const struct raft_allocator *in, struct raft_allocator *out)
{
    if (in && in->alloc) {
        CAIRN_ASSERT(in->free != NULL);
        *out = *in;
    } else {
        out->ctx = NULL;
        out->alloc = default_alloc;
        out->free = default_free;
    }
}

void *raft_mem_alloc(const struct raft_allocator *a, size_t size)
{
    CAIRN_ASSERT(a->alloc != NULL);
    return a->alloc(a->ctx, size == 0 ? 1 : size);
}

void raft_mem_free(const struct raft_allocator *a, void *p)
{
    if (p)
        a->free(a->ctx, p);
}

uint64_t raft_entries_bytes(const struct raft_entry *e, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += e[i].len;
    return sum;
}

/* Storage may only fail in the documented, recoverable ways; anything else is fatal. */
static int storage_ok(int rc)
{
    CAIRN_ASSERT(rc == 0 || rc == CAIRN_ECOMPACTED || rc == CAIRN_EUNAVAILABLE);
    return rc;
}

static uint64_t storage_first(const struct raft_log *l)
{
    uint64_t i = 0;
    CAIRN_ASSERT(l->st.first_index(l->st.ctx, &i) == 0);
    CAIRN_ASSERT(i >= 1);
    return i;
}

static uint64_t storage_last(const struct raft_log *l)
{
    uint64_t i = 0;
    CAIRN_ASSERT(l->st.last_index(l->st.ctx, &i) == 0);
    return i;
}

int raft_log_init(struct raft_log *l, const struct raft_storage *st, const struct raft_allocator *a)
{
    CAIRN_ASSERT(st && st->entries && st->term && st->first_index && st->last_index);
    memset(l, 0, sizeof(*l));
    l->st = *st;
    l->alloc = *a;
    uint64_t first = storage_first(l);
    uint64_t last = storage_last(l);
    if (last + 1 < first)
        return CAIRN_ECORRUPT;
    l->offset = last + 1;
    /* Everything up to the snapshot (first - 1) was committed and applied. */
    l->committed = first - 1;
    l->applied = first - 1;
    return 0;
}

struct raft_blk {
    uint64_t refs; /* entries still pointing into this block; 8 bytes keep data aligned */
};

static void unref(struct raft_log *l, size_t i)
{
    struct raft_blk *b = l->blk[i];
    if (!b)
        return;
    CAIRN_ASSERT(b->refs > 0);
    if (--b->refs == 0)
        raft_mem_free(&l->alloc, b);
    l->blk[i] = NULL;
}

static void free_unstable_from(struct raft_log *l, size_t from)
{
    for (size_t i = from; i < l->n; i++)
        unref(l, i);
    l->n = from;
}

void raft_log_destroy(struct raft_log *l)
{
    free_unstable_from(l, 0);
    raft_mem_free(&l->alloc, l->ents);
    raft_mem_free(&l->alloc, l->blk);
    l->ents = NULL;
    l->blk = NULL;
    l->cap = 0;
}

uint64_t raft_log_first_index(const struct raft_log *l)
{
    if (l->has_snap)
        return l->snap.index + 1;
    return storage_first(l);
}

uint64_t raft_log_last_index(const struct raft_log *l)
{
    if (l->n > 0)
        return l->offset + l->n - 1;
    if (l->has_snap)
        return l->snap.index;
    return storage_last(l);
}

uint64_t raft_log_stable_last(const struct raft_log *l)
{
    if (l->has_snap)
        return 0;
    if (l->n > 0)
        return l->offset - 1;
    return raft_log_last_index(l);
}

int raft_log_term(const struct raft_log *l, uint64_t index, uint64_t *term)
{
    if (l->has_snap && index == l->snap.index) {
        *term = l->snap.term;
        return 0;
    }
    if (l->n > 0 && index >= l->offset) {
        if (index - l->offset >= l->n)
            return CAIRN_EUNAVAILABLE;
        *term = l->ents[index - l->offset].term;
        return 0;
    }
    uint64_t first = raft_log_first_index(l);
    if (index + 1 < first)
        return CAIRN_ECOMPACTED;
    if (index > raft_log_last_index(l))
        return CAIRN_EUNAVAILABLE;
    /* An unstable snapshot covers everything up to it; entries after it are unstable. */
    CAIRN_ASSERT(!l->has_snap);
    return storage_ok(l->st.term(l->st.ctx, index, term));
}

uint64_t raft_log_term_or_zero(const struct raft_log *l, uint64_t index)
{
    uint64_t t = 0;
    if (raft_log_term(l, index, &t) != 0)
        return 0;
    return t;
}

uint64_t raft_log_last_term(const struct raft_log *l)
{
    uint64_t t = 0;
    CAIRN_ASSERT(raft_log_term(l, raft_log_last_index(l), &t) == 0);
    return t;
}

int raft_log_match_term(const struct raft_log *l, uint64_t index, uint64_t term)
{
    uint64_t t = 0;
    return raft_log_term(l, index, &t) == 0 && t == term;
}

int raft_log_is_up_to_date(const struct raft_log *l, uint64_t last_index, uint64_t term)
{
    uint64_t my_term = raft_log_last_term(l);
    return term > my_term || (term == my_term && last_index >= raft_log_last_index(l));
}

uint64_t raft_log_find_conflict(const struct raft_log *l, const struct raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!raft_log_match_term(l, e[i].index, e[i].term))
            return e[i].index;
    }
    return 0;
}

uint64_t raft_log_find_conflict_by_term(const struct raft_log *l, uint64_t index, uint64_t term,
                                        uint64_t *found_term)
{
    uint64_t last = raft_log_last_index(l);
    *found_term = 0;
    if (index > last)
        return index;
    /* Bounded by index: each step moves one entry back. */
    for (;; index--) {
        uint64_t t = 0;
        if (raft_log_term(l, index, &t) != 0)
            return index;
        if (t <= term) {
            *found_term = t;
            return index;
        }
        CAIRN_ASSERT(index > 0); /* term(0) == 0 <= any term */
    }
}

static int reserve(struct raft_log *l, size_t extra)
{
    if (l->n + extra <= l->cap)
        return 0;
    size_t cap = l->cap ? l->cap : 64;
    while (cap < l->n + extra)
        cap *= 2;
    struct raft_entry *v = raft_mem_alloc(&l->alloc, cap * sizeof(*v));
    struct raft_blk **b = raft_mem_alloc(&l->alloc, cap * sizeof(*b));
    if (!v || !b) {
        raft_mem_free(&l->alloc, v);
        raft_mem_free(&l->alloc, b);
        return CAIRN_ENOMEM;
    }
    if (l->n) {
        memcpy(v, l->ents, l->n * sizeof(*v));
        memcpy(b, l->blk, l->n * sizeof(*b));
    }
    raft_mem_free(&l->alloc, l->ents);
    raft_mem_free(&l->alloc, l->blk);
    l->ents = v;
    l->blk = b;
    l->cap = cap;
    return 0;
}

/* Copies e[0..n) into ents/blks (headers plus one data block for all); all or nothing. */
static int copy_entries(struct raft_log *l, const struct raft_entry *e, size_t n,
                        struct raft_entry *ents, struct raft_blk **blks)
{
    uint64_t bytes = raft_entries_bytes(e, n), refs = 0;
    struct raft_blk *b = NULL;
    if (bytes > 0) {
        b = raft_mem_alloc(&l->alloc, sizeof(*b) + (size_t)bytes);
        if (!b)
            return CAIRN_ENOMEM;
    }
    uint8_t *d = b ? (uint8_t *)(b + 1) : NULL;
    for (size_t i = 0; i < n; i++) {
        ents[i] = e[i];
        ents[i].data = NULL;
        blks[i] = NULL;
        if (e[i].len == 0)
            continue;
        memcpy(d, e[i].data, e[i].len);
        ents[i].data = d;
        blks[i] = b;
        d += e[i].len;
        refs++;
    }
    if (b) {
        b->refs = refs;
        CAIRN_ASSERT((uint64_t)(d - (uint8_t *)(b + 1)) == bytes);
    }
    return 0;
}

int raft_log_append(struct raft_log *l, const struct raft_entry *e, size_t n)
{
    if (n == 0)
        return 0;
    uint64_t after = e[0].index;
    CAIRN_ASSERT(after > l->committed);
    CAIRN_ASSERT(after <= raft_log_last_index(l) + 1);
    for (size_t i = 1; i < n; i++)
        CAIRN_ASSERT(e[i].index == after + i);
    /* Copy first, into the reserved space past the tail, so a failure changes nothing. */
    if (reserve(l, n) != 0)
        return CAIRN_ENOMEM;
    size_t old = l->n;
    if (copy_entries(l, e, n, l->ents + old, l->blk + old) != 0)
        return CAIRN_ENOMEM;
    if (old == 0) /* an empty tail starts right after the persisted log */
        l->offset = (l->has_snap ? l->snap.index : storage_last(l)) + 1;
    size_t at;
    if (after <= l->offset) {
        at = 0; /* replaces the whole unstable tail (and storage's suffix from `after`) */
        l->offset = after;
    } else {
        at = (size_t)(after - l->offset);
        CAIRN_ASSERT(at <= old);
    }
    for (size_t i = at; i < old; i++)
        unref(l, i);
    memmove(l->ents + at, l->ents + old, n * sizeof(*l->ents));
    memmove(l->blk + at, l->blk + old, n * sizeof(*l->blk));
    l->n = at + n;
    return 0;
}

int raft_log_maybe_append(struct raft_log *l, uint64_t index, uint64_t log_term, uint64_t commit,
                          const struct raft_entry *e, size_t n, uint64_t *last_new)
{
    if (!raft_log_match_term(l, index, log_term))
        return 0;
    uint64_t lastnew = index + n;
    uint64_t ci = raft_log_find_conflict(l, e, n);
    if (ci != 0) {
        /* Raft never overwrites a committed entry; a leader asking for it is broken. */
        CAIRN_ASSERT(ci > l->committed);
        size_t skip = (size_t)(ci - (index + 1));
        CAIRN_ASSERT(skip < n);
        if (raft_log_append(l, e + skip, n - skip) != 0)
            return CAIRN_ENOMEM;
    }
    raft_log_commit_to(l, commit < lastnew ? commit : lastnew);
    *last_new = lastnew;
    return 1;
}

/* How many of e[0..n) fit in max_bytes (at least `min` entries). */
static size_t limit_bytes(const struct raft_entry *e, size_t n, uint64_t max_bytes, size_t min,
                          uint64_t *used)
{
    uint64_t sum = *used;
    size_t k = 0;
    for (; k < n; k++) {
        if (k >= min && (max_bytes - sum < e[k].len || sum > max_bytes))
            break;
        sum += e[k].len;
    }
    *used = sum;
    return k;
}

static int slice_storage(const struct raft_log *l, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                         struct raft_entries *se)
{
    memset(se, 0, sizeof(*se));
    int rc = storage_ok(l->st.entries(l->st.ctx, lo, hi, max_bytes, &l->alloc, se));
    if (rc != 0)
        return rc;
    CAIRN_ASSERT(se->n >= 1 && se->n <= hi - lo);
    for (size_t i = 0; i < se->n; i++)
        CAIRN_ASSERT(se->e[i].index == lo + i);
    return 0;
}

int raft_log_slice(const struct raft_log *l, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                   struct raft_slice *out)
{
    memset(out, 0, sizeof(*out));
    CAIRN_ASSERT(lo <= hi && hi <= raft_log_last_index(l) + 1);
    if (lo == hi)
        return 0;
    if (lo < raft_log_first_index(l))
        return CAIRN_ECOMPACTED;
    uint64_t used = 0;
    if (l->n > 0 && lo >= l->offset) {
        const struct raft_entry *e = l->ents + (lo - l->offset);
        out->e = e;
        out->n = limit_bytes(e, (size_t)(hi - lo), max_bytes, 1, &used);
        return 0;
    }
    uint64_t st_hi = (l->n > 0 && hi > l->offset) ? l->offset : hi;
    struct raft_entries se;
    int rc = slice_storage(l, lo, st_hi, max_bytes, &se);
    if (rc != 0)
        return rc;
    out->e = se.e;
    out->n = se.n;
    out->storage_mem = se.mem;
    if (se.n < st_hi - lo || st_hi == hi)
        return 0;
    used = raft_entries_bytes(se.e, se.n);
    size_t un = limit_bytes(l->ents, (size_t)(hi - st_hi), max_bytes, 0, &used);
    if (un == 0)
        return 0;
    struct raft_entry *m = raft_mem_alloc(&l->alloc, (se.n + un) * sizeof(*m));
    if (!m)
        return 0; /* the storage part alone is a valid (shorter) answer */
    memcpy(m, se.e, se.n * sizeof(*m));
    memcpy(m + se.n, l->ents, un * sizeof(*m));
    out->merged = m;
    out->e = m;
    out->n = se.n + un;
    return 0;
}

void raft_slice_free(const struct raft_log *l, struct raft_slice *s)
{
    raft_mem_free(&l->alloc, s->storage_mem);
    raft_mem_free(&l->alloc, s->merged);
    memset(s, 0, sizeof(*s));
}

void raft_log_commit_to(struct raft_log *l, uint64_t index)
{
    if (index <= l->committed)
        return;
    CAIRN_ASSERT(index <= raft_log_last_index(l));
    l->committed = index;
}

void raft_log_applied_to(struct raft_log *l, uint64_t index)
{
    CAIRN_ASSERT(index <= l->committed);
    CAIRN_ASSERT(index >= l->applied);
    l->applied = index;
}

void raft_log_restore(struct raft_log *l, const struct raft_snapshot_meta *meta)
{
    CAIRN_ASSERT(meta->index > l->committed);
    free_unstable_from(l, 0);
    l->offset = meta->index + 1;
    l->snap = *meta;
    l->has_snap = 1;
    l->committed = meta->index;
}

void raft_log_stable_to(struct raft_log *l, uint64_t index, uint64_t term)
{
    if (l->n == 0 || index < l->offset || index - l->offset >= l->n)
        return;
    size_t k = (size_t)(index - l->offset) + 1;
    if (l->ents[k - 1].term != term)
        return; /* replaced since it was handed out */
    for (size_t i = 0; i < k; i++)
        unref(l, i);
    memmove(l->ents, l->ents + k, (l->n - k) * sizeof(*l->ents));
    memmove(l->blk, l->blk + k, (l->n - k) * sizeof(*l->blk));
    l->n -= k;
    l->offset = index + 1;
    CAIRN_ASSERT(l->n == 0 || l->ents[0].index == l->offset);
}

void raft_log_stable_snap_to(struct raft_log *l, uint64_t index)
{
    if (l->has_snap && l->snap.index == index)
        l->has_snap = 0;
}

int raft_log_has_conf_change(const struct raft_log *l, uint64_t lo, uint64_t hi)
{
    uint64_t first = raft_log_first_index(l);
    uint64_t next = lo + 1 > first ? lo + 1 : first;
    /* Pages of 1 MiB; each page advances by at least one entry, so this ends. */
    while (next <= hi) {
        struct raft_slice s;
        if (raft_log_slice(l, next, hi + 1, 1u << 20, &s) != 0)
            return 0;
        int found = 0;
        for (size_t i = 0; i < s.n && !found; i++)
            found = s.e[i].type == RAFT_ENTRY_CONF_CHANGE;
        next += s.n;
        raft_slice_free(l, &s);
        if (found)
            return 1;
    }
    return 0;
}
