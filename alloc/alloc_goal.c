/*
 * The heap goal: the heap size at which the next reclaim cycle starts. Pure arithmetic,
 * Go's pacer transposed (REFERENCE.md "GOGC" and "GOMEMLIMIT"; mgcpacer.go commit and
 * memoryLimitHeapGoal):
 *
 *   percent goal = live_after_cycle + live_after_cycle × percent / 100,
 *                  at least 4 MiB × percent / 100;            (off: none)
 *   limit goal   = limit − (non-heap + overage) − headroom,   (no limit: none)
 *       non-heap = in use − heap, overage = max(in use − limit, 0),
 *       headroom = max(3 % of that, 1 MiB), never below live_after_cycle;
 *       if non-heap + overage ≥ limit: live_after_cycle (cycle continuously, and let the
 *       CPU budget rein that in);
 *   goal = min(percent goal, limit goal).
 *
 * cairn has no stacks or globals to scan, so Go's roots term is zero, and cairn's "in use"
 * also holds freed-but-unreturned pages that Go would call heapFree: the limit goal is
 * therefore a little more conservative than Go's.
 */
#include "alloc_int.h"

uint64_t alloc_mul_percent(uint64_t a, uint64_t percent)
{
    /* (a / 100) * p + (a % 100) * p / 100 == a * p / 100 without the wide product */
    uint64_t q = a / 100, r = a % 100, hi = 0, lo = 0;
    if (__builtin_mul_overflow(q, percent, &hi))
        return UINT64_MAX;
    if (__builtin_mul_overflow(r, percent, &lo)) /* r < 100: only for huge percents */
        return UINT64_MAX;
    uint64_t sum = 0;
    if (__builtin_add_overflow(hi, lo / 100, &sum))
        return UINT64_MAX;
    return sum;
}

static uint64_t percent_goal(const struct alloc_goal_input *in)
{
    if (in->heap_percent < 0)
        return UINT64_MAX;
    uint64_t pct = (uint64_t)in->heap_percent;
    uint64_t growth = alloc_mul_percent(in->live_after_cycle_bytes, pct);
    uint64_t goal = in->live_after_cycle_bytes + growth;
    if (goal < growth) /* wrapped */
        goal = UINT64_MAX;
    uint64_t floor = alloc_mul_percent(ALLOC_HEAP_MINIMUM_BYTES, pct);
    return goal > floor ? goal : floor;
}

static uint64_t limit_goal(const struct alloc_goal_input *in, uint64_t *headroom_out)
{
    *headroom_out = 0;
    if (in->memory_limit_bytes == ALLOC_NO_LIMIT)
        return UINT64_MAX;
    CAIRN_ASSERT(in->memory_limit_bytes >= 0);
    uint64_t limit = (uint64_t)in->memory_limit_bytes;
    uint64_t marked = in->live_after_cycle_bytes;
    uint64_t non_heap = in->mapped_bytes > in->heap_bytes ? in->mapped_bytes - in->heap_bytes : 0;
    uint64_t overage = in->mapped_bytes > limit ? in->mapped_bytes - limit : 0;
    if (non_heap + overage >= limit)
        return marked;
    uint64_t goal = limit - (non_heap + overage);
    uint64_t headroom = goal / 100 * ALLOC_LIMIT_HEADROOM_PERCENT;
    if (headroom < ALLOC_LIMIT_HEADROOM_MIN)
        headroom = ALLOC_LIMIT_HEADROOM_MIN;
    *headroom_out = headroom;
    if (goal < headroom || goal - headroom < headroom)
        goal = headroom; /* tiny limits: keep at least one headroom of heap */
    else
        goal -= headroom;
    return goal > marked ? goal : marked;
}

void alloc_goal_compute(const struct alloc_goal_input *in, struct alloc_goal *out)
{
    CAIRN_ASSERT(in != NULL && out != NULL);
    CAIRN_ASSERT(in->memory_limit_bytes >= 0);
    out->percent_goal_bytes = percent_goal(in);
    out->limit_goal_bytes = limit_goal(in, &out->headroom_bytes);
    out->goal_bytes = out->percent_goal_bytes < out->limit_goal_bytes ? out->percent_goal_bytes
                                                                      : out->limit_goal_bytes;
    CAIRN_ASSERT(out->goal_bytes <= out->percent_goal_bytes);
    CAIRN_ASSERT(out->goal_bytes <= out->limit_goal_bytes);
}
