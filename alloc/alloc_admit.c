/*
 * Admission: the hard side of the memory limit (Go has none; Redis's maxmemory is the
 * model). Work that would grow memory asks first; past the limit, after a reclaim cycle
 * had its chance, the answer is CAIRN_EMEMLIMIT and the caller refuses the request
 * (RESOURCE_EXHAUSTED) instead of allocating. Nothing is allocated here, so a refusal can
 * never itself fail.
 */
#include "alloc_int.h"

#include <stdio.h>

static bool fits(uint64_t in_use, size_t bytes, int64_t limit)
{
    CAIRN_ASSERT(limit >= 0);
    return in_use <= (uint64_t)limit && (uint64_t)limit - in_use >= bytes;
}

int alloc_admit(enum alloc_subsys subsys, size_t bytes)
{
    CAIRN_ASSERT((unsigned)subsys < ALLOC_SUBSYS_COUNT);
    int64_t limit = alloc_get_memory_limit();
    if (CAIRN_LIKELY(limit == ALLOC_NO_LIMIT))
        return 0;
    uint64_t now = alloc_now_ns();
    uint64_t in_use = alloc_pacer_in_use(alloc_live_total_bytes(), now, false);
    if (fits(in_use, bytes, limit))
        return 0;
    /* over: give reclaim a chance, aiming one headroom under the limit with this request */
    uint64_t headroom = (uint64_t)limit / 100 * ALLOC_LIMIT_HEADROOM_PERCENT;
    if (headroom < ALLOC_LIMIT_HEADROOM_MIN)
        headroom = ALLOC_LIMIT_HEADROOM_MIN;
    uint64_t need = in_use + headroom; /* both far below 2^63: no wrap */
    need = need + bytes < need ? UINT64_MAX : need + bytes;
    uint64_t wanted = need > (uint64_t)limit ? need - (uint64_t)limit : 0;
    if (alloc_reclaim_for_admission(wanted > SIZE_MAX ? SIZE_MAX : (size_t)wanted)) {
        if (alloc_thread_is_registered())
            (void)alloc_thread_poll(); /* our own freed pages, before resampling */
        in_use = alloc_pacer_in_use(alloc_live_total_bytes(), alloc_now_ns(), true);
        if (fits(in_use, bytes, limit))
            return 0;
    }
    alloc_stats_refusal(subsys);
    CAIRN_ASSERT(!fits(in_use, bytes, limit));
    return CAIRN_EMEMLIMIT;
}

int alloc_memlimit_message(enum alloc_subsys subsys, size_t bytes, char *buf, size_t cap)
{
    char in_use_text[32], limit_text[32], bytes_text[32];
    int64_t limit = alloc_get_memory_limit();
    uint64_t in_use = alloc_pacer_in_use(alloc_live_total_bytes(), alloc_now_ns(), false);
    alloc_format_bytes(in_use, in_use_text, sizeof(in_use_text));
    alloc_format_bytes(limit < 0 ? 0 : (uint64_t)limit, limit_text, sizeof(limit_text));
    alloc_format_bytes(bytes, bytes_text, sizeof(bytes_text));
    CAIRN_ASSERT((unsigned)subsys < ALLOC_SUBSYS_COUNT);
    return snprintf(buf, cap,
                    "memory limit reached: %s in use of the %s memory limit (--memory-limit / "
                    "CAIRN_MEMORY_LIMIT); %s asked for %s more",
                    in_use_text, limit_text, alloc_subsys_name(subsys), bytes_text);
}
