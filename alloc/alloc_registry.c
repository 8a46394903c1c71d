/*
 * The registry of release callbacks, and calling them in order.
 *
 * Entries are kept sorted by (priority, registration order) in a fixed array. The
 * registry lock is held while callbacks run, so unregistering waits for a running
 * callback and then guarantees it will not be called again. Lock order: a cycle holds
 * the reclaim lock (alloc_reclaim.c) and then takes this one.
 */
#include "alloc_int.h"

struct entry {
    struct alloc_reclaimer r;
    int id;
    pthread_t owner;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry entries[ALLOC_RECLAIMERS_MAX]; /* under lock */
static size_t n_entries;                           /* under lock */
static int next_id;                                /* under lock */
static _Atomic uint32_t n_registered;
static _Thread_local bool in_callback;

bool alloc_reclaim_in_cycle(void)
{
    return in_callback;
}

uint32_t alloc_reclaimer_count(void)
{
    return atomic_load_explicit(&n_registered, memory_order_relaxed);
}

int alloc_reclaimer_register(const struct alloc_reclaimer *r, int *id_out)
{
    CAIRN_ASSERT(!in_callback);
    if (r == NULL || r->release == NULL || r->name == NULL ||
        (unsigned)r->subsys >= ALLOC_SUBSYS_COUNT || id_out == NULL)
        return CAIRN_EINVAL;
    pthread_mutex_lock(&lock);
    if (n_entries == ALLOC_RECLAIMERS_MAX) {
        pthread_mutex_unlock(&lock);
        return CAIRN_ELIMIT;
    }
    size_t at = n_entries; /* after every entry of lower or equal priority */
    while (at > 0 && entries[at - 1].r.priority > r->priority)
        at--;
    for (size_t i = n_entries; i > at; i--)
        entries[i] = entries[i - 1];
    entries[at] = (struct entry){.r = *r, .id = next_id++, .owner = pthread_self()};
    n_entries++;
    *id_out = entries[at].id;
    atomic_store(&n_registered, (uint32_t)n_entries);
    CAIRN_ASSERT(n_entries <= ALLOC_RECLAIMERS_MAX && *id_out >= 0);
    pthread_mutex_unlock(&lock);
    return 0;
}

int alloc_reclaimer_unregister(int id)
{
    CAIRN_ASSERT(!in_callback);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_entries; i++) {
        if (entries[i].id != id)
            continue;
        for (size_t j = i; j + 1 < n_entries; j++)
            entries[j] = entries[j + 1];
        n_entries--;
        atomic_store(&n_registered, (uint32_t)n_entries);
        pthread_mutex_unlock(&lock);
        return 0;
    }
    pthread_mutex_unlock(&lock);
    return CAIRN_ENOTFOUND;
}

size_t alloc_registry_release(size_t bytes_wanted, bool *skipped_owned)
{
    CAIRN_ASSERT(!in_callback); /* no cycle from inside a callback */
    size_t released = 0, remaining = bytes_wanted;
    pthread_t me = pthread_self();
    *skipped_owned = false;
    pthread_mutex_lock(&lock);
    in_callback = true;
    for (size_t i = 0; i < n_entries && remaining > 0; i++) {
        const struct entry *e = &entries[i];
        if (!(e->r.flags & ALLOC_RELEASE_ANY_THREAD) && !pthread_equal(e->owner, me)) {
            *skipped_owned = true; /* its owner's turn comes at its next check */
            continue;
        }
        size_t got = e->r.release(e->r.arg, remaining);
        released = released + got < released ? SIZE_MAX : released + got;
        remaining = got >= remaining ? 0 : remaining - got;
    }
    in_callback = false;
    pthread_mutex_unlock(&lock);
    CAIRN_ASSERT(remaining <= bytes_wanted);
    return released;
}

void alloc_registry_reset(void)
{
    CAIRN_ASSERT(!in_callback);
    pthread_mutex_lock(&lock);
    n_entries = 0;
    next_id = 0;
    atomic_store(&n_registered, 0);
    pthread_mutex_unlock(&lock);
}
