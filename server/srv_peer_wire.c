/* Raft messages on the wire: a hand encoder (protobuf-c's exact bytes) and a checked decoder. */
#include "srv_peer_wire.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_LEN = 2 };

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* A varint field, omitted when zero (proto3). Field numbers here are < 16: one tag byte. */
static size_t u64_field_size(uint64_t v)
{
    return v ? 1 + varint_size(v) : 0;
}

static uint8_t *put_u64_field(uint8_t *p, unsigned field, uint64_t v)
{
    if (!v)
        return p;
    *p++ = (uint8_t)(field << 3 | WT_VARINT);
    return put_varint(p, v);
}

static size_t len_field_size(size_t len)
{
    return 1 + varint_size(len) + len;
}

static uint8_t *put_len_head(uint8_t *p, unsigned field, size_t len)
{
    *p++ = (uint8_t)(field << 3 | WT_LEN);
    return put_varint(p, len);
}

/* ---- sizes ---- */

static size_t packed_body(const uint64_t *v, uint32_t n)
{
    size_t s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += varint_size(v[i]);
    return s;
}

static size_t packed_size(const uint64_t *v, uint32_t n)
{
    return n ? len_field_size(packed_body(v, n)) : 0;
}

static size_t conf_body(const struct raft_conf_state *c)
{
    return packed_size(c->voters, c->n_voters) + packed_size(c->learners, c->n_learners) +
           packed_size(c->voters_outgoing, c->n_voters_outgoing) +
           packed_size(c->learners_next, c->n_learners_next) + (c->auto_leave ? 2 : 0);
}

static size_t meta_body(const struct raft_snapshot_meta *s)
{
    return u64_field_size(s->index) + u64_field_size(s->term) + len_field_size(conf_body(&s->conf));
}

static size_t entry_body(const struct raft_entry *e)
{
    return u64_field_size(e->term) + u64_field_size(e->index) + u64_field_size(e->type) +
           (e->len ? len_field_size(e->len) : 0);
}

static size_t msg_body(const struct raft_msg *m)
{
    size_t s = u64_field_size(m->type) + (m->reject ? 2 : 0) + u64_field_size(m->flags) +
               u64_field_size(m->from) + u64_field_size(m->to) + u64_field_size(m->term) +
               u64_field_size(m->log_term) + u64_field_size(m->index) + u64_field_size(m->commit) +
               u64_field_size(m->reject_hint) + u64_field_size(m->ctx);
    for (uint32_t i = 0; i < m->n_entries; i++)
        s += len_field_size(entry_body(&m->entries[i]));
    if (m->snapshot)
        s += len_field_size(meta_body(m->snapshot));
    return s;
}

size_t srv_peer_wire_batch_size(const struct raft_msg *msgs, const size_t *idx, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += len_field_size(msg_body(&msgs[idx[i]]));
    return s;
}

/* ---- encoding ---- */

static uint8_t *put_packed(uint8_t *p, unsigned field, const uint64_t *v, uint32_t n)
{
    if (!n)
        return p;
    p = put_len_head(p, field, packed_body(v, n));
    for (uint32_t i = 0; i < n; i++)
        p = put_varint(p, v[i]);
    return p;
}

static uint8_t *put_meta(uint8_t *p, const struct raft_snapshot_meta *s)
{
    const struct raft_conf_state *c = &s->conf;
    p = put_len_head(p, 13, meta_body(s));
    p = put_u64_field(p, 1, s->index);
    p = put_u64_field(p, 2, s->term);
    p = put_len_head(p, 3, conf_body(c));
    p = put_packed(p, 1, c->voters, c->n_voters);
    p = put_packed(p, 2, c->learners, c->n_learners);
    p = put_packed(p, 3, c->voters_outgoing, c->n_voters_outgoing);
    p = put_packed(p, 4, c->learners_next, c->n_learners_next);
    return put_u64_field(p, 5, c->auto_leave ? 1 : 0);
}

static uint8_t *put_msg(uint8_t *p, const struct raft_msg *m)
{
    uint8_t *start = p;
    size_t body = msg_body(m);
    p = put_len_head(p, 1, body);
    uint8_t *body_start = p;
    p = put_u64_field(p, 1, m->type);
    p = put_u64_field(p, 2, m->reject ? 1 : 0);
    p = put_u64_field(p, 3, m->flags);
    p = put_u64_field(p, 4, m->from);
    p = put_u64_field(p, 5, m->to);
    p = put_u64_field(p, 6, m->term);
    p = put_u64_field(p, 7, m->log_term);
    p = put_u64_field(p, 8, m->index);
    p = put_u64_field(p, 9, m->commit);
    p = put_u64_field(p, 10, m->reject_hint);
    p = put_u64_field(p, 11, m->ctx);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        p = put_len_head(p, 12, entry_body(e));
        p = put_u64_field(p, 1, e->term);
        p = put_u64_field(p, 2, e->index);
        p = put_u64_field(p, 3, e->type);
        if (e->len) {
            p = put_len_head(p, 4, e->len);
            memcpy(p, e->data, e->len);
            p += e->len;
        }
    }
    if (m->snapshot)
        p = put_meta(p, m->snapshot);
    CAIRN_ASSERT((size_t)(p - body_start) == body);
    CAIRN_ASSERT((size_t)(p - start) == len_field_size(body));
    return p;
}

size_t srv_peer_wire_batch_pack(const struct raft_msg *msgs, const size_t *idx, size_t n,
                                uint8_t *out)
{
    uint8_t *p = out;
    for (size_t i = 0; i < n; i++)
        p = put_msg(p, &msgs[idx[i]]);
    return (size_t)(p - out);
}

void srv_peer_wire_msg_view(const struct raft_msg *m, Cairnpb__RaftMessage *pb,
                            Cairnpb__RaftSnapshotMeta *meta, Cairnpb__RaftConfState *conf)
{
    CAIRN_ASSERT(m->n_entries == 0);
    cairnpb__raft_message__init(pb);
    pb->type = m->type;
    pb->reject = m->reject;
    pb->flags = m->flags;
    pb->from = m->from;
    pb->to = m->to;
    pb->term = m->term;
    pb->log_term = m->log_term;
    pb->index = m->index;
    pb->commit = m->commit;
    pb->reject_hint = m->reject_hint;
    pb->ctx = m->ctx;
    if (!m->snapshot)
        return;
    const struct raft_conf_state *c = &m->snapshot->conf;
    cairnpb__raft_snapshot_meta__init(meta);
    cairnpb__raft_conf_state__init(conf);
    meta->index = m->snapshot->index;
    meta->term = m->snapshot->term;
    meta->conf = conf;
    conf->voters = (uint64_t *)c->voters;
    conf->n_voters = c->n_voters;
    conf->learners = (uint64_t *)c->learners;
    conf->n_learners = c->n_learners;
    conf->voters_outgoing = (uint64_t *)c->voters_outgoing;
    conf->n_voters_outgoing = c->n_voters_outgoing;
    conf->learners_next = (uint64_t *)c->learners_next;
    conf->n_learners_next = c->n_learners_next;
    conf->auto_leave = c->auto_leave;
    pb->snapshot = meta;
}

/* ---- decoding ---- */

static int copy_ids(uint64_t *dst, uint32_t *n_dst, const uint64_t *src, size_t n)
{
    if (n > RAFT_MAX_NODES)
        return CAIRN_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (src[i] == 0)
            return CAIRN_EINVAL;
    if (n)
        memcpy(dst, src, n * sizeof(*dst));
    *n_dst = (uint32_t)n;
    return 0;
}

static int check_msg(const Cairnpb__RaftMessage *pb, uint64_t from, uint64_t to)
{
    if (pb->type < RAFT_MSG_APP || pb->type > RAFT_MSG_TYPE_MAX || pb->flags > 0xff)
        return CAIRN_EINVAL;
    if ((from && pb->from != from) || (to && pb->to != to) || pb->from == 0 || pb->to == 0)
        return CAIRN_EINVAL;
    if ((pb->type == RAFT_MSG_SNAP) != (pb->snapshot != NULL))
        return CAIRN_EINVAL;
    if (pb->n_entries > UINT32_MAX / 2)
        return CAIRN_EINVAL;
    for (size_t i = 0; i < pb->n_entries; i++)
        if (pb->entries[i]->type > RAFT_ENTRY_CONF_CHANGE || pb->entries[i]->data.len > UINT32_MAX)
            return CAIRN_EINVAL;
    return 0;
}

int srv_peer_wire_unpack(Cairnpb__RaftMessage *const *pbs, size_t n, uint64_t from, uint64_t to,
                         struct srv_peer_msgs **out)
{
    CAIRN_ASSERT(out != NULL);
    size_t head = sizeof(struct srv_peer_msgs) + n * sizeof(struct raft_msg);
    size_t data = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = check_msg(pbs[i], from, to);
        if (rc < 0)
            return rc;
        head += pbs[i]->n_entries * sizeof(struct raft_entry);
        head += pbs[i]->snapshot ? sizeof(struct raft_snapshot_meta) : 0;
        for (size_t k = 0; k < pbs[i]->n_entries; k++)
            data += pbs[i]->entries[k]->data.len;
    }
    _Static_assert(sizeof(struct srv_peer_msgs) % 8 == 0 && sizeof(struct raft_msg) % 8 == 0 &&
                       sizeof(struct raft_entry) % 8 == 0 &&
                       sizeof(struct raft_snapshot_meta) % 8 == 0,
                   "block layout keeps 8-byte alignment");
    uint8_t *blk = malloc(head + data + 1);
    if (!blk)
        return CAIRN_ENOMEM;
    struct srv_peer_msgs *pm = (struct srv_peer_msgs *)(void *)blk;
    pm->n = n;
    pm->msgs = (struct raft_msg *)(void *)(blk + sizeof(*pm));
    uint8_t *p = blk + sizeof(*pm) + n * sizeof(struct raft_msg);
    uint8_t *d = blk + head;
    for (size_t i = 0; i < n; i++) {
        const Cairnpb__RaftMessage *pb = pbs[i];
        struct raft_msg *m = &pm->msgs[i];
        memset(m, 0, sizeof(*m));
        m->type = (uint8_t)pb->type;
        m->reject = pb->reject;
        m->flags = (uint8_t)pb->flags;
        m->from = pb->from;
        m->to = pb->to;
        m->term = pb->term;
        m->log_term = pb->log_term;
        m->index = pb->index;
        m->commit = pb->commit;
        m->reject_hint = pb->reject_hint;
        m->ctx = pb->ctx;
        if (pb->snapshot) {
            struct raft_snapshot_meta *s = (struct raft_snapshot_meta *)(void *)p;
            p += sizeof(*s);
            memset(s, 0, sizeof(*s));
            s->index = pb->snapshot->index;
            s->term = pb->snapshot->term;
            const Cairnpb__RaftConfState *c = pb->snapshot->conf;
            int rc = 0;
            if (c) {
                struct raft_conf_state *cs = &s->conf;
                rc = copy_ids(cs->voters, &cs->n_voters, c->voters, c->n_voters);
                if (rc == 0)
                    rc = copy_ids(cs->learners, &cs->n_learners, c->learners, c->n_learners);
                if (rc == 0)
                    rc = copy_ids(cs->voters_outgoing, &cs->n_voters_outgoing, c->voters_outgoing,
                                  c->n_voters_outgoing);
                if (rc == 0)
                    rc = copy_ids(cs->learners_next, &cs->n_learners_next, c->learners_next,
                                  c->n_learners_next);
                cs->auto_leave = c->auto_leave;
            }
            if (rc < 0 || s->index == 0) {
                free(blk);
                return CAIRN_EINVAL;
            }
            m->snapshot = s;
        }
        if (pb->n_entries) {
            struct raft_entry *e = (struct raft_entry *)(void *)p;
            p += pb->n_entries * sizeof(*e);
            for (size_t k = 0; k < pb->n_entries; k++) {
                const Cairnpb__RaftEntry *pe = pb->entries[k];
                e[k].term = pe->term;
                e[k].index = pe->index;
                e[k].type = (uint8_t)pe->type;
                e[k].len = (uint32_t)pe->data.len;
                e[k].data = NULL;
                if (pe->data.len) {
                    memcpy(d, pe->data.data, pe->data.len);
                    e[k].data = d;
                    d += pe->data.len;
                }
            }
            m->entries = e;
            m->n_entries = (uint32_t)pb->n_entries;
        }
    }
    CAIRN_ASSERT((size_t)(p - blk) == head && (size_t)(d - blk) == head + data);
    *out = pm;
    return 0;
}
