/*
 * Quorum math for majority and joint configurations: the highest index a quorum has
 * acknowledged (commit) and the outcome of a vote (elections, ReadIndex acks).
 * An empty majority config agrees to everything, so a joint config whose outgoing half is
 * empty behaves exactly like its incoming half.
 */
#include "raft_int.h"

uint64_t raft_majority_index(const uint64_t *ids, uint32_t n, raft_index_fn fn, const void *ctx)
{
    CAIRN_ASSERT(n <= RAFT_MAX_NODES);
    if (n == 0)
        return UINT64_MAX;
    uint64_t v[RAFT_MAX_NODES];
    for (uint32_t i = 0; i < n; i++) {
        /* insertion sort, descending: n is at most RAFT_MAX_NODES */
        uint64_t x = fn(ctx, ids[i]);
        uint32_t j = i;
        for (; j > 0 && v[j - 1] < x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    /* v[n/2] is acknowledged by v[0..n/2], i.e. n/2 + 1 members: a majority. */
    uint64_t idx = v[n / 2];
    CAIRN_ASSERT(idx <= v[0]);
    return idx;
}

int raft_majority_vote(const uint64_t *ids, uint32_t n, raft_vote_fn fn, const void *ctx)
{
    CAIRN_ASSERT(n <= RAFT_MAX_NODES);
    if (n == 0)
        return RAFT_VOTE_WON;
    uint32_t yes = 0, missing = 0;
    for (uint32_t i = 0; i < n; i++) {
        int v = fn(ctx, ids[i]);
        if (v < 0)
            missing++;
        else if (v > 0)
            yes++;
    }
    uint32_t q = n / 2 + 1;
    if (yes >= q)
        return RAFT_VOTE_WON;
    if (yes + missing >= q)
        return RAFT_VOTE_PENDING;
    return RAFT_VOTE_LOST;
}

uint64_t raft_joint_index(const struct raft_conf_state *cs, raft_index_fn fn, const void *ctx)
{
    uint64_t a = raft_majority_index(cs->voters, cs->n_voters, fn, ctx);
    uint64_t b = raft_majority_index(cs->voters_outgoing, cs->n_voters_outgoing, fn, ctx);
    return a < b ? a : b;
}

int raft_joint_vote(const struct raft_conf_state *cs, raft_vote_fn fn, const void *ctx)
{
    int a = raft_majority_vote(cs->voters, cs->n_voters, fn, ctx);
    int b = raft_majority_vote(cs->voters_outgoing, cs->n_voters_outgoing, fn, ctx);
    if (a == b)
        return a;
    if (a == RAFT_VOTE_LOST || b == RAFT_VOTE_LOST)
        return RAFT_VOTE_LOST;
    return RAFT_VOTE_PENDING;
}
