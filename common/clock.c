/* Deadlines for timed waits on the monotonic clock. */
#include "common.h"

struct timespec cairn_deadline_after_ms(uint64_t ms)
{
    struct timespec ts;
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    CAIRN_ASSERT(rc == 0);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    CAIRN_ASSERT(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
    return ts;
}
