/*
 * The simulated cluster: nodes (raft core + in-memory disk + state machine), their Ready
 * loop with a crash point before the Ready is durable, the faulty network, fault
 * injection and the clients.
 */
#include "sim.h"

#include "common.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rnd(struct sim *s, uint32_t n)
{
    return (uint32_t)raft_rand_below(&s->rng, n);
}

static int chance(struct sim *s, uint32_t per_mille)
{
    return rnd(s, 1000) < per_mille;
}

void sim_log(struct sim *s, const char *fmt, ...)
{
    if (!s->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("[%6" PRIu64 "] ", s->now_ms);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

void sim_fail(struct sim *s, const char *fmt, ...)
{
    if (s->violated)
        return;
    s->violated = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->violation, sizeof(s->violation), fmt, ap);
    va_end(ap);
    sim_log(s, "VIOLATION: %s", s->violation);
    sim_dump(s);
}

uint64_t sim_hash_bytes(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL; /* FNV-1a */
    }
    return h;
}

uint64_t sim_entry_hash(const struct raft_entry *e)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = sim_hash_bytes(h, &e->index, sizeof(e->index));
    h = sim_hash_bytes(h, &e->term, sizeof(e->term));
    h = sim_hash_bytes(h, &e->type, sizeof(e->type));
    if (e->len)
        h = sim_hash_bytes(h, e->data, e->len);
    return h | 1; /* never 0: 0 means "unknown" in the registries */
}

/* ---- parameters ---- */

static void draw_params(struct sim *s)
{
    struct sim_params *p = &s->p;
    /* One entry per message half the time: acks then land between entries of different
     * terms, which is where commit rules are tested. */
    static const uint64_t msg_bytes[] = {1, 1, 1, 40, 200, 0};
    static const uint32_t inflight[] = {1, 2, 8, 0};
    p->drop_pct = rnd(s, 4) == 0 ? 0 : rnd(s, 15);
    p->dup_pct = rnd(s, 6);
    p->delay_max_ms = 1 + rnd(s, 30);
    p->slow_pct = rnd(s, 5);
    p->proc_pct = 40 + rnd(s, 61);
    /* Some seeds are storms: faults every few hundred milliseconds. */
    int storm = rnd(s, 4) == 0;
    p->crash_per_mille = rnd(s, storm ? 300 : 80);
    p->partition_per_mille = rnd(s, storm ? 200 : 50);
    p->leader_bias_pct = rnd(s, 101);
    p->assassin_pct = rnd(s, 3) == 0 ? 20 + rnd(s, 60) : 0;
    p->kill_on_commit_per_mille = rnd(s, 2) == 0 ? rnd(s, 500) : 0;
    p->kill_on_vote_per_mille = rnd(s, 2) == 0 ? rnd(s, 500) : 0;
    p->pause_per_mille = rnd(s, 40);
    p->propose_per_mille = 20 + rnd(s, 80);
    p->read_per_mille = rnd(s, 40);
    p->conf_per_mille = rnd(s, 120);
    p->transfer_per_mille = rnd(s, 60);
    p->snapshot_per_mille = rnd(s, 80);
    p->max_msg_bytes = msg_bytes[rnd(s, 6)];
    p->max_inflight_msgs = inflight[rnd(s, 4)];
    /* Clients are throttled by the uncommitted limit, as in production: it bounds the
     * backlog a slow configuration (one entry per message, one in flight) must drain. */
    static const uint64_t uncommitted[] = {100, 512, 2048};
    p->max_uncommitted_bytes = uncommitted[rnd(s, 3)];
    /* Mostly the defaults; without pre-vote, split votes (several candidates per term) are
     * common, which is what vote persistence must survive. */
    uint32_t v = rnd(s, 20);
    p->disable_pre_vote = v < 6;
    p->disable_check_quorum = v >= 4 && v < 8;
    p->heartbeat_ticks = 1 + rnd(s, 3);
}

/* ---- nodes ---- */

static void start_node(struct sim *s, struct sim_node *n)
{
    struct raft_storage st;
    raft_mem_storage_iface(n->disk, &st);
    n->cfg.applied = n->sm.applied;
    int rc = raft_create(&n->cfg, &st, &n->r);
    if (rc != 0) {
        sim_fail(s, "raft_create(%" PRIu64 ") failed: %s", n->id, cairn_strerror(rc));
        return;
    }
    n->up = 1;
    n->crash_in_ready = 0;
    n->paused_until_ms = 0;
    sim_log(s, "%" PRIu64 " started (applied %" PRIu64 ")", n->id, n->sm.applied);
}

static struct sim_node *create_node(struct sim *s, const uint64_t *founders, uint32_t nf)
{
    if (s->next_id > RAFT_MAX_NODES)
        return NULL;
    struct sim_node *n = &s->nodes[s->next_id];
    memset(n, 0, sizeof(*n));
    n->id = s->next_id++;
    n->exists = 1;
    if (raft_mem_storage_create(NULL, &n->disk) != 0)
        abort();
    if (nf)
        memcpy(n->founders, founders, nf * sizeof(uint64_t));
    n->tick_phase_ms = rnd(s, SIM_TICK_MS);
    struct raft_config *c = &n->cfg;
    c->id = n->id;
    c->voters = n->founders;
    c->n_voters = nf;
    c->election_ticks = 10;
    c->heartbeat_ticks = s->p.heartbeat_ticks;
    c->seed = s->seed * 1000003ULL + n->id;
    c->max_msg_bytes = s->p.max_msg_bytes;
    c->max_inflight_msgs = s->p.max_inflight_msgs;
    c->max_uncommitted_bytes = s->p.max_uncommitted_bytes;
    c->disable_pre_vote = s->p.disable_pre_vote;
    c->disable_check_quorum = s->p.disable_check_quorum;
    start_node(s, n);
    return n;
}

static void crash_node(struct sim *s, struct sim_node *n, const char *why)
{
    raft_free(n->r); /* everything not on the disk is gone, including a Ready in hand */
    n->r = NULL;
    n->up = 0;
    n->crash_at_ms = 0;
    n->n_reads = 0;
    memset(n->stash, 0, sizeof(n->stash));
    /* Half the crashes are quick process restarts: back within the same election. */
    n->down_until_ms = s->now_ms + (rnd(s, 2) ? 5 + rnd(s, 60) : 50 + rnd(s, 1000));
    s->n_crashes++;
    sim_log(s, "%" PRIu64 " crashed (%s)", n->id, why);
}

int sim_init(struct sim *s, uint64_t seed, uint32_t nodes, int verbose)
{
    memset(s, 0, sizeof(*s));
    s->seed = seed;
    s->verbose = verbose;
    s->n_founders = nodes;
    s->chaos = 1;
    s->next_id = 1;
    raft_rand_seed(&s->rng, seed);
    draw_params(s);
    if (sim_checker_create(s) != 0)
        return CAIRN_ENOMEM;
    uint64_t founders[RAFT_MAX_NODES];
    for (uint32_t i = 0; i < nodes; i++)
        founders[i] = i + 1;
    for (uint32_t i = 0; i < nodes; i++)
        create_node(s, founders, nodes);
    return 0;
}

void sim_destroy(struct sim *s)
{
    for (uint64_t id = 1; id <= RAFT_MAX_NODES; id++) {
        struct sim_node *n = &s->nodes[id];
        if (!n->exists && !n->decommissioned)
            continue;
        raft_free(n->r);
        raft_mem_storage_free(n->disk);
    }
    for (size_t i = 0; i < s->n_net; i++)
        raft_msg_free(NULL, &s->net[i].m);
    free(s->net);
    sim_checker_free(s);
}

/* ---- network ---- */

/* The network is a min-heap on (delivery time, send sequence): O(log n) per message. */
static int net_before(const struct sim_msg *a, const struct sim_msg *b)
{
    return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static void net_sift_up(struct sim *s, size_t i)
{
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!net_before(&s->net[i], &s->net[up]))
            break;
        struct sim_msg t = s->net[i];
        s->net[i] = s->net[up];
        s->net[up] = t;
        i = up;
    }
}

static void net_sift_down(struct sim *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->n_net && net_before(&s->net[l], &s->net[m]))
            m = l;
        if (r < s->n_net && net_before(&s->net[r], &s->net[m]))
            m = r;
        if (m == i)
            return;
        struct sim_msg t = s->net[i];
        s->net[i] = s->net[m];
        s->net[m] = t;
        i = m;
    }
}

static void net_insert(struct sim *s, const struct sim_msg *x)
{
    if (s->n_net % 1024 == 0) {
        struct sim_msg *v = realloc(s->net, (s->n_net + 1024) * sizeof(*v));
        if (!v)
            abort();
        s->net = v;
    }
    s->net[s->n_net] = *x;
    s->net[s->n_net].seq = s->net_seq++;
    net_sift_up(s, s->n_net++);
}

static struct sim_msg net_pop(struct sim *s)
{
    CAIRN_ASSERT(s->n_net > 0);
    struct sim_msg top = s->net[0];
    s->net[0] = s->net[--s->n_net];
    net_sift_down(s, 0);
    return top;
}

static void net_push(struct sim *s, const struct raft_msg *m, uint64_t at,
                     const struct sim_node *from)
{
    if (s->n_net >= SIM_MAX_NET) {
        s->n_dropped++;
        return;
    }
    struct sim_msg x;
    memset(&x, 0, sizeof(x));
    x.at_ms = at;
    if (raft_msg_clone(NULL, m, &x.m) != 0)
        abort();
    if (m->type == RAFT_MSG_SNAP) {
        /* The transport streams the snapshot's data next to the metadata. */
        x.has_payload = 1;
        x.payload = from->snap_sm;
        if (from->snap_sm.applied != m->snapshot->index)
            sim_fail(s, "%" PRIu64 " sent snapshot %" PRIu64 " but holds data for %" PRIu64,
                     from->id, m->snapshot->index, from->snap_sm.applied);
    }
    net_insert(s, &x);
}

static uint64_t delay(struct sim *s)
{
    uint64_t d = 1 + rnd(s, s->p.delay_max_ms);
    if (s->chaos && rnd(s, 100) < s->p.slow_pct)
        d *= 1 + rnd(s, 10);
    return d;
}

static void send_msg(struct sim *s, const struct sim_node *from, const struct raft_msg *m)
{
    if (s->cut[m->from][m->to] || (s->chaos && rnd(s, 100) < s->p.drop_pct)) {
        s->n_dropped++;
        /* A stream that breaks tells the sender; raft is in a Ready now, so later. */
        if (m->type == RAFT_MSG_SNAP && s->n_reports < CAIRN_ARRAY_LEN(s->reports)) {
            s->reports[s->n_reports].from = m->from;
            s->reports[s->n_reports].to = m->to;
            s->reports[s->n_reports].ok = 0;
            s->n_reports++;
        }
        return;
    }
    net_push(s, m, s->now_ms + delay(s), from);
    if (s->chaos && rnd(s, 100) < s->p.dup_pct)
        net_push(s, m, s->now_ms + delay(s), from);
}

static void stash_payload(struct sim_node *n, const struct sim_msg *x)
{
    uint32_t k = 0;
    for (uint32_t i = 1; i < SIM_SNAP_STASH; i++)
        if (n->stash[i].index < n->stash[k].index)
            k = i;
    n->stash[k].index = x->payload.applied;
    n->stash[k].sm = x->payload;
}

static void deliver_one(struct sim *s, struct sim_msg *x)
{
    struct raft_msg *m = &x->m;
    struct sim_node *to = &s->nodes[m->to];
    struct sim_node *from = &s->nodes[m->from];
    if (!to->exists || !to->up || s->cut[m->from][m->to]) {
        s->n_dropped++;
        if (from->up && m->type == RAFT_MSG_SNAP)
            raft_report_snapshot(from->r, m->to, 0);
        else if (from->up && rnd(s, 4) == 0)
            raft_report_unreachable(from->r, m->to);
        return;
    }
    if (s->verbose) {
        char buf[1024];
        sim_log(s, "deliver %s", raft_describe_msg(buf, sizeof(buf), m));
    }
    if (x->has_payload)
        stash_payload(to, x);
    int rc = raft_step(to->r, m);
    if (rc != 0)
        sim_fail(s, "raft_step refused a message from the cluster: %s", cairn_strerror(rc));
    s->n_delivered++;
    sim_check_roles(s, to);
    if (m->type == RAFT_MSG_SNAP && from->up) {
        raft_report_snapshot(from->r, m->to, 1);
        sim_check_roles(s, from);
    }
}

static void deliver_due(struct sim *s)
{
    struct sim_msg *due = NULL;
    size_t nd = 0, cap = 0;
    while (s->n_net > 0 && s->net[0].at_ms <= s->now_ms) {
        if (nd == cap) {
            cap = cap ? cap * 2 : 64;
            struct sim_msg *v = realloc(due, cap * sizeof(*v));
            if (!v)
                abort();
            due = v;
        }
        due[nd++] = net_pop(s);
    }
    /* Messages due in the same millisecond arrive in any order. */
    for (size_t i = nd; i > 1; i--) {
        size_t j = rnd(s, (uint32_t)i);
        struct sim_msg t = due[i - 1];
        due[i - 1] = due[j];
        due[j] = t;
    }
    for (size_t i = 0; i < nd; i++) {
        struct sim_node *to = &s->nodes[due[i].m.to];
        if (to->up && to->paused_until_ms > s->now_ms) {
            due[i].at_ms = to->paused_until_ms; /* a stalled process reads its socket later */
            net_insert(s, &due[i]);
            continue;
        }
        if (!s->violated)
            deliver_one(s, &due[i]);
        raft_msg_free(NULL, &due[i].m);
    }
    free(due);
}

/* ---- the state machine ---- */

static void apply_entry(struct sim *s, struct sim_node *n, const struct raft_entry *e)
{
    if (e->index != n->sm.applied + 1)
        sim_fail(s, "%" PRIu64 " applies %" PRIu64 " after %" PRIu64, n->id, e->index,
                 n->sm.applied);
    n->sm.applied = e->index;
    n->sm.term = e->term;
    n->sm.hash = (n->sm.hash * 0x9e3779b97f4a7c15ULL) ^ sim_entry_hash(e);
    sim_check_applied(s, n, e->index, n->sm.hash);
    if (e->type != RAFT_ENTRY_NORMAL || e->len != 16)
        return;
    uint64_t w = 0;
    memcpy(&w, e->data, sizeof(w));
    n->sm.kv[e->data[8] % SIM_KEYS] = w;
    sim_check_write_acked(s, w, e->index);
}

static void apply_snapshot(struct sim *s, struct sim_node *n, const struct raft_snapshot_meta *m)
{
    for (uint32_t i = 0; i < SIM_SNAP_STASH; i++) {
        if (n->stash[i].index == m->index) {
            n->sm = n->stash[i].sm;
            n->snap_sm = n->sm; /* the disk now holds this snapshot */
            sim_check_applied(s, n, m->index, n->sm.hash);
            return;
        }
    }
    sim_fail(s, "%" PRIu64 " got snapshot %" PRIu64 " without its data", n->id, m->index);
}

static void note_reads(struct sim_node *n, const struct raft_ready *rd)
{
    for (size_t i = 0; i < rd->n_reads; i++)
        for (uint32_t k = 0; k < n->n_reads; k++)
            if (n->reads[k].ctx == rd->reads[i].ctx && n->reads[k].index == 0)
                n->reads[k].index = rd->reads[i].index ? rd->reads[i].index : 1;
}

/* One Ready: send what may leave early, [crash], persist, send the rest, apply, advance. */
static void handle_ready(struct sim *s, struct sim_node *n)
{
    struct raft_ready rd;
    raft_ready(n->r, &rd);
    for (size_t i = 0; i < rd.n_msgs; i++)
        if (!rd.msgs[i].after_persist)
            send_msg(s, n, &rd.msgs[i]);
    if (n->crash_in_ready && (rd.must_sync || rd.n_committed)) {
        crash_node(s, n, "before the Ready was durable");
        return;
    }
    /* Kill a leader right as it advances its commit index (a Jepsen-style nemesis): the
     * followers may not have heard of the commit, nor of the entries after it. */
    if (s->chaos && rd.role == RAFT_LEADER && rd.hs_changed && !n->crash_at_ms &&
        rd.hs.commit > n->commit_seen && rnd(s, 1000) < s->p.kill_on_commit_per_mille)
        n->crash_at_ms = s->now_ms + 1 + rnd(s, 5);
    /* ... and a voter right after it granted a vote, restarting within the election. */
    if (s->chaos && rd.hs_changed && rd.role == RAFT_FOLLOWER && !n->crash_at_ms &&
        rnd(s, 1000) < s->p.kill_on_vote_per_mille) {
        for (size_t i = 0; i < rd.n_msgs; i++)
            if (rd.msgs[i].type == RAFT_MSG_VOTE_RESP && !rd.msgs[i].reject) {
                n->crash_at_ms = s->now_ms + 1 + rnd(s, 3);
                n->quick_restart = 1;
            }
    }
    if (raft_mem_storage_save(n->disk, &rd) != 0) {
        sim_fail(s, "%" PRIu64 ": disk refused a Ready", n->id);
        return;
    }
    sim_check_persisted(s, n, &rd);
    sim_check_committed(s, n);
    for (size_t i = 0; i < rd.n_msgs; i++)
        if (rd.msgs[i].after_persist)
            send_msg(s, n, &rd.msgs[i]);
    if (rd.snapshot)
        apply_snapshot(s, n, rd.snapshot);
    for (size_t i = 0; i < rd.n_committed && !s->violated; i++)
        apply_entry(s, n, &rd.committed[i]);
    note_reads(n, &rd);
    raft_advance(n->r);
    sim_check_roles(s, n);
}

static void serve_reads(struct sim *s, struct sim_node *n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n->n_reads; i++) {
        struct sim_read *rd = &n->reads[i];
        if (rd->index != 0 && n->sm.applied >= rd->index) {
            sim_check_read(s, n, rd);
            s->n_reads_done++;
        } else if (s->now_ms - rd->start_ms < 5000) {
            n->reads[k++] = *rd; /* still waiting; older ones timed out */
        }
    }
    n->n_reads = k;
}

/* ---- clients ---- */

struct sim_node *sim_leader(struct sim *s)
{
    struct sim_node *best = NULL;
    struct raft_status st;
    uint64_t best_term = 0;
    for (uint64_t id = 1; id < s->next_id; id++) {
        struct sim_node *n = &s->nodes[id];
        if (!n->up)
            continue;
        raft_status(n->r, &st);
        if (st.role == RAFT_LEADER && st.term >= best_term) {
            best = n;
            best_term = st.term;
        }
    }
    return best;
}

static struct sim_node *random_up(struct sim *s)
{
    uint32_t count = (uint32_t)(s->next_id - 1);
    uint32_t start = rnd(s, count);
    for (uint32_t k = 0; k < count; k++) {
        struct sim_node *n = &s->nodes[1 + (start + k) % count];
        if (n->up)
            return n;
    }
    return NULL;
}

int sim_propose_write(struct sim *s, struct sim_node *n, uint64_t *write_id)
{
    uint32_t batch = write_id ? 1 : 1 + rnd(s, 4);
    uint8_t data[4][16];
    struct raft_proposal p[4];
    for (uint32_t i = 0; i < batch; i++) {
        uint64_t w = ++s->next_write;
        memset(data[i], 0, sizeof(data[i]));
        memcpy(data[i], &w, sizeof(w));
        data[i][8] = (uint8_t)rnd(s, SIM_KEYS);
        p[i].data = data[i];
        p[i].len = sizeof(data[i]);
        if (write_id)
            *write_id = w;
    }
    int rc = raft_propose(n->r, p, batch, NULL);
    sim_check_roles(s, n);
    if (rc == 0)
        s->n_writes += batch;
    sim_log(s, "%" PRIu64 " propose %u writes up to w%" PRIu64 ": %s", n->id, batch, s->next_write,
            rc ? cairn_strerror(rc) : "ok");
    return rc;
}

static void client_read(struct sim *s)
{
    struct sim_node *n = random_up(s);
    if (!n || n->n_reads >= SIM_MAX_READS)
        return;
    struct sim_read rd = {0};
    rd.ctx = ++s->next_read_ctx;
    rd.start_ms = s->now_ms;
    rd.acked_index = sim_acked_index(s);
    if (raft_read_index(n->r, rd.ctx) == 0)
        n->reads[n->n_reads++] = rd;
    sim_check_roles(s, n);
}

static uint64_t pick(struct sim *s, const uint64_t *ids, uint32_t n)
{
    return n ? ids[rnd(s, n)] : 0;
}

/* A random membership change that keeps at least one voter. */
static void client_conf_change(struct sim *s)
{
    struct sim_node *l = sim_leader(s);
    if (!l)
        return;
    struct raft_status st;
    raft_status(l->r, &st);
    const struct raft_conf_state *cs = &st.conf;
    struct raft_conf_change cc;
    memset(&cc, 0, sizeof(cc));
    cc.transition = (uint8_t)rnd(s, 3);
    uint32_t op = rnd(s, 6);
    uint64_t fresh =
        s->next_id <= RAFT_MAX_NODES && cs->n_voters + cs->n_learners < 7 ? s->next_id : 0;
    if (cs->n_voters_outgoing) {
        cc.n_changes = 0; /* leave the joint configuration */
    } else if (op == 0 && fresh) {
        cc.changes[cc.n_changes++] = (struct raft_cc_single){RAFT_CC_ADD_LEARNER, fresh};
    } else if (op == 1 && cs->n_learners) {
        cc.changes[cc.n_changes++] =
            (struct raft_cc_single){RAFT_CC_ADD_VOTER, pick(s, cs->learners, cs->n_learners)};
    } else if (op == 2 && cs->n_voters > 1) {
        cc.changes[cc.n_changes++] =
            (struct raft_cc_single){RAFT_CC_ADD_LEARNER, pick(s, cs->voters, cs->n_voters)};
    } else if (op == 3 && cs->n_voters > 2) {
        cc.changes[cc.n_changes++] =
            (struct raft_cc_single){RAFT_CC_REMOVE, pick(s, cs->voters, cs->n_voters)};
    } else if (op == 4 && fresh && cs->n_voters > 1) {
        /* replace a voter: two voter changes, so a joint configuration */
        cc.changes[cc.n_changes++] = (struct raft_cc_single){RAFT_CC_ADD_VOTER, fresh};
        cc.changes[cc.n_changes++] =
            (struct raft_cc_single){RAFT_CC_REMOVE, pick(s, cs->voters, cs->n_voters)};
    } else if (op == 5 && cs->n_learners) {
        cc.changes[cc.n_changes++] =
            (struct raft_cc_single){RAFT_CC_REMOVE, pick(s, cs->learners, cs->n_learners)};
    } else {
        return;
    }
    int rc = raft_propose_conf_change(l->r, &cc, NULL);
    sim_check_roles(s, l);
    for (uint32_t i = 0; i < cc.n_changes && rc == 0; i++)
        if (cc.changes[i].type == RAFT_CC_REMOVE)
            s->nodes[cc.changes[i].id].removal_proposed = 1;
    char buf[256];
    sim_log(s, "%" PRIu64 " conf change (%u changes, first %u/%" PRIu64 ") on %s: %s", l->id,
            cc.n_changes, cc.n_changes ? cc.changes[0].type : 9,
            cc.n_changes ? cc.changes[0].id : 0, raft_describe_conf(buf, sizeof(buf), cs),
            rc ? cairn_strerror(rc) : "ok");
    if (rc != 0)
        return;
    s->n_conf++;
    /* A node joins with an empty disk and learns the cluster from the leader. */
    if (fresh && (cc.changes[0].id == fresh))
        create_node(s, NULL, 0);
}

static void client_transfer(struct sim *s)
{
    struct sim_node *n = random_up(s);
    struct sim_node *l = sim_leader(s);
    if (!n || !l)
        return;
    struct raft_status st;
    raft_status(l->r, &st);
    uint64_t to = pick(s, st.conf.voters, st.conf.n_voters);
    int rc = raft_transfer_leader(n->r, to);
    sim_check_roles(s, n);
    s->n_transfers += rc == 0;
    sim_log(s, "%" PRIu64 " transfer leadership to %" PRIu64 ": %s", n->id, to,
            rc ? cairn_strerror(rc) : "ok");
}

static void maybe_snapshot(struct sim *s, struct sim_node *n)
{
    struct raft_snapshot_meta cur;
    struct raft_storage st;
    raft_mem_storage_iface(n->disk, &st);
    if (st.snapshot(st.ctx, &cur) != 0)
        cur.index = 0;
    if (n->sm.applied <= cur.index + 4)
        return;
    struct raft_hard_state hs;
    struct raft_conf_state cs;
    st.initial_state(st.ctx, &hs, &cs); /* the configuration as of sm.applied */
    if (raft_mem_storage_create_snapshot(n->disk, n->sm.applied, &cs) != 0)
        return;
    n->snap_sm = n->sm;
    uint64_t keep = rnd(s, 4) == 0 ? 0 : rnd(s, 20);
    uint64_t upto = n->sm.applied > keep ? n->sm.applied - keep : n->sm.applied;
    raft_mem_storage_compact(n->disk, upto);
    s->n_snapshots++;
    sim_log(s, "%" PRIu64 " snapshot at %" PRIu64 ", log compacted to %" PRIu64, n->id,
            n->sm.applied, upto);
}

/* ---- faults ---- */

static void partition(struct sim *s)
{
    uint32_t count = (uint32_t)(s->next_id - 1);
    uint8_t side[RAFT_MAX_NODES + 1] = {0};
    uint32_t in = 0;
    struct sim_node *l = sim_leader(s);
    if (l && rnd(s, 100) < s->p.leader_bias_pct) {
        /* Strand the leader in a minority (alone, or with one follower). */
        side[l->id] = 1;
        in = 1;
        if (rnd(s, 2) && count > 3) {
            uint64_t other = 1 + rnd(s, count);
            in += side[other] == 0;
            side[other] = 1;
        }
    } else {
        for (uint64_t id = 1; id <= count; id++) {
            side[id] = (uint8_t)rnd(s, 2);
            in += side[id];
        }
    }
    if (in == 0 || in == count)
        side[1 + rnd(s, count)] ^= 1;
    int one_way = rnd(s, 5) == 0;
    for (uint64_t a = 1; a <= count; a++)
        for (uint64_t b = 1; b <= count; b++)
            if (side[a] && !side[b]) {
                s->cut[a][b] = 1;
                if (!one_way)
                    s->cut[b][a] = 1;
            }
    s->heal_at_ms = s->now_ms + 100 + rnd(s, 1500);
    s->n_partitions++;
    sim_log(s, "partition%s until %" PRIu64, one_way ? " (one way)" : "", s->heal_at_ms);
}

static int conf_has(const struct raft_conf_state *cs, uint64_t id)
{
    for (uint32_t i = 0; i < cs->n_voters; i++)
        if (cs->voters[i] == id)
            return 1;
    for (uint32_t i = 0; i < cs->n_voters_outgoing; i++)
        if (cs->voters_outgoing[i] == id)
            return 1;
    for (uint32_t i = 0; i < cs->n_learners; i++)
        if (cs->learners[i] == id)
            return 1;
    for (uint32_t i = 0; i < cs->n_learners_next; i++)
        if (cs->learners_next[i] == id)
            return 1;
    return 0;
}

int sim_removed_running(struct sim *s, const struct raft_conf_state *cs)
{
    for (uint64_t id = 1; id < s->next_id; id++)
        if (s->nodes[id].up && s->nodes[id].removal_proposed && !conf_has(cs, id))
            return 1;
    return 0;
}

/* 1 when every voter of the newest applied configuration is up and has applied one
 * without id: then nobody can still need id's vote. */
static int nobody_needs(struct sim *s, const struct raft_conf_state *cs, uint64_t id)
{
    for (uint32_t i = 0; i < cs->n_voters; i++) {
        struct sim_node *v = &s->nodes[cs->voters[i]];
        struct raft_status st;
        if (!v->up)
            return 0;
        raft_status(v->r, &st);
        if (conf_has(&st.conf, id))
            return 0;
    }
    return cs->n_voters_outgoing == 0;
}

/* The operator decommissions nodes the cluster removed, as etcd stops a removed member:
 * a removed node that never learned of its removal would otherwise campaign forever, and
 * with both pre-vote and check-quorum off nothing stops it from deposing leaders. It waits
 * until every remaining voter applied the removal: stopping a removed node while others
 * still count on its vote strands them (the hazard raft_hand_off and the caretaker rule
 * address inside raft/). */
static void decommission_removed(struct sim *s)
{
    struct sim_node *ref = NULL;
    struct raft_status st, best;
    memset(&best, 0, sizeof(best)); /* set with ref; gcc -O3 cannot tell */
    for (uint64_t id = 1; id < s->next_id; id++) {
        struct sim_node *n = &s->nodes[id];
        if (!n->up)
            continue;
        raft_status(n->r, &st);
        if (!ref || st.applied > best.applied) {
            ref = n;
            best = st;
        }
    }
    if (!ref)
        return;
    for (uint64_t id = 1; id < s->next_id; id++) {
        struct sim_node *n = &s->nodes[id];
        /* Only a node the cluster removed: one whose addition is still pending is needed. */
        if (!n->exists || !n->removal_proposed || conf_has(&best.conf, id) ||
            !nobody_needs(s, &best.conf, id))
            continue;
        if (n->up)
            crash_node(s, n, "decommissioned");
        n->exists = 0; /* never restarted; its disk stays for the final cleanup */
        n->decommissioned = 1;
    }
}

static void drop_in_flight_from(struct sim *s, uint64_t id)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n_net; i++) {
        if (s->net[i].m.from == id) {
            raft_msg_free(NULL, &s->net[i].m);
            s->n_dropped++;
        } else {
            s->net[k++] = s->net[i];
        }
    }
    s->n_net = k;
    for (size_t i = k / 2 + 1; i-- > 0;) /* re-heapify */
        net_sift_down(s, i);
}

/* Some seeds crash new leaders moments after they win: short reigns that leave entries of
 * many terms scattered over the logs (the histories of Raft's Figure 8). */
static void assassinate(struct sim *s)
{
    struct sim_node *l = sim_leader(s);
    if (l) {
        struct raft_status st;
        raft_status(l->r, &st);
        if (st.term > s->last_leader_term) {
            s->last_leader_term = st.term;
            if (rnd(s, 100) < s->p.assassin_pct)
                l->crash_at_ms = s->now_ms + 1 + rnd(s, 40);
        }
    }
    for (uint64_t id = 1; id < s->next_id; id++) {
        struct sim_node *n = &s->nodes[id];
        if (n->up && n->crash_at_ms && n->crash_at_ms <= s->now_ms) {
            n->crash_at_ms = 0;
            crash_node(s, n, "a scheduled crash");
            n->down_until_ms = s->now_ms + 1 + rnd(s, n->quick_restart ? 10 : 200);
            n->quick_restart = 0;
            /* Sometimes what it had just sent was still in its socket buffers. */
            if (rnd(s, 2))
                drop_in_flight_from(s, n->id);
        }
    }
}

static void faults(struct sim *s)
{
    if (s->heal_at_ms && s->now_ms >= s->heal_at_ms) {
        memset(s->cut, 0, sizeof(s->cut));
        s->heal_at_ms = 0;
        sim_log(s, "partition healed");
    }
    if (!s->chaos) {
        if (s->now_ms % 100 == 0)
            decommission_removed(s);
        return;
    }
    assassinate(s);
    if (s->now_ms % 100 != 0)
        return;
    if (!s->heal_at_ms && chance(s, s->p.partition_per_mille))
        partition(s);
    struct sim_node *n = random_up(s);
    struct sim_node *l = sim_leader(s);
    if (l && rnd(s, 100) < s->p.leader_bias_pct)
        n = l; /* leader churn is where the interesting histories are */
    if (n && chance(s, s->p.crash_per_mille)) {
        if (rnd(s, 2))
            crash_node(s, n, "between Readys");
        else
            n->crash_in_ready = 1;
    }
    n = random_up(s);
    if (n && chance(s, s->p.pause_per_mille)) {
        n->paused_until_ms = s->now_ms + 50 + rnd(s, 400);
        sim_log(s, "%" PRIu64 " paused until %" PRIu64, n->id, n->paused_until_ms);
    }
    if (chance(s, s->p.conf_per_mille))
        client_conf_change(s);
    if (chance(s, s->p.transfer_per_mille))
        client_transfer(s);
}

void sim_dump(struct sim *s)
{
    for (uint64_t id = 1; id < s->next_id; id++) {
        struct sim_node *n = &s->nodes[id];
        if (!n->up) {
            sim_log(s, "  %" PRIu64 ": down", id);
            continue;
        }
        struct raft_status st;
        char conf[256];
        raft_status(n->r, &st);
        sim_log(s,
                "  %" PRIu64 ": %s term=%" PRIu64 " vote=%" PRIu64 " lead=%" PRIu64
                " commit=%" PRIu64 " applied=%" PRIu64 " log=[%" PRIu64 ",%" PRIu64 "] %s",
                id, raft_role_str(st.role), st.term, st.vote, st.lead, st.commit, st.applied,
                st.first_index, st.last_index, raft_describe_conf(conf, sizeof(conf), &st.conf));
        for (uint32_t i = 0; i < st.n_progress; i++)
            sim_log(s, "      %" PRIu64 " %s match=%" PRIu64 " next=%" PRIu64 "%s%s",
                    st.progress[i].id, raft_progress_state_str(st.progress[i].state),
                    st.progress[i].match, st.progress[i].next,
                    st.progress[i].paused ? " paused" : "",
                    st.progress[i].recent_active ? " active" : "");
    }
}

void sim_heal_all(struct sim *s)
{
    s->chaos = 0;
    decommission_removed(s);
    memset(s->cut, 0, sizeof(s->cut));
    s->heal_at_ms = 0;
    for (uint64_t id = 1; id < s->next_id; id++) {
        struct sim_node *n = &s->nodes[id];
        n->crash_in_ready = 0;
        n->paused_until_ms = 0;
        if (!n->up && n->exists && !s->violated)
            start_node(s, n);
    }
    sim_log(s, "healed: no more faults");
    sim_dump(s);
}

/* ---- one millisecond ---- */

static void flush_reports(struct sim *s)
{
    for (uint32_t i = 0; i < s->n_reports; i++) {
        struct sim_node *n = &s->nodes[s->reports[i].from];
        if (n->up)
            raft_report_snapshot(n->r, s->reports[i].to, s->reports[i].ok);
    }
    s->n_reports = 0;
}

void sim_step_ms(struct sim *s)
{
    faults(s);
    flush_reports(s);
    for (uint64_t id = 1; id < s->next_id && !s->violated; id++) {
        struct sim_node *n = &s->nodes[id];
        if (!n->up && n->exists && s->chaos && n->down_until_ms <= s->now_ms)
            start_node(s, n);
        if (!n->up || n->paused_until_ms > s->now_ms)
            continue;
        if ((s->now_ms + n->tick_phase_ms) % SIM_TICK_MS == 0) {
            raft_tick(n->r);
            sim_check_roles(s, n);
        }
    }
    deliver_due(s);
    if (s->chaos && chance(s, s->p.propose_per_mille)) {
        struct sim_node *l = sim_leader(s);
        struct sim_node *n = (l && rnd(s, 5)) ? l : random_up(s);
        if (n)
            sim_propose_write(s, n, NULL);
    }
    if (s->chaos && chance(s, s->p.read_per_mille))
        client_read(s);
    for (uint64_t id = 1; id < s->next_id && !s->violated; id++) {
        struct sim_node *n = &s->nodes[id];
        if (!n->up || n->paused_until_ms > s->now_ms)
            continue;
        if (s->chaos && rnd(s, 100) >= s->p.proc_pct)
            continue; /* a slow disk: more input piles up before the next Ready */
        for (int k = 0; k < 8 && n->up && raft_has_ready(n->r) && !s->violated; k++)
            handle_ready(s, n);
        if (n->up)
            serve_reads(s, n);
        if (n->up && s->chaos && s->now_ms % 100 == 0 && chance(s, s->p.snapshot_per_mille))
            maybe_snapshot(s, n);
    }
    s->now_ms++;
}
