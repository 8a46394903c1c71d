/*
 * Arenas: bump allocation in chunks taken from a mimalloc heap that the owner thread
 * created. Small requests are carved from the current chunk; a request larger than a
 * quarter of a chunk gets a chunk of its own, so a big value does not waste the rest of
 * the current one. Reset gives every chunk but one back to the heap; destroy drops the
 * heap wholesale with mi_heap_destroy.
 *
 * Bump allocation hides overruns from ASan and valgrind, which only see whole chunks, so
 * the arena tells them what it hands out: under ASan each allocation is unpoisoned exactly
 * and followed by a poisoned redzone; under valgrind the arena is a memcheck mempool.
 *
 * Under valgrind the arena takes its chunks from malloc instead of a mimalloc heap:
 * Debian's libmimalloc exports mi_malloc, mi_free and mi_usable_size as aliases of
 * malloc, free and malloc_usable_size, so valgrind redirects them to its own allocator
 * while mi_heap_malloc stays native, and the two cannot be mixed (mi_free of a heap block
 * is an "invalid free", mi_usable_size says 0). malloc'd chunks are real valgrind blocks,
 * so leaks and overruns of whole chunks are reported too.
 */
#include "alloc_int.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif

#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_REDZONE  ALLOC_ARENA_ALIGN
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_REDZONE  0u
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define ARENA_VALGRIND 1
#endif
#endif

#ifndef ARENA_VALGRIND
#define VALGRIND_CREATE_MEMPOOL(pool, rz, zeroed) ((void)0)
#define VALGRIND_DESTROY_MEMPOOL(pool)            ((void)0)
#define VALGRIND_MEMPOOL_ALLOC(pool, p, n)        ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(p, n)          ((void)0)
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n)         ((void)0)
#endif

#define CHUNK_MIN_BYTES (4u << 10)
#define CHUNK_MAX_BYTES (64u << 20)
#define HEADER_BYTES                                                                               \
    ((sizeof(struct alloc_chunk) + ALLOC_ARENA_ALIGN - 1) & ~(size_t)(ALLOC_ARENA_ALIGN - 1))

static unsigned char *payload(struct alloc_chunk *c)
{
    return (unsigned char *)c + HEADER_BYTES;
}

static size_t round_up(size_t n)
{
    return (n + ALLOC_ARENA_ALIGN - 1) & ~(size_t)(ALLOC_ARENA_ALIGN - 1);
}

static void check_owner(const struct alloc_arena *a)
{
    CAIRN_ASSERT(a != NULL && (a->heap != NULL || alloc_use_system_malloc()));
    CAIRN_ASSERT(pthread_equal(a->owner, pthread_self())); /* heaps are thread-owned */
}

int alloc_arena_create(const struct alloc_arena_config *config, struct alloc_arena **out)
{
    CAIRN_ASSERT(config != NULL && out != NULL);
    size_t chunk = config->chunk_bytes != 0 ? config->chunk_bytes : ALLOC_ARENA_CHUNK_DEFAULT;
    if ((unsigned)config->subsys >= ALLOC_SUBSYS_COUNT || chunk < CHUNK_MIN_BYTES ||
        chunk > CHUNK_MAX_BYTES)
        return CAIRN_EINVAL;
    bool sys = alloc_use_system_malloc();
    struct alloc_arena *a = sys ? calloc(1, sizeof(*a)) : mi_zalloc(sizeof(*a));
    if (a == NULL)
        return CAIRN_ENOMEM;
    a->heap = sys ? NULL : mi_heap_new();
    if (a->heap == NULL && !sys) {
        mi_free(a);
        return CAIRN_ENOMEM;
    }
    a->owner = pthread_self();
    a->subsys = config->subsys;
    a->chunk_bytes = chunk;
    a->max_bytes = config->max_bytes;
    int rc = alloc_thread_arena_link(a);
    if (rc != 0) {
        if (sys) {
            free(a);
        } else {
            mi_heap_delete(a->heap);
            mi_free(a);
        }
        return rc;
    }
    a->held_bytes = sys ? sizeof(*a) : mi_usable_size(a);
    alloc_account_add(a->subsys, a->held_bytes);
    alloc_arena_pb_init(a);
    VALGRIND_CREATE_MEMPOOL(a, ARENA_REDZONE, 0);
    *out = a;
    CAIRN_ASSERT(a->cur == NULL && a->chunks == NULL);
    return 0;
}

/* A new chunk with room for at least need bytes, linked in; NULL past max_bytes. */
static struct alloc_chunk *chunk_new(struct alloc_arena *a, size_t need)
{
    size_t want = need > a->chunk_bytes - HEADER_BYTES ? HEADER_BYTES + need : a->chunk_bytes;
    if (want < need) /* overflow */
        return NULL;
    if (a->max_bytes != 0 && (want > a->max_bytes || a->held_bytes > a->max_bytes - want))
        return NULL;
    struct alloc_chunk *c = a->heap != NULL ? mi_heap_malloc(a->heap, want) : malloc(want);
    if (c == NULL)
        return NULL;
    c->held_bytes = a->heap != NULL ? mi_usable_size(c) : want;
    c->payload_bytes = c->held_bytes - HEADER_BYTES;
    c->next = a->chunks;
    a->chunks = c;
    a->n_chunks++;
    a->held_bytes += c->held_bytes;
    alloc_account_add(a->subsys, c->held_bytes);
    POISON(payload(c), c->payload_bytes);
    VALGRIND_MAKE_MEM_NOACCESS(payload(c), c->payload_bytes);
    CAIRN_ASSERT(c->payload_bytes >= need);
    return c;
}

static void *hand_out(struct alloc_arena *a, unsigned char *p, size_t size, size_t step)
{
    a->used_bytes += step;
    UNPOISON(p, size);
    VALGRIND_MEMPOOL_ALLOC(a, p, size);
    return p;
}

static void *alloc_slow(struct alloc_arena *a, size_t size, size_t step)
{
    check_owner(a);
    if (step > (a->chunk_bytes - HEADER_BYTES) / 4) {
        /* big: a chunk of its own, behind the current one so bumping continues there */
        struct alloc_chunk *c = chunk_new(a, step);
        if (c == NULL)
            return NULL;
        return hand_out(a, payload(c), size, step);
    }
    struct alloc_chunk *c = chunk_new(a, step);
    if (c == NULL)
        return NULL;
    if (a->keep == NULL)
        a->keep = c;
    a->cur = payload(c) + step;
    a->end = payload(c) + c->payload_bytes;
    CAIRN_ASSERT(a->cur <= a->end);
    return hand_out(a, payload(c), size, step);
}

void *alloc_arena_alloc(struct alloc_arena *a, size_t size_bytes)
{
    CAIRN_ASSERT(a != NULL);
    if (CAIRN_UNLIKELY(size_bytes > (SIZE_MAX >> 2)))
        return NULL;
    size_t step = round_up(size_bytes + ARENA_REDZONE + (size_bytes == 0));
    if (CAIRN_LIKELY((size_t)(a->end - a->cur) >= step)) {
        unsigned char *p = a->cur;
        a->cur += step;
        return hand_out(a, p, size_bytes, step);
    }
    return alloc_slow(a, size_bytes, step);
}

void *alloc_arena_memdup(struct alloc_arena *a, const void *src, size_t size_bytes)
{
    void *p = alloc_arena_alloc(a, size_bytes);
    if (p != NULL && size_bytes > 0)
        memcpy(p, src, size_bytes);
    return p;
}

/* Give chunk c back to the heap: the allocator writes into freed blocks, so first make
 * the whole block addressable again for the sanitizers. */
static void chunk_release(struct alloc_arena *a, struct alloc_chunk *c)
{
    CAIRN_ASSERT(a->held_bytes >= c->held_bytes && a->n_chunks > 0);
    UNPOISON(payload(c), c->payload_bytes);
    VALGRIND_MAKE_MEM_UNDEFINED(payload(c), c->payload_bytes);
    a->held_bytes -= c->held_bytes;
    a->n_chunks--;
    alloc_account_sub(a->subsys, c->held_bytes);
    if (a->heap != NULL)
        mi_free(c);
    else
        free(c);
}

void alloc_arena_reset(struct alloc_arena *a)
{
    check_owner(a);
    VALGRIND_DESTROY_MEMPOOL(a); /* forget every allocation, then start a fresh pool */
    VALGRIND_CREATE_MEMPOOL(a, ARENA_REDZONE, 0);
    struct alloc_chunk *c = a->chunks;
    size_t n = a->n_chunks;
    a->chunks = NULL;
    for (size_t i = 0; c != NULL; i++) {
        CAIRN_ASSERT(i < n);
        struct alloc_chunk *next = c->next;
        if (c == a->keep) {
            c->next = NULL;
            a->chunks = c;
        } else {
            chunk_release(a, c);
        }
        c = next;
    }
    a->used_bytes = 0;
    a->cur = a->end = NULL;
    if (a->keep != NULL) {
        a->cur = payload(a->keep);
        a->end = a->cur + a->keep->payload_bytes;
        POISON(a->cur, a->keep->payload_bytes);
        VALGRIND_MAKE_MEM_NOACCESS(a->cur, a->keep->payload_bytes);
    }
    CAIRN_ASSERT(a->n_chunks == (a->keep != NULL ? 1u : 0u));
}

void alloc_arena_destroy(struct alloc_arena *a)
{
    if (a == NULL)
        return;
    check_owner(a);
    VALGRIND_DESTROY_MEMPOOL(a);
    size_t n = 0;
    for (struct alloc_chunk *c = a->chunks; c != NULL; c = c->next) {
        CAIRN_ASSERT(++n <= a->n_chunks);
        UNPOISON(payload(c), c->payload_bytes);
        VALGRIND_MAKE_MEM_UNDEFINED(payload(c), c->payload_bytes);
    }
    alloc_thread_arena_unlink(a);
    alloc_account_sub(a->subsys, a->held_bytes);
    if (a->heap == NULL) {
        for (struct alloc_chunk *c = a->chunks, *next; c != NULL; c = next) {
            next = c->next;
            free(c);
        }
        free(a);
        return;
    }
    mi_heap_destroy(a->heap); /* frees every chunk at once */
    mi_free(a);
}

size_t alloc_arena_used_bytes(const struct alloc_arena *a)
{
    CAIRN_ASSERT(a != NULL);
    return a->used_bytes;
}

size_t alloc_arena_held_bytes(const struct alloc_arena *a)
{
    CAIRN_ASSERT(a != NULL);
    return a->held_bytes;
}
