/*
 * The streaming writer: a bottom-up B+tree bulk loader per bucket. Each tree level has one
 * page under construction; when the next entry would not fit, the page goes to the file
 * and its first key plus page id become an entry one level up. Only the open page of each
 * level is in memory, so a bucket of any size streams through. Pages are numbered in the
 * order they are finished and staged in a small buffer of contiguous pages before pwrite.
 */
#include "bolt.h"
#include "bolt_format.h"
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BOLT_STAGE_BYTES  (64u * BOLT_PAGE_SIZE) /* contiguous pages buffered before pwrite */
#define BOLT_FIRST_PGID   2u                     /* pages 0 and 1 are the meta pages */
#define BOLT_TXID         2u                     /* meta 0; meta 1 gets BOLT_TXID - 1 */
#define BOLT_SHRINK_BYTES (4u * BOLT_PAGE_SIZE)  /* free node buffers grown past this */

struct bolt_elem {
    uint32_t flags; /* leaf: BOLT_LEAF_FLAG_BUCKET or 0 */
    uint32_t ksize;
    uint32_t vsize; /* leaf only */
    uint64_t pgid;  /* branch only */
};

/* One page under construction: elements plus their keys/values, in order. */
struct bolt_node {
    int is_leaf;
    uint32_t n;
    uint32_t elems_cap;
    struct bolt_elem *elems;
    uint8_t *data;
    size_t data_len;
    size_t data_cap;
};

struct bolt_tree {
    struct bolt_node levels[BOLT_DEPTH_MAX]; /* [0] is the leaf level */
    int nlevels;
};

struct bolt_writer {
    int fd;
    int err;      /* sticky first error */
    int finished; /* bolt_writer_finish succeeded */
    int in_bucket;
    uint64_t next_pgid;
    uint8_t *stage; /* pages [stage_pgid, next_pgid) not yet written */
    size_t stage_len;
    uint64_t stage_pgid;
    struct bolt_tree bucket; /* the open top-level bucket */
    struct bolt_tree root;   /* the root bucket: one entry per top-level bucket */
    uint8_t *name;           /* the open (or last) bucket's name */
    size_t name_len;
    uint8_t *last_key; /* last key put into the open bucket */
    size_t last_key_len;
    int have_last_key;
    uint64_t size_bytes;
};

/* bytes.Compare: memcmp order, a proper prefix sorts first. */
static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem_size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem_size)
            return CAIRN_ENOMEM;
        ncap *= 2;
    }
    void *p = realloc(*buf, ncap * elem_size);
    if (!p)
        return CAIRN_ENOMEM;
    *buf = p;
    *cap = ncap;
    return 0;
}

static int copy_bytes(uint8_t **dst, size_t *dst_len, const void *src, size_t len)
{
    uint8_t *p = realloc(*dst, len ? len : 1);
    if (!p)
        return CAIRN_ENOMEM;
    if (len)
        memcpy(p, src, len);
    *dst = p;
    *dst_len = len;
    return 0;
}

/* ---- nodes --------------------------------------------------------------------------- */

static size_t node_size(const struct bolt_node *nd)
{
    return BOLT_PAGE_HDR + (size_t)nd->n * BOLT_ELEM_SIZE + nd->data_len;
}

static int node_append(struct bolt_node *nd, uint32_t flags, const void *k, size_t klen,
                       const void *v, size_t vlen, uint64_t pgid)
{
    CAIRN_ASSERT(klen >= 1 && klen <= BOLT_KEY_MAX);
    CAIRN_ASSERT(vlen <= BOLT_VALUE_MAX && (nd->is_leaf || vlen == 0));
    size_t cap = nd->elems_cap;
    int rc = grow((void **)&nd->elems, &cap, (size_t)nd->n + 1, sizeof(*nd->elems));
    if (rc)
        return rc;
    nd->elems_cap = (uint32_t)cap;
    rc = grow((void **)&nd->data, &nd->data_cap, nd->data_len + klen + vlen, 1);
    if (rc)
        return rc;
    memcpy(nd->data + nd->data_len, k, klen);
    if (vlen)
        memcpy(nd->data + nd->data_len + klen, v, vlen);
    nd->data_len += klen + vlen;
    nd->elems[nd->n] = (struct bolt_elem){flags, (uint32_t)klen, (uint32_t)vlen, pgid};
    nd->n++;
    CAIRN_ASSERT(nd->n <= 0xFFFFu); /* the page header's count is a u16 */
    return 0;
}

static void node_reset(struct bolt_node *nd)
{
    nd->n = 0;
    nd->data_len = 0;
    if (nd->data_cap > BOLT_SHRINK_BYTES) { /* one huge value must not pin its buffer */
        free(nd->data);
        nd->data = NULL;
        nd->data_cap = 0;
    }
}

static void node_free(struct bolt_node *nd)
{
    free(nd->elems);
    free(nd->data);
    memset(nd, 0, sizeof(*nd));
}

/* Writes the page image of nd into out (out_len bytes: the whole page run, or exactly
 * node_size for an inline page). pos fields count from each element's first byte. */
static void node_serialize(const struct bolt_node *nd, uint64_t pgid, uint8_t *out, size_t out_len)
{
    size_t size = node_size(nd);
    CAIRN_ASSERT(out_len >= size);
    CAIRN_ASSERT(out_len - BOLT_PAGE_HDR <= (size_t)UINT32_MAX * BOLT_PAGE_SIZE);
    memset(out, 0, out_len);
    uint32_t overflow = out_len > BOLT_PAGE_SIZE ? (uint32_t)(out_len / BOLT_PAGE_SIZE - 1) : 0;
    bolt_put64(out + BOLT_PAGE_OFF_ID, pgid);
    bolt_put16(out + BOLT_PAGE_OFF_FLAGS, nd->is_leaf ? BOLT_FLAG_LEAF : BOLT_FLAG_BRANCH);
    bolt_put16(out + BOLT_PAGE_OFF_COUNT, (uint16_t)nd->n);
    bolt_put32(out + BOLT_PAGE_OFF_OVFL, overflow);
    size_t off = BOLT_PAGE_HDR + (size_t)nd->n * BOLT_ELEM_SIZE;
    if (nd->data_len)
        memcpy(out + off, nd->data, nd->data_len);
    for (uint32_t i = 0; i < nd->n; i++) {
        const struct bolt_elem *e = &nd->elems[i];
        uint8_t *el = out + BOLT_PAGE_HDR + (size_t)i * BOLT_ELEM_SIZE;
        uint32_t pos = (uint32_t)(off - (size_t)(el - out));
        if (nd->is_leaf) {
            bolt_put32(el, e->flags);
            bolt_put32(el + 4, pos);
            bolt_put32(el + 8, e->ksize);
            bolt_put32(el + 12, e->vsize);
            off += (size_t)e->ksize + e->vsize;
        } else {
            bolt_put32(el, pos);
            bolt_put32(el + 4, e->ksize);
            bolt_put64(el + 8, e->pgid);
            off += e->ksize;
        }
    }
    CAIRN_ASSERT(off == size);
}

/* ---- page output --------------------------------------------------------------------- */

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return CAIRN_EIO;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static int stage_flush(struct bolt_writer *w)
{
    CAIRN_ASSERT(w->stage_pgid + w->stage_len / BOLT_PAGE_SIZE == w->next_pgid);
    int rc = 0;
    if (w->stage_len)
        rc = pwrite_all(w->fd, w->stage, w->stage_len, w->stage_pgid * BOLT_PAGE_SIZE);
    w->stage_len = 0;
    w->stage_pgid = w->next_pgid;
    return rc;
}

/* Allocates the next page ids for nd, writes its image, returns the first id. */
static int write_node(struct bolt_writer *w, const struct bolt_node *nd, uint64_t *pgid_out)
{
    size_t size = node_size(nd);
    size_t pages = (size + BOLT_PAGE_SIZE - 1) / BOLT_PAGE_SIZE;
    size_t bytes = pages * BOLT_PAGE_SIZE;
    CAIRN_ASSERT(pages >= 1);
    if (w->stage_len + bytes > BOLT_STAGE_BYTES) {
        int rc = stage_flush(w);
        if (rc)
            return rc;
    }
    uint64_t pgid = w->next_pgid;
    if (bytes > BOLT_STAGE_BYTES) { /* a value bigger than the stage: its own buffer */
        uint8_t *buf = malloc(bytes);
        if (!buf)
            return CAIRN_ENOMEM;
        node_serialize(nd, pgid, buf, bytes);
        int rc = pwrite_all(w->fd, buf, bytes, pgid * BOLT_PAGE_SIZE);
        free(buf);
        if (rc)
            return rc;
        w->next_pgid += pages;
        w->stage_pgid = w->next_pgid;
    } else {
        node_serialize(nd, pgid, w->stage + w->stage_len, bytes);
        w->stage_len += bytes;
        w->next_pgid += pages;
    }
    *pgid_out = pgid;
    return 0;
}

/* ---- trees --------------------------------------------------------------------------- */

static void tree_init(struct bolt_tree *t)
{
    t->nlevels = 1;
    t->levels[0].is_leaf = 1;
}

static void tree_reset(struct bolt_tree *t)
{
    for (int i = 0; i < t->nlevels; i++)
        node_reset(&t->levels[i]);
    t->nlevels = 1;
}

static void tree_free(struct bolt_tree *t)
{
    for (int i = 0; i < BOLT_DEPTH_MAX; i++)
        node_free(&t->levels[i]);
}

static int tree_flush_level(struct bolt_writer *w, struct bolt_tree *t, int level);

/* Adds a child pointer to branch level `level`, creating the level when it is new. A branch
 * page is only closed once it holds two entries, so every level at least halves the count
 * below it and the height stays logarithmic even for huge keys. */
static int tree_add_branch(struct bolt_writer *w, struct bolt_tree *t, int level,
                           const uint8_t *key, size_t klen, uint64_t pgid)
{
    CAIRN_ASSERT(level >= 1 && level <= t->nlevels);
    CAIRN_ASSERT(level < BOLT_DEPTH_MAX); /* 2^31 leaves: beyond any real file */
    if (level == t->nlevels) {
        t->nlevels++;
        t->levels[level].is_leaf = 0;
        t->levels[level].n = 0;
        t->levels[level].data_len = 0;
    }
    struct bolt_node *nd = &t->levels[level];
    if (nd->n >= 2 && node_size(nd) + BOLT_ELEM_SIZE + klen > BOLT_PAGE_SIZE) {
        int rc = tree_flush_level(w, t, level);
        if (rc)
            return rc;
    }
    return node_append(nd, 0, key, klen, NULL, 0, pgid);
}

/* Writes level's open page and links it into the level above. */
static int tree_flush_level(struct bolt_writer *w, struct bolt_tree *t, int level)
{
    struct bolt_node *nd = &t->levels[level];
    CAIRN_ASSERT(nd->n > 0);
    uint64_t pgid;
    int rc = write_node(w, nd, &pgid);
    if (rc)
        return rc;
    /* the first key of a page is at the start of its data, in leaves and branches alike */
    rc = tree_add_branch(w, t, level + 1, nd->data, nd->elems[0].ksize, pgid);
    node_reset(nd);
    return rc;
}

static int tree_put(struct bolt_writer *w, struct bolt_tree *t, uint32_t flags, const void *k,
                    size_t klen, const void *v, size_t vlen)
{
    struct bolt_node *leaf = &t->levels[0];
    CAIRN_ASSERT(leaf->is_leaf);
    if (leaf->n > 0 && node_size(leaf) + BOLT_ELEM_SIZE + klen + vlen > BOLT_PAGE_SIZE) {
        int rc = tree_flush_level(w, t, 0);
        if (rc)
            return rc;
    }
    return node_append(leaf, flags, k, klen, v, vlen, 0);
}

/*
 * Closes every level bottom-up. Result: *root_pgid, or (allow_inline and the whole bucket
 * is one small leaf) *inline_val: the bucket value bbolt would store inline, malloc'd.
 */
static int tree_finish(struct bolt_writer *w, struct bolt_tree *t, int allow_inline,
                       uint64_t *root_pgid, uint8_t **inline_val, size_t *inline_len)
{
    *inline_val = NULL;
    *inline_len = 0;
    for (int level = 0; level < BOLT_DEPTH_MAX; level++) {
        struct bolt_node *nd = &t->levels[level];
        if (level < t->nlevels - 1) {
            int rc = tree_flush_level(w, t, level);
            if (rc)
                return rc;
            continue;
        }
        size_t size = node_size(nd);
        if (level == 0 && allow_inline && size <= BOLT_INLINE_MAX(BOLT_PAGE_SIZE)) {
            uint8_t *val = malloc(BOLT_BUCKET_HDR + size);
            if (!val)
                return CAIRN_ENOMEM;
            memset(val, 0, BOLT_BUCKET_HDR); /* root 0 = inline, sequence 0 */
            node_serialize(nd, 0, val + BOLT_BUCKET_HDR, size);
            *inline_val = val;
            *inline_len = BOLT_BUCKET_HDR + size;
            *root_pgid = 0;
        } else {
            int rc = write_node(w, nd, root_pgid);
            if (rc)
                return rc;
        }
        tree_reset(t);
        return 0;
    }
    CAIRN_ASSERT(!"tree deeper than BOLT_DEPTH_MAX");
    return CAIRN_ECORRUPT;
}

/* Ends the open bucket: its root (or inline image) becomes an entry of the root bucket. */
static int close_bucket(struct bolt_writer *w)
{
    CAIRN_ASSERT(w->in_bucket);
    uint64_t root = 0;
    uint8_t *inl = NULL;
    size_t inl_len = 0;
    int rc = tree_finish(w, &w->bucket, 1, &root, &inl, &inl_len);
    if (rc)
        return rc;
    uint8_t hdr[BOLT_BUCKET_HDR];
    if (!inl) {
        CAIRN_ASSERT(root >= BOLT_FIRST_PGID);
        bolt_put64(hdr, root);
        bolt_put64(hdr + 8, 0); /* sequence */
    }
    rc = tree_put(w, &w->root, BOLT_LEAF_FLAG_BUCKET, w->name, w->name_len, inl ? inl : hdr,
                  inl ? inl_len : sizeof(hdr));
    free(inl);
    w->in_bucket = 0;
    w->have_last_key = 0;
    return rc;
}

/* ---- public -------------------------------------------------------------------------- */

int bolt_writer_create(int fd, struct bolt_writer **out)
{
    CAIRN_ASSERT(out != NULL);
    *out = NULL;
    if (fd < 0)
        return CAIRN_EINVAL;
    if (ftruncate(fd, 0) != 0)
        return CAIRN_EIO;
    struct bolt_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return CAIRN_ENOMEM;
    w->stage = malloc(BOLT_STAGE_BYTES);
    if (!w->stage) {
        free(w);
        return CAIRN_ENOMEM;
    }
    w->fd = fd;
    w->next_pgid = BOLT_FIRST_PGID;
    w->stage_pgid = BOLT_FIRST_PGID;
    tree_init(&w->bucket);
    tree_init(&w->root);
    *out = w;
    return 0;
}

int bolt_writer_bucket(struct bolt_writer *w, const void *name, size_t len)
{
    CAIRN_ASSERT(w != NULL && !w->finished);
    if (w->err)
        return w->err;
    if (len == 0 || len > BOLT_KEY_MAX || name == NULL)
        return CAIRN_EINVAL;
    /* names ascend: the root bucket is written in order, like every other bucket */
    CAIRN_ASSERT(w->name == NULL || key_cmp(w->name, w->name_len, name, len) < 0);
    int rc = w->in_bucket ? close_bucket(w) : 0;
    if (!rc)
        rc = copy_bytes(&w->name, &w->name_len, name, len);
    if (rc) {
        w->err = rc;
        return rc;
    }
    w->in_bucket = 1;
    return 0;
}

int bolt_writer_put(struct bolt_writer *w, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    CAIRN_ASSERT(w != NULL && !w->finished);
    CAIRN_ASSERT(w->in_bucket); /* bolt_writer_bucket first */
    if (w->err)
        return w->err;
    if (klen == 0 || klen > BOLT_KEY_MAX || key == NULL || vlen > BOLT_VALUE_MAX ||
        (vlen > 0 && val == NULL))
        return CAIRN_EINVAL;
    CAIRN_ASSERT(!w->have_last_key || key_cmp(w->last_key, w->last_key_len, key, klen) < 0);
    int rc = tree_put(w, &w->bucket, 0, key, klen, val, vlen);
    if (!rc)
        rc = copy_bytes(&w->last_key, &w->last_key_len, key, klen);
    if (rc) {
        w->err = rc;
        return rc;
    }
    w->have_last_key = 1;
    return 0;
}

static int write_tail(struct bolt_writer *w)
{
    int rc = w->in_bucket ? close_bucket(w) : 0;
    uint64_t root = 0;
    uint8_t *inl = NULL;
    size_t inl_len = 0;
    if (!rc)
        rc = tree_finish(w, &w->root, 0, &root, &inl, &inl_len);
    CAIRN_ASSERT(inl == NULL); /* the root bucket is never inline */
    if (rc)
        return rc;
    /* an empty freelist page: the writer never frees a page */
    if (w->stage_len + BOLT_PAGE_SIZE > BOLT_STAGE_BYTES && (rc = stage_flush(w)) != 0)
        return rc;
    uint64_t freelist = w->next_pgid++;
    uint8_t *fp = w->stage + w->stage_len;
    memset(fp, 0, BOLT_PAGE_SIZE);
    bolt_put64(fp + BOLT_PAGE_OFF_ID, freelist);
    bolt_put16(fp + BOLT_PAGE_OFF_FLAGS, BOLT_FLAG_FREELIST);
    w->stage_len += BOLT_PAGE_SIZE;
    if ((rc = stage_flush(w)) != 0)
        return rc;

    struct bolt_meta m = {.page_size = BOLT_PAGE_SIZE,
                          .root_pgid = root,
                          .freelist_pgid = freelist,
                          .pgid = w->next_pgid,
                          .txid = BOLT_TXID};
    uint8_t page[BOLT_PAGE_SIZE];
    for (uint64_t i = 0; i < 2; i++) {
        m.txid = BOLT_TXID - i; /* as bbolt's WriteTo: meta 1 one txid older */
        bolt_meta_encode(&m, i, page, sizeof(page));
        if ((rc = pwrite_all(w->fd, page, sizeof(page), i * BOLT_PAGE_SIZE)) != 0)
            return rc;
    }
    w->size_bytes = w->next_pgid * BOLT_PAGE_SIZE;
    if (ftruncate(w->fd, (off_t)w->size_bytes) != 0 || fsync(w->fd) != 0)
        return CAIRN_EIO;
    return 0;
}

int bolt_writer_finish(struct bolt_writer *w)
{
    CAIRN_ASSERT(w != NULL && !w->finished);
    if (w->err)
        return w->err;
    int rc = write_tail(w);
    if (rc) {
        w->err = rc;
        return rc;
    }
    w->finished = 1;
    CAIRN_ASSERT(w->size_bytes >= 4u * BOLT_PAGE_SIZE); /* 2 meta + root + freelist */
    return 0;
}

uint64_t bolt_writer_size_bytes(const struct bolt_writer *w)
{
    CAIRN_ASSERT(w != NULL);
    return w->finished ? w->size_bytes : w->next_pgid * BOLT_PAGE_SIZE;
}

void bolt_writer_destroy(struct bolt_writer *w)
{
    if (!w)
        return;
    tree_free(&w->bucket);
    tree_free(&w->root);
    free(w->stage);
    free(w->name);
    free(w->last_key);
    free(w);
}
