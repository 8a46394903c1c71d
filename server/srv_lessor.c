/* Lease expiry: open-addressing map id → expiry, plus a min-heap with lazy deletion. */
#include "srv_lessor.h"

#include "alloc.h"
#include "common.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    int64_t id; /* 0 = empty (etcd never issues lease id 0), -1 = tombstone */
    uint64_t expiry_ms;
    int revoking; /* expired and handed out for revocation: not renewable */
};

struct heap_item {
    uint64_t expiry_ms;
    int64_t id;
};

struct srv_lessor {
    struct slot *slots;
    size_t cap, used, tombstones, max;
    struct heap_item *heap;
    size_t heap_len, heap_cap;
};

static uint64_t hash_id(int64_t id)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

int srv_lessor_create(size_t max_leases, struct srv_lessor **out)
{
    CAIRN_ASSERT(max_leases > 0);
    struct srv_lessor *l = alloc_calloc(ALLOC_SUBSYS_LEASES, 1, sizeof(*l));
    if (!l)
        return CAIRN_ENOMEM;
    l->cap = 64;
    l->slots = alloc_calloc(ALLOC_SUBSYS_LEASES, l->cap, sizeof(*l->slots));
    l->heap_cap = 64;
    l->heap = alloc_malloc(ALLOC_SUBSYS_LEASES, l->heap_cap * sizeof(*l->heap));
    l->max = max_leases;
    if (!l->slots || !l->heap) {
        srv_lessor_destroy(l);
        return CAIRN_ENOMEM;
    }
    *out = l;
    return 0;
}

void srv_lessor_destroy(struct srv_lessor *l)
{
    if (!l)
        return;
    alloc_free(ALLOC_SUBSYS_LEASES, l->slots);
    alloc_free(ALLOC_SUBSYS_LEASES, l->heap);
    alloc_free(ALLOC_SUBSYS_LEASES, l);
}

static struct slot *find(const struct srv_lessor *l, int64_t id)
{
    size_t mask = l->cap - 1;
    for (size_t i = hash_id(id) & mask, n = 0; n < l->cap; i = (i + 1) & mask, n++) {
        if (l->slots[i].id == id)
            return &l->slots[i];
        if (l->slots[i].id == 0)
            return NULL;
    }
    return NULL;
}

static int rehash(struct srv_lessor *l, size_t cap)
{
    struct slot *old = l->slots;
    size_t old_cap = l->cap;
    struct slot *s = alloc_calloc(ALLOC_SUBSYS_LEASES, cap, sizeof(*s));
    if (!s)
        return CAIRN_ENOMEM;
    l->slots = s;
    l->cap = cap;
    l->used = l->tombstones = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].id == 0 || old[i].id == -1)
            continue;
        size_t j = hash_id(old[i].id) & (cap - 1);
        while (s[j].id != 0)
            j = (j + 1) & (cap - 1);
        s[j] = old[i];
        l->used++;
    }
    alloc_free(ALLOC_SUBSYS_LEASES, old);
    return 0;
}

static int heap_push(struct srv_lessor *l, uint64_t expiry_ms, int64_t id)
{
    if (l->heap_len == l->heap_cap) {
        struct heap_item *h =
            alloc_realloc(ALLOC_SUBSYS_LEASES, l->heap, 2 * l->heap_cap * sizeof(*h));
        if (!h)
            return CAIRN_ENOMEM;
        l->heap = h;
        l->heap_cap *= 2;
    }
    size_t i = l->heap_len++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p].expiry_ms <= expiry_ms)
            break;
        l->heap[i] = l->heap[p];
        i = p;
    }
    l->heap[i] = (struct heap_item){expiry_ms, id};
    return 0;
}

static void heap_pop(struct srv_lessor *l)
{
    CAIRN_ASSERT(l->heap_len > 0);
    struct heap_item last = l->heap[--l->heap_len];
    size_t i = 0, n = l->heap_len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && l->heap[c + 1].expiry_ms < l->heap[c].expiry_ms)
            c++;
        if (last.expiry_ms <= l->heap[c].expiry_ms)
            break;
        l->heap[i] = l->heap[c];
        i = c;
    }
    if (n > 0)
        l->heap[i] = last;
}

/* Drop stale heap entries (lease gone, or renewed to a later expiry) from the top; and
 * rebuild when stale entries dominate so renewals cannot grow the heap without bound. */
static void heap_clean_top(struct srv_lessor *l)
{
    while (l->heap_len > 0) {
        const struct slot *s = find(l, l->heap[0].id);
        if (s && s->expiry_ms == l->heap[0].expiry_ms)
            return;
        heap_pop(l);
    }
}

static void heap_rebuild(struct srv_lessor *l)
{
    l->heap_len = 0;
    for (size_t i = 0; i < l->cap; i++)
        if (l->slots[i].id != 0 && l->slots[i].id != -1)
            (void)heap_push(l, l->slots[i].expiry_ms, l->slots[i].id); /* fits: cap ≥ used */
}

int srv_lessor_set(struct srv_lessor *l, int64_t id, int64_t ttl_s, uint64_t now_ms)
{
    CAIRN_ASSERT(id > 0 && ttl_s >= 0);
    uint64_t expiry = now_ms + (uint64_t)ttl_s * 1000;
    struct slot *s = find(l, id);
    if (!s) {
        if (l->used >= l->max)
            return CAIRN_ELIMIT;
        if ((l->used + l->tombstones + 1) * 4 > l->cap * 3) {
            int rc = rehash(l, l->used * 4 > l->cap ? l->cap * 2 : l->cap);
            if (rc < 0)
                return rc;
        }
        size_t j = hash_id(id) & (l->cap - 1);
        while (l->slots[j].id != 0 && l->slots[j].id != -1)
            j = (j + 1) & (l->cap - 1);
        if (l->slots[j].id == -1)
            l->tombstones--;
        s = &l->slots[j];
        s->id = id;
        l->used++;
    }
    s->expiry_ms = expiry;
    s->revoking = 0;
    if (l->heap_len >= 4 * (l->used + 16))
        heap_rebuild(l);
    return heap_push(l, expiry, id);
}

void srv_lessor_remove(struct srv_lessor *l, int64_t id)
{
    struct slot *s = find(l, id);
    if (!s)
        return;
    s->id = -1;
    l->used--;
    l->tombstones++;
}

int64_t srv_lessor_remaining_s(const struct srv_lessor *l, int64_t id, uint64_t now_ms)
{
    const struct slot *s = find(l, id);
    if (!s)
        return -1;
    if (s->expiry_ms <= now_ms)
        return 0;
    return (int64_t)((s->expiry_ms - now_ms) / 1000); /* truncated, as etcd reports it */
}

size_t srv_lessor_expired(struct srv_lessor *l, uint64_t now_ms, uint64_t retry_ms, int64_t *out,
                          size_t max)
{
    size_t n = 0;
    while (n < max) {
        heap_clean_top(l);
        if (l->heap_len == 0 || l->heap[0].expiry_ms > now_ms)
            break;
        int64_t id = l->heap[0].id;
        heap_pop(l);
        struct slot *s = find(l, id);
        CAIRN_ASSERT(s != NULL);
        out[n++] = id;
        s->expiry_ms = now_ms + retry_ms;
        s->revoking = 1;
        if (heap_push(l, s->expiry_ms, id) < 0)
            break; /* out of memory: it is retried when the heap is rebuilt */
    }
    return n;
}

int srv_lessor_renewable(const struct srv_lessor *l, int64_t id, uint64_t now_ms)
{
    const struct slot *s = find(l, id);
    return s && !s->revoking && s->expiry_ms > now_ms;
}

size_t srv_lessor_count(const struct srv_lessor *l)
{
    return l->used;
}

uint64_t srv_lessor_next_expiry_ms(struct srv_lessor *l)
{
    heap_clean_top(l);
    return l->heap_len ? l->heap[0].expiry_ms : UINT64_MAX;
}
