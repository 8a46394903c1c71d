/*
 * sim.h — the deterministic raft cluster simulator (tests/sim/raft).
 *
 * One seed = one run: a cluster of 3 or 5 raft nodes on in-memory disks, a network that
 * drops, duplicates, delays (so reorders) messages and partitions nodes, crashes that lose
 * whatever a node had not yet made durable, and clients that propose, read (ReadIndex),
 * change membership and transfer leadership. Time is simulated in milliseconds; nothing
 * reads a clock and every choice comes from one seeded PRNG, so a seed replays exactly.
 *
 * Files: sim_cluster.c (nodes, Ready handling, disk, network, faults, clients),
 * sim_check.c (the safety checkers), sim_main.c (phases, liveness, CLI).
 */
#ifndef CAIRN_SIM_H
#define CAIRN_SIM_H

#include "raft.h"
#include "raft_mem_storage.h"

#include <stdint.h>
#include <stdio.h>

#define SIM_TICK_MS    10
#define SIM_KEYS       8
#define SIM_MAX_NET    20000 /* messages in flight; more are dropped */
#define SIM_MAX_READS  64    /* pending client reads per node */
#define SIM_SNAP_STASH 4     /* snapshot payloads kept per node awaiting their Ready */

/* The replicated state machine: a tiny KV plus a hash chain over every applied entry. */
struct sim_sm {
    uint64_t applied;
    uint64_t term; /* term of the entry at applied (the chain's last link) */
    uint64_t hash;
    uint64_t kv[SIM_KEYS];
};

struct sim_read {
    uint64_t ctx;
    uint64_t start_ms;
    uint64_t acked_index; /* highest write index acknowledged before the read began */
    uint64_t index;       /* read index from the Ready, 0 until it arrives */
};

struct sim_payload {
    uint64_t index;
    struct sim_sm sm;
};

struct sim_node {
    uint64_t id;
    int exists;         /* created (founder or added by a conf change) */
    int decommissioned; /* removed by the cluster and stopped for good */
    int removal_proposed;
    int quick_restart;
    int up;             /* running (raft != NULL) */
    int crash_in_ready; /* crash while handling the next Ready, before it is durable */
    uint64_t down_until_ms;
    uint64_t crash_at_ms;     /* scheduled crash, 0 = none */
    uint64_t paused_until_ms; /* a stalled process: no ticks, no Ready handling */
    uint32_t tick_phase_ms;
    struct raft *r;
    struct raft_mem_storage *disk; /* durable: survives crashes */
    struct sim_sm sm;              /* durable, updated with each applied batch */
    struct sim_sm snap_sm;         /* state at the disk's snapshot index */
    uint64_t commit_seen;          /* for the committed-entry registry */
    struct raft_config cfg;
    uint64_t founders[RAFT_MAX_NODES];
    struct sim_read reads[SIM_MAX_READS];
    uint32_t n_reads;
    struct sim_payload stash[SIM_SNAP_STASH];
};

struct sim_msg {
    uint64_t at_ms;
    uint64_t seq;
    struct raft_msg m;
    int has_payload;
    struct sim_sm payload; /* SNAP: the sender's state machine at the snapshot */
};

/* Knobs drawn from the seed at the start of a run. */
struct sim_params {
    uint32_t drop_pct; /* per message, chaos phase only */
    uint32_t dup_pct;
    uint32_t delay_max_ms;             /* uniform 1..delay_max_ms */
    uint32_t slow_pct;                 /* chance a message takes up to 10x longer */
    uint32_t proc_pct;                 /* chance a node handles its Readys in a given millisecond */
    uint32_t crash_per_mille;          /* per 100 ms */
    uint32_t partition_per_mille;      /* per 100 ms */
    uint32_t pause_per_mille;          /* per 100 ms */
    uint32_t leader_bias_pct;          /* chance a crash or partition targets the leader */
    uint32_t assassin_pct;             /* chance a new leader crashes within 40 ms */
    uint32_t kill_on_commit_per_mille; /* chance a leader crashes as its commit advances */
    uint32_t kill_on_vote_per_mille;   /* chance a voter crashes right after voting */
    uint32_t propose_per_mille;        /* per ms */
    uint32_t read_per_mille;           /* per ms */
    uint32_t conf_per_mille;           /* per 100 ms */
    uint32_t transfer_per_mille;       /* per 100 ms */
    uint32_t snapshot_per_mille;       /* per 100 ms per node */
    uint64_t max_msg_bytes;
    uint32_t max_inflight_msgs;
    uint64_t max_uncommitted_bytes;
    uint8_t disable_pre_vote;
    uint8_t disable_check_quorum;
    uint32_t heartbeat_ticks;
};

/* Checker state (sim_check.c). */
struct sim_checker;

struct sim {
    uint64_t seed;
    uint32_t n_founders;
    int verbose;
    int violated;
    char violation[512];
    struct raft_rand rng;
    struct sim_params p;
    uint64_t now_ms;
    int chaos;                                 /* faults and drops allowed */
    struct sim_node nodes[RAFT_MAX_NODES + 1]; /* by id */
    uint64_t next_id;
    uint8_t cut[RAFT_MAX_NODES + 1][RAFT_MAX_NODES + 1]; /* [from][to] */
    uint64_t heal_at_ms;
    uint64_t last_leader_term;
    struct sim_msg *net; /* min-heap on (at_ms, seq) */
    size_t n_net;
    uint64_t net_seq;
    struct {
        uint64_t from;
        uint64_t to;
        int ok;
    } reports[64]; /* snapshot outcomes the transport reports after the Ready */
    uint32_t n_reports;
    uint64_t next_write;
    uint64_t next_read_ctx;
    struct sim_checker *chk;
    /* statistics for the summary line */
    uint64_t n_delivered, n_dropped, n_crashes, n_partitions, n_conf, n_transfers, n_reads_done;
    uint64_t n_snapshots, n_writes;
};

/* sim_cluster.c */
int sim_init(struct sim *s, uint64_t seed, uint32_t nodes, int verbose);
void sim_destroy(struct sim *s);
void sim_step_ms(struct sim *s);
void sim_heal_all(struct sim *s);
void sim_dump(struct sim *s);
int sim_removed_running(struct sim *s, const struct raft_conf_state *cs);
struct sim_node *sim_leader(struct sim *s);
int sim_propose_write(struct sim *s, struct sim_node *n, uint64_t *write_id);
__attribute__((format(printf, 2, 3))) void sim_log(struct sim *s, const char *fmt, ...);
__attribute__((format(printf, 2, 3))) void sim_fail(struct sim *s, const char *fmt, ...);

/* sim_check.c */
int sim_checker_create(struct sim *s);
void sim_checker_free(struct sim *s);
void sim_check_roles(struct sim *s, struct sim_node *n);
void sim_check_persisted(struct sim *s, struct sim_node *n, const struct raft_ready *rd);
void sim_check_committed(struct sim *s, struct sim_node *n);
void sim_check_applied(struct sim *s, struct sim_node *n, uint64_t index, uint64_t hash);
void sim_check_write_acked(struct sim *s, uint64_t write_id, uint64_t index);
uint64_t sim_acked_index(const struct sim *s);
int sim_write_acked(const struct sim *s, uint64_t write_id);
void sim_check_read(struct sim *s, struct sim_node *n, const struct sim_read *rd);

/* Hash helpers shared by the cluster and the checker. */
uint64_t sim_hash_bytes(uint64_t h, const void *data, size_t len);
uint64_t sim_entry_hash(const struct raft_entry *e);

#endif /* CAIRN_SIM_H */
