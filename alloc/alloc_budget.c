/*
 * The reclaim CPU budget: a token bucket that fills at half of wall-clock time and holds
 * at most a small burst. A cycle may start only while tokens remain; its pause (and the
 * collects it caused on other threads) is charged afterwards, so the balance can go
 * negative and keeps reclaim near 50 % of one thread over time. This is what keeps the
 * memory limit soft: past it, cairn slows its reclaiming down instead of thrashing (Go's
 * GC CPU limiter does the same at ~50 %).
 */
#include "alloc_int.h"

void alloc_budget_init(struct alloc_budget *b, uint64_t now_ns, int64_t burst_ns)
{
    CAIRN_ASSERT(b != NULL);
    CAIRN_ASSERT(burst_ns > 0);
    b->burst_ns = burst_ns;
    b->tokens_ns = burst_ns;
    b->last_ns = now_ns;
}

void alloc_budget_refill(struct alloc_budget *b, uint64_t now_ns)
{
    CAIRN_ASSERT(b->burst_ns > 0);
    if (now_ns <= b->last_ns)
        return; /* another thread's clock read may be a little older */
    uint64_t earned = (now_ns - b->last_ns) / 2;
    b->last_ns = now_ns;
    /* tokens ≥ INT64_MIN / 4 (see charge), so adding up to INT64_MAX / 2 cannot wrap */
    int64_t e = earned > (uint64_t)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)earned;
    int64_t t = b->tokens_ns + e;
    b->tokens_ns = t > b->burst_ns ? b->burst_ns : t;
    CAIRN_ASSERT(b->tokens_ns <= b->burst_ns);
}

bool alloc_budget_allows(const struct alloc_budget *b)
{
    CAIRN_ASSERT(b->tokens_ns <= b->burst_ns);
    return b->tokens_ns > 0;
}

void alloc_budget_charge(struct alloc_budget *b, uint64_t work_ns)
{
    /* floor far below zero only so that the subtraction cannot overflow */
    const int64_t floor = INT64_MIN / 4;
    int64_t work = work_ns > (uint64_t)INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)work_ns;
    b->tokens_ns = b->tokens_ns - work < floor ? floor : b->tokens_ns - work;
    CAIRN_ASSERT(b->tokens_ns >= floor);
}
