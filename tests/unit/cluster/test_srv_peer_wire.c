/* Raft messages on the wire: the hand encoder writes protobuf-c's exact bytes, the decoder
 * gives back the same messages, concatenated batches merge, and bad messages are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "srv_peer_wire.h"

#include <stdlib.h>
#include <string.h>

#define N_MSGS 6

struct fixture {
    struct raft_msg msgs[N_MSGS];
    struct raft_entry entries[4];
    struct raft_snapshot_meta snap;
    uint8_t big[3000];
};

/* One of each shape: entries (with empty and long data), a snapshot, flags and hints,
 * large ids (multi-byte varints), and an all-zero-fields message. */
static void build(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < sizeof(f->big); i++)
        f->big[i] = (uint8_t)(i * 7 + 1);
    f->entries[0] = (struct raft_entry){
        .term = 3, .index = 10, .type = 0, .len = 5, .data = (const uint8_t *)"hello"};
    f->entries[1] = (struct raft_entry){.term = 3, .index = 11, .type = 0, .len = 0, .data = NULL};
    f->entries[2] =
        (struct raft_entry){.term = 4, .index = 12, .type = 1, .len = 3000, .data = f->big};
    f->entries[3] = (struct raft_entry){
        .term = 1ULL << 40, .index = UINT64_MAX, .type = 0, .len = 1, .data = (const uint8_t *)"x"};
    f->snap.index = 12345;
    f->snap.term = 7;
    f->snap.conf.voters[0] = 0xf649b990c123ecf8ULL;
    f->snap.conf.voters[1] = 2;
    f->snap.conf.n_voters = 2;
    f->snap.conf.learners[0] = 9;
    f->snap.conf.n_learners = 1;
    uint64_t from = 0xc3598afc4b978c93ULL, to = 0x1108b02fb7d176feULL;
    f->msgs[0] = (struct raft_msg){.type = RAFT_MSG_APP,
                                   .from = from,
                                   .to = to,
                                   .term = 4,
                                   .log_term = 3,
                                   .index = 9,
                                   .commit = 8,
                                   .n_entries = 4,
                                   .entries = f->entries};
    f->msgs[1] = (struct raft_msg){.type = RAFT_MSG_APP_RESP,
                                   .reject = 1,
                                   .from = from,
                                   .to = to,
                                   .term = 4,
                                   .index = 9,
                                   .reject_hint = 5,
                                   .log_term = 2};
    f->msgs[2] = (struct raft_msg){
        .type = RAFT_MSG_SNAP, .from = from, .to = to, .term = 4, .snapshot = &f->snap};
    f->msgs[3] = (struct raft_msg){
        .type = RAFT_MSG_HEARTBEAT, .from = from, .to = to, .term = 4, .commit = 12, .ctx = 77};
    f->msgs[4] = (struct raft_msg){.type = RAFT_MSG_VOTE,
                                   .flags = RAFT_MSGF_TRANSFER,
                                   .from = from,
                                   .to = to,
                                   .term = 5,
                                   .index = 12,
                                   .log_term = 4};
    f->msgs[5] = (struct raft_msg){
        .type = RAFT_MSG_PROP, .from = from, .to = to, .n_entries = 1, .entries = f->entries};
}

/* The same batch through protobuf-c's own structures. */
static uint8_t *pack_with_protobuf_c(const struct fixture *f, size_t *len)
{
    Cairnpb__RaftMessage pm[N_MSGS], *pms[N_MSGS];
    Cairnpb__RaftEntry pe[N_MSGS][4], *pes[N_MSGS][4];
    Cairnpb__RaftSnapshotMeta meta;
    Cairnpb__RaftConfState conf;
    for (size_t i = 0; i < N_MSGS; i++) {
        const struct raft_msg *m = &f->msgs[i];
        struct raft_msg head = *m;
        head.n_entries = 0;
        srv_peer_wire_msg_view(&head, &pm[i], &meta, &conf);
        for (uint32_t k = 0; k < m->n_entries; k++) {
            cairnpb__raft_entry__init(&pe[i][k]);
            pe[i][k].term = m->entries[k].term;
            pe[i][k].index = m->entries[k].index;
            pe[i][k].type = m->entries[k].type;
            pe[i][k].data.len = m->entries[k].len;
            pe[i][k].data.data = (uint8_t *)m->entries[k].data;
            pes[i][k] = &pe[i][k];
        }
        pm[i].n_entries = m->n_entries;
        pm[i].entries = m->n_entries ? pes[i] : NULL;
        pms[i] = &pm[i];
    }
    Cairnpb__PeerBatch b = CAIRNPB__PEER_BATCH__INIT;
    b.n_msgs = N_MSGS;
    b.msgs = pms;
    *len = cairnpb__peer_batch__get_packed_size(&b);
    uint8_t *out = malloc(*len);
    assert_non_null(out);
    assert_int_equal(cairnpb__peer_batch__pack(&b, out), *len);
    return out;
}

static void assert_msg_equal(const struct raft_msg *a, const struct raft_msg *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->reject, b->reject);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->from, b->from);
    assert_int_equal(a->to, b->to);
    assert_int_equal(a->term, b->term);
    assert_int_equal(a->log_term, b->log_term);
    assert_int_equal(a->index, b->index);
    assert_int_equal(a->commit, b->commit);
    assert_int_equal(a->reject_hint, b->reject_hint);
    assert_int_equal(a->ctx, b->ctx);
    assert_int_equal(a->n_entries, b->n_entries);
    for (uint32_t k = 0; k < a->n_entries; k++) {
        assert_int_equal(a->entries[k].term, b->entries[k].term);
        assert_int_equal(a->entries[k].index, b->entries[k].index);
        assert_int_equal(a->entries[k].type, b->entries[k].type);
        assert_int_equal(a->entries[k].len, b->entries[k].len);
        if (a->entries[k].len)
            assert_memory_equal(a->entries[k].data, b->entries[k].data, a->entries[k].len);
    }
    assert_int_equal(a->snapshot != NULL, b->snapshot != NULL);
    if (a->snapshot) {
        assert_int_equal(a->snapshot->index, b->snapshot->index);
        assert_int_equal(a->snapshot->term, b->snapshot->term);
        assert_memory_equal(&a->snapshot->conf, &b->snapshot->conf, sizeof(a->snapshot->conf));
    }
}

static size_t all_idx[N_MSGS] = {0, 1, 2, 3, 4, 5};

static void test_bytes_match_protobuf_c(void **state)
{
    (void)state;
    struct fixture f;
    build(&f);
    size_t size = srv_peer_wire_batch_size(f.msgs, all_idx, N_MSGS);
    uint8_t *mine = malloc(size);
    assert_non_null(mine);
    assert_int_equal(srv_peer_wire_batch_pack(f.msgs, all_idx, N_MSGS, mine), size);
    size_t theirs_len = 0;
    uint8_t *theirs = pack_with_protobuf_c(&f, &theirs_len);
    assert_int_equal(size, theirs_len);
    assert_memory_equal(mine, theirs, size);
    free(mine);
    free(theirs);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct fixture f;
    build(&f);
    size_t size = srv_peer_wire_batch_size(f.msgs, all_idx, N_MSGS);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    srv_peer_wire_batch_pack(f.msgs, all_idx, N_MSGS, buf);
    Cairnpb__PeerBatch *b = cairnpb__peer_batch__unpack(NULL, size, buf);
    assert_non_null(b);
    assert_int_equal(b->n_msgs, N_MSGS);
    struct srv_peer_msgs *pm = NULL;
    assert_int_equal(srv_peer_wire_unpack(b->msgs, b->n_msgs, f.msgs[0].from, f.msgs[0].to, &pm),
                     0);
    assert_int_equal(pm->n, N_MSGS);
    for (size_t i = 0; i < N_MSGS; i++)
        assert_msg_equal(&f.msgs[i], &pm->msgs[i]);
    cairnpb__peer_batch__free_unpacked(b, NULL);
    memset(buf, 0xee, size); /* the decoded block owns its data */
    assert_msg_equal(&f.msgs[0], &pm->msgs[0]);
    free(pm);
    free(buf);
}

/* The transport coalesces queued batches by concatenating their bytes. */
static void test_concatenation_merges(void **state)
{
    (void)state;
    struct fixture f;
    build(&f);
    size_t first[2] = {0, 1}, second[3] = {3, 4, 5};
    size_t a = srv_peer_wire_batch_size(f.msgs, first, 2);
    size_t b = srv_peer_wire_batch_size(f.msgs, second, 3);
    uint8_t *buf = malloc(a + b);
    assert_non_null(buf);
    srv_peer_wire_batch_pack(f.msgs, first, 2, buf);
    srv_peer_wire_batch_pack(f.msgs, second, 3, buf + a);
    Cairnpb__PeerBatch *pb = cairnpb__peer_batch__unpack(NULL, a + b, buf);
    assert_non_null(pb);
    assert_int_equal(pb->n_msgs, 5);
    struct srv_peer_msgs *pm = NULL;
    assert_int_equal(srv_peer_wire_unpack(pb->msgs, pb->n_msgs, 0, 0, &pm), 0);
    assert_msg_equal(&f.msgs[1], &pm->msgs[1]);
    assert_msg_equal(&f.msgs[3], &pm->msgs[2]);
    assert_msg_equal(&f.msgs[5], &pm->msgs[4]);
    free(pm);
    cairnpb__peer_batch__free_unpacked(pb, NULL);
    free(buf);
}

/* Decode one message after fn spoils it; the result code. */
static int decode_spoiled(void (*fn)(Cairnpb__RaftMessage *m), uint64_t from, uint64_t to)
{
    struct fixture f;
    build(&f);
    size_t size = srv_peer_wire_batch_size(f.msgs, all_idx, N_MSGS);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    srv_peer_wire_batch_pack(f.msgs, all_idx, N_MSGS, buf);
    Cairnpb__PeerBatch *b = cairnpb__peer_batch__unpack(NULL, size, buf);
    assert_non_null(b);
    if (fn)
        fn(b->msgs[2]); /* the SNAP message */
    struct srv_peer_msgs *pm = NULL;
    int rc = srv_peer_wire_unpack(b->msgs, b->n_msgs, from, to, &pm);
    if (rc == 0)
        assert_non_null(pm);
    else
        assert_null(pm);
    free(pm);
    cairnpb__peer_batch__free_unpacked(b, NULL);
    free(buf);
    return rc;
}

static void no_type(Cairnpb__RaftMessage *m)
{
    m->type = 0;
}
static void big_type(Cairnpb__RaftMessage *m)
{
    m->type = RAFT_MSG_TYPE_MAX + 1;
}
static void no_snapshot(Cairnpb__RaftMessage *m)
{
    cairnpb__raft_snapshot_meta__free_unpacked(m->snapshot, NULL);
    m->snapshot = NULL;
}
static void as_heartbeat(Cairnpb__RaftMessage *m)
{
    m->type = RAFT_MSG_HEARTBEAT; /* with a snapshot attached */
}
static void zero_voter(Cairnpb__RaftMessage *m)
{
    m->snapshot->conf->voters[0] = 0;
}
static void too_many_voters(Cairnpb__RaftMessage *m)
{
    m->snapshot->conf->n_voters = RAFT_MAX_NODES + 1;
}
static void snapshot_index_zero(Cairnpb__RaftMessage *m)
{
    m->snapshot->index = 0;
}
static void zero_from(Cairnpb__RaftMessage *m)
{
    m->from = 0;
}

static void test_refuses_bad_messages(void **state)
{
    (void)state;
    struct fixture f;
    build(&f);
    uint64_t from = f.msgs[0].from, to = f.msgs[0].to;
    assert_int_equal(decode_spoiled(NULL, from, to), 0);
    assert_int_equal(decode_spoiled(NULL, from + 1, to), CAIRN_EINVAL); /* another sender */
    assert_int_equal(decode_spoiled(NULL, from, to + 1), CAIRN_EINVAL); /* not for us */
    void (*spoilers[])(Cairnpb__RaftMessage *) = {
        no_type,    big_type,        no_snapshot,         as_heartbeat,
        zero_voter, too_many_voters, snapshot_index_zero, zero_from};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(spoilers); i++)
        assert_int_equal(decode_spoiled(spoilers[i], from, to), CAIRN_EINVAL);
}

static void test_bad_entry_type(void **state)
{
    (void)state;
    struct fixture f;
    build(&f);
    f.entries[1].type = 7;
    size_t size = srv_peer_wire_batch_size(f.msgs, all_idx, 1);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    srv_peer_wire_batch_pack(f.msgs, all_idx, 1, buf);
    Cairnpb__PeerBatch *b = cairnpb__peer_batch__unpack(NULL, size, buf);
    assert_non_null(b);
    struct srv_peer_msgs *pm = NULL;
    assert_int_equal(srv_peer_wire_unpack(b->msgs, b->n_msgs, 0, 0, &pm), CAIRN_EINVAL);
    assert_null(pm);
    cairnpb__peer_batch__free_unpacked(b, NULL);
    free(buf);
}

static void test_empty_batch(void **state)
{
    (void)state;
    struct fixture f;
    build(&f);
    assert_int_equal(srv_peer_wire_batch_size(f.msgs, all_idx, 0), 0);
    struct srv_peer_msgs *pm = NULL;
    assert_int_equal(srv_peer_wire_unpack(NULL, 0, 1, 2, &pm), 0);
    assert_non_null(pm);
    assert_int_equal(pm->n, 0);
    free(pm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_match_protobuf_c), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_concatenation_merges),   cmocka_unit_test(test_refuses_bad_messages),
        cmocka_unit_test(test_bad_entry_type),         cmocka_unit_test(test_empty_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
