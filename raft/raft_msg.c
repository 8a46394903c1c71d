/*
 * Messages: building them into the outbox, deep copies for callers, and the read-state
 * queue. A message owns at most one block: [snapshot meta][entry headers][entry data].
 */
#include "raft_int.h"

#include <string.h>

static int build_block(const struct raft_allocator *a, const struct raft_entry *e, size_t n,
                       const struct raft_snapshot_meta *snap, struct raft_msg *m)
{
    size_t head = (snap ? sizeof(*snap) : 0) + n * sizeof(struct raft_entry);
    uint64_t data = raft_entries_bytes(e, n);
    if (head == 0) {
        m->mem = NULL;
        m->entries = NULL;
        m->snapshot = NULL;
        m->n_entries = 0;
        return 0;
    }
    uint8_t *blk = raft_mem_alloc(a, head + (size_t)data);
    if (!blk)
        return CAIRN_ENOMEM;
    uint8_t *p = blk;
    m->snapshot = NULL;
    if (snap) {
        memcpy(p, snap, sizeof(*snap));
        m->snapshot = (const struct raft_snapshot_meta *)(void *)p;
        p += sizeof(*snap);
    }
    struct raft_entry *out = (struct raft_entry *)(void *)p;
    uint8_t *d = blk + head;
    for (size_t i = 0; i < n; i++) {
        out[i] = e[i];
        out[i].data = NULL;
        if (e[i].len) {
            memcpy(d, e[i].data, e[i].len);
            out[i].data = d;
            d += e[i].len;
        }
    }
    CAIRN_ASSERT((size_t)(d - blk) == head + data);
    m->entries = n ? out : NULL;
    m->n_entries = (uint32_t)n;
    m->mem = blk;
    return 0;
}

int raft_msg_clone(const struct raft_allocator *alloc, const struct raft_msg *m,
                   struct raft_msg *out)
{
    struct raft_allocator a;
    raft_allocator_resolve(alloc, &a);
    *out = *m;
    return build_block(&a, m->entries, m->n_entries, m->snapshot, out);
}

void raft_msg_free(const struct raft_allocator *alloc, struct raft_msg *m)
{
    struct raft_allocator a;
    raft_allocator_resolve(alloc, &a);
    raft_mem_free(&a, m->mem);
    m->mem = NULL;
    m->entries = NULL;
    m->n_entries = 0;
    m->snapshot = NULL;
}

void raft_msg_init(const struct raft *r, struct raft_msg *m, uint8_t type, uint64_t to)
{
    CAIRN_ASSERT(type >= RAFT_MSG_APP && type <= RAFT_MSG_TYPE_MAX);
    CAIRN_ASSERT(to != 0 && to != r->id);
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->from = r->id;
    m->to = to;
    m->term = r->term;
}

int raft_msg_set_entries(struct raft *r, struct raft_msg *m, const struct raft_entry *e, size_t n)
{
    return build_block(&r->alloc, e, n, NULL, m);
}

int raft_msg_set_snapshot(struct raft *r, struct raft_msg *m, const struct raft_snapshot_meta *s)
{
    return build_block(&r->alloc, NULL, 0, s, m);
}

/* Doubles a vector's capacity; returns the new array (old one freed) or NULL. */
static void *grow(const struct raft_allocator *a, void *v, size_t n, size_t *cap, size_t elem)
{
    size_t ncap = *cap ? *cap * 2 : 16;
    void *nv = raft_mem_alloc(a, ncap * elem);
    if (!nv)
        return NULL;
    if (n)
        memcpy(nv, v, n * elem);
    raft_mem_free(a, v);
    *cap = ncap;
    return nv;
}

void raft_msg_push(struct raft *r, struct raft_msg *m)
{
    /* What speaks for this node's log, term or vote waits until that is durable: acks,
     * votes, and a candidate's requests (a grant must never meet an undurable term). */
    m->after_persist = (m->type == RAFT_MSG_APP_RESP && !RAFT_BUG_EARLY_ACK) ||
                       m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PREVOTE_RESP ||
                       m->type == RAFT_MSG_VOTE;
    struct raft_msgvec *v = &r->outbox;
    if (v->n == v->cap && v->n < RAFT_MAX_OUTBOX_MSGS) {
        struct raft_msg *nv = grow(&r->alloc, v->v, v->n, &v->cap, sizeof(*v->v));
        if (nv)
            v->v = nv;
    }
    if (v->n >= v->cap || v->n >= RAFT_MAX_OUTBOX_MSGS) {
        raft_mem_free(&r->alloc, m->mem); /* dropped: raft tolerates message loss */
        m->mem = NULL;
        return;
    }
    v->v[v->n++] = *m;
    m->mem = NULL; /* ownership moved to the outbox */
}

void raft_msgvec_clear(struct raft *r, struct raft_msgvec *v)
{
    for (size_t i = 0; i < v->n; i++)
        raft_mem_free(&r->alloc, v->v[i].mem);
    v->n = 0;
}

void raft_msgvec_destroy(struct raft *r, struct raft_msgvec *v)
{
    raft_msgvec_clear(r, v);
    raft_mem_free(&r->alloc, v->v);
    v->v = NULL;
    v->cap = 0;
}

void raft_add_read_state(struct raft *r, uint64_t index, uint64_t ctx)
{
    struct raft_readvec *v = &r->reads;
    if (v->n == v->cap && v->n < RAFT_MAX_READ_STATES) {
        struct raft_read_state *nv = grow(&r->alloc, v->v, v->n, &v->cap, sizeof(*v->v));
        if (nv)
            v->v = nv;
    }
    if (v->n >= v->cap || v->n >= RAFT_MAX_READ_STATES)
        return; /* the requester times out and retries */
    v->v[v->n].index = index;
    v->v[v->n].ctx = ctx;
    v->n++;
}
