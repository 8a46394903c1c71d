/*
 * raft_scenario — runs golden scenario files against raft/.
 *
 * A file is a sequence of blocks:
 *
 *     # comments and blank lines are kept as they are
 *     command arg...
 *     ----
 *     expected output (no blank lines; "ok" when a command prints nothing)
 *
 * Each command drives an in-memory cluster (nodes with raft_mem_storage, per-recipient
 * mailboxes, cuttable links). The runner compares what each command prints with the
 * expected text and reports the first differences; --rewrite writes the actual output back
 * instead (review the diff before committing it).
 *
 * Usage: raft_scenario [--rewrite] FILE...
 * Commands: see the dispatch table at the bottom (cmd_*).
 */
#include "cairn.h"
#include "raft.h"
#include "raft_mem_storage.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID     RAFT_MAX_NODES
#define MAX_ARGS   32
#define MAX_MAIL   4096
#define MAX_ROUNDS 200 /* stabilize gives up (and says so) after this many rounds */

struct node {
    int exists;
    struct raft *r;
    struct raft_mem_storage *ms;
    struct raft_config cfg;
    uint64_t voters[RAFT_MAX_NODES];
    uint64_t learners[RAFT_MAX_NODES];
    uint64_t applied;
};

struct env {
    struct node nodes[MAX_ID + 1];
    uint64_t next_id;
    struct raft_msg mail[MAX_MAIL]; /* clones, in send order */
    size_t n_mail;
    uint8_t cut[MAX_ID + 1][MAX_ID + 1];
    char *out; /* output of the current command */
    size_t out_len;
    size_t out_cap;
};

__attribute__((format(printf, 2, 3))) static void emit(struct env *e, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = strlen(line);
    if (e->out_len + len + 2 > e->out_cap) {
        size_t cap = e->out_cap ? e->out_cap * 2 : 4096;
        while (cap < e->out_len + len + 2)
            cap *= 2;
        char *p = realloc(e->out, cap);
        if (!p)
            abort();
        e->out = p;
        e->out_cap = cap;
    }
    memcpy(e->out + e->out_len, line, len);
    e->out_len += len;
    e->out[e->out_len++] = '\n';
    e->out[e->out_len] = 0;
}

/* ---- argument parsing ---- */

struct args {
    int n;
    char *v[MAX_ARGS];
};

static const char *kv(const struct args *a, const char *key)
{
    size_t kl = strlen(key);
    for (int i = 1; i < a->n; i++)
        if (strncmp(a->v[i], key, kl) == 0 && a->v[i][kl] == '=')
            return a->v[i] + kl + 1;
    return NULL;
}

static uint64_t kv_u64(const struct args *a, const char *key, uint64_t def)
{
    const char *v = kv(a, key);
    return v ? strtoull(v, NULL, 10) : def;
}

static int kv_bool(const struct args *a, const char *key, int def)
{
    const char *v = kv(a, key);
    return v ? strcmp(v, "true") == 0 : def;
}

static uint32_t kv_ids(const struct args *a, const char *key, uint64_t *ids)
{
    const char *v = kv(a, key);
    uint32_t n = 0;
    while (v && *v && n < RAFT_MAX_NODES) {
        char *end;
        ids[n++] = strtoull(v, &end, 10);
        v = *end == ',' ? end + 1 : NULL;
    }
    return n;
}

/* The positional argument i (not key=value) as a node id, 0 if absent. */
static uint64_t pos_id(const struct args *a, int i)
{
    int k = 0;
    for (int j = 1; j < a->n; j++) {
        if (strchr(a->v[j], '='))
            continue;
        if (k++ == i)
            return strtoull(a->v[j], NULL, 10);
    }
    return 0;
}

static struct node *node_arg(struct env *e, const struct args *a, int i)
{
    uint64_t id = pos_id(a, i);
    if (id == 0 || id > MAX_ID || !e->nodes[id].exists) {
        emit(e, "error: no node %" PRIu64, id);
        return NULL;
    }
    return &e->nodes[id];
}

/* ---- nodes ---- */

static int start_node(struct env *e, uint64_t id)
{
    struct node *n = &e->nodes[id];
    struct raft_storage st;
    raft_mem_storage_iface(n->ms, &st);
    n->cfg.applied = n->applied;
    int rc = raft_create(&n->cfg, &st, &n->r);
    if (rc != 0)
        emit(e, "error: raft_create(%" PRIu64 "): %s", id, cairn_strerror(rc));
    return rc;
}

static void cmd_add_nodes(struct env *e, const struct args *a)
{
    uint64_t count = pos_id(a, 0);
    uint64_t voters[RAFT_MAX_NODES], learners[RAFT_MAX_NODES];
    uint32_t nv = kv_ids(a, "voters", voters), nl = kv_ids(a, "learners", learners);
    for (uint64_t k = 0; k < count && e->next_id <= MAX_ID; k++) {
        uint64_t id = e->next_id++;
        struct node *n = &e->nodes[id];
        memset(n, 0, sizeof(*n));
        n->exists = 1;
        memcpy(n->voters, voters, sizeof(voters));
        memcpy(n->learners, learners, sizeof(learners));
        struct raft_config *c = &n->cfg;
        c->id = id;
        c->voters = n->voters;
        c->n_voters = nv;
        c->learners = n->learners;
        c->n_learners = nl;
        c->election_ticks = (uint32_t)kv_u64(a, "election", 10);
        c->heartbeat_ticks = (uint32_t)kv_u64(a, "heartbeat", 1);
        c->seed = kv_u64(a, "seed", 1);
        c->max_inflight_msgs = (uint32_t)kv_u64(a, "max-inflight", 0);
        c->max_inflight_bytes = kv_u64(a, "max-inflight-bytes", 0);
        c->max_msg_bytes = kv_u64(a, "max-msg-bytes", 0);
        c->max_uncommitted_bytes = kv_u64(a, "max-uncommitted", 0);
        c->disable_pre_vote = !kv_bool(a, "prevote", 1);
        c->disable_check_quorum = !kv_bool(a, "checkquorum", 1);
        c->lease_reads = (uint8_t)kv_bool(a, "lease", 0);
        c->disable_proposal_forwarding = !kv_bool(a, "forwarding", 1);
        if (raft_mem_storage_create(NULL, &n->ms) != 0)
            abort();
        if (start_node(e, id) != 0)
            return;
        emit(e, "added %" PRIu64, id);
    }
}

static void print_conf(struct env *e, const char *prefix, const struct raft_conf_state *cs)
{
    char buf[512];
    emit(e, "%s%s", prefix, raft_describe_conf(buf, sizeof(buf), cs));
}

static void print_entries(struct env *e, const char *what, const struct raft_entry *es, size_t n)
{
    if (n == 0)
        return;
    emit(e, "  %s:", what);
    for (size_t i = 0; i < n; i++) {
        char buf[512];
        emit(e, "    %s", raft_describe_entry(buf, sizeof(buf), &es[i]));
    }
}

static void print_msg(struct env *e, const char *indent, const struct raft_msg *m)
{
    char buf[2048];
    emit(e, "%s%s%s", indent, raft_describe_msg(buf, sizeof(buf), m),
         m->after_persist ? " (after persist)" : "");
}

static void queue_msg(struct env *e, const struct raft_msg *m)
{
    if (e->n_mail >= MAX_MAIL) {
        emit(e, "error: mailbox full");
        return;
    }
    if (raft_msg_clone(NULL, m, &e->mail[e->n_mail]) != 0)
        abort();
    e->n_mail++;
}

static void print_ready_head(struct env *e, const struct raft_ready *rd)
{
    if (rd->soft_changed)
        emit(e, "  role=%s lead=%" PRIu64, raft_role_str(rd->role), rd->lead);
    if (rd->hs_changed)
        emit(e, "  hs term=%" PRIu64 " vote=%" PRIu64 " commit=%" PRIu64, rd->hs.term, rd->hs.vote,
             rd->hs.commit);
    if (rd->snapshot) {
        char buf[512];
        emit(e, "  snapshot %" PRIu64 "/%" PRIu64 " %s", rd->snapshot->term, rd->snapshot->index,
             raft_describe_conf(buf, sizeof(buf), &rd->snapshot->conf));
    }
    print_entries(e, "entries", rd->entries, rd->n_entries);
    print_entries(e, "committed", rd->committed, rd->n_committed);
    if (rd->conf_changed)
        print_conf(e, "  conf ", &rd->conf);
    for (size_t i = 0; i < rd->n_reads; i++)
        emit(e, "  read index=%" PRIu64 " ctx=%" PRIu64, rd->reads[i].index, rd->reads[i].ctx);
}

static void handle_ready(struct env *e, uint64_t id)
{
    struct node *n = &e->nodes[id];
    struct raft_ready rd;
    raft_ready(n->r, &rd);
    emit(e, "> %" PRIu64 " handling Ready%s", id, rd.must_sync ? " (sync)" : "");
    print_ready_head(e, &rd);
    if (raft_mem_storage_save(n->ms, &rd) != 0)
        emit(e, "error: save failed");
    if (rd.snapshot)
        n->applied = rd.snapshot->index;
    if (rd.n_committed)
        n->applied = rd.committed[rd.n_committed - 1].index;
    if (rd.n_msgs)
        emit(e, "  msgs:");
    for (size_t i = 0; i < rd.n_msgs; i++) {
        print_msg(e, "    ", &rd.msgs[i]);
        queue_msg(e, &rd.msgs[i]);
    }
    raft_advance(n->r);
}

/* Handle Readys of the given nodes (all when none) until none is left; 1 if any. */
static int process_ready(struct env *e, const uint64_t *ids, size_t n_ids)
{
    int any = 0;
    for (uint64_t id = 1; id <= MAX_ID; id++) {
        int chosen = n_ids == 0;
        for (size_t k = 0; k < n_ids; k++)
            chosen |= ids[k] == id;
        if (!chosen || !e->nodes[id].exists)
            continue;
        for (int k = 0; k < 16 && raft_has_ready(e->nodes[id].r); k++) {
            handle_ready(e, id);
            any = 1;
        }
    }
    return any;
}

/* Deliver (or drop) the mail of the given recipients (all when none), in send order. */
static int deliver(struct env *e, const uint64_t *ids, size_t n_ids, int drop)
{
    struct raft_msg *keep = malloc(sizeof(struct raft_msg) * (e->n_mail + 1));
    struct raft_msg *now = malloc(sizeof(struct raft_msg) * (e->n_mail + 1));
    if (!keep || !now)
        abort();
    size_t nk = 0, nn = 0;
    for (size_t i = 0; i < e->n_mail; i++) {
        int chosen = n_ids == 0;
        for (size_t k = 0; k < n_ids; k++)
            chosen |= ids[k] == e->mail[i].to;
        if (chosen)
            now[nn++] = e->mail[i];
        else
            keep[nk++] = e->mail[i];
    }
    memcpy(e->mail, keep, nk * sizeof(*keep));
    e->n_mail = nk;
    for (size_t i = 0; i < nn; i++) {
        struct raft_msg *m = &now[i];
        if (drop || e->cut[m->from][m->to] || !e->nodes[m->to].exists) {
            print_msg(e, "dropped: ", m);
        } else {
            print_msg(e, "", m);
            int rc = raft_step(e->nodes[m->to].r, m);
            if (rc != 0)
                emit(e, "  error: %s", cairn_strerror(rc));
        }
        raft_msg_free(NULL, m);
    }
    free(keep);
    free(now);
    return nn > 0;
}

static size_t pos_ids(const struct args *a, uint64_t *ids)
{
    size_t n = 0;
    for (int i = 0; pos_id(a, i) != 0 && n < MAX_ID; i++)
        ids[n++] = pos_id(a, i);
    return n;
}

static void cmd_process_ready(struct env *e, const struct args *a)
{
    uint64_t ids[MAX_ID];
    process_ready(e, ids, pos_ids(a, ids));
}

static void cmd_deliver(struct env *e, const struct args *a)
{
    uint64_t ids[MAX_ID];
    int drop = 0;
    for (int i = 1; i < a->n; i++)
        drop |= strcmp(a->v[i], "drop") == 0;
    deliver(e, ids, pos_ids(a, ids), drop);
}

static void cmd_stabilize(struct env *e, const struct args *a)
{
    uint64_t ids[MAX_ID];
    size_t n = pos_ids(a, ids);
    for (int round = 0;; round++) {
        if (round == MAX_ROUNDS) {
            emit(e, "error: not stable after %d rounds", MAX_ROUNDS);
            return;
        }
        int any = process_ready(e, ids, n);
        any |= deliver(e, ids, n, 0);
        if (!any)
            return;
    }
}

static void cmd_tick(struct env *e, const struct args *a, int kind)
{
    struct node *n = node_arg(e, a, 0);
    if (!n)
        return;
    uint64_t count = pos_id(a, 1) ? pos_id(a, 1) : 1;
    if (kind == 1)
        count = n->cfg.heartbeat_ticks;
    if (kind == 2)
        count = n->cfg.election_ticks;
    for (uint64_t i = 0; i < count; i++)
        raft_tick(n->r);
    emit(e, "ok");
}

static void report(struct env *e, const char *what, int rc, uint64_t index)
{
    if (rc != 0)
        emit(e, "%s: error: %s", what, cairn_strerror(rc));
    else if (index)
        emit(e, "%s: ok index=%" PRIu64, what, index);
    else
        emit(e, "%s: ok", what);
}

static void cmd_campaign(struct env *e, const struct args *a)
{
    struct node *n = node_arg(e, a, 0);
    if (n)
        report(e, "campaign", raft_campaign(n->r), 0);
}

static void cmd_propose(struct env *e, const struct args *a)
{
    struct node *n = node_arg(e, a, 0);
    if (!n)
        return;
    struct raft_proposal p[MAX_ARGS];
    size_t k = 0;
    for (int i = 2; i < a->n; i++) {
        p[k].data = a->v[i];
        p[k].len = (uint32_t)strlen(a->v[i]);
        k++;
    }
    uint64_t first = 0;
    int rc = raft_propose(n->r, p, k, &first);
    report(e, "propose", rc, first);
}

static void cmd_conf_change(struct env *e, const struct args *a)
{
    struct node *n = node_arg(e, a, 0);
    if (!n)
        return;
    struct raft_conf_change cc;
    memset(&cc, 0, sizeof(cc));
    const char *t = kv(a, "transition");
    cc.transition = t == NULL                    ? RAFT_CC_AUTO
                    : strcmp(t, "implicit") == 0 ? RAFT_CC_JOINT_IMPLICIT
                    : strcmp(t, "explicit") == 0 ? RAFT_CC_JOINT_EXPLICIT
                                                 : RAFT_CC_AUTO;
    for (int i = 2; i < a->n && cc.n_changes < RAFT_MAX_NODES; i++) {
        const char *w = a->v[i];
        if (strchr(w, '='))
            continue;
        uint8_t type = w[0] == 'v'   ? RAFT_CC_ADD_VOTER
                       : w[0] == 'l' ? RAFT_CC_ADD_LEARNER
                                     : RAFT_CC_REMOVE;
        cc.changes[cc.n_changes++] = (struct raft_cc_single){type, strtoull(w + 1, NULL, 10)};
    }
    uint64_t index = 0;
    int rc = raft_propose_conf_change(n->r, &cc, &index);
    report(e, "conf-change", rc, index);
}

static void cmd_read_index(struct env *e, const struct args *a)
{
    struct node *n = node_arg(e, a, 0);
    if (n)
        report(e, "read-index", raft_read_index(n->r, pos_id(a, 1)), 0);
}

static void cmd_transfer(struct env *e, const struct args *a)
{
    struct node *n = node_arg(e, a, 0);
    if (n)
        report(e, "transfer-leader", raft_transfer_leader(n->r, pos_id(a, 1)), 0);
}

static void cmd_status(struct env *e, const struct args *a)
{
    struct node *n = node_arg(e, a, 0);
    if (!n)
        return;
    struct raft_status st;
    raft_status(n->r, &st);
    emit(e,
         "%" PRIu64 ": %s term=%" PRIu64 " vote=%" PRIu64 " lead=%" PRIu64 " commit=%" PRIu64
         " applied=%" PRIu64 " log=[%" PRIu64 ",%" PRIu64 "]%s",
         st.id, raft_role_str(st.role), st.term, st.vote, st.lead, st.commit, st.applied,
         st.first_index, st.last_index, st.lead_transferee ? " transferring" : "");
    print_conf(e, "  ", &st.conf);
    for (uint32_t i = 0; i < st.n_progress; i++) {
        const struct raft_progress_status *p = &st.progress[i];
        emit(e, "  %" PRIu64 ": %s match=%" PRIu64 " next=%" PRIu64 "%s%s%s", p->id,
             raft_progress_state_str(p->state), p->match, p->next, p->learner ? " learner" : "",
             p->paused ? " paused" : "", p->recent_active ? "" : " inactive");
    }
}

static void cmd_raft_log(struct env *e, const struct args *a)
{
    struct node *n = node_arg(e, a, 0);
    if (!n)
        return;
    struct raft_status st;
    raft_status(n->r, &st);
    if (st.last_index < st.first_index)
        emit(e, "log is empty: first index=%" PRIu64 ", last index=%" PRIu64, st.first_index,
             st.last_index);
    for (uint64_t i = st.first_index; i <= st.last_index; i++) {
        const struct raft_entry *en = raft_mem_storage_entry(n->ms, i);
        char buf[512];
        if (en)
            emit(e, "%s", raft_describe_entry(buf, sizeof(buf), en));
        else
            emit(e, "%" PRIu64 ": (unstable)", i);
    }
}

static void cmd_restart(struct env *e, const struct args *a)
{
    struct node *n = node_arg(e, a, 0);
    if (!n)
        return;
    raft_free(n->r);
    n->r = NULL;
    if (start_node(e, pos_id(a, 0)) == 0)
        emit(e, "restarted %" PRIu64, pos_id(a, 0));
}

static void cmd_compact(struct env *e, const struct args *a)
{
    struct node *n = node_arg(e, a, 0);
    if (!n)
        return;
    struct raft_status st;
    raft_status(n->r, &st);
    int rc = raft_mem_storage_create_snapshot(n->ms, n->applied, &st.conf);
    if (rc == 0)
        rc = raft_mem_storage_compact(n->ms, pos_id(a, 1) ? pos_id(a, 1) : n->applied);
    report(e, "compact", rc, 0);
}

static void cmd_links(struct env *e, const struct args *a, int how)
{
    if (how == 2) {
        memset(e->cut, 0, sizeof(e->cut));
        emit(e, "ok");
        return;
    }
    uint64_t x = pos_id(a, 0), y = pos_id(a, 1);
    for (uint64_t i = 1; i <= MAX_ID; i++) {
        for (uint64_t j = 1; j <= MAX_ID; j++) {
            int hit = how == 0 ? (i == x || j == x) : ((i == x && j == y) || (i == y && j == x));
            if (hit)
                e->cut[i][j] = 1;
        }
    }
    emit(e, "ok");
}

static void cmd_report(struct env *e, const struct args *a, int snap)
{
    struct node *n = node_arg(e, a, 0);
    if (!n)
        return;
    if (snap)
        raft_report_snapshot(n->r, pos_id(a, 1), kv_bool(a, "ok", 1));
    else
        raft_report_unreachable(n->r, pos_id(a, 1));
    emit(e, "ok");
}

static void run_command(struct env *e, char *line)
{
    struct args a = {0};
    for (char *t = strtok(line, " \t"); t && a.n < MAX_ARGS; t = strtok(NULL, " \t"))
        a.v[a.n++] = t;
    if (a.n == 0)
        return;
    const char *c = a.v[0];
    if (!strcmp(c, "add-nodes"))
        cmd_add_nodes(e, &a);
    else if (!strcmp(c, "campaign"))
        cmd_campaign(e, &a);
    else if (!strcmp(c, "tick"))
        cmd_tick(e, &a, 0);
    else if (!strcmp(c, "tick-heartbeat"))
        cmd_tick(e, &a, 1);
    else if (!strcmp(c, "tick-election"))
        cmd_tick(e, &a, 2);
    else if (!strcmp(c, "propose"))
        cmd_propose(e, &a);
    else if (!strcmp(c, "propose-conf-change"))
        cmd_conf_change(e, &a);
    else if (!strcmp(c, "read-index"))
        cmd_read_index(e, &a);
    else if (!strcmp(c, "transfer-leader"))
        cmd_transfer(e, &a);
    else if (!strcmp(c, "process-ready"))
        cmd_process_ready(e, &a);
    else if (!strcmp(c, "deliver-msgs"))
        cmd_deliver(e, &a);
    else if (!strcmp(c, "stabilize"))
        cmd_stabilize(e, &a);
    else if (!strcmp(c, "status"))
        cmd_status(e, &a);
    else if (!strcmp(c, "raft-log"))
        cmd_raft_log(e, &a);
    else if (!strcmp(c, "restart"))
        cmd_restart(e, &a);
    else if (!strcmp(c, "compact"))
        cmd_compact(e, &a);
    else if (!strcmp(c, "isolate"))
        cmd_links(e, &a, 0);
    else if (!strcmp(c, "cut"))
        cmd_links(e, &a, 1);
    else if (!strcmp(c, "heal"))
        cmd_links(e, &a, 2);
    else if (!strcmp(c, "report-unreachable"))
        cmd_report(e, &a, 0);
    else if (!strcmp(c, "report-snapshot"))
        cmd_report(e, &a, 1);
    else
        emit(e, "error: unknown command %s", c);
}

static void env_free(struct env *e)
{
    for (uint64_t id = 1; id <= MAX_ID; id++) {
        if (!e->nodes[id].exists)
            continue;
        raft_free(e->nodes[id].r);
        raft_mem_storage_free(e->nodes[id].ms);
    }
    for (size_t i = 0; i < e->n_mail; i++)
        raft_msg_free(NULL, &e->mail[i]);
    free(e->out);
}

/* ---- the file driver ---- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 2);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[size] = 0;
    fclose(f);
    return buf;
}

/* Splits text in place into lines (empty lines kept); returns the count. */
static size_t split_lines(char *text, char ***out)
{
    size_t n = 1;
    for (char *p = text; *p; p++)
        n += *p == '\n';
    char **v = malloc(n * sizeof(*v));
    if (!v)
        abort();
    size_t k = 0;
    char *p = text;
    while (k < n) {
        v[k++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    if (k > 0 && v[k - 1][0] == 0)
        k--; /* the final newline does not start a line */
    *out = v;
    return k;
}

/* Runs one file; returns the number of mismatching blocks (or -1 on a format error). */
static int run_file(const char *path, int rewrite)
{
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "%s: cannot read\n", path);
        return -1;
    }
    char **lines;
    size_t n = split_lines(text, &lines);
    struct env *e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    e->next_id = 1;
    FILE *out = NULL;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    if (rewrite && !(out = fopen(tmp, "w"))) {
        fprintf(stderr, "%s: cannot write\n", tmp);
        return -1;
    }
    int bad = 0;
    for (size_t i = 0; i < n;) {
        if (lines[i][0] == 0 || lines[i][0] == '#') {
            if (out)
                fprintf(out, "%s\n", lines[i]);
            i++;
            continue;
        }
        size_t cmd_line = i++;
        if (i >= n || strcmp(lines[i], "----") != 0) {
            fprintf(stderr, "%s:%zu: expected ---- after the command\n", path, cmd_line + 1);
            bad = -1;
            break;
        }
        i++;
        /* Expected output: up to the next blank line. */
        size_t cap = 1, first = i;
        for (; i < n && lines[i][0] != 0; i++)
            cap += strlen(lines[i]) + 1;
        char *expected = malloc(cap);
        if (!expected)
            abort();
        expected[0] = 0;
        for (size_t k = first; k < i; k++) {
            strcat(expected, lines[k]);
            strcat(expected, "\n");
        }
        char run[1024];
        snprintf(run, sizeof(run), "%s", lines[cmd_line]);
        e->out_len = 0;
        if (e->out)
            e->out[0] = 0;
        run_command(e, run);
        const char *actual = e->out_len ? e->out : "ok\n";
        if (strcmp(actual, expected) != 0) {
            bad++;
            if (!rewrite)
                fprintf(stderr, "%s:%zu: %s\n--- expected\n%s--- actual\n%s\n", path, cmd_line + 1,
                        lines[cmd_line], expected, actual);
        }
        if (out)
            fprintf(out, "%s\n----\n%s", lines[cmd_line], actual);
        free(expected);
    }
    env_free(e);
    free(e);
    free(lines);
    free(text);
    if (out) {
        fclose(out);
        if (bad >= 0 && rename(tmp, path) != 0)
            bad = -1;
    }
    return bad;
}

int main(int argc, char **argv)
{
    int rewrite = 0, failed = 0, files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rewrite")) {
            rewrite = 1;
            continue;
        }
        files++;
        int bad = run_file(argv[i], rewrite);
        if (bad != 0 && !(rewrite && bad > 0)) {
            failed = 1;
            fprintf(stderr, "%s: %d block(s) differ\n", argv[i], bad);
        } else {
            printf("%s: %s\n", argv[i], rewrite && bad > 0 ? "rewritten" : "ok");
        }
    }
    if (files == 0) {
        fprintf(stderr, "usage: raft_scenario [--rewrite] FILE...\n");
        return 2;
    }
    return failed;
}
