/*
 * The progress tracker: the active configuration, one progress per member (kept sorted by
 * id so broadcasts are in a stable order), and the votes of the current election.
 * Inflight rings are allocated once for RAFT_MAX_NODES members, so a configuration change
 * never allocates.
 */
#include "raft_int.h"

#include <string.h>

int raft_tracker_init(struct raft_tracker *t, const struct raft_allocator *a, uint32_t max_inflight,
                      uint64_t max_inflight_bytes)
{
    CAIRN_ASSERT(max_inflight > 0);
    memset(t, 0, sizeof(*t));
    size_t ring = (size_t)max_inflight * 2;
    t->inflight_mem = raft_mem_alloc(a, RAFT_MAX_NODES * ring * sizeof(uint64_t));
    if (!t->inflight_mem)
        return CAIRN_ENOMEM;
    t->max_inflight = max_inflight;
    t->max_inflight_bytes = max_inflight_bytes;
    /* Slot i keeps ring i for its whole life: removal and insertion move structs, and
     * with them the ring pointer, so the free rings are those of slots n..MAX-1. */
    for (uint32_t i = 0; i < RAFT_MAX_NODES; i++) {
        t->prs[i].in.index = t->inflight_mem + i * ring;
        t->prs[i].in.cap = max_inflight;
        t->prs[i].in.max_bytes = max_inflight_bytes;
    }
    return 0;
}

void raft_tracker_destroy(struct raft_tracker *t, const struct raft_allocator *a)
{
    raft_mem_free(a, t->inflight_mem);
    t->inflight_mem = NULL;
    t->n = 0;
}

struct raft_progress *raft_tracker_get(struct raft_tracker *t, uint64_t id)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->prs[i].id == id)
            return &t->prs[i];
    return NULL;
}

static void remove_at(struct raft_tracker *t, uint32_t i)
{
    struct raft_progress gone = t->prs[i];
    memmove(t->prs + i, t->prs + i + 1, (t->n - i - 1) * sizeof(t->prs[0]));
    t->n--;
    t->prs[t->n] = gone; /* park its ring in the free area */
}

static struct raft_progress *insert_sorted(struct raft_tracker *t, uint64_t id)
{
    CAIRN_ASSERT(t->n < RAFT_MAX_NODES);
    struct raft_progress fresh = t->prs[t->n]; /* a free ring */
    uint32_t i = t->n;
    while (i > 0 && t->prs[i - 1].id > id) {
        t->prs[i] = t->prs[i - 1];
        i--;
    }
    t->prs[i] = fresh;
    t->prs[i].id = id;
    t->n++;
    return &t->prs[i];
}

void raft_tracker_set_conf(struct raft_tracker *t, const struct raft_conf_state *cs,
                           uint64_t next_index)
{
    CAIRN_ASSERT(raft_conf_validate(cs) == 0);
    uint64_t members[RAFT_MAX_NODES];
    uint32_t m = raft_conf_members(cs, members);
    for (uint32_t i = 0; i < t->n;) {
        if (raft_ids_contains(members, m, t->prs[i].id))
            i++;
        else
            remove_at(t, i);
    }
    for (uint32_t k = 0; k < m; k++) {
        if (raft_tracker_get(t, members[k]))
            continue;
        struct raft_progress *p = insert_sorted(t, members[k]);
        raft_progress_reset(p, 0, next_index);
        /* A new member counts as active so check-quorum does not fire before it talks. */
        p->recent_active = 1;
    }
    for (uint32_t i = 0; i < t->n; i++) {
        uint64_t id = t->prs[i].id;
        t->prs[i].learner = !raft_conf_is_voter(cs, id);
    }
    t->conf = *cs;
    CAIRN_ASSERT(t->n == m);
}

static uint64_t match_of(const void *ctx, uint64_t id)
{
    const struct raft_tracker *t = ctx;
    for (uint32_t i = 0; i < t->n; i++)
        if (t->prs[i].id == id)
            return t->prs[i].match;
    return 0;
}

uint64_t raft_tracker_committed(const struct raft_tracker *t)
{
    return raft_joint_index(&t->conf, match_of, t);
}

void raft_tracker_reset_votes(struct raft_tracker *t)
{
    t->n_votes = 0;
}

void raft_tracker_record_vote(struct raft_tracker *t, uint64_t id, int granted)
{
    for (uint32_t i = 0; i < t->n_votes; i++)
        if (t->vote_ids[i] == id)
            return; /* first answer counts */
    if (t->n_votes >= RAFT_MAX_NODES)
        return;
    t->vote_ids[t->n_votes] = id;
    t->vote_granted[t->n_votes] = granted ? 1 : 0;
    t->n_votes++;
}

static int vote_of(const void *ctx, uint64_t id)
{
    const struct raft_tracker *t = ctx;
    for (uint32_t i = 0; i < t->n_votes; i++)
        if (t->vote_ids[i] == id)
            return t->vote_granted[i];
    return -1;
}

int raft_tracker_tally(const struct raft_tracker *t)
{
    return raft_joint_vote(&t->conf, vote_of, t);
}

struct active_ctx {
    const struct raft_tracker *t;
    uint64_t self;
};

static int active_of(const void *ctx, uint64_t id)
{
    const struct active_ctx *a = ctx;
    if (id == a->self)
        return 1;
    for (uint32_t i = 0; i < a->t->n; i++)
        if (a->t->prs[i].id == id)
            return a->t->prs[i].recent_active ? 1 : 0;
    return 0;
}

int raft_tracker_quorum_active(struct raft_tracker *t, uint64_t self)
{
    struct active_ctx a = {t, self};
    int won = raft_joint_vote(&t->conf, active_of, &a) == RAFT_VOTE_WON;
    for (uint32_t i = 0; i < t->n; i++)
        t->prs[i].recent_active = t->prs[i].id == self;
    return won;
}
