/* Human-readable text for messages, entries and configurations (logs, golden tests). */
#include "raft_int.h"

#include <stdarg.h>
#include <stdio.h>

struct out {
    char *buf;
    size_t cap;
    size_t len;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
    if (o->len + 1 >= o->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
    if (o->len >= o->cap)
        o->len = o->cap - 1; /* truncated */
}

const char *raft_msg_type_str(uint8_t type)
{
    static const char *const names[] = {"NONE",           "APP",
                                        "APP_RESP",       "VOTE",
                                        "VOTE_RESP",      "PREVOTE",
                                        "PREVOTE_RESP",   "HEARTBEAT",
                                        "HEARTBEAT_RESP", "SNAP",
                                        "TIMEOUT_NOW",    "PROP",
                                        "READ_INDEX",     "READ_INDEX_RESP",
                                        "TRANSFER_LEADER"};
    return type < CAIRN_ARRAY_LEN(names) ? names[type] : "UNKNOWN";
}

const char *raft_role_str(uint8_t role)
{
    static const char *const names[] = {"follower", "pre-candidate", "candidate", "leader"};
    return role < CAIRN_ARRAY_LEN(names) ? names[role] : "unknown";
}

const char *raft_progress_state_str(uint8_t state)
{
    static const char *const names[] = {"probe", "replicate", "snapshot"};
    return state < CAIRN_ARRAY_LEN(names) ? names[state] : "unknown";
}

static void put_ids(struct out *o, const uint64_t *ids, uint32_t n)
{
    put(o, "(");
    for (uint32_t i = 0; i < n; i++)
        put(o, i ? " %llu" : "%llu", (unsigned long long)ids[i]);
    put(o, ")");
}

static void put_conf(struct out *o, const struct raft_conf_state *cs)
{
    put(o, "voters=");
    put_ids(o, cs->voters, cs->n_voters);
    if (cs->n_voters_outgoing) {
        put(o, "&&");
        put_ids(o, cs->voters_outgoing, cs->n_voters_outgoing);
    }
    if (cs->n_learners) {
        put(o, " learners=");
        put_ids(o, cs->learners, cs->n_learners);
    }
    if (cs->n_learners_next) {
        put(o, " learners_next=");
        put_ids(o, cs->learners_next, cs->n_learners_next);
    }
    if (cs->auto_leave)
        put(o, " autoleave");
}

char *raft_describe_conf(char *buf, size_t cap, const struct raft_conf_state *cs)
{
    struct out o = {buf, cap, 0};
    if (cap)
        buf[0] = 0;
    put_conf(&o, cs);
    return buf;
}

static void put_data(struct out *o, const uint8_t *d, uint32_t len)
{
    int printable = len <= 32;
    for (uint32_t i = 0; i < len && printable; i++)
        printable = d[i] >= 0x20 && d[i] < 0x7f && d[i] != '"';
    if (printable)
        put(o, " \"%.*s\"", (int)len, (const char *)d);
    else
        put(o, " <%u bytes>", len);
}

static void put_entry(struct out *o, const struct raft_entry *e)
{
    put(o, "%llu/%llu", (unsigned long long)e->term, (unsigned long long)e->index);
    if (e->type != RAFT_ENTRY_CONF_CHANGE) {
        if (e->len)
            put_data(o, e->data, e->len);
        return;
    }
    struct raft_conf_change cc;
    if (raft_conf_change_decode(e->data, e->len, &cc) != 0) {
        put(o, " conf(corrupt)");
        return;
    }
    static const char kinds[] = {'v', 'l', 'r'};
    static const char *const trans[] = {"", " joint", " joint-explicit"};
    put(o, " conf(");
    if (cc.n_changes == 0)
        put(o, "leave");
    for (uint32_t i = 0; i < cc.n_changes; i++)
        put(o, "%s%c%llu", i ? " " : "", kinds[cc.changes[i].type],
            (unsigned long long)cc.changes[i].id);
    put(o, "%s)", cc.n_changes ? trans[cc.transition] : "");
}

char *raft_describe_entry(char *buf, size_t cap, const struct raft_entry *e)
{
    struct out o = {buf, cap, 0};
    if (cap)
        buf[0] = 0;
    put_entry(&o, e);
    return buf;
}

static void put_entries(struct out *o, const struct raft_msg *m)
{
    put(o, " entries=[");
    for (uint32_t i = 0; i < m->n_entries; i++) {
        if (i)
            put(o, ", ");
        put_entry(o, &m->entries[i]);
    }
    put(o, "]");
}

static void put_body(struct out *o, const struct raft_msg *m)
{
    unsigned long long idx = m->index, lt = m->log_term;
    switch (m->type) {
    case RAFT_MSG_APP:
        put(o, " log=%llu/%llu commit=%llu", lt, idx, (unsigned long long)m->commit);
        if (m->n_entries)
            put_entries(o, m);
        break;
    case RAFT_MSG_APP_RESP:
        if (m->reject)
            put(o, " reject index=%llu hint=%llu/%llu", idx, lt,
                (unsigned long long)m->reject_hint);
        else
            put(o, " index=%llu", idx);
        break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        put(o, " log=%llu/%llu%s", lt, idx, (m->flags & RAFT_MSGF_TRANSFER) ? " transfer" : "");
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        put(o, m->reject ? " rejected" : " granted");
        break;
    case RAFT_MSG_HEARTBEAT:
        put(o, " commit=%llu", (unsigned long long)m->commit);
        break;
    case RAFT_MSG_SNAP:
        if (m->snapshot) {
            put(o, " snap=%llu/%llu ", (unsigned long long)m->snapshot->term,
                (unsigned long long)m->snapshot->index);
            put_conf(o, &m->snapshot->conf);
        }
        break;
    case RAFT_MSG_PROP:
        put_entries(o, m);
        break;
    case RAFT_MSG_READ_INDEX_RESP:
        put(o, " index=%llu", idx);
        break;
    case RAFT_MSG_TRANSFER_LEADER:
        put(o, " to=%llu", idx);
        break;
    default:
        break;
    }
    if (m->ctx)
        put(o, " ctx=%llu", (unsigned long long)m->ctx);
}

char *raft_describe_msg(char *buf, size_t cap, const struct raft_msg *m)
{
    struct out o = {buf, cap, 0};
    if (cap)
        buf[0] = 0;
    put(&o, "%llu->%llu %s term=%llu", (unsigned long long)m->from, (unsigned long long)m->to,
        raft_msg_type_str(m->type), (unsigned long long)m->term);
    put_body(&o, m);
    return buf;
}
