/*
 * The safety checkers. Each is fed as things happen, so a violation is reported at the
 * step that caused it:
 *  - election safety: at most one leader per term (every role seen after every call);
 *  - log matching: every persisted entry (index, term) always has the same content and the
 *    same previous term, on every node, for the whole run;
 *  - leader completeness: a new leader's log holds every entry known to be committed;
 *  - committed entries never change (a node's durable commit index says what is committed);
 *  - state-machine safety: the hash chain over applied entries is the same at each index on
 *    every node (snapshots included);
 *  - ReadIndex: a read's index is at least the index of every write acknowledged (applied
 *    somewhere) before the read began.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct reg {
    uint64_t index;
    uint64_t term;
    uint64_t hash;
    uint64_t prev_term; /* UINT64_MAX: unknown (compacted) */
};

struct vec {
    uint64_t *v;
    size_t cap;
};

struct sim_checker {
    struct vec leader_of_term;
    struct reg *tab; /* open addressing on (index, term) */
    size_t tab_cap;
    size_t tab_n;
    struct vec c_term; /* committed: index -> term */
    struct vec c_hash;
    struct vec c_seen_term; /* lowest term of a node that reported it committed */
    uint64_t c_max;
    struct vec a_hash;  /* applied: index -> chain hash */
    struct vec w_index; /* write id -> index it was first applied at */
    uint64_t acked_max;
};

static uint64_t *at(struct vec *v, uint64_t i)
{
    if (i >= v->cap) {
        size_t cap = v->cap ? v->cap : 1024;
        while (cap <= i)
            cap *= 2;
        uint64_t *n = realloc(v->v, cap * sizeof(uint64_t));
        if (!n)
            abort();
        memset(n + v->cap, 0, (cap - v->cap) * sizeof(uint64_t));
        v->v = n;
        v->cap = cap;
    }
    return &v->v[i];
}

static uint64_t get(const struct vec *v, uint64_t i)
{
    return i < v->cap ? v->v[i] : 0;
}

int sim_checker_create(struct sim *s)
{
    s->chk = calloc(1, sizeof(*s->chk));
    if (!s->chk)
        return -1;
    s->chk->tab_cap = 4096;
    s->chk->tab = calloc(s->chk->tab_cap, sizeof(struct reg));
    return s->chk->tab ? 0 : -1;
}

void sim_checker_free(struct sim *s)
{
    struct sim_checker *c = s->chk;
    if (!c)
        return;
    free(c->leader_of_term.v);
    free(c->tab);
    free(c->c_term.v);
    free(c->c_hash.v);
    free(c->c_seen_term.v);
    free(c->a_hash.v);
    free(c->w_index.v);
    free(c);
    s->chk = NULL;
}

/* ---- leader completeness / election safety ---- */

static void check_completeness(struct sim *s, struct sim_node *n, uint64_t term)
{
    struct sim_checker *c = s->chk;
    struct raft_status st;
    raft_status(n->r, &st);
    for (uint64_t i = st.first_index; i <= c->c_max; i++) {
        uint64_t want = get(&c->c_term, i), t = 0;
        /* Only entries committed in an earlier term must be there: a node reported it
         * committed while in term seen < term, so the leader that committed it had a term
         * <= seen. (A slow election can finish for term T after T+1 committed things.) */
        if (want == 0 || get(&c->c_seen_term, i) >= term)
            continue;
        if (raft_term_at(n->r, i, &t) != 0 || t != want) {
            sim_fail(s,
                     "leader completeness: %" PRIu64 " leads term %" PRIu64
                     " without committed entry %" PRIu64 "/%" PRIu64 " (has term %" PRIu64 ")",
                     n->id, term, want, i, t);
            return;
        }
    }
}

void sim_check_roles(struct sim *s, struct sim_node *n)
{
    if (!n->up)
        return;
    struct raft_status st;
    raft_status(n->r, &st);
    if (st.role != RAFT_LEADER)
        return;
    uint64_t ct = 0;
    if (getenv("SIM_DEBUG_OLDTERM") && raft_term_at(n->r, st.commit, &ct) == 0 && ct != st.term &&
        st.commit > n->commit_seen)
        fprintf(stderr, "oldterm commit seed=%llu leader %llu term %llu commit %llu (term %llu)\n",
                (unsigned long long)s->seed, (unsigned long long)n->id, (unsigned long long)st.term,
                (unsigned long long)st.commit, (unsigned long long)ct);
    uint64_t *who = at(&s->chk->leader_of_term, st.term);
    if (*who == n->id)
        return;
    if (*who != 0) {
        sim_fail(s, "election safety: %" PRIu64 " and %" PRIu64 " both lead term %" PRIu64, *who,
                 n->id, st.term);
        return;
    }
    *who = n->id;
    sim_log(s, "%" PRIu64 " leads term %" PRIu64, n->id, st.term);
    check_completeness(s, n, st.term);
}

/* ---- log matching ---- */

static struct reg *slot(struct sim_checker *c, uint64_t index, uint64_t term)
{
    uint64_t h = (index * 0x9e3779b97f4a7c15ULL) ^ (term * 0xc2b2ae3d27d4eb4fULL);
    for (size_t i = (size_t)(h % c->tab_cap);; i = (i + 1) % c->tab_cap) {
        struct reg *r = &c->tab[i];
        if (r->index == 0 || (r->index == index && r->term == term))
            return r;
    }
}

static void grow_tab(struct sim_checker *c)
{
    struct reg *old = c->tab;
    size_t old_cap = c->tab_cap;
    c->tab_cap *= 2;
    c->tab = calloc(c->tab_cap, sizeof(struct reg));
    if (!c->tab)
        abort();
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].index)
            *slot(c, old[i].index, old[i].term) = old[i];
    free(old);
}

static void register_entry(struct sim *s, struct sim_node *n, const struct raft_entry *e,
                           uint64_t prev_term)
{
    struct sim_checker *c = s->chk;
    if (c->tab_n * 2 >= c->tab_cap)
        grow_tab(c);
    struct reg *r = slot(c, e->index, e->term);
    uint64_t h = sim_entry_hash(e);
    if (r->index == 0) {
        *r = (struct reg){e->index, e->term, h, prev_term};
        c->tab_n++;
        return;
    }
    if (r->hash != h)
        sim_fail(s,
                 "log matching: %" PRIu64 " persisted entry %" PRIu64 "/%" PRIu64
                 " with different content",
                 n->id, e->term, e->index);
    else if (prev_term != UINT64_MAX && r->prev_term != UINT64_MAX && r->prev_term != prev_term)
        sim_fail(s,
                 "log matching: %" PRIu64 " has %" PRIu64 "/%" PRIu64 " after term %" PRIu64
                 ", elsewhere after term %" PRIu64,
                 n->id, e->term, e->index, prev_term, r->prev_term);
    else if (r->prev_term == UINT64_MAX)
        r->prev_term = prev_term;
}

void sim_check_persisted(struct sim *s, struct sim_node *n, const struct raft_ready *rd)
{
    if (rd->n_entries == 0)
        return;
    struct raft_storage st;
    raft_mem_storage_iface(n->disk, &st);
    uint64_t prev = UINT64_MAX, t = 0;
    if (st.term(st.ctx, rd->entries[0].index - 1, &t) == 0)
        prev = t;
    for (size_t i = 0; i < rd->n_entries && !s->violated; i++) {
        register_entry(s, n, &rd->entries[i], prev);
        prev = rd->entries[i].term;
    }
}

/* ---- committed entries never change ---- */

void sim_check_committed(struct sim *s, struct sim_node *n)
{
    struct sim_checker *c = s->chk;
    struct raft_hard_state hs;
    raft_mem_storage_hard_state(n->disk, &hs);
    for (uint64_t i = n->commit_seen + 1; i <= hs.commit && !s->violated; i++) {
        const struct raft_entry *e = raft_mem_storage_entry(n->disk, i);
        if (!e)
            continue; /* covered by a snapshot */
        uint64_t *t = at(&c->c_term, i), *h = at(&c->c_hash, i), *seen = at(&c->c_seen_term, i);
        uint64_t eh = sim_entry_hash(e);
        if (*seen == 0 || hs.term < *seen)
            *seen = hs.term;
        if (*t == 0) {
            *t = e->term;
            *h = eh;
            if (i > c->c_max)
                c->c_max = i;
        } else if (*t != e->term || *h != eh) {
            sim_fail(s,
                     "committed entry %" PRIu64 " changed: was term %" PRIu64 ", %" PRIu64
                     " committed term %" PRIu64,
                     i, *t, n->id, e->term);
        }
    }
    if (hs.commit > n->commit_seen)
        n->commit_seen = hs.commit;
}

/* ---- state machine safety ---- */

void sim_check_applied(struct sim *s, struct sim_node *n, uint64_t index, uint64_t hash)
{
    uint64_t *h = at(&s->chk->a_hash, index);
    if (*h == 0)
        *h = hash;
    else if (*h != hash)
        sim_fail(s, "state machine safety: %" PRIu64 " applied a different history at %" PRIu64,
                 n->id, index);
}

/* ---- reads ---- */

void sim_check_write_acked(struct sim *s, uint64_t write_id, uint64_t index)
{
    struct sim_checker *c = s->chk;
    uint64_t *w = at(&c->w_index, write_id);
    if (*w != 0)
        return; /* first apply is the acknowledgement */
    *w = index;
    if (index > c->acked_max)
        c->acked_max = index;
}

uint64_t sim_acked_index(const struct sim *s)
{
    return s->chk->acked_max;
}

int sim_write_acked(const struct sim *s, uint64_t write_id)
{
    return get(&s->chk->w_index, write_id) != 0;
}

void sim_check_read(struct sim *s, struct sim_node *n, const struct sim_read *rd)
{
    if (rd->index < rd->acked_index)
        sim_fail(s,
                 "stale read: read %" PRIu64 " on %" PRIu64 " began at %" PRIu64
                 " ms after a write at index %" PRIu64 " was acknowledged, got index %" PRIu64,
                 rd->ctx, n->id, rd->start_ms, rd->acked_index, rd->index);
}
