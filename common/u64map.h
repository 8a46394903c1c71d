/*
 * u64map.h — an open-addressing hash map from non-zero u64 keys to pointers.
 * Single-threaded; grows by doubling; deletions use backward-shift (no tombstones), so
 * lookups stay short under churn. Used for request waiters and similar id → object maps.
 */
#ifndef CAIRN_U64MAP_H
#define CAIRN_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct cairn_u64map {
    uint64_t *keys; /* 0 = empty */
    void **vals;
    size_t cap; /* power of two */
    size_t len;
};

void cairn_u64map_init(struct cairn_u64map *m);
void cairn_u64map_free(struct cairn_u64map *m);
/* Insert or replace. Returns 0 or CAIRN_ENOMEM. key must be non-zero. */
int cairn_u64map_put(struct cairn_u64map *m, uint64_t key, void *val);
/* The value for key, or NULL. */
void *cairn_u64map_get(const struct cairn_u64map *m, uint64_t key);
/* Remove key; returns its value or NULL if absent. */
void *cairn_u64map_del(struct cairn_u64map *m, uint64_t key);

#endif /* CAIRN_U64MAP_H */
