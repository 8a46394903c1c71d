/* Process RSS from /proc/self/statm: the second field, in pages. */
#include "alloc.h"

#include "common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int alloc_rss_bytes(uint64_t *rss_bytes)
{
    /* open/read rather than stdio: no malloc, so it works near the memory limit */
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CAIRN_EIO;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return CAIRN_EIO;
    buf[n] = '\0';
    char *end = NULL;
    (void)strtoull(buf, &end, 10); /* size */
    if (end == buf || *end != ' ')
        return CAIRN_EIO;
    char *p = end + 1;
    unsigned long long resident = strtoull(p, &end, 10);
    if (end == p)
        return CAIRN_EIO;
    long page = sysconf(_SC_PAGESIZE);
    CAIRN_ASSERT(page > 0);
    *rss_bytes = (uint64_t)resident * (uint64_t)page;
    return 0;
}
