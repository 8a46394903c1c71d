/*
 * alloc/ — cairn's memory manager on mimalloc.
 *
 * Promises: request- and batch-scoped arenas, per-subsystem byte accounting, a reclaimer
 * paced by a heap-growth percent (like GOGC) and a memory limit (like GOMEMLIMIT), and a
 * hard stop that refuses memory-growing work instead of letting the process be OOM-killed.
 * Owns: the accounting counters and the reclaimer's state.
 * Never: calls into raft/, store/ or server/ (subsystems register callbacks instead);
 * allocates on behalf of a thread that does not own the heap (mimalloc heaps are
 * thread-owned).
 *
 * This first unit reads the process's resident set size, the figure the memory limit is
 * checked against (mimalloc's own "current_rss" mirrors commit, not RSS).
 */
#ifndef CAIRN_ALLOC_H
#define CAIRN_ALLOC_H

#include <stdint.h>

/* alloc_rss_bytes — resident set size of this process from /proc/self/statm.
 * Returns 0 and sets *rss_bytes, or CAIRN_EIO when statm cannot be read. */
int alloc_rss_bytes(uint64_t *rss_bytes);

#endif /* CAIRN_ALLOC_H */
