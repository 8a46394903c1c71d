/* A bump arena behind a ProtobufCAllocator: store's responses are freed all at once. */
#include "store.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16

struct store_arena_chunk {
    struct store_arena_chunk *next;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char mem[];
};

static void *pa_alloc(void *data, size_t size)
{
    return store_arena_alloc(data, size);
}

static void pa_free(void *data, void *ptr)
{
    /* Arena memory is released by store_arena_reset/destroy only. */
    (void)data;
    (void)ptr;
}

void store_arena_init(struct store_arena *a, size_t chunk_bytes)
{
    CAIRN_ASSERT(a != NULL);
    memset(a, 0, sizeof(*a));
    a->chunk_bytes = chunk_bytes < 4096 ? 4096 : chunk_bytes;
    a->pa.alloc = pa_alloc;
    a->pa.free = pa_free;
    a->pa.allocator_data = a;
}

ProtobufCAllocator *store_arena_allocator(struct store_arena *a)
{
    CAIRN_ASSERT(a->pa.allocator_data == a);
    return &a->pa;
}

void *store_arena_alloc(struct store_arena *a, size_t size)
{
    CAIRN_ASSERT(a != NULL && a->chunk_bytes >= 4096);
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < size)
        return NULL; /* overflow */
    struct store_arena_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > a->chunk_bytes ? need : a->chunk_bytes;
        struct store_arena_chunk *n = malloc(sizeof(*n) + cap);
        if (n == NULL)
            return NULL;
        n->cap = cap;
        n->used = 0;
        /* A big one-off block goes behind the current chunk so the chunk keeps filling. */
        if (c != NULL && need > a->chunk_bytes) {
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    void *p = c->mem + c->used;
    c->used += need;
    CAIRN_ASSERT(c->used <= c->cap);
    a->used_bytes += need;
    return p;
}

void store_arena_reset(struct store_arena *a)
{
    CAIRN_ASSERT(a != NULL);
    struct store_arena_chunk *keep = NULL;
    struct store_arena_chunk *c = a->head;
    while (c != NULL) {
        struct store_arena_chunk *next = c->next;
        if (keep == NULL && c->cap == a->chunk_bytes) {
            keep = c;
            keep->used = 0;
            keep->next = NULL;
        } else {
            free(c);
        }
        c = next;
    }
    a->head = keep;
    a->used_bytes = 0;
}

void store_arena_destroy(struct store_arena *a)
{
    CAIRN_ASSERT(a != NULL);
    struct store_arena_chunk *c = a->head;
    while (c != NULL) {
        struct store_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}
