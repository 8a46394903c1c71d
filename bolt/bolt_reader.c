/*
 * Opening a bbolt file: choosing the meta page and loading tree pages with every id,
 * count and offset checked against the file before it is used.
 */
#include "bolt.h"
#include "bolt_format.h"
#include "bolt_page.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOLT_PAGE_SIZE_MIN 512u
#define BOLT_PAGE_SIZE_MAX 65536u

int bolt_pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return CAIRN_EIO;
        if (k == 0)
            return CAIRN_ECORRUPT; /* the file ends before what its pages promise */
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

int bolt_page_validate(const uint8_t *p, size_t len, int *is_leaf, uint32_t *count)
{
    CAIRN_ASSERT(p != NULL);
    CAIRN_ASSERT(is_leaf != NULL && count != NULL);
    if (len < BOLT_PAGE_HDR)
        return CAIRN_ECORRUPT;
    uint16_t flags = bolt_le16(p + BOLT_PAGE_OFF_FLAGS);
    if (flags != BOLT_FLAG_LEAF && flags != BOLT_FLAG_BRANCH)
        return CAIRN_ECORRUPT;
    int leaf = flags == BOLT_FLAG_LEAF;
    uint32_t n = bolt_le16(p + BOLT_PAGE_OFF_COUNT);
    if ((uint64_t)BOLT_PAGE_HDR + (uint64_t)n * BOLT_ELEM_SIZE > len)
        return CAIRN_ECORRUPT;
    if (!leaf && n == 0) /* bbolt never writes an empty branch */
        return CAIRN_ECORRUPT;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *el = p + BOLT_PAGE_HDR + (size_t)i * BOLT_ELEM_SIZE;
        uint64_t at = (uint64_t)(el - p);
        uint64_t end;
        if (leaf)
            end = at + bolt_le32(el + 4) + (uint64_t)bolt_le32(el + 8) + bolt_le32(el + 12);
        else
            end = at + bolt_le32(el) + (uint64_t)bolt_le32(el + 4);
        if (end > len)
            return CAIRN_ECORRUPT;
    }
    *is_leaf = leaf;
    *count = n;
    return 0;
}

int bolt_page_load(const struct bolt_reader *r, uint64_t pgid, struct bolt_pagebuf *pb,
                   int *is_leaf, uint32_t *count)
{
    const uint64_t ps = r->info.page_size;
    CAIRN_ASSERT(ps >= BOLT_PAGE_SIZE_MIN);
    CAIRN_ASSERT(r->info.page_count * ps <= r->file_size);
    if (pgid < 2 || pgid >= r->info.page_count)
        return CAIRN_ECORRUPT;
    if (pb->cap < ps) {
        uint8_t *b = realloc(pb->buf, ps);
        if (!b)
            return CAIRN_ENOMEM;
        pb->buf = b;
        pb->cap = ps;
    }
    int rc = bolt_pread_all(r->fd, pb->buf, ps, pgid * ps);
    if (rc)
        return rc;
    if (bolt_le64(pb->buf + BOLT_PAGE_OFF_ID) != pgid)
        return CAIRN_ECORRUPT;
    uint64_t overflow = bolt_le32(pb->buf + BOLT_PAGE_OFF_OVFL);
    if (overflow >= r->info.page_count - pgid) /* the run must end below the high water */
        return CAIRN_ECORRUPT;
    uint64_t len = (overflow + 1) * ps; /* <= the file size, checked at open */
    if (len > SIZE_MAX)
        return CAIRN_ENOMEM;
    if (pb->cap < len) {
        uint8_t *b = realloc(pb->buf, (size_t)len);
        if (!b)
            return CAIRN_ENOMEM;
        pb->buf = b;
        pb->cap = (size_t)len;
    }
    if (overflow > 0) {
        rc = bolt_pread_all(r->fd, pb->buf + ps, (size_t)(len - ps), (pgid + 1) * ps);
        if (rc)
            return rc;
    }
    pb->len = (size_t)len;
    return bolt_page_validate(pb->buf, pb->len, is_leaf, count);
}

/* Beyond magic/version/checksum: the ids must make sense for this file. */
static int meta_sane(const struct bolt_meta *m, uint32_t page_size, uint64_t file_size)
{
    if (m->page_size != page_size)
        return 0;
    if (m->pgid < 3 || m->pgid > file_size / page_size)
        return 0;
    if (m->root_pgid < 2 || m->root_pgid >= m->pgid)
        return 0;
    if (m->freelist_pgid != BOLT_NO_FREELIST &&
        (m->freelist_pgid < 2 || m->freelist_pgid >= m->pgid))
        return 0;
    return 1;
}

static int page_size_ok(uint32_t ps)
{
    return ps >= BOLT_PAGE_SIZE_MIN && ps <= BOLT_PAGE_SIZE_MAX && (ps & (ps - 1)) == 0;
}

/* Reads and checks the meta page at byte offset off; 1 if it is usable. expect_ps 0: the
 * meta's own page size (meta 0 states it), else it must equal expect_ps. */
static int read_meta(const struct bolt_reader *r, uint64_t off, uint32_t expect_ps,
                     struct bolt_meta *m)
{
    uint8_t buf[BOLT_PAGE_HDR + BOLT_META_SIZE];
    if (off + sizeof(buf) > r->file_size)
        return 0;
    if (bolt_pread_all(r->fd, buf, sizeof(buf), off) != 0)
        return 0;
    if (bolt_meta_decode(buf, sizeof(buf), m) != 0)
        return 0;
    uint32_t ps = expect_ps ? expect_ps : m->page_size;
    if (!page_size_ok(ps) || bolt_le64(buf + BOLT_PAGE_OFF_ID) != off / ps)
        return 0;
    return meta_sane(m, ps, r->file_size);
}

static int choose_meta(struct bolt_reader *r)
{
    static const uint32_t sizes[] = {4096, 512, 1024, 2048, 8192, 16384, 32768, 65536};
    struct bolt_meta m0, m1;
    uint32_t ps = 0;
    int ok1 = 0;
    int ok0 = read_meta(r, 0, 0, &m0);
    if (ok0) {
        ps = m0.page_size;
        ok1 = read_meta(r, ps, ps, &m1);
    } else { /* meta 0 is damaged: look for meta 1 at each plausible page size */
        for (size_t i = 0; i < CAIRN_ARRAY_LEN(sizes) && !ok1; i++) {
            ps = sizes[i];
            ok1 = read_meta(r, ps, ps, &m1);
        }
    }
    if (!ok0 && !ok1)
        return CAIRN_ECORRUPT;
    int use1 = ok1 && (!ok0 || m1.txid > m0.txid);
    const struct bolt_meta *m = use1 ? &m1 : &m0;
    r->info = (struct bolt_info){.page_size = m->page_size,
                                 .txid = m->txid,
                                 .page_count = m->pgid,
                                 .root_pgid = m->root_pgid,
                                 .freelist_pgid = m->freelist_pgid,
                                 .size_bytes = m->pgid * m->page_size,
                                 .meta_index = use1};
    CAIRN_ASSERT(r->info.size_bytes <= r->file_size);
    return 0;
}

int bolt_reader_open_fd(int fd, struct bolt_reader **out)
{
    CAIRN_ASSERT(out != NULL);
    *out = NULL;
    if (fd < 0)
        return CAIRN_EINVAL;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return CAIRN_EIO;
    if (!S_ISREG(st.st_mode))
        return CAIRN_EINVAL;
    struct bolt_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return CAIRN_ENOMEM;
    r->fd = fd;
    r->file_size = (uint64_t)st.st_size;
    int rc = choose_meta(r);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int bolt_reader_open(const char *path, struct bolt_reader **out)
{
    CAIRN_ASSERT(path != NULL);
    CAIRN_ASSERT(out != NULL);
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CAIRN_ENOTFOUND : CAIRN_EIO;
    int rc = bolt_reader_open_fd(fd, out);
    if (rc) {
        close(fd);
        return rc;
    }
    (*out)->own_fd = 1;
    return 0;
}

void bolt_reader_close(struct bolt_reader *r)
{
    if (!r)
        return;
    if (r->own_fd)
        close(r->fd);
    free(r);
}

void bolt_reader_info(const struct bolt_reader *r, struct bolt_info *info)
{
    CAIRN_ASSERT(r != NULL);
    CAIRN_ASSERT(info != NULL);
    *info = r->info;
}
