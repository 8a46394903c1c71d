/*
 * raft_sim — run seeds of the deterministic cluster simulation.
 *
 *   raft_sim [--seed S] [--seeds N] [--nodes 3|5] [--chaos-ms T] [--verbose]
 *            [--expect-violation] [--keep-going]
 *
 * Each seed: T ms (default 3000 = 300 ticks) of chaos (faults, clients), then every fault
 * heals and the run must (1) elect a leader within LEADER_BOUND_MS, (2) settle (drain the
 * backlog, finish membership changes) within SETTLE_BOUND_MS, and (3) commit every write
 * proposed after that within COMMIT_BOUND_MS.
 * Safety checks run throughout (sim_check.c). A failing seed prints the command that
 * replays it; --verbose traces every event of that replay.
 *
 * --expect-violation inverts the verdict for the planted-bug builds (raft_sim_bug*): exit
 * 0 at the first seed that finds a violation, 1 if none does. --keep-going runs every seed
 * and counts the violations instead of stopping at the first.
 */
#include "sim.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEADER_BOUND_MS 3000  /* 300 ticks = 30 election timeouts */
#define SETTLE_BOUND_MS 20000 /* drains a backlog at one entry per round trip */
#define STABLE_MS       300   /* the same leader for this long counts as stable */
#define COMMIT_BOUND_MS 3000
#define LIVENESS_WRITES 3

struct opts {
    uint64_t seed;
    uint64_t seeds;
    uint32_t nodes;
    uint64_t chaos_ms;
    int verbose;
    int expect;
    int keep_going;
    const char *argv0;
};

/* For the SIGABRT handler: a core CAIRN_ASSERT must still say how to replay. */
static char g_replay[512];
static int g_expect;

static void on_abort(int sig)
{
    (void)sig;
    static const char head[] = "\nABORT (a CAIRN_ASSERT in raft/ fired) while running: ";
    ssize_t rc = write(2, head, sizeof(head) - 1);
    rc = write(2, g_replay, strlen(g_replay));
    (void)rc;
    _exit(g_expect ? 0 : 134);
}

/* 1: some node leads within LEADER_BOUND_MS of the heal. */
static void wait_leader(struct sim *s)
{
    uint64_t t0 = s->now_ms;
    while (!s->violated && !sim_leader(s)) {
        if (s->now_ms - t0 > LEADER_BOUND_MS) {
            sim_fail(s, "liveness: no leader within %d ticks after the faults healed",
                     LEADER_BOUND_MS / SIM_TICK_MS);
            return;
        }
        sim_step_ms(s);
    }
    sim_log(s, "leader elected %" PRIu64 " ms after the heal", s->now_ms - t0);
}

/* 2: the cluster settles: one leader for STABLE_MS, not transferring, not in a joint
 * configuration (an explicit one is left, as its client would), its log committed. Pending
 * membership changes may legitimately move leadership, so this comes before the writes. */
static void wait_quiescent(struct sim *s)
{
    uint64_t t0 = s->now_ms, since = 0, id = 0, term = 0;
    while (!s->violated) {
        if (s->now_ms - t0 > SETTLE_BOUND_MS) {
            sim_fail(s, "liveness: the cluster did not settle within %d ms after the heal",
                     SETTLE_BOUND_MS);
            return;
        }
        sim_step_ms(s);
        struct sim_node *l = sim_leader(s);
        if (!l) {
            id = 0;
            continue;
        }
        struct raft_status st;
        raft_status(l->r, &st);
        if (st.conf.n_voters_outgoing && !st.conf.auto_leave && s->now_ms % 50 == 0) {
            struct raft_conf_change leave = {0};
            raft_propose_conf_change(l->r, &leave, NULL); /* EBUSY until it may */
        }
        /* ... and every node it removed is stopped: one that does not know of its removal
         * may still depose leaders when check-quorum is off (Raft thesis 4.2.3). */
        int ok = st.lead_transferee == 0 && st.commit == st.last_index && st.applied == st.commit &&
                 st.conf.n_voters_outgoing == 0 && !sim_removed_running(s, &st.conf);
        if (!ok || st.id != id || st.term != term) {
            id = ok ? st.id : 0;
            term = st.term;
            since = s->now_ms;
        } else if (s->now_ms - since >= STABLE_MS) {
            sim_log(s, "settled: leader %" PRIu64 " (term %" PRIu64 ")", id, term);
            return;
        }
    }
}

static void check_writes_commit(struct sim *s)
{
    uint64_t ids[LIVENESS_WRITES];
    uint32_t made = 0;
    uint64_t t0 = s->now_ms;
    while (!s->violated) {
        if (made < LIVENESS_WRITES) {
            struct sim_node *l = sim_leader(s);
            if (l && sim_propose_write(s, l, &ids[made]) == 0)
                made++;
        }
        uint32_t done = 0;
        for (uint32_t i = 0; i < made; i++)
            done += sim_write_acked(s, ids[i]);
        if (made == LIVENESS_WRITES && done == made)
            return;
        if (s->now_ms - t0 > COMMIT_BOUND_MS) {
            sim_fail(s, "liveness: %u of %u writes proposed after the heal committed within %d ms",
                     done, made, COMMIT_BOUND_MS);
            return;
        }
        sim_step_ms(s);
    }
}

/* Runs one seed; returns 1 on a violation (message in s->violation). */
static int run_seed(const struct opts *o, uint64_t seed, uint32_t nodes, struct sim *s)
{
    snprintf(g_replay, sizeof(g_replay),
             "%s --seed %" PRIu64 " --nodes %u --chaos-ms %" PRIu64 "\n", o->argv0, seed, nodes,
             o->chaos_ms);
    if (sim_init(s, seed, nodes, o->verbose) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    while (s->now_ms < o->chaos_ms && !s->violated)
        sim_step_ms(s);
    if (!s->violated) {
        sim_heal_all(s);
        wait_leader(s);
    }
    if (!s->violated)
        wait_quiescent(s);
    if (!s->violated)
        check_writes_commit(s);
    return s->violated;
}

static void usage(void)
{
    fprintf(stderr, "usage: raft_sim [--seed S] [--seeds N] [--nodes 3|5] [--chaos-ms T]"
                    " [--verbose] [--expect-violation] [--keep-going]\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->seeds = 1;
    o->nodes = 3;
    o->chaos_ms = 3000;
    o->argv0 = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose"))
            o->verbose = 1;
        else if (!strcmp(a, "--expect-violation"))
            o->expect = 1;
        else if (!strcmp(a, "--keep-going"))
            o->keep_going = 1;
        else if (v && !strcmp(a, "--seed"))
            o->seed = strtoull(argv[++i], NULL, 10);
        else if (v && !strcmp(a, "--seeds"))
            o->seeds = strtoull(argv[++i], NULL, 10);
        else if (v && !strcmp(a, "--nodes"))
            o->nodes = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (v && !strcmp(a, "--chaos-ms"))
            o->chaos_ms = strtoull(argv[++i], NULL, 10);
        else
            usage();
    }
    if (o->nodes < 1 || o->nodes > 7 || o->seeds == 0)
        usage();
}

int main(int argc, char **argv)
{
    struct opts o;
    parse(argc, argv, &o);
    g_expect = o.expect;
    signal(SIGABRT, on_abort);
    struct sim *s = malloc(sizeof(*s));
    if (!s)
        return 2;
    uint64_t totals[9] = {0}, violations = 0;
    for (uint64_t k = 0; k < o.seeds; k++) {
        uint64_t seed = o.seed + k;
        int bad = run_seed(&o, seed, o.nodes, s);
        uint64_t stats[9] = {s->n_writes,     s->n_reads_done, s->n_crashes,
                             s->n_partitions, s->n_conf,       s->n_transfers,
                             s->n_snapshots,  s->n_delivered,  s->n_dropped};
        for (int i = 0; i < 9; i++)
            totals[i] += stats[i];
        if (bad) {
            printf("VIOLATION seed=%" PRIu64 " nodes=%u at %" PRIu64 " ms: %s\n", seed, o.nodes,
                   s->now_ms, s->violation);
            printf("replay: %s", g_replay);
            if (o.keep_going) {
                violations++;
                sim_destroy(s);
                continue;
            }
            sim_destroy(s);
            free(s);
            if (o.expect)
                printf("planted bug detected after %" PRIu64 " seed(s)\n", k + 1);
            return o.expect ? 0 : 1;
        }
        sim_destroy(s);
    }
    free(s);
    if (violations) {
        printf("%" PRIu64 " of %" PRIu64 " seed(s) found a violation\n", violations, o.seeds);
        return o.expect ? 0 : 1;
    }
    printf("%" PRIu64 " seed(s) from %" PRIu64 ", %u nodes: no violation. writes %" PRIu64
           ", reads %" PRIu64 ", crashes %" PRIu64 ", partitions %" PRIu64 ", conf changes %" PRIu64
           ", transfers %" PRIu64 ", snapshots %" PRIu64 ", messages %" PRIu64
           " delivered / %" PRIu64 " dropped\n",
           o.seeds, o.seed, o.nodes, totals[0], totals[1], totals[2], totals[3], totals[4],
           totals[5], totals[6], totals[7], totals[8]);
    if (o.expect) {
        printf("expected a violation (planted bug) and found none\n");
        return 1;
    }
    return 0;
}
