/*
 * raft/ — a pure, deterministic Raft consensus core in the etcd "Ready" style.
 *
 * Promises: given the same inputs (config, PRNG seed, ticks, messages, proposals) it
 * produces the same outputs, so a simulator can drive many cores and replay any run.
 * Owns: the in-memory raft state and the unstable log tail until the caller persists it.
 * Never: does I/O, reads a clock, starts threads, keeps global state, or draws randomness
 * other than from the seeded PRNG in its config.
 *
 * This first unit is that PRNG: xoshiro256** seeded through splitmix64.
 */
#ifndef CAIRN_RAFT_H
#define CAIRN_RAFT_H

#include <stdint.h>

struct raft_rand {
    uint64_t s[4];
};

/* raft_rand_seed — initialise from a 64-bit seed; every seed (0 too) gives a valid state. */
void raft_rand_seed(struct raft_rand *r, uint64_t seed);

/* raft_rand_next — next 64 uniformly distributed bits. */
uint64_t raft_rand_next(struct raft_rand *r);

/* raft_rand_below — uniform in [0, bound); bound must be > 0. Unbiased (rejection). */
uint64_t raft_rand_below(struct raft_rand *r, uint64_t bound);

#endif /* CAIRN_RAFT_H */
