/* The public API of raft/: configuration checks, argument errors, malformed messages,
 * single-node and small-cluster behaviour through ready/advance, forwarding, transport
 * feedback, restarts, message copies and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "raft.h"
#include "raft_mem_storage.h"

#include <stdlib.h>
#include <string.h>

#define MAXN   5
#define MAXMSG 512

struct node {
    struct raft *r;
    struct raft_mem_storage *ms;
    struct raft_config cfg;
    uint64_t applied;
    uint64_t reads[16];
    int n_reads;
};

struct cluster {
    int n;
    struct node nodes[MAXN + 1];
    struct raft_msg q[MAXMSG];
    int nq;
    uint64_t voters[MAXN];
};

static void node_start(struct node *nd)
{
    struct raft_storage st;
    raft_mem_storage_iface(nd->ms, &st);
    nd->cfg.applied = nd->applied;
    assert_int_equal(raft_create(&nd->cfg, &st, &nd->r), 0);
}

static void cluster_init(struct cluster *c, int n, void (*tweak)(struct raft_config *))
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    for (int i = 0; i < n; i++)
        c->voters[i] = (uint64_t)i + 1;
    for (int i = 1; i <= n; i++) {
        struct node *nd = &c->nodes[i];
        assert_int_equal(raft_mem_storage_create(NULL, &nd->ms), 0);
        nd->cfg.id = (uint64_t)i;
        nd->cfg.voters = c->voters;
        nd->cfg.n_voters = (uint32_t)n;
        nd->cfg.seed = 7;
        if (tweak)
            tweak(&nd->cfg);
        node_start(nd);
    }
}

static void cluster_free(struct cluster *c)
{
    for (int i = 1; i <= c->n; i++) {
        raft_free(c->nodes[i].r);
        raft_mem_storage_free(c->nodes[i].ms);
    }
    for (int i = 0; i < c->nq; i++)
        raft_msg_free(NULL, &c->q[i]);
}

static void handle(struct cluster *c, struct node *nd)
{
    struct raft_ready rd;
    raft_ready(nd->r, &rd);
    assert_int_equal(raft_mem_storage_save(nd->ms, &rd), 0);
    if (rd.snapshot)
        nd->applied = rd.snapshot->index;
    if (rd.n_committed)
        nd->applied = rd.committed[rd.n_committed - 1].index;
    for (size_t i = 0; i < rd.n_reads && nd->n_reads < 16; i++)
        nd->reads[nd->n_reads++] = rd.reads[i].ctx;
    for (size_t i = 0; i < rd.n_msgs && c->nq < MAXMSG; i++)
        assert_int_equal(raft_msg_clone(NULL, &rd.msgs[i], &c->q[c->nq++]), 0);
    raft_advance(nd->r);
}

/* Ready/deliver until nothing moves; `cut` drops everything to or from that node. */
static void pump(struct cluster *c, int cut)
{
    for (int round = 0; round < 200; round++) {
        int any = 0;
        for (int i = 1; i <= c->n; i++) {
            while (raft_has_ready(c->nodes[i].r)) {
                handle(c, &c->nodes[i]);
                any = 1;
            }
        }
        int nq = c->nq;
        struct raft_msg q[MAXMSG];
        memcpy(q, c->q, (size_t)nq * sizeof(q[0]));
        c->nq = 0;
        for (int i = 0; i < nq; i++) {
            if ((int)q[i].to != cut && (int)q[i].from != cut && (int)q[i].to <= c->n)
                assert_int_equal(raft_step(c->nodes[q[i].to].r, &q[i]), 0);
            raft_msg_free(NULL, &q[i]);
            any = 1;
        }
        if (!any)
            return;
    }
    fail_msg("cluster did not settle");
}

static struct raft_status status(struct cluster *c, int id)
{
    struct raft_status st;
    raft_status(c->nodes[id].r, &st);
    return st;
}

static void elect(struct cluster *c, int id)
{
    pump(c, 0); /* bootstrap entries */
    assert_int_equal(raft_campaign(c->nodes[id].r), 0);
    pump(c, 0);
    assert_int_equal(status(c, id).role, RAFT_LEADER);
}

static void test_config_checks(void **state)
{
    (void)state;
    struct raft_mem_storage *ms;
    assert_int_equal(raft_mem_storage_create(NULL, &ms), 0);
    struct raft_storage st;
    raft_mem_storage_iface(ms, &st);
    struct raft *r = NULL;
    const uint64_t v[] = {1, 2, 2}, l[] = {1};
    struct raft_config cfg = {.id = 0};
    assert_int_equal(raft_create(&cfg, &st, &r), CAIRN_EINVAL); /* id 0 */
    cfg.id = 1;
    cfg.election_ticks = 2;
    cfg.heartbeat_ticks = 2;
    assert_int_equal(raft_create(&cfg, &st, &r), CAIRN_EINVAL); /* election <= heartbeat */
    cfg.election_ticks = cfg.heartbeat_ticks = 0;
    cfg.lease_reads = 1;
    cfg.disable_check_quorum = 1;
    assert_int_equal(raft_create(&cfg, &st, &r), CAIRN_EINVAL); /* lease needs check-quorum */
    cfg.lease_reads = cfg.disable_check_quorum = 0;
    cfg.voters = v;
    cfg.n_voters = 3;
    assert_int_equal(raft_create(&cfg, &st, &r), CAIRN_EINVAL); /* duplicate voter */
    cfg.n_voters = 1;
    cfg.learners = l;
    cfg.n_learners = 1;
    assert_int_equal(raft_create(&cfg, &st, &r), CAIRN_EINVAL); /* learner and voter */
    cfg.n_learners = 0;
    cfg.max_inflight_msgs = 1u << 20;
    assert_int_equal(raft_create(&cfg, &st, &r), CAIRN_EINVAL);
    cfg.max_inflight_msgs = 0;
    assert_int_equal(raft_create(&cfg, NULL, &r), CAIRN_EINVAL);
    assert_int_equal(raft_create(&cfg, &st, &r), 0);
    raft_free(r);
    raft_free(NULL);
    raft_mem_storage_free(ms);
}

static void test_single_node(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 1, NULL);
    elect(&c, 1);
    struct raft_proposal p[3] = {{"a", 1}, {"bb", 2}, {NULL, 0}};
    uint64_t first = 0;
    assert_int_equal(raft_propose(c.nodes[1].r, p, 3, &first), 0);
    assert_int_equal(first, 3);
    pump(&c, 0);
    struct raft_status st = status(&c, 1);
    assert_int_equal(st.commit, 5);
    assert_int_equal(st.applied, 5);
    assert_int_equal(c.nodes[1].applied, 5);
    uint64_t t = 0;
    assert_int_equal(raft_term_at(c.nodes[1].r, 5, &t), 0);
    assert_int_equal(t, st.term);
    /* a single voter answers reads at once */
    assert_int_equal(raft_read_index(c.nodes[1].r, 42), 0);
    pump(&c, 0);
    assert_int_equal(c.nodes[1].n_reads, 1);
    assert_int_equal(c.nodes[1].reads[0], 42);
    /* restart: the log, term and configuration come back from storage */
    raft_free(c.nodes[1].r);
    node_start(&c.nodes[1]);
    st = status(&c, 1);
    assert_int_equal(st.role, RAFT_FOLLOWER);
    assert_int_equal(st.commit, 5);
    assert_int_equal(st.conf.n_voters, 1);
    elect(&c, 1);
    /* a state machine ahead of the log is refused */
    raft_free(c.nodes[1].r);
    c.nodes[1].applied = 99;
    struct raft_storage rs;
    raft_mem_storage_iface(c.nodes[1].ms, &rs);
    c.nodes[1].cfg.applied = 99;
    assert_int_equal(raft_create(&c.nodes[1].cfg, &rs, &c.nodes[1].r), CAIRN_EINVAL);
    /* a hard state committing past the log is corrupt */
    struct raft_hard_state hs = {.term = 9, .vote = 1, .commit = 1000};
    raft_mem_storage_set_hard_state(c.nodes[1].ms, &hs);
    c.nodes[1].cfg.applied = 0;
    assert_int_equal(raft_create(&c.nodes[1].cfg, &rs, &c.nodes[1].r), CAIRN_ECORRUPT);
    c.nodes[1].r = NULL;
    cluster_free(&c);
}

static void test_argument_errors(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 3, NULL);
    pump(&c, 0);
    struct raft *f = c.nodes[2].r;
    struct raft_proposal p = {"x", 1}, bad = {NULL, 3};
    assert_int_equal(raft_propose(f, &p, 1, NULL), CAIRN_ENOLEADER);
    assert_int_equal(raft_read_index(f, 1), CAIRN_ENOLEADER);
    assert_int_equal(raft_transfer_leader(f, 1), CAIRN_ENOLEADER);
    elect(&c, 1);
    struct raft *l = c.nodes[1].r;
    assert_int_equal(raft_propose(l, &p, 0, NULL), CAIRN_EINVAL);
    assert_int_equal(raft_propose(l, NULL, 1, NULL), CAIRN_EINVAL);
    assert_int_equal(raft_propose(l, &bad, 1, NULL), CAIRN_EINVAL);
    assert_int_equal(raft_propose(l, &p, RAFT_MAX_PROPOSAL_BATCH + 1, NULL), CAIRN_EINVAL);
    assert_int_equal(raft_read_index(l, 0), CAIRN_EINVAL);
    assert_int_equal(raft_campaign(l), CAIRN_EINVAL); /* already leader */
    assert_int_equal(raft_transfer_leader(l, 1), 0);  /* to itself: nothing to do */
    assert_int_equal(raft_transfer_leader(l, 9), CAIRN_EINVAL);
    struct raft_conf_change cc;
    memset(&cc, 0, sizeof(cc));
    assert_int_equal(raft_propose_conf_change(f, &cc, NULL), CAIRN_ENOTLEADER);
    assert_int_equal(raft_propose_conf_change(l, &cc, NULL), CAIRN_EINVAL); /* not joint */
    assert_int_equal(raft_propose_conf_change(l, NULL, NULL), CAIRN_EINVAL);
    cluster_free(&c);
}

static void test_malformed_messages(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 3, NULL);
    elect(&c, 1);
    struct raft *r = c.nodes[2].r;
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.from = 1, m.to = 2, m.term = 2, m.type = RAFT_MSG_HEARTBEAT;
    assert_int_equal(raft_step(r, &m), 0);
    m.type = 0;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL);
    m.type = RAFT_MSG_TYPE_MAX + 1;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL);
    m.type = RAFT_MSG_HEARTBEAT, m.to = 3;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL); /* not for us */
    m.to = 2, m.from = 0;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL);
    m.from = 1, m.term = 0;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL); /* term 0 is for forwarded requests */
    m.type = RAFT_MSG_PROP, m.term = 3;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL);
    struct raft_entry e[2] = {{.term = 2, .index = 5}, {.term = 2, .index = 9}};
    m.type = RAFT_MSG_HEARTBEAT, m.term = 2, m.entries = e, m.n_entries = 1;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL); /* entries on a heartbeat */
    m.type = RAFT_MSG_APP, m.index = 4, m.log_term = 2, m.n_entries = 2;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL); /* not contiguous */
    e[1].index = 6, e[1].term = 3;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL); /* a term beyond the message's */
    m.entries = NULL;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL);
    m.n_entries = 0, m.type = RAFT_MSG_SNAP;
    assert_int_equal(raft_step(r, &m), CAIRN_EINVAL); /* no snapshot */
    assert_int_equal(raft_step(r, NULL), CAIRN_EINVAL);
    cluster_free(&c);
}

static void no_forwarding(struct raft_config *cfg)
{
    cfg->disable_proposal_forwarding = 1;
}

static void test_forwarding(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 3, NULL);
    elect(&c, 1);
    struct raft_proposal p[2] = {{"x", 1}, {"y", 1}};
    uint64_t first = 99;
    assert_int_equal(raft_propose(c.nodes[3].r, p, 2, &first), 0);
    assert_int_equal(first, 0); /* unknown to a follower */
    assert_int_equal(raft_read_index(c.nodes[3].r, 77), 0);
    pump(&c, 0);
    assert_int_equal(status(&c, 3).commit, 4);
    assert_int_equal(c.nodes[3].n_reads, 1);
    assert_int_equal(c.nodes[3].reads[0], 77);
    /* a transfer asked of a follower is forwarded to the leader */
    assert_int_equal(raft_transfer_leader(c.nodes[3].r, 2), 0);
    pump(&c, 0);
    assert_int_equal(status(&c, 2).role, RAFT_LEADER);
    cluster_free(&c);
    cluster_init(&c, 3, no_forwarding);
    elect(&c, 1);
    assert_int_equal(raft_propose(c.nodes[2].r, p, 1, NULL), CAIRN_ENOTLEADER);
    cluster_free(&c);
}

static void small_window(struct raft_config *cfg)
{
    cfg->max_msg_bytes = 1;
    cfg->max_inflight_msgs = 2;
}

static void test_transport_feedback(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 3, small_window);
    elect(&c, 1);
    struct raft *l = c.nodes[1].r;
    struct raft_proposal p[4] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}};
    assert_int_equal(raft_propose(l, p, 4, NULL), 0);
    struct raft_status st = status(&c, 1);
    assert_int_equal(st.progress[1].state, RAFT_PROGRESS_REPLICATE);
    assert_int_equal(st.progress[1].inflight_msgs, 2); /* one entry per message, two out */
    assert_true(st.progress[1].paused);
    raft_report_unreachable(l, 2);
    assert_int_equal(status(&c, 1).progress[1].state, RAFT_PROGRESS_PROBE);
    raft_report_snapshot(l, 2, 1); /* not in snapshot state: ignored */
    assert_int_equal(status(&c, 1).progress[1].state, RAFT_PROGRESS_PROBE);
    pump(&c, 0);
    raft_tick(l); /* the commit index reaches a follower at the latest with a heartbeat */
    pump(&c, 0);
    assert_int_equal(status(&c, 2).commit, 6); /* bootstrap, no-op, a b c d */
    /* node 3 falls behind a compacted log and is sent a snapshot */
    assert_int_equal(raft_propose(l, p, 4, NULL), 0);
    pump(&c, 3);
    struct raft_conf_state cs = status(&c, 1).conf;
    assert_int_equal(raft_mem_storage_create_snapshot(c.nodes[1].ms, 10, &cs), 0);
    assert_int_equal(raft_mem_storage_compact(c.nodes[1].ms, 10), 0);
    raft_tick(l); /* heartbeat: node 3 answers, is found behind the log */
    for (int i = 0; i < 3 && status(&c, 1).progress[2].state != RAFT_PROGRESS_SNAPSHOT; i++) {
        while (raft_has_ready(l))
            handle(&c, &c.nodes[1]);
        int nq = c.nq;
        c.nq = 0;
        struct raft_msg q[MAXMSG];
        memcpy(q, c.q, (size_t)nq * sizeof(q[0]));
        for (int k = 0; k < nq; k++) {
            raft_step(c.nodes[q[k].to].r, &q[k]);
            raft_msg_free(NULL, &q[k]);
        }
        for (int k = 2; k <= 3; k++)
            while (raft_has_ready(c.nodes[k].r))
                handle(&c, &c.nodes[k]);
        nq = c.nq;
        c.nq = 0;
        memcpy(q, c.q, (size_t)nq * sizeof(q[0]));
        for (int k = 0; k < nq; k++) {
            if (q[k].type != RAFT_MSG_SNAP)
                raft_step(c.nodes[q[k].to].r, &q[k]);
            raft_msg_free(NULL, &q[k]);
        }
    }
    st = status(&c, 1);
    assert_int_equal(st.progress[2].state, RAFT_PROGRESS_SNAPSHOT);
    assert_int_equal(st.progress[2].pending_snapshot, 10);
    raft_report_snapshot(l, 3, 0); /* the transfer failed: probe again after a heartbeat */
    st = status(&c, 1);
    assert_int_equal(st.progress[2].state, RAFT_PROGRESS_PROBE);
    assert_true(st.progress[2].paused);
    raft_tick(l);
    pump(&c, 0);
    assert_int_equal(status(&c, 3).commit, 10);
    cluster_free(&c);
}

static void test_msg_clone_and_describe(void **state)
{
    (void)state;
    struct raft_entry e[2] = {{.term = 2, .index = 6, .len = 3, .data = (const uint8_t *)"abc"},
                              {.term = 2, .index = 7}};
    struct raft_snapshot_meta snap;
    memset(&snap, 0, sizeof(snap));
    snap.index = 5, snap.term = 2, snap.conf.voters[0] = 1, snap.conf.n_voters = 1;
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APP, m.from = 1, m.to = 2, m.term = 2, m.index = 5, m.log_term = 2;
    m.commit = 5, m.entries = e, m.n_entries = 2;
    struct raft_msg c;
    assert_int_equal(raft_msg_clone(NULL, &m, &c), 0);
    assert_ptr_not_equal(c.entries, e);
    assert_memory_equal(c.entries[0].data, "abc", 3);
    char buf[256];
    assert_string_equal(raft_describe_msg(buf, sizeof(buf), &c),
                        "1->2 APP term=2 log=2/5 commit=5 entries=[2/6 \"abc\", 2/7]");
    raft_msg_free(NULL, &c);
    assert_null(c.mem);
    m.type = RAFT_MSG_SNAP, m.n_entries = 0, m.entries = NULL, m.snapshot = &snap;
    assert_int_equal(raft_msg_clone(NULL, &m, &c), 0);
    assert_int_equal(c.snapshot->conf.voters[0], 1);
    assert_string_equal(raft_describe_msg(buf, sizeof(buf), &c),
                        "1->2 SNAP term=2 snap=2/5 voters=(1)");
    raft_msg_free(NULL, &c);
    m.type = RAFT_MSG_APP_RESP, m.snapshot = NULL, m.reject = 1, m.reject_hint = 3;
    assert_string_equal(raft_describe_msg(buf, sizeof(buf), &m),
                        "1->2 APP_RESP term=2 reject index=5 hint=2/3");
    m.type = RAFT_MSG_TRANSFER_LEADER, m.term = 0, m.index = 3, m.reject = 0;
    assert_string_equal(raft_describe_msg(buf, sizeof(buf), &m),
                        "1->2 TRANSFER_LEADER term=0 to=3");
    m.type = RAFT_MSG_READ_INDEX_RESP, m.ctx = 9;
    assert_string_equal(raft_describe_msg(buf, sizeof(buf), &m),
                        "1->2 READ_INDEX_RESP term=0 index=3 ctx=9");
}

/* An allocator that fails once `budget` allocations have been made. */
struct budget {
    int left;
    int live;
};

static void *b_alloc(void *ctx, size_t size)
{
    struct budget *b = ctx;
    if (b->left-- <= 0)
        return NULL;
    b->live++;
    return malloc(size);
}

static void b_free(void *ctx, void *p)
{
    struct budget *b = ctx;
    b->live--;
    free(p);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    struct raft_mem_storage *ms;
    assert_int_equal(raft_mem_storage_create(NULL, &ms), 0);
    struct raft_storage st;
    raft_mem_storage_iface(ms, &st);
    const uint64_t v[] = {1};
    struct budget b = {0, 0};
    struct raft_config cfg = {.id = 1, .voters = v, .n_voters = 1};
    cfg.alloc = (struct raft_allocator){&b, b_alloc, b_free};
    struct raft *r = NULL;
    int k = 0, rc;
    /* Every allocation in raft_create may fail; each failure is clean (no leak). */
    do {
        b.left = k++;
        rc = raft_create(&cfg, &st, &r);
        if (rc != 0)
            assert_int_equal(b.live, 0);
    } while (rc == CAIRN_ENOMEM && k < 100);
    assert_int_equal(rc, 0);
    b.left = 1000;
    assert_int_equal(raft_campaign(r), 0);
    for (int i = 0; i < 10 && raft_has_ready(r); i++) {
        struct raft_ready rd;
        raft_ready(r, &rd);
        assert_int_equal(raft_mem_storage_save(ms, &rd), 0);
        raft_advance(r);
    }
    struct raft_status s;
    raft_status(r, &s);
    assert_int_equal(s.role, RAFT_LEADER);
    b.left = 0;
    struct raft_proposal p[20];
    for (int i = 0; i < 20; i++)
        p[i] = (struct raft_proposal){"x", 1};
    assert_int_equal(raft_propose(r, p, 20, NULL), CAIRN_ENOMEM);
    assert_int_equal(raft_propose(r, p, 1, NULL), CAIRN_ENOMEM);
    struct raft_conf_change cc;
    memset(&cc, 0, sizeof(cc));
    cc.n_changes = 1;
    cc.changes[0] = (struct raft_cc_single){RAFT_CC_ADD_LEARNER, 2};
    assert_int_equal(raft_propose_conf_change(r, &cc, NULL), CAIRN_ENOMEM);
    assert_int_equal(raft_read_index(r, 5), 0); /* single voter: answered without memory */
    b.left = 1000;
    raft_free(r);
    assert_int_equal(b.live, 0);
    struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT}, c;
    struct raft_allocator none = {&b, b_alloc, b_free};
    b.left = 0;
    struct raft_snapshot_meta sm = {.index = 1};
    m.snapshot = &sm;
    assert_int_equal(raft_msg_clone(&none, &m, &c), CAIRN_ENOMEM);
    raft_mem_storage_free(ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_checks),
        cmocka_unit_test(test_single_node),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_malformed_messages),
        cmocka_unit_test(test_forwarding),
        cmocka_unit_test(test_transport_feedback),
        cmocka_unit_test(test_msg_clone_and_describe),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
