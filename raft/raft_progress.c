/*
 * A leader's view of one follower: match/next, the probe / replicate / snapshot state
 * machine, and the inflights window (messages and bytes) that bounds pipelining.
 */
#include "raft_int.h"

#include <string.h>

static uint64_t *slot(const struct raft_inflights *in, uint32_t k)
{
    CAIRN_ASSERT(k < in->count);
    return in->index + 2u * ((in->start + k) % in->cap);
}

int raft_inflights_full(const struct raft_inflights *in)
{
    return in->count == in->cap || (in->max_bytes != RAFT_UNLIMITED && in->bytes >= in->max_bytes);
}

void raft_inflights_add(struct raft_inflights *in, uint64_t index, uint64_t bytes)
{
    CAIRN_ASSERT(in->count < in->cap);
    CAIRN_ASSERT(in->count == 0 || slot(in, in->count - 1)[0] < index);
    in->count++;
    uint64_t *s = slot(in, in->count - 1);
    s[0] = index;
    s[1] = bytes;
    in->bytes += bytes;
}

void raft_inflights_free_le(struct raft_inflights *in, uint64_t index)
{
    while (in->count > 0) {
        uint64_t *s = slot(in, 0);
        if (s[0] > index)
            break;
        CAIRN_ASSERT(in->bytes >= s[1]);
        in->bytes -= s[1];
        in->start = (in->start + 1) % in->cap;
        in->count--;
    }
    if (in->count == 0)
        in->start = 0;
}

void raft_inflights_free_first(struct raft_inflights *in)
{
    if (in->count > 0)
        raft_inflights_free_le(in, slot(in, 0)[0]);
}

void raft_inflights_reset(struct raft_inflights *in)
{
    in->start = 0;
    in->count = 0;
    in->bytes = 0;
}

void raft_progress_reset(struct raft_progress *p, uint64_t match, uint64_t next)
{
    CAIRN_ASSERT(next >= 1);
    p->match = match;
    p->next = next;
    p->state = RAFT_PROGRESS_PROBE;
    p->paused = 0;
    p->pending_snapshot = 0;
    raft_inflights_reset(&p->in);
}

static void reset_state(struct raft_progress *p, uint8_t state)
{
    p->paused = 0;
    p->pending_snapshot = 0;
    p->state = state;
    raft_inflights_reset(&p->in);
}

void raft_progress_become_probe(struct raft_progress *p)
{
    /* After a snapshot, resume right after it (the follower has it or will say so). */
    if (p->state == RAFT_PROGRESS_SNAPSHOT) {
        uint64_t pending = p->pending_snapshot;
        reset_state(p, RAFT_PROGRESS_PROBE);
        p->next = (p->match + 1 > pending + 1) ? p->match + 1 : pending + 1;
    } else {
        reset_state(p, RAFT_PROGRESS_PROBE);
        p->next = p->match + 1;
    }
    CAIRN_ASSERT(p->next > p->match);
}

void raft_progress_become_replicate(struct raft_progress *p)
{
    reset_state(p, RAFT_PROGRESS_REPLICATE);
    p->next = p->match + 1;
}

void raft_progress_become_snapshot(struct raft_progress *p, uint64_t snap_index)
{
    CAIRN_ASSERT(snap_index > 0);
    reset_state(p, RAFT_PROGRESS_SNAPSHOT);
    p->pending_snapshot = snap_index;
}

int raft_progress_maybe_update(struct raft_progress *p, uint64_t n)
{
    int updated = 0;
    if (p->match < n) {
        p->match = n;
        p->paused = 0;
        updated = 1;
    }
    if (p->next < n + 1)
        p->next = n + 1;
    CAIRN_ASSERT(p->next > p->match);
    return updated;
}

/* A rejection of the append at `rejected`; match_hint is the follower's estimate of where
 * the logs agree. Returns 1 if next moved (resend), 0 if the rejection is stale. */
int raft_progress_maybe_decr_to(struct raft_progress *p, uint64_t rejected, uint64_t match_hint)
{
    if (p->state == RAFT_PROGRESS_REPLICATE) {
        if (rejected <= p->match)
            return 0;
        p->next = p->match + 1;
        return 1;
    }
    if (p->next == 0 || p->next - 1 != rejected)
        return 0; /* a response to an older probe */
    uint64_t next = rejected < match_hint + 1 ? rejected : match_hint + 1;
    if (next < p->match + 1)
        next = p->match + 1;
    p->next = next;
    p->paused = 0;
    CAIRN_ASSERT(p->next >= 1);
    return 1;
}

int raft_progress_is_paused(const struct raft_progress *p)
{
    switch (p->state) {
    case RAFT_PROGRESS_PROBE:
        return p->paused;
    case RAFT_PROGRESS_REPLICATE:
        return raft_inflights_full(&p->in);
    default:
        return 1;
    }
}

/* An append carrying n entries up to last_index (bytes of payload) was sent. Any append
 * in probe state is a probe: wait for its answer (or a heartbeat response). */
void raft_progress_sent(struct raft_progress *p, size_t n, uint64_t last_index, uint64_t bytes)
{
    if (p->state == RAFT_PROGRESS_REPLICATE) {
        if (n == 0)
            return;
        CAIRN_ASSERT(last_index >= p->next);
        p->next = last_index + 1;
        raft_inflights_add(&p->in, last_index, bytes);
    } else {
        CAIRN_ASSERT(p->state == RAFT_PROGRESS_PROBE);
        p->paused = 1;
    }
}
