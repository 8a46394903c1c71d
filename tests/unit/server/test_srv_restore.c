/* srv_restore: etcd-format snapshot files written here with bolt_writer become data dirs
 * that hold the snapshot's keys, leases and compaction, the member table, the ids a new
 * cluster computes and a raft state committed and compacted at index 1; failures leave no
 * directory behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bolt.h"
#include "common.h"
#include "srv_cluster.h"
#include "srv_restore.h"
#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYS      5
#define LEASE_ID  0x1234
#define LEASE_TTL 60
#define LEASE_REM 30

static char tmp_root[256];

/* What the generated snapshot holds per key: the newest state after every revision. */
struct model {
    int64_t create[KEYS], version[KEYS], mod[KEYS];
    char value[KEYS][32];
    int live[KEYS];
    int64_t last_rev;
    uint64_t n_revs;
};

struct gen {
    int n_revs;        /* revisions 2 .. n_revs + 1 */
    int64_t compacted; /* meta/finishedCompactRev, 0 = none */
    int corrupt_at;    /* revision whose value is not a KeyValue, 0 = none */
    int hash;          /* append etcd's SHA-256 trailer */
};

static size_t put_kv(uint8_t *buf, const char *key, const char *val, int64_t create, int64_t mod,
                     int64_t version, int64_t lease)
{
    Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
    kv.key.data = (uint8_t *)key;
    kv.key.len = strlen(key);
    if (val) {
        kv.value.data = (uint8_t *)val;
        kv.value.len = strlen(val);
        kv.create_revision = create;
        kv.mod_revision = mod;
        kv.version = version;
        kv.lease = lease;
    }
    return mvccpb__key_value__pack(&kv, buf);
}

/* Revision m writes key m % KEYS, or deletes it when m % 7 == 0 and it is live; key 1
 * carries the lease. */
static void write_keys(struct bolt_writer *w, const struct gen *g, struct model *md)
{
    memset(md, 0, sizeof(*md));
    assert_int_equal(bolt_writer_bucket(w, "key", 3), 0);
    for (int64_t m = 2; m < g->n_revs + 2; m++) {
        int k = (int)(m % KEYS);
        char key[8], val[32];
        uint8_t rk[BOLT_ETCD_REV_TOMB_LEN], buf[128];
        snprintf(key, sizeof(key), "k%d", k);
        snprintf(val, sizeof(val), "v%lld", (long long)m);
        int tomb = m % 7 == 0 && md->live[k];
        size_t rl = bolt_etcd_rev_encode(m, 0, tomb, rk), n;
        if (tomb) {
            n = put_kv(buf, key, NULL, 0, 0, 0, 0);
            md->live[k] = 0;
            md->version[k] = 0;
        } else {
            if (!md->live[k])
                md->create[k] = m;
            md->live[k] = 1;
            md->version[k]++;
            md->mod[k] = m;
            strcpy(md->value[k], val);
            n = put_kv(buf, key, val, md->create[k], m, md->version[k], k == 1 ? LEASE_ID : 0);
        }
        if (m == g->corrupt_at)
            memset(buf, 0xff, n); /* not a protobuf message */
        assert_int_equal(bolt_writer_put(w, rk, rl, buf, n), 0);
        md->last_rev = m;
        md->n_revs++;
    }
}

/* A snapshot file in etcd 3.4's layout (the buckets restore reads). */
static void make_snapshot(const char *path, const struct gen *g, struct model *md)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    struct bolt_writer *w;
    assert_int_equal(bolt_writer_create(fd, &w), 0);
    write_keys(w, g, md);
    assert_int_equal(bolt_writer_bucket(w, "lease", 5), 0);
    uint8_t lk[8], lv[] = {0x08, 0xb4, 0x24, 0x10, LEASE_TTL, 0x18, LEASE_REM};
    bolt_etcd_u64_encode(LEASE_ID, lk); /* lv: ID 0x1234 (varint b4 24), TTL, RemainingTTL */
    assert_int_equal(bolt_writer_put(w, lk, 8, lv, sizeof(lv)), 0);
    assert_int_equal(bolt_writer_bucket(w, "meta", 4), 0);
    uint8_t ci[8];
    bolt_etcd_u64_encode(77, ci);
    assert_int_equal(bolt_writer_put(w, "consistent_index", 16, ci, 8), 0);
    if (g->compacted) {
        uint8_t rk[BOLT_ETCD_REV_TOMB_LEN];
        bolt_etcd_rev_encode(g->compacted, 0, 0, rk);
        assert_int_equal(bolt_writer_put(w, "finishedCompactRev", 18, rk, 17), 0);
    }
    assert_int_equal(bolt_writer_finish(w), 0);
    bolt_writer_destroy(w);
    if (g->hash)
        assert_int_equal(bolt_snapshot_append_hash(fd), 0);
    close(fd);
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp_root, name);
}

/* Entries of tmp_root whose name starts with prefix. */
static int count_entries(const char *prefix)
{
    DIR *d = opendir(tmp_root);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static struct srv_restore_opts opts_for(const char *snap, const char *dir)
{
    struct srv_restore_opts o = {
        .snapshot_path = snap,
        .data_dir = dir,
        .name = "b",
        .initial_cluster =
            "a=http://127.0.0.1:7001,b=http://127.0.0.1:7002,c=http://127.0.0.1:7003",
        .initial_cluster_token = "tok",
        .initial_advertise_peer_urls = "http://127.0.0.1:7002",
    };
    return o;
}

struct progress_seen {
    uint64_t calls, last_done, last_total;
};

static int on_progress(void *arg, uint64_t done, uint64_t total)
{
    struct progress_seen *p = arg;
    assert_true(done <= total);
    assert_true(done >= p->last_done);
    p->calls++;
    p->last_done = done;
    p->last_total = total;
    return 0;
}

/* Asks to stop at the first call (a Ctrl-C during the import). */
static int stop_at_once(void *arg, uint64_t done, uint64_t total)
{
    (void)done, (void)total;
    ++*(int *)arg;
    return 1;
}

static void check_keys(struct store_read *rd, const struct model *md)
{
    struct store_arena a;
    store_arena_init(&a, 1 << 16);
    for (int k = 0; k < KEYS; k++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", k);
        Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
        req.key.data = (uint8_t *)key;
        req.key.len = strlen(key);
        Etcdserverpb__RangeResponse *resp;
        assert_int_equal(store_range(rd, &req, store_arena_allocator(&a), &resp), 0);
        assert_int_equal(resp->n_kvs, (size_t)md->live[k]);
        if (!md->live[k])
            continue;
        const Mvccpb__KeyValue *kv = resp->kvs[0];
        assert_int_equal(kv->create_revision, md->create[k]);
        assert_int_equal(kv->mod_revision, md->mod[k]);
        assert_int_equal(kv->version, md->version[k]);
        assert_int_equal(kv->lease, k == 1 ? LEASE_ID : 0);
        assert_memory_equal(kv->value.data, md->value[k], kv->value.len);
    }
    store_arena_destroy(&a);
}

/* The data dir as cairnd will open it. */
static void check_dir(const char *dir, const struct model *md, int64_t want_rev,
                      int64_t want_compact, const struct srv_restore_result *res)
{
    struct store *s;
    struct store_config sc = {.dir = dir};
    assert_int_equal(store_open(&sc, &s), 0);
    struct store_read *rd;
    struct store_state st;
    assert_int_equal(store_read_begin(s, &rd), 0);
    assert_int_equal(store_read_state(rd, &st), 0);
    assert_int_equal(st.revision, want_rev);
    assert_int_equal(st.compact_revision, want_compact);
    assert_int_equal(st.applied_index, 1);
    assert_int_equal(st.member_id, res->member_id);
    assert_int_equal(st.cluster_id, res->cluster_id);
    check_keys(rd, md);
    struct store_lease l;
    ProtobufCBinaryData *keys = NULL;
    size_t n_keys = 0;
    struct store_arena a;
    store_arena_init(&a, 4096);
    assert_int_equal(
        store_lease_get(rd, LEASE_ID, &l, store_arena_allocator(&a), 4, &keys, &n_keys), 0);
    assert_int_equal(l.ttl_s, LEASE_TTL);
    assert_int_equal(l.remaining_ttl_s, LEASE_REM);
    assert_int_equal(n_keys, (size_t)md->live[1]);
    ProtobufCBinaryData mk[8], mv[8];
    size_t n_members = 0;
    assert_int_equal(store_aux_scan(rd, SRV_AUX_MEMBERS, NULL, 0, mk, mv, 8, &n_members), 0);
    assert_int_equal(n_members, res->n_members);
    store_read_end(rd);
    store_arena_destroy(&a);
    /* raft: term 1, entry 1 committed and compacted away, every member a voter */
    struct raft_storage rs;
    store_raft_storage(s, &rs);
    struct raft_hard_state hs;
    struct raft_conf_state cs;
    uint64_t first = 0, last = 0, term = 0;
    assert_int_equal(rs.initial_state(rs.ctx, &hs, &cs), 0);
    assert_int_equal(hs.term, 1);
    assert_int_equal(hs.commit, 1);
    assert_int_equal(cs.n_voters, res->n_members);
    assert_int_equal(rs.first_index(rs.ctx, &first), 0);
    assert_int_equal(rs.last_index(rs.ctx, &last), 0);
    assert_int_equal(rs.term(rs.ctx, 1, &term), 0);
    assert_int_equal(first, 2);
    assert_int_equal(last, 1);
    assert_int_equal(term, 1);
    store_close(s);
}

static void test_restore_three_members(void **state)
{
    (void)state;
    char snap[512], dir_a[512], dir_b[512];
    path_of(snap, sizeof(snap), "s1.db");
    path_of(dir_a, sizeof(dir_a), "a.data//"); /* the same as "a.data" */
    path_of(dir_b, sizeof(dir_b), "nested/deeper/b.data");
    struct gen g = {.n_revs = 10000, .compacted = 50, .hash = 1};
    struct model md;
    make_snapshot(snap, &g, &md);
    struct srv_restore_opts o = opts_for(snap, dir_b);
    struct srv_restore_result rb, ra;
    struct progress_seen p = {0};
    char err[256];
    assert_int_equal(srv_restore_data_dir(&o, on_progress, &p, &rb, err, sizeof(err)), 0);
    assert_true(p.calls >= 2); /* every 4096 revisions and at the end */
    assert_int_equal(p.last_done, md.n_revs);
    assert_int_equal(p.last_total, md.n_revs);
    assert_int_equal(rb.revisions, md.n_revs);
    assert_int_equal(rb.leases, 1);
    assert_int_equal(rb.snapshot_revision, md.last_rev);
    check_dir(dir_b, &md, md.last_rev, 50, &rb);
    o.name = "a";
    o.data_dir = dir_a;
    o.initial_advertise_peer_urls = "http://127.0.0.1:7001";
    assert_int_equal(srv_restore_data_dir(&o, NULL, NULL, &ra, err, sizeof(err)), 0);
    /* one cluster id, the founders' ids as a new cluster computes them */
    assert_int_equal(ra.cluster_id, rb.cluster_id);
    assert_int_not_equal(ra.member_id, rb.member_id);
    assert_int_equal(ra.member_id, srv_cluster_member_id("http://127.0.0.1:7001", "tok"));
    uint64_t ids[3] = {srv_cluster_member_id("http://127.0.0.1:7003", "tok"), ra.member_id,
                       rb.member_id};
    assert_int_equal(ra.cluster_id, srv_cluster_id_of(ids, 3, "tok"));
    check_dir(dir_a, &md, md.last_rev, 50, &ra);
    assert_int_equal(count_entries("a.data.tmp-"), 0);
    assert_int_equal(count_entries("a.data"), 1);
    assert_int_equal(count_entries("nested"), 1);
}

static void test_bump_and_mark_compacted(void **state)
{
    (void)state;
    char snap[512], dir[512], dir2[512];
    path_of(snap, sizeof(snap), "s2.db");
    path_of(dir, sizeof(dir), "bumped.data");
    path_of(dir2, sizeof(dir2), "marked.data");
    struct gen g = {.n_revs = 300, .hash = 1};
    struct model md;
    make_snapshot(snap, &g, &md);
    struct srv_restore_opts o = opts_for(snap, dir);
    o.bump_revision = 1000;
    o.mark_compacted = 1;
    struct srv_restore_result r;
    char err[256];
    assert_int_equal(srv_restore_data_dir(&o, NULL, NULL, &r, err, sizeof(err)), 0);
    assert_int_equal(r.revision, md.last_rev + 1000);
    assert_int_equal(r.compact_revision, md.last_rev + 1000);
    check_dir(dir, &md, md.last_rev + 1000, md.last_rev + 1000, &r);
    o.bump_revision = 0; /* --mark-compacted alone: compacted at the snapshot's revision */
    o.data_dir = dir2;
    assert_int_equal(srv_restore_data_dir(&o, NULL, NULL, &r, err, sizeof(err)), 0);
    check_dir(dir2, &md, md.last_rev, md.last_rev, &r);
}

static void test_refusals_leave_nothing(void **state)
{
    (void)state;
    char snap[512], bad[512], nohash[512], dir[512];
    path_of(snap, sizeof(snap), "s3.db");
    path_of(bad, sizeof(bad), "s3-bad.db");
    path_of(nohash, sizeof(nohash), "s3-nohash.db");
    path_of(dir, sizeof(dir), "refused.data");
    struct model md;
    struct gen g = {.n_revs = 9000, .hash = 1};
    make_snapshot(snap, &g, &md);
    g.corrupt_at = 8000; /* past the first chunk: the store is being written */
    make_snapshot(bad, &g, &md);
    g.corrupt_at = 0;
    g.hash = 0;
    make_snapshot(nohash, &g, &md);
    struct srv_restore_result r;
    char err[256];
    struct srv_restore_opts o = opts_for(bad, dir);
    assert_int_equal(srv_restore_data_dir(&o, NULL, NULL, &r, err, sizeof(err)), CAIRN_ECORRUPT);
    assert_non_null(strstr(err, "bucket \"key\""));
    assert_int_equal(count_entries("refused.data"), 0); /* neither the dir nor its .tmp- */
    /* interrupted through progress: CAIRN_ECANCELED, nothing left behind */
    o.snapshot_path = snap;
    int stops = 0;
    assert_int_equal(srv_restore_data_dir(&o, stop_at_once, &stops, &r, err, sizeof(err)),
                     CAIRN_ECANCELED);
    assert_int_equal(stops, 1);
    assert_non_null(strstr(err, "interrupted"));
    assert_int_equal(count_entries("refused.data"), 0);
    o.snapshot_path = nohash;
    assert_int_equal(srv_restore_data_dir(&o, NULL, NULL, &r, err, sizeof(err)), CAIRN_ENOTFOUND);
    assert_string_equal(err, "snapshot missing hash but --skip-hash-check=false");
    o.bump_revision = 3;
    assert_int_equal(srv_restore_data_dir(&o, NULL, NULL, &r, err, sizeof(err)), CAIRN_EINVAL);
    assert_non_null(strstr(err, "--mark-compacted required"));
    o.bump_revision = 0;
    o.name = "nobody";
    assert_int_equal(srv_restore_data_dir(&o, NULL, NULL, &r, err, sizeof(err)), CAIRN_EINVAL);
    o.name = "b";
    o.initial_advertise_peer_urls = "http://127.0.0.1:7009";
    assert_int_equal(srv_restore_data_dir(&o, NULL, NULL, &r, err, sizeof(err)), CAIRN_EINVAL);
    assert_non_null(strstr(err, "must match"));
    assert_int_equal(count_entries("refused.data"), 0);
    /* the same file with --skip-hash-check works; then the dir exists and is refused */
    o.initial_advertise_peer_urls = "http://127.0.0.1:7002";
    o.skip_hash_check = 1;
    assert_int_equal(srv_restore_data_dir(&o, NULL, NULL, &r, err, sizeof(err)), 0);
    struct srv_restore_result r2;
    assert_int_equal(srv_restore_data_dir(&o, NULL, NULL, &r2, err, sizeof(err)), CAIRN_EEXIST);
    char want[600];
    snprintf(want, sizeof(want), "data-dir \"%s\" exists", dir);
    assert_string_equal(err, want);
    check_dir(dir, &md, md.last_rev, -1, &r);
    assert_int_equal(count_entries("refused.data"), 1);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof(tmp_root), "%s/cairn-restore-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmp_root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_three_members),
        cmocka_unit_test(test_bump_and_mark_compacted),
        cmocka_unit_test(test_refusals_leave_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
