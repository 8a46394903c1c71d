/*
 * Cursors: in-order walks of one bucket's B+tree, a stack of loaded pages from the root
 * down. A hostile file cannot make a walk loop or blow up: the stack is at most
 * BOLT_DEPTH_MAX deep, one walk loads at most page_count pages (a real tree has each page
 * once), and every key must be above the one before it.
 */
#include "bolt.h"
#include "bolt_format.h"
#include "bolt_page.h"
#include "common.h"

#include <stdlib.h>
#include <string.h>

struct bolt_level {
    struct bolt_pagebuf pb;
    int is_leaf;
    uint32_t count;
    uint32_t idx; /* leaf: next element to return; branch: next child to descend into */
};

enum { CUR_FRESH, CUR_ACTIVE, CUR_END };

struct bolt_cursor {
    struct bolt_reader *r;
    uint64_t root_pgid; /* 0: inline bucket, its page is in inline_page */
    uint8_t *inline_page;
    size_t inline_len;
    struct bolt_level lv[BOLT_DEPTH_MAX];
    int depth;
    int state;
    int err;        /* sticky */
    uint64_t loads; /* pages loaded since the last seek */
    uint8_t *prev;  /* the last key returned, for the order check */
    size_t prev_len;
    size_t prev_cap;
    int have_prev;
};

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

/* Element i's key (valid: the page was validated when loaded). */
static const uint8_t *elem_key(const struct bolt_level *l, uint32_t i, size_t *klen)
{
    CAIRN_ASSERT(i < l->count);
    const uint8_t *el = l->pb.buf + BOLT_PAGE_HDR + (size_t)i * BOLT_ELEM_SIZE;
    if (l->is_leaf) {
        *klen = bolt_le32(el + 8);
        return el + bolt_le32(el + 4);
    }
    *klen = bolt_le32(el + 4);
    return el + bolt_le32(el);
}

static uint64_t elem_pgid(const struct bolt_level *l, uint32_t i)
{
    CAIRN_ASSERT(!l->is_leaf && i < l->count);
    return bolt_le64(l->pb.buf + BOLT_PAGE_HDR + (size_t)i * BOLT_ELEM_SIZE + 8);
}

/* Pushes page pgid (or the inline root when depth is 0 and the bucket is inline). */
static int push(struct bolt_cursor *c, uint64_t pgid)
{
    if (c->depth >= BOLT_DEPTH_MAX)
        return CAIRN_ECORRUPT;
    struct bolt_level *l = &c->lv[c->depth];
    int rc;
    if (c->depth == 0 && c->root_pgid == 0) {
        if (l->pb.cap < c->inline_len) {
            uint8_t *b = realloc(l->pb.buf, c->inline_len);
            if (!b)
                return CAIRN_ENOMEM;
            l->pb.buf = b;
            l->pb.cap = c->inline_len;
        }
        memcpy(l->pb.buf, c->inline_page, c->inline_len);
        l->pb.len = c->inline_len;
        rc = bolt_page_validate(l->pb.buf, l->pb.len, &l->is_leaf, &l->count);
    } else {
        if (++c->loads > c->r->info.page_count)
            return CAIRN_ECORRUPT; /* more pages than the file has: a cycle or shared page */
        rc = bolt_page_load(c->r, pgid, &l->pb, &l->is_leaf, &l->count);
    }
    if (rc)
        return rc;
    l->idx = 0;
    c->depth++;
    return 0;
}

static int fail(struct bolt_cursor *c, int rc)
{
    CAIRN_ASSERT(rc < 0);
    c->err = rc;
    return rc;
}

/* Lower bound in a leaf: the first element with key >= key. */
static uint32_t leaf_search(const struct bolt_level *l, const uint8_t *key, size_t klen)
{
    uint32_t lo = 0, hi = l->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        size_t ml;
        const uint8_t *mk = elem_key(l, mid, &ml);
        if (key_cmp(mk, ml, key, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* In a branch: the last child whose first key is <= key (0 if none). */
static uint32_t branch_search(const struct bolt_level *l, const uint8_t *key, size_t klen)
{
    uint32_t lo = 0, hi = l->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        size_t ml;
        const uint8_t *mk = elem_key(l, mid, &ml);
        if (key_cmp(mk, ml, key, klen) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : 0;
}

int bolt_cursor_seek(struct bolt_cursor *c, const void *key, size_t klen)
{
    CAIRN_ASSERT(c != NULL);
    CAIRN_ASSERT(key != NULL || klen == 0);
    if (c->err)
        return c->err;
    c->depth = 0;
    c->loads = 0;
    c->have_prev = 0;
    c->state = CUR_ACTIVE;
    int rc = push(c, c->root_pgid);
    for (int guard = 0; rc == 0 && guard < BOLT_DEPTH_MAX; guard++) {
        struct bolt_level *l = &c->lv[c->depth - 1];
        if (l->is_leaf) {
            l->idx = leaf_search(l, key, klen);
            return 0;
        }
        uint32_t i = branch_search(l, key, klen);
        l->idx = i + 1;
        rc = push(c, elem_pgid(l, i));
    }
    return fail(c, rc ? rc : CAIRN_ECORRUPT);
}

/* Returns element idx of the leaf on top; checks the order against the previous key. */
static int emit(struct bolt_cursor *c, struct bolt_level *l, struct bolt_item *item)
{
    const uint8_t *el = l->pb.buf + BOLT_PAGE_HDR + (size_t)l->idx * BOLT_ELEM_SIZE;
    uint32_t flags = bolt_le32(el);
    size_t klen = bolt_le32(el + 8);
    const uint8_t *k = el + bolt_le32(el + 4);
    if (c->have_prev && key_cmp(c->prev, c->prev_len, k, klen) >= 0)
        return CAIRN_ECORRUPT;
    if (c->prev_cap < klen) {
        uint8_t *p = realloc(c->prev, klen);
        if (!p)
            return CAIRN_ENOMEM;
        c->prev = p;
        c->prev_cap = klen;
    }
    if (klen)
        memcpy(c->prev, k, klen);
    c->prev_len = klen;
    c->have_prev = 1;
    item->key = k;
    item->key_len = klen;
    item->val = k + klen;
    item->val_len = bolt_le32(el + 12);
    item->is_bucket = (flags & BOLT_LEAF_FLAG_BUCKET) != 0;
    l->idx++;
    return 1;
}

int bolt_cursor_next(struct bolt_cursor *c, struct bolt_item *item)
{
    CAIRN_ASSERT(c != NULL);
    CAIRN_ASSERT(item != NULL);
    if (c->err)
        return c->err;
    if (c->state == CUR_END)
        return 0;
    if (c->state == CUR_FRESH) {
        int rc = bolt_cursor_seek(c, NULL, 0);
        if (rc)
            return rc;
    }
    /* each pass pops or pushes a page or returns; pushes are bounded by c->loads */
    for (;;) {
        if (c->depth == 0) {
            c->state = CUR_END;
            return 0;
        }
        struct bolt_level *l = &c->lv[c->depth - 1];
        if (l->idx >= l->count) {
            c->depth--;
            continue;
        }
        int rc;
        if (l->is_leaf) {
            rc = emit(c, l, item);
            if (rc == 1)
                return 1;
        } else {
            uint64_t child = elem_pgid(l, l->idx);
            l->idx++;
            rc = push(c, child);
            if (rc == 0)
                continue;
        }
        return fail(c, rc);
    }
}

/* A top-level bucket's value: header {root, sequence} and, when root is 0, an inline leaf. */
static int open_bucket_value(struct bolt_cursor *c, const uint8_t *val, size_t vlen)
{
    if (vlen < BOLT_BUCKET_HDR)
        return CAIRN_ECORRUPT;
    c->root_pgid = bolt_le64(val);
    if (c->root_pgid != 0)
        return c->root_pgid < c->r->info.page_count ? 0 : CAIRN_ECORRUPT;
    size_t len = vlen - BOLT_BUCKET_HDR;
    int is_leaf;
    uint32_t count;
    int rc = bolt_page_validate(val + BOLT_BUCKET_HDR, len, &is_leaf, &count);
    if (rc)
        return rc;
    if (!is_leaf) /* an inline bucket is a single leaf */
        return CAIRN_ECORRUPT;
    c->inline_page = malloc(len);
    if (!c->inline_page)
        return CAIRN_ENOMEM;
    memcpy(c->inline_page, val + BOLT_BUCKET_HDR, len);
    c->inline_len = len;
    return 0;
}

int bolt_cursor_open(struct bolt_reader *r, const void *name, size_t len, struct bolt_cursor **out)
{
    CAIRN_ASSERT(r != NULL && out != NULL);
    CAIRN_ASSERT(name != NULL || len == 0);
    *out = NULL;
    struct bolt_cursor *c = calloc(1, sizeof(*c));
    if (!c)
        return CAIRN_ENOMEM;
    c->r = r;
    c->root_pgid = r->info.root_pgid;
    int rc = 0;
    if (name) {
        struct bolt_cursor *root = NULL;
        struct bolt_item it;
        rc = bolt_cursor_open(r, NULL, 0, &root);
        if (!rc)
            rc = bolt_cursor_seek(root, name, len);
        if (!rc)
            rc = bolt_cursor_next(root, &it);
        if (rc == 1)
            rc = key_cmp(it.key, it.key_len, name, len) == 0 && it.is_bucket
                     ? open_bucket_value(c, it.val, it.val_len)
                     : CAIRN_ENOTFOUND;
        else if (rc == 0)
            rc = CAIRN_ENOTFOUND;
        bolt_cursor_close(root);
    }
    if (rc) {
        bolt_cursor_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void bolt_cursor_close(struct bolt_cursor *c)
{
    if (!c)
        return;
    for (int i = 0; i < BOLT_DEPTH_MAX; i++)
        free(c->lv[i].pb.buf);
    free(c->inline_page);
    free(c->prev);
    free(c);
}

int bolt_reader_get(struct bolt_reader *r, const void *bucket, size_t blen, const void *key,
                    size_t klen, uint8_t **val_out, size_t *vlen_out)
{
    CAIRN_ASSERT(bucket != NULL && key != NULL);
    CAIRN_ASSERT(val_out != NULL && vlen_out != NULL);
    *val_out = NULL;
    *vlen_out = 0;
    struct bolt_cursor *c;
    int rc = bolt_cursor_open(r, bucket, blen, &c);
    if (rc)
        return rc;
    struct bolt_item it;
    rc = bolt_cursor_seek(c, key, klen);
    if (!rc)
        rc = bolt_cursor_next(c, &it);
    if (rc == 1) {
        if (key_cmp(it.key, it.key_len, key, klen) != 0 || it.is_bucket) {
            rc = CAIRN_ENOTFOUND;
        } else {
            uint8_t *v = malloc(it.val_len ? it.val_len : 1);
            if (v) {
                if (it.val_len)
                    memcpy(v, it.val, it.val_len);
                *val_out = v;
                *vlen_out = it.val_len;
            }
            rc = v ? 0 : CAIRN_ENOMEM;
        }
    } else if (rc == 0) {
        rc = CAIRN_ENOTFOUND;
    }
    bolt_cursor_close(c);
    return rc;
}
