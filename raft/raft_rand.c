/* Seeded PRNG for raft/ (election jitter) and the simulator: xoshiro256** (Blackman/Vigna). */
#include "raft.h"

#include "common.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void raft_rand_seed(struct raft_rand *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
    /* splitmix64 outputs are a bijection of distinct inputs, so the state is never all zero */
    CAIRN_ASSERT((r->s[0] | r->s[1] | r->s[2] | r->s[3]) != 0);
}

uint64_t raft_rand_next(struct raft_rand *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t raft_rand_below(struct raft_rand *r, uint64_t bound)
{
    CAIRN_ASSERT(bound > 0);
    uint64_t limit = UINT64_MAX - (UINT64_MAX % bound); /* reject the biased tail */
    for (int tries = 0; tries < 1000; tries++) {
        uint64_t v = raft_rand_next(r);
        if (v < limit)
            return v % bound;
    }
    /* probability of reaching here is < 2^-1000 */
    CAIRN_ASSERT(!"raft_rand_below: rejection sampling did not terminate");
    return 0;
}
