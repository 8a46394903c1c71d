/*
 * Membership: the conf-change entry codec and the pure function that applies a change to
 * a configuration (joint consensus with ConfChangeV2 semantics; see raft.h for why).
 *
 * Entry data layout (little endian): u8 version(1) u8 transition u8 n_changes u8 0,
 * n_changes x (u8 type, u64 id), u32 context_len, context bytes.
 */
#include "raft_int.h"

#include <string.h>

#define CC_VERSION     1
#define CC_HEADER      4
#define CC_CHANGE_SIZE 9

int raft_ids_contains(const uint64_t *ids, uint32_t n, uint64_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static int ids_add(uint64_t *ids, uint32_t *n, uint64_t id)
{
    if (raft_ids_contains(ids, *n, id))
        return 0;
    if (*n >= RAFT_MAX_NODES)
        return CAIRN_EINVAL;
    ids[(*n)++] = id;
    return 0;
}

static void ids_remove(uint64_t *ids, uint32_t *n, uint64_t id)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (ids[i] == id) {
            memmove(ids + i, ids + i + 1, (*n - i - 1) * sizeof(*ids));
            (*n)--;
            return;
        }
    }
}

int raft_conf_is_voter(const struct raft_conf_state *cs, uint64_t id)
{
    return raft_ids_contains(cs->voters, cs->n_voters, id) ||
           raft_ids_contains(cs->voters_outgoing, cs->n_voters_outgoing, id);
}

int raft_conf_is_learner(const struct raft_conf_state *cs, uint64_t id)
{
    return raft_ids_contains(cs->learners, cs->n_learners, id) ||
           raft_ids_contains(cs->learners_next, cs->n_learners_next, id);
}

int raft_conf_is_joint(const struct raft_conf_state *cs)
{
    return cs->n_voters_outgoing > 0;
}

static int same_set(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb)
{
    if (na != nb)
        return 0;
    for (uint32_t i = 0; i < na; i++)
        if (!raft_ids_contains(b, nb, a[i]))
            return 0;
    return 1;
}

int raft_conf_equal(const struct raft_conf_state *a, const struct raft_conf_state *b)
{
    return same_set(a->voters, a->n_voters, b->voters, b->n_voters) &&
           same_set(a->learners, a->n_learners, b->learners, b->n_learners) &&
           same_set(a->voters_outgoing, a->n_voters_outgoing, b->voters_outgoing,
                    b->n_voters_outgoing) &&
           same_set(a->learners_next, a->n_learners_next, b->learners_next, b->n_learners_next) &&
           a->auto_leave == b->auto_leave;
}

uint32_t raft_conf_members(const struct raft_conf_state *cs, uint64_t out[RAFT_MAX_NODES])
{
    const uint64_t *lists[4] = {cs->voters, cs->voters_outgoing, cs->learners, cs->learners_next};
    const uint32_t ns[4] = {cs->n_voters, cs->n_voters_outgoing, cs->n_learners,
                            cs->n_learners_next};
    uint32_t n = 0;
    for (int l = 0; l < 4; l++) {
        for (uint32_t i = 0; i < ns[l]; i++) {
            if (!raft_ids_contains(out, n, lists[l][i])) {
                CAIRN_ASSERT(n < RAFT_MAX_NODES);
                out[n++] = lists[l][i];
            }
        }
    }
    return n;
}

static int has_dups_or_zero(const uint64_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] == 0 || raft_ids_contains(ids + i + 1, n - i - 1, ids[i]))
            return 1;
    }
    return 0;
}

/* 0 if cs is a well-formed configuration, CAIRN_EINVAL otherwise. */
int raft_conf_validate(const struct raft_conf_state *cs)
{
    if (cs->n_voters > RAFT_MAX_NODES || cs->n_learners > RAFT_MAX_NODES ||
        cs->n_voters_outgoing > RAFT_MAX_NODES || cs->n_learners_next > RAFT_MAX_NODES)
        return CAIRN_EINVAL;
    if (has_dups_or_zero(cs->voters, cs->n_voters) ||
        has_dups_or_zero(cs->learners, cs->n_learners) ||
        has_dups_or_zero(cs->voters_outgoing, cs->n_voters_outgoing) ||
        has_dups_or_zero(cs->learners_next, cs->n_learners_next))
        return CAIRN_EINVAL;
    for (uint32_t i = 0; i < cs->n_learners; i++)
        if (raft_conf_is_voter(cs, cs->learners[i]))
            return CAIRN_EINVAL;
    for (uint32_t i = 0; i < cs->n_learners_next; i++) {
        uint64_t id = cs->learners_next[i];
        if (!raft_ids_contains(cs->voters_outgoing, cs->n_voters_outgoing, id) ||
            raft_ids_contains(cs->voters, cs->n_voters, id) ||
            raft_ids_contains(cs->learners, cs->n_learners, id))
            return CAIRN_EINVAL;
    }
    if (!raft_conf_is_joint(cs) && (cs->n_learners_next > 0 || cs->auto_leave))
        return CAIRN_EINVAL;
    /* The union must fit the tracker. */
    uint32_t total = cs->n_voters + cs->n_learners;
    for (uint32_t i = 0; i < cs->n_voters_outgoing; i++)
        if (!raft_ids_contains(cs->voters, cs->n_voters, cs->voters_outgoing[i]) &&
            !raft_ids_contains(cs->learners_next, cs->n_learners_next, cs->voters_outgoing[i]))
            total++;
    total += cs->n_learners_next;
    return total <= RAFT_MAX_NODES ? 0 : CAIRN_EINVAL;
}

static int cc_check(const struct raft_conf_change *cc)
{
    if (cc->transition > RAFT_CC_JOINT_EXPLICIT || cc->n_changes > RAFT_MAX_NODES)
        return CAIRN_EINVAL;
    if (cc->context_len > 0 && cc->context == NULL)
        return CAIRN_EINVAL;
    for (uint32_t i = 0; i < cc->n_changes; i++)
        if (cc->changes[i].type > RAFT_CC_REMOVE || cc->changes[i].id == 0)
            return CAIRN_EINVAL;
    return 0;
}

size_t raft_conf_change_size(const struct raft_conf_change *cc)
{
    return CC_HEADER + (size_t)cc->n_changes * CC_CHANGE_SIZE + 4 + cc->context_len;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int raft_conf_change_encode(const struct raft_conf_change *cc, uint8_t *buf, size_t cap,
                            size_t *len)
{
    if (cc_check(cc) != 0)
        return CAIRN_EINVAL;
    size_t need = raft_conf_change_size(cc);
    if (cap < need)
        return CAIRN_ELIMIT;
    buf[0] = CC_VERSION;
    buf[1] = cc->transition;
    buf[2] = (uint8_t)cc->n_changes;
    buf[3] = 0;
    uint8_t *p = buf + CC_HEADER;
    for (uint32_t i = 0; i < cc->n_changes; i++, p += CC_CHANGE_SIZE) {
        p[0] = cc->changes[i].type;
        put_u64(p + 1, cc->changes[i].id);
    }
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(cc->context_len >> (8 * i));
    if (cc->context_len)
        memcpy(p + 4, cc->context, cc->context_len);
    *len = need;
    CAIRN_ASSERT((size_t)(p + 4 + cc->context_len - buf) == need);
    return 0;
}

int raft_conf_change_decode(const uint8_t *data, size_t len, struct raft_conf_change *cc)
{
    memset(cc, 0, sizeof(*cc));
    if (len < CC_HEADER + 4 || data[0] != CC_VERSION || data[3] != 0)
        return CAIRN_ECORRUPT;
    cc->transition = data[1];
    cc->n_changes = data[2];
    if (cc->n_changes > RAFT_MAX_NODES || len < CC_HEADER + cc->n_changes * CC_CHANGE_SIZE + 4)
        return CAIRN_ECORRUPT;
    const uint8_t *p = data + CC_HEADER;
    for (uint32_t i = 0; i < cc->n_changes; i++, p += CC_CHANGE_SIZE) {
        cc->changes[i].type = p[0];
        cc->changes[i].id = get_u64(p + 1);
    }
    cc->context_len =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if ((size_t)(p + 4 - data) + cc->context_len != len)
        return CAIRN_ECORRUPT;
    cc->context = cc->context_len ? p + 4 : NULL;
    return cc_check(cc) == 0 ? 0 : CAIRN_ECORRUPT;
}

static int apply_one(struct raft_conf_state *c, const struct raft_cc_single *ch)
{
    uint64_t id = ch->id;
    switch (ch->type) {
    case RAFT_CC_ADD_VOTER:
        ids_remove(c->learners, &c->n_learners, id);
        ids_remove(c->learners_next, &c->n_learners_next, id);
        return ids_add(c->voters, &c->n_voters, id);
    case RAFT_CC_ADD_LEARNER:
        if (raft_ids_contains(c->learners, c->n_learners, id))
            return 0;
        ids_remove(c->voters, &c->n_voters, id);
        /* Still a voter of the outgoing half: becomes a learner when the joint ends. */
        if (raft_ids_contains(c->voters_outgoing, c->n_voters_outgoing, id))
            return ids_add(c->learners_next, &c->n_learners_next, id);
        return ids_add(c->learners, &c->n_learners, id);
    default:
        CAIRN_ASSERT(ch->type == RAFT_CC_REMOVE);
        ids_remove(c->voters, &c->n_voters, id);
        ids_remove(c->learners, &c->n_learners, id);
        ids_remove(c->learners_next, &c->n_learners_next, id);
        return 0;
    }
}

static int leave_joint(const struct raft_conf_state *cs, struct raft_conf_state *out)
{
    if (!raft_conf_is_joint(cs))
        return CAIRN_EINVAL;
    struct raft_conf_state c = *cs;
    for (uint32_t i = 0; i < c.n_learners_next; i++)
        if (ids_add(c.learners, &c.n_learners, c.learners_next[i]) != 0)
            return CAIRN_EINVAL;
    c.n_learners_next = 0;
    c.n_voters_outgoing = 0;
    c.auto_leave = 0;
    if (raft_conf_validate(&c) != 0)
        return CAIRN_EINVAL;
    *out = c;
    return 0;
}

static uint32_t voters_changed(const struct raft_conf_state *a, const struct raft_conf_state *b)
{
    uint32_t d = 0;
    for (uint32_t i = 0; i < a->n_voters; i++)
        d += !raft_ids_contains(b->voters, b->n_voters, a->voters[i]);
    for (uint32_t i = 0; i < b->n_voters; i++)
        d += !raft_ids_contains(a->voters, a->n_voters, b->voters[i]);
    return d;
}

int raft_conf_apply(const struct raft_conf_state *cs, const struct raft_conf_change *cc,
                    struct raft_conf_state *out)
{
    if (cc_check(cc) != 0 || raft_conf_validate(cs) != 0)
        return CAIRN_EINVAL;
    if (cc->n_changes == 0)
        return leave_joint(cs, out);
    if (raft_conf_is_joint(cs))
        return CAIRN_EINVAL; /* leave the joint configuration first */
    struct raft_conf_state c = *cs;
    int bootstrap = cs->n_voters == 0; /* nothing to keep safe: apply in one step */
    int joint = !bootstrap && cc->transition != RAFT_CC_AUTO;
    if (bootstrap && cc->transition != RAFT_CC_AUTO)
        return CAIRN_EINVAL;
    for (int pass = 0; pass < 2; pass++) {
        if (joint) {
            memcpy(c.voters_outgoing, cs->voters, cs->n_voters * sizeof(uint64_t));
            c.n_voters_outgoing = cs->n_voters;
            c.auto_leave = cc->transition != RAFT_CC_JOINT_EXPLICIT;
        }
        for (uint32_t i = 0; i < cc->n_changes; i++)
            if (apply_one(&c, &cc->changes[i]) != 0)
                return CAIRN_EINVAL;
        /* AUTO changing more than one voter needs the joint phase: redo it that way. */
        if (joint || bootstrap || voters_changed(cs, &c) <= 1)
            break;
        c = *cs;
        joint = 1;
    }
    if (c.n_voters == 0 || raft_conf_validate(&c) != 0)
        return CAIRN_EINVAL;
    *out = c;
    return 0;
}
