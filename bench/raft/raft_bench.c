/*
 * raft_bench — a 3-node raft cluster in one process committing batched proposals.
 *
 *   raft_bench [--entries N] [--batch B] [--size BYTES] [--runs R] [--window W]
 *
 * Each node is a raft core on raft_mem_storage; messages are stepped into their receiver
 * as soon as the sender's Ready is handled (a perfect network), so the figures are the
 * CPU cost of raft/ itself plus the in-memory log: no disk, no sockets. The leader
 * proposes B entries per call and keeps at most W batches uncommitted. A run ends when all
 * three nodes applied N entries. Reports entries/s (wall, CLOCK_MONOTONIC) and CPU time per
 * entry (CLOCK_PROCESS_CPUTIME_ID, the whole process: three nodes' work per entry), per run
 * and the median over runs.
 */
#include "raft.h"
#include "raft_mem_storage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NODES    3
#define KEEP_LOG 4096 /* entries kept behind the applied index when compacting */

struct bnode {
    struct raft *r;
    struct raft_mem_storage *ms;
    uint64_t applied;
    uint64_t applied_entries; /* non-empty entries applied */
    uint64_t last_compact;
};

struct bench {
    struct bnode n[NODES + 1];
    uint64_t voters[NODES];
};

static double now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "raft_bench: %s: %s\n", what, cairn_strerror(rc));
    exit(1);
}

static void handle_ready(struct bench *b, int id)
{
    struct bnode *x = &b->n[id];
    struct raft_ready rd;
    raft_ready(x->r, &rd);
    int rc = raft_mem_storage_save(x->ms, &rd);
    if (rc != 0)
        die("save", rc);
    for (size_t i = 0; i < rd.n_committed; i++)
        x->applied_entries += rd.committed[i].type == RAFT_ENTRY_NORMAL && rd.committed[i].len;
    if (rd.n_committed)
        x->applied = rd.committed[rd.n_committed - 1].index;
    /* A perfect network: the receiver is not inside a Ready, so it may step at once. */
    for (size_t i = 0; i < rd.n_msgs; i++) {
        rc = raft_step(b->n[rd.msgs[i].to].r, &rd.msgs[i]);
        if (rc != 0)
            die("step", rc);
    }
    raft_advance(x->r);
    /* Bound memory: snapshot the applied state and drop the log behind it. */
    if (x->applied > x->last_compact + 2 * KEEP_LOG) {
        struct raft_status st;
        raft_status(x->r, &st);
        if (raft_mem_storage_create_snapshot(x->ms, x->applied, &st.conf) == 0)
            raft_mem_storage_compact(x->ms, x->applied - KEEP_LOG);
        x->last_compact = x->applied;
    }
}

static void round_all(struct bench *b)
{
    for (int id = 1; id <= NODES; id++)
        for (int k = 0; k < 4 && raft_has_ready(b->n[id].r); k++)
            handle_ready(b, id);
}

static void setup(struct bench *b)
{
    memset(b, 0, sizeof(*b));
    for (int i = 0; i < NODES; i++)
        b->voters[i] = (uint64_t)i + 1;
    for (int id = 1; id <= NODES; id++) {
        struct bnode *x = &b->n[id];
        int rc = raft_mem_storage_create(NULL, &x->ms);
        if (rc != 0)
            die("storage", rc);
        struct raft_storage st;
        raft_mem_storage_iface(x->ms, &st);
        struct raft_config cfg = {.id = (uint64_t)id, .voters = b->voters, .n_voters = NODES};
        cfg.seed = (uint64_t)id;
        cfg.max_uncommitted_bytes = RAFT_UNLIMITED;
        rc = raft_create(&cfg, &st, &x->r);
        if (rc != 0)
            die("raft_create", rc);
    }
    round_all(b);
    int rc = raft_campaign(b->n[1].r);
    if (rc != 0)
        die("campaign", rc);
    for (int i = 0; i < 20; i++)
        round_all(b);
    struct raft_status st;
    raft_status(b->n[1].r, &st);
    if (st.role != RAFT_LEADER)
        die("election", CAIRN_EBUSY);
}

static void teardown(struct bench *b)
{
    for (int id = 1; id <= NODES; id++) {
        raft_free(b->n[id].r);
        raft_mem_storage_free(b->n[id].ms);
    }
}

struct result {
    double entries_per_s;
    double cpu_ns_per_entry;
    double wall_s;
};

static struct result run(uint64_t entries, uint32_t batch, uint32_t size, uint32_t window)
{
    struct bench b;
    setup(&b);
    uint8_t *data = malloc(size ? size : 1);
    struct raft_proposal *p = malloc(batch * sizeof(*p));
    if (!data || !p)
        die("malloc", CAIRN_ENOMEM);
    memset(data, 'x', size);
    for (uint32_t i = 0; i < batch; i++)
        p[i] = (struct raft_proposal){data, size};
    uint64_t proposed = 0;
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (;;) {
        uint64_t done = entries;
        for (int id = 1; id <= NODES; id++)
            if (b.n[id].applied_entries < done)
                done = b.n[id].applied_entries;
        if (done >= entries)
            break;
        uint64_t inflight = proposed - b.n[1].applied_entries;
        if (proposed < entries && inflight < (uint64_t)window * batch) {
            uint32_t k = entries - proposed < batch ? (uint32_t)(entries - proposed) : batch;
            int rc = raft_propose(b.n[1].r, p, k, NULL);
            if (rc != 0)
                die("propose", rc);
            proposed += k;
        }
        round_all(&b);
    }
    struct result res;
    res.wall_s = now_s(CLOCK_MONOTONIC) - w0;
    double cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    res.entries_per_s = (double)entries / res.wall_s;
    res.cpu_ns_per_entry = cpu * 1e9 / (double)entries;
    free(data);
    free(p);
    teardown(&b);
    return res;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    uint64_t entries = 1000000;
    uint32_t batch = 64, size = 128, runs = 5, window = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        uint64_t v = strtoull(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--entries"))
            entries = v;
        else if (!strcmp(argv[i], "--batch"))
            batch = (uint32_t)v;
        else if (!strcmp(argv[i], "--size"))
            size = (uint32_t)v;
        else if (!strcmp(argv[i], "--runs"))
            runs = (uint32_t)v;
        else if (!strcmp(argv[i], "--window"))
            window = (uint32_t)v;
        else
            argc = 0;
    }
    if (argc == 0 || (argc % 2) == 0 || entries == 0 || batch == 0 || runs == 0 || runs > 99 ||
        window == 0 || batch > RAFT_MAX_PROPOSAL_BATCH) {
        fprintf(stderr, "usage: raft_bench [--entries N] [--batch B] [--size BYTES] [--runs R]"
                        " [--window W]\n");
        return 2;
    }
    double eps[99], cpu[99];
    printf("3-node in-memory cluster: %" PRIu64 " entries of %u bytes, %u per proposal, "
           "%u batches in flight\n",
           entries, size, batch, window);
    for (uint32_t r = 0; r < runs; r++) {
        struct result res = run(entries, batch, size, window);
        eps[r] = res.entries_per_s;
        cpu[r] = res.cpu_ns_per_entry;
        printf("run %u: %.0f entries/s, %.0f ns CPU/entry (%.2f s)\n", r + 1, res.entries_per_s,
               res.cpu_ns_per_entry, res.wall_s);
    }
    qsort(eps, runs, sizeof(double), cmp_double);
    qsort(cpu, runs, sizeof(double), cmp_double);
    printf("median: %.0f entries/s, %.0f ns CPU/entry\n", eps[runs / 2], cpu[runs / 2]);
    return 0;
}
