/*
 * Registered threads and collection on the owning thread.
 *
 * mimalloc returns a thread's freed pages to the OS only when that thread runs a collect
 * (TOOLCHAIN.md §4: a collect from another thread recovers only fully empty segments). A
 * cycle therefore bumps collect_gen; each registered thread notices in alloc_thread_poll()
 * (one atomic load when nothing changed) and collects its arenas' heaps and its default
 * heap. Nobody waits for anybody: an idle thread collects when it next wakes.
 *
 * The registry is a fixed array claimed with a compare-and-swap; each record's arena list
 * and last answered generation belong to its thread alone.
 */
#include "alloc_int.h"

#include <stdio.h>
#include <string.h>

struct alloc_thread {
    _Atomic int in_use;
    char name[ALLOC_THREAD_NAME_MAX];
    uint64_t seen_gen;          /* owner only */
    struct alloc_arena *arenas; /* owner only */
    unsigned n_arenas;          /* owner only */
};

static struct alloc_thread threads[ALLOC_THREADS_MAX];
static _Atomic uint64_t collect_gen;
static _Atomic uint32_t n_registered;
static _Thread_local struct alloc_thread *self;

int alloc_thread_register(const char *name)
{
    alloc_init_once();
    if (self != NULL)
        return CAIRN_EEXIST;
    for (size_t i = 0; i < ALLOC_THREADS_MAX; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&threads[i].in_use, &expected, 1))
            continue;
        struct alloc_thread *t = &threads[i];
        snprintf(t->name, sizeof(t->name), "%s", name != NULL ? name : "?");
        t->seen_gen = atomic_load(&collect_gen); /* no collect owed for older cycles */
        t->arenas = NULL;
        t->n_arenas = 0;
        self = t;
        atomic_fetch_add(&n_registered, 1);
        CAIRN_ASSERT(atomic_load(&n_registered) <= ALLOC_THREADS_MAX);
        return 0;
    }
    return CAIRN_ELIMIT;
}

void alloc_thread_unregister(void)
{
    struct alloc_thread *t = self;
    if (t == NULL)
        return;
    CAIRN_ASSERT(t->arenas == NULL && t->n_arenas == 0); /* destroy arenas first */
    self = NULL;
    uint32_t before = atomic_fetch_sub(&n_registered, 1);
    CAIRN_ASSERT(before > 0);
    atomic_store(&t->in_use, 0);
}

bool alloc_thread_is_registered(void)
{
    return self != NULL;
}

uint32_t alloc_thread_count(void)
{
    return atomic_load_explicit(&n_registered, memory_order_relaxed);
}

void alloc_thread_request_collect(void)
{
    atomic_fetch_add_explicit(&collect_gen, 1, memory_order_release);
}

static void collect_heaps(struct alloc_thread *t)
{
    if (t != NULL) {
        unsigned n = 0;
        for (struct alloc_arena *a = t->arenas; a != NULL; a = a->next_in_thread) {
            CAIRN_ASSERT(++n <= t->n_arenas);
            if (a->heap != NULL) /* NULL: malloc'd chunks, under valgrind */
                mi_heap_collect(a->heap, true);
        }
    }
    alloc_account_collect_thread(); /* its per-subsystem heaps */
    mi_collect(true);               /* its default heap, plus abandoned segments */
}

void alloc_thread_collect_self(void)
{
    struct alloc_thread *t = self;
    if (t != NULL)
        t->seen_gen = atomic_load_explicit(&collect_gen, memory_order_acquire);
    collect_heaps(t);
}

int alloc_thread_poll(void)
{
    struct alloc_thread *t = self;
    if (t == NULL)
        return 0;
    uint64_t gen = atomic_load_explicit(&collect_gen, memory_order_acquire);
    if (CAIRN_LIKELY(gen == t->seen_gen))
        return 0;
    CAIRN_ASSERT(gen > t->seen_gen);
    t->seen_gen = gen;
    uint64_t t0 = alloc_now_ns();
    collect_heaps(t);
    uint64_t t1 = alloc_now_ns();
    alloc_stats_thread_collect(t1 > t0 ? t1 - t0 : 0);
    alloc_reclaim_charge(t1 > t0 ? t1 - t0 : 0);
    return 1;
}

int alloc_thread_arena_link(struct alloc_arena *arena)
{
    struct alloc_thread *t = self;
    CAIRN_ASSERT(arena->thread == NULL && arena->next_in_thread == NULL);
    if (t == NULL)
        return 0; /* unregistered owner: its arenas are collected only by the allocator */
    if (t->n_arenas >= ALLOC_THREAD_ARENAS_MAX)
        return CAIRN_ELIMIT;
    arena->thread = t;
    arena->next_in_thread = t->arenas;
    t->arenas = arena;
    t->n_arenas++;
    return 0;
}

void alloc_thread_arena_unlink(struct alloc_arena *arena)
{
    struct alloc_thread *t = arena->thread;
    if (t == NULL)
        return;
    CAIRN_ASSERT(t == self); /* only the owner touches its list */
    struct alloc_arena **pp = &t->arenas;
    for (unsigned n = 0; *pp != NULL; n++) {
        CAIRN_ASSERT(n < t->n_arenas);
        if (*pp == arena) {
            *pp = arena->next_in_thread;
            arena->next_in_thread = NULL;
            arena->thread = NULL;
            t->n_arenas--;
            return;
        }
        pp = &(*pp)->next_in_thread;
    }
    CAIRN_ASSERT(!"arena missing from its thread's list");
}
