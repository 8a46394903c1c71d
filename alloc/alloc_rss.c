/* Process RSS from /proc/self/statm: "size resident shared text lib data dt", in pages. */
#include "alloc_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* Reads the first three statm fields. open/read rather than stdio: no malloc, so it
 * works at the memory limit. */
static int read_statm(uint64_t *resident_pages, uint64_t *shared_pages)
{
    char buf[160];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CAIRN_EIO;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return CAIRN_EIO;
    buf[n] = '\0';
    unsigned long long field[3];
    char *p = buf;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(field); i++) {
        char *end = NULL;
        field[i] = strtoull(p, &end, 10);
        if (end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
            return CAIRN_EIO;
        p = end;
    }
    CAIRN_ASSERT(p > buf && p <= buf + n);
    *resident_pages = field[1];
    *shared_pages = field[2];
    return 0;
}

static uint64_t page_bytes(void)
{
    long page = sysconf(_SC_PAGESIZE);
    CAIRN_ASSERT(page > 0);
    return (uint64_t)page;
}

int alloc_rss_sample(uint64_t *rss_bytes, uint64_t *anon_bytes)
{
    uint64_t resident = 0, shared = 0;
    int rc = read_statm(&resident, &shared);
    if (rc != 0)
        return rc;
    uint64_t page = page_bytes();
    *rss_bytes = resident * page;
    /* "shared" counts file-backed and shmem resident pages: the rest is anonymous */
    *anon_bytes = (resident > shared ? resident - shared : 0) * page;
    CAIRN_ASSERT(*anon_bytes <= *rss_bytes);
    return 0;
}

int alloc_rss_bytes(uint64_t *rss_bytes)
{
    uint64_t anon = 0;
    return alloc_rss_sample(rss_bytes, &anon);
}
