/*
 * bolt_page.h — internal to bolt/: the open reader and the one safe way to get a tree page
 * out of a file (bolt_page_load), shared by the reader and its cursors.
 */
#ifndef CAIRN_BOLT_PAGE_H
#define CAIRN_BOLT_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "bolt.h"

struct bolt_reader {
    int fd;
    int own_fd; /* bolt_reader_open opened it: close on bolt_reader_close */
    uint64_t file_size;
    struct bolt_info info;
};

/* A growable buffer holding one page run (the page and its overflow pages). */
struct bolt_pagebuf {
    uint8_t *buf;
    size_t cap;
    size_t len;
};

/*
 * Checks a branch or leaf page image of len bytes: the flags name exactly one of the two,
 * the element array and every element's key (and value) lie inside len, a branch has at
 * least one element. Returns 0 (and *is_leaf, *count) or CAIRN_ECORRUPT.
 */
int bolt_page_validate(const uint8_t *p, size_t len, int *is_leaf, uint32_t *count);

/*
 * Reads tree page pgid with its overflow pages into pb and validates it. pgid must lie in
 * [2, page_count) and the run inside the high-water mark; the page's own id must be pgid.
 * Returns 0, CAIRN_ECORRUPT, CAIRN_EIO or CAIRN_ENOMEM.
 */
int bolt_page_load(const struct bolt_reader *r, uint64_t pgid, struct bolt_pagebuf *pb,
                   int *is_leaf, uint32_t *count);

/* Reads exactly n bytes at off, or fails with CAIRN_EIO (CAIRN_ECORRUPT if the file is
 * shorter). */
int bolt_pread_all(int fd, void *buf, size_t n, uint64_t off);

#endif /* CAIRN_BOLT_PAGE_H */
