/* Restore: an etcd 3.4 snapshot file becomes a new cairnd data directory (srv_restore.h).
 *
 * The layout matches what etcd's restore writes, in cairn's terms: the snapshot's revisions
 * and leases go into the store through store_import (which keeps this store's ids and
 * membership); then one batch writes what a new cluster's bootstrap would have: entry 1
 * (term 1) applied and committed, the member table for it, every member a voter, and the
 * log compacted up to it so a member added later receives the data as a snapshot. */
#include "srv_restore.h"

#include "bolt.h"
#include "common.h"
#include "srv_cluster_int.h"
#include "store.h"
#include "url.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROGRESS_EVERY   4096 /* revisions between progress calls */
#define PARENTS_MAX      64   /* missing parent directories created (and removed on failure) */
#define PATH_BYTES       4096
#define URLS_MAX         32
#define BOOT_INDEX       1 /* the bootstrap entry: applied, committed, compacted */
#define BOOT_TERM        1
#define LEASE_FIELDS_MAX 64 /* protobuf fields read from one lease value */

struct restore {
    const struct srv_restore_opts *o;
    struct srv_restore_result *res;
    char *err;
    size_t err_len;
    struct srv_member members[SRV_MEMBERS_MAX];
    size_t n_members;
    int fd;
    struct bolt_reader *rd;
    uint64_t total; /* entries in the "key" bucket */
    int64_t snap_compact;
    char dir[PATH_BYTES - 16]; /* o->data_dir without trailing slashes; room for ".tmp-" */
    char tmp[PATH_BYTES];
    char parents[PARENTS_MAX][PATH_BYTES]; /* created by us, deepest last */
    size_t n_parents;
};

__attribute__((format(printf, 3, 4))) static int fail(struct restore *x, int rc, const char *fmt,
                                                      ...)
{
    CAIRN_ASSERT(rc < 0);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, x->err_len, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- flags and membership ---- */

static int check_opts(struct restore *x)
{
    const struct srv_restore_opts *o = x->o;
    if (!o->snapshot_path || !o->data_dir || !o->data_dir[0] || !o->name || !o->initial_cluster ||
        !o->initial_cluster_token || !o->initial_advertise_peer_urls)
        return fail(x, CAIRN_EINVAL, "restore: a required option is empty");
    if (o->bump_revision < 0)
        return fail(x, CAIRN_EINVAL, "--bump-revision must be >= 0");
    if (o->bump_revision > 0 && !o->mark_compacted)
        return fail(x, CAIRN_EINVAL, "--mark-compacted required if --bump-revision > 0");
    if (strlen(o->data_dir) >= sizeof(x->dir))
        return fail(x, CAIRN_EINVAL, "data-dir \"%s\" is too long", o->data_dir);
    strcpy(x->dir, o->data_dir); /* "d/" would put the temporary dir inside d */
    for (size_t n = strlen(x->dir); n > 1 && x->dir[n - 1] == '/'; n--)
        x->dir[n - 1] = '\0';
    return 0;
}

/* The members from --initial-cluster, this member among them with the URLs it advertises
 * (etcd's VerifyBootstrap), and the ids a new cluster's founders compute. */
static int plan_members(struct restore *x)
{
    const struct srv_restore_opts *o = x->o;
    int rc = srv_cluster_parse_initial(o->initial_cluster, o->initial_cluster_token, x->members,
                                       SRV_MEMBERS_MAX, &x->n_members, x->err, x->err_len);
    if (rc < 0)
        return rc;
    const struct srv_member *self = NULL;
    for (size_t i = 0; i < x->n_members; i++)
        if (strcmp(x->members[i].name, o->name) == 0)
            self = &x->members[i];
    if (!self)
        return fail(x, CAIRN_EINVAL,
                    "couldn't find local name \"%s\" in the initial cluster configuration",
                    o->name);
    char mine[SRV_MEMBER_URLS_MAX];
    struct cairn_url u[URLS_MAX];
    size_t n_urls = 0;
    if (strlen(o->initial_advertise_peer_urls) >= sizeof(mine) ||
        cairn_url_list_parse(o->initial_advertise_peer_urls, u, URLS_MAX, &n_urls) < 0 ||
        n_urls == 0)
        return fail(x, CAIRN_EINVAL, "invalid --initial-advertise-peer-urls \"%s\"",
                    o->initial_advertise_peer_urls);
    strcpy(mine, o->initial_advertise_peer_urls);
    if (srv_cluster_sort_urls(mine, sizeof(mine)) < 0 || strcmp(mine, self->peer_urls) != 0)
        return fail(x, CAIRN_EINVAL,
                    "--initial-cluster has %s=%s but --initial-advertise-peer-urls is %s "
                    "(they must match)",
                    self->name, self->peer_urls, o->initial_advertise_peer_urls);
    uint64_t ids[SRV_MEMBERS_MAX];
    for (size_t i = 0; i < x->n_members; i++)
        ids[i] = x->members[i].id;
    x->res->member_id = self->id;
    x->res->cluster_id = srv_cluster_id_of(ids, x->n_members, o->initial_cluster_token);
    x->res->n_members = x->n_members;
    CAIRN_ASSERT(x->n_members > 0 && x->n_members <= SRV_MEMBERS_MAX);
    return 0;
}

/* ---- the snapshot file ---- */

static int open_snapshot(struct restore *x)
{
    const char *path = x->o->snapshot_path;
    x->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (x->fd < 0)
        return fail(x, errno == ENOENT ? CAIRN_ENOTFOUND : CAIRN_EIO, "open %s: %s", path,
                    strerror(errno));
    if (!x->o->skip_hash_check) {
        int rc = bolt_snapshot_verify_hash(x->fd, NULL);
        if (rc == CAIRN_ENOTFOUND)
            return fail(x, rc, "snapshot missing hash but --skip-hash-check=false");
        if (rc == CAIRN_ECORRUPT)
            return fail(x, rc, "snapshot %s: sha256 mismatch (the file is damaged)", path);
        if (rc < 0)
            return fail(x, rc, "snapshot %s: %s", path, cairn_strerror(rc));
    }
    int rc = bolt_reader_open_fd(x->fd, &x->rd);
    if (rc < 0)
        return fail(x, rc, "snapshot %s: %s", path,
                    rc == CAIRN_ECORRUPT ? "invalid database" : cairn_strerror(rc));
    return 0;
}

/* meta/finishedCompactRev and scheduledCompactRev: etcd finishes a scheduled compaction at
 * start, so the larger one is what reads see. -1 when neither is there. */
static int read_compacted(struct restore *x)
{
    static const char *const keys[] = {"finishedCompactRev", "scheduledCompactRev"};
    x->snap_compact = -1;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(keys); i++) {
        uint8_t *v = NULL;
        size_t vl = 0;
        int rc = bolt_reader_get(x->rd, "meta", 4, keys[i], strlen(keys[i]), &v, &vl);
        if (rc == CAIRN_ENOTFOUND)
            continue;
        int64_t main = 0, sub = 0;
        int tomb = 0;
        if (rc == 0)
            rc = bolt_etcd_rev_decode(v, vl, &main, &sub, &tomb);
        free(v);
        if (rc < 0)
            return fail(x, rc, "snapshot: meta/%s: %s", keys[i], cairn_strerror(rc));
        if (main > x->snap_compact)
            x->snap_compact = main;
    }
    return 0;
}

/* A first pass over "key" for the progress total (no decoding, no writes). */
static int count_revisions(struct restore *x)
{
    struct bolt_cursor *c = NULL;
    int rc = bolt_cursor_open(x->rd, "key", 3, &c);
    x->total = 0;
    if (rc == CAIRN_ENOTFOUND)
        return 0; /* an empty snapshot: nothing to import */
    struct bolt_item it;
    while (rc >= 0 && (rc = bolt_cursor_next(c, &it)) == 1)
        x->total++;
    bolt_cursor_close(c);
    if (rc < 0)
        return fail(x, rc, "snapshot: bucket \"key\": %s", cairn_strerror(rc));
    return 0;
}

static int varint(const uint8_t *p, size_t n, size_t *off, uint64_t *out)
{
    uint64_t acc = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*off >= n)
            return CAIRN_ECORRUPT;
        uint8_t b = p[(*off)++];
        acc |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = acc;
            return 0;
        }
    }
    return CAIRN_ECORRUPT;
}

/* leasepb.Lease{ID = 1, TTL = 2, RemainingTTL = 3}; unknown fields are skipped. */
static int lease_decode(const uint8_t *p, size_t n, int64_t f[3])
{
    f[0] = f[1] = f[2] = 0;
    size_t off = 0;
    for (int i = 0; off < n; i++) {
        uint64_t tag, v;
        if (i == LEASE_FIELDS_MAX || varint(p, n, &off, &tag) < 0)
            return CAIRN_ECORRUPT;
        uint64_t num = tag >> 3;
        unsigned wire = (unsigned)(tag & 7);
        if (wire == 0) {
            if (varint(p, n, &off, &v) < 0)
                return CAIRN_ECORRUPT;
            if (num >= 1 && num <= 3)
                f[num - 1] = (int64_t)v;
        } else if (wire == 1 || wire == 5) {
            size_t w = wire == 1 ? 8 : 4;
            if (n - off < w)
                return CAIRN_ECORRUPT;
            off += w;
        } else if (wire == 2) {
            if (varint(p, n, &off, &v) < 0 || v > n - off)
                return CAIRN_ECORRUPT;
            off += (size_t)v;
        } else {
            return CAIRN_ECORRUPT;
        }
    }
    CAIRN_ASSERT(off == n);
    return 0;
}

/* ---- the store ---- */

static int import_revisions(struct restore *x, struct store_import *im,
                            srv_restore_progress_fn progress, void *arg)
{
    struct bolt_cursor *c = NULL;
    int rc = bolt_cursor_open(x->rd, "key", 3, &c);
    if (rc == CAIRN_ENOTFOUND)
        return 0;
    struct bolt_item it;
    uint64_t done = 0;
    int64_t last = 0;
    while (rc >= 0 && (rc = bolt_cursor_next(c, &it)) == 1) {
        int64_t main = 0, sub = 0;
        int tomb = 0;
        if (done == x->total || it.is_bucket ||
            bolt_etcd_rev_decode(it.key, it.key_len, &main, &sub, &tomb) < 0) {
            rc = CAIRN_ECORRUPT;
            break;
        }
        rc = store_import_revision(im, it.key, it.key_len, it.val, it.val_len);
        if (rc < 0)
            break;
        last = main;
        if (++done % PROGRESS_EVERY == 0 && progress && progress(arg, done, x->total) != 0)
            rc = CAIRN_ECANCELED;
    }
    bolt_cursor_close(c);
    if (rc == CAIRN_ECANCELED)
        return fail(x, rc,
                    "snapshot restore interrupted after %" PRIu64 " of %" PRIu64
                    " revisions; nothing was kept",
                    done, x->total);
    if (rc == CAIRN_ETOOLARGE)
        return fail(x, rc, "snapshot: a key is longer than cairn stores (%d bytes)",
                    STORE_MAX_KEY_BYTES);
    if (rc < 0)
        return fail(x, rc, "snapshot: bucket \"key\", revision %" PRIu64 ": %s", done + 1,
                    cairn_strerror(rc));
    CAIRN_ASSERT(done <= x->total);
    x->res->revisions = done;
    x->res->snapshot_revision = last;
    return 0;
}

static int import_leases(struct restore *x, struct store_import *im)
{
    struct bolt_cursor *c = NULL;
    int rc = bolt_cursor_open(x->rd, "lease", 5, &c);
    if (rc == CAIRN_ENOTFOUND)
        return 0;
    struct bolt_item it;
    uint64_t n = 0;
    while (rc >= 0 && (rc = bolt_cursor_next(c, &it)) == 1) {
        int64_t f[3];
        if (it.is_bucket || it.key_len != 8 || lease_decode(it.val, it.val_len, f) < 0) {
            rc = CAIRN_ECORRUPT;
            break;
        }
        int64_t id = (int64_t)bolt_etcd_u64_decode(it.key); /* the key is the lease id */
        rc = store_import_lease(im, id, f[1], f[2]);
        n++;
    }
    bolt_cursor_close(c);
    if (rc < 0)
        return fail(x, rc, "snapshot: bucket \"lease\": %s", cairn_strerror(rc));
    x->res->leases = n;
    return 0;
}

/* What etcd's restore keeps: every revision (compacted where the snapshot was, or at the
 * newest revision with --mark-compacted) and every lease. */
static int import_snapshot(struct restore *x, struct store *s, srv_restore_progress_fn progress,
                           void *arg)
{
    struct store_import *im = NULL;
    int rc = store_import_begin(s, &im);
    if (rc < 0)
        return fail(x, rc, "restore: cannot start the import: %s", cairn_strerror(rc));
    rc = import_revisions(x, im, progress, arg);
    if (rc == 0)
        rc = import_leases(x, im);
    if (rc < 0) {
        store_import_abort(im);
        return rc;
    }
    int64_t newest = x->res->snapshot_revision > 1 ? x->res->snapshot_revision : 1;
    int64_t compact = x->snap_compact;
    if (x->o->mark_compacted)
        compact = newest + x->o->bump_revision; /* the bumped revision, as etcdutl */
    CAIRN_ASSERT(compact <= newest + x->o->bump_revision);
    /* applied 0: the bootstrap entry written next is index 1 */
    rc = store_import_finish(im, compact, 0, 0);
    if (rc < 0)
        return fail(x, rc, "restore: import: %s", cairn_strerror(rc));
    if (progress && progress(arg, x->res->revisions, x->total) != 0)
        return fail(x, CAIRN_ECANCELED, "snapshot restore interrupted; nothing was kept");
    return 0;
}

/* etcdserverpb.Member records (the member table srv_cluster.c reads) into a, packed. */
static int member_records(struct restore *x, struct store_arena *a, uint8_t **keys, uint8_t **vals,
                          size_t *lens)
{
    ProtobufCAllocator *pa = store_arena_allocator(a);
    for (size_t i = 0; i < x->n_members; i++) {
        Etcdserverpb__Member pb;
        keys[i] = store_arena_alloc(a, 8);
        if (!keys[i] || srv_cluster_member_pb(NULL, &x->members[i], pa, &pb) < 0)
            return CAIRN_ENOMEM;
        lens[i] = etcdserverpb__member__get_packed_size(&pb);
        vals[i] = store_arena_alloc(a, lens[i] + 1);
        if (!vals[i])
            return CAIRN_ENOMEM;
        CAIRN_ASSERT(etcdserverpb__member__pack(&pb, vals[i]) == lens[i]);
        store_u64_encode(x->members[i].id, keys[i]);
    }
    return 0;
}

/* The state a new cluster's bootstrap leaves, in one batch: entry 1 (term 1) committed and
 * applied with the member table, the ids, every member a voter; then the log is compacted
 * through it (a member added later needs the imported data, which only a snapshot has). */
static int write_bootstrap(struct restore *x, struct store *s)
{
    struct store_arena a;
    store_arena_init(&a, 4096);
    uint8_t *keys[SRV_MEMBERS_MAX], *vals[SRV_MEMBERS_MAX];
    size_t lens[SRV_MEMBERS_MAX];
    struct raft_conf_state cs;
    memset(&cs, 0, sizeof(cs));
    for (size_t i = 0; i < x->n_members; i++)
        cs.voters[cs.n_voters++] = x->members[i].id;
    const struct raft_entry boot = {
        .term = BOOT_TERM, .index = BOOT_INDEX, .type = RAFT_ENTRY_NORMAL};
    const struct raft_hard_state hs = {.term = BOOT_TERM, .vote = 0, .commit = BOOT_INDEX};
    const struct store_op noop = {.kind = STORE_OP_NOOP};
    struct store_result res = {0};
    struct store_batch *b = NULL;
    int rc = member_records(x, &a, keys, vals, lens);
    if (rc == 0)
        rc = store_batch_begin(s, 0, &b);
    if (rc == 0) {
        rc = store_batch_append(b, &boot, 1);
        if (rc == 0)
            rc =
                store_batch_apply(b, BOOT_INDEX, BOOT_TERM, &noop, store_arena_allocator(&a), &res);
        for (size_t i = 0; rc == 0 && i < x->n_members; i++)
            rc = store_batch_aux_put(b, BOOT_INDEX, SRV_AUX_MEMBERS, keys[i], 8, vals[i], lens[i]);
        if (rc == 0)
            rc = store_batch_set_conf_state(b, &cs);
        if (rc == 0)
            rc = store_batch_set_hard_state(b, &hs);
        if (rc == 0)
            rc = store_batch_set_ids(b, x->res->cluster_id, x->res->member_id);
        if (rc == 0)
            rc = store_batch_log_compact(b, BOOT_INDEX);
        if (rc == 0)
            rc = store_batch_commit(b); /* frees the batch either way */
        else
            store_batch_abort(b);
    }
    CAIRN_ASSERT(rc < 0 || (!res.skipped && res.err == 0));
    store_arena_destroy(&a);
    if (rc < 0)
        return fail(x, rc, "restore: writing the member table: %s", cairn_strerror(rc));
    return 0;
}

static int read_back(struct restore *x, struct store *s)
{
    struct store_read *r = NULL;
    struct store_state st;
    int rc = store_read_begin(s, &r);
    if (rc == 0) {
        rc = store_read_state(r, &st);
        store_read_end(r);
    }
    if (rc < 0)
        return fail(x, rc, "restore: reading the result: %s", cairn_strerror(rc));
    CAIRN_ASSERT(st.member_id == x->res->member_id && st.applied_index == BOOT_INDEX);
    x->res->revision = st.revision;
    x->res->compact_revision = st.compact_revision;
    return 0;
}

static int build_store(struct restore *x, srv_restore_progress_fn progress, void *arg)
{
    struct store *s = NULL;
    struct store_config sc = {.dir = x->tmp};
    int rc = store_open(&sc, &s);
    if (rc < 0)
        return fail(x, rc, "restore: cannot create a store in %s: %s", x->tmp, cairn_strerror(rc));
    rc = import_snapshot(x, s, progress, arg);
    if (rc == 0)
        rc = write_bootstrap(x, s);
    if (rc == 0)
        rc = read_back(x, s);
    store_close(s);
    return rc;
}

/* ---- the directory ---- */

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

static void remove_partial(struct restore *x)
{
    if (x->tmp[0] && nftw(x->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "restore: could not remove %s: %s\n", x->tmp, strerror(errno));
    for (size_t i = x->n_parents; i > 0; i--)
        rmdir(x->parents[i - 1]); /* only the empty ones we made */
}

/* mkdir -p of the data dir's parent, remembering what was created. */
static int make_parents(struct restore *x, const char *dir)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        struct stat sb;
        if (stat(path, &sb) != 0) {
            if (mkdir(path, 0700) != 0 || x->n_parents == PARENTS_MAX)
                return fail(x, CAIRN_EIO, "cannot create %s: %s", path, strerror(errno));
            snprintf(x->parents[x->n_parents++], PATH_BYTES, "%s", path);
        }
        *p = '/';
    }
    return 0;
}

static int fsync_parent(const char *dir)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof(path), "%s", dir);
    char *slash = strrchr(path, '/');
    if (slash == path)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(path, ".");
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : CAIRN_EIO;
    if (fd >= 0)
        close(fd);
    return rc;
}

static int restore_into_tmp(struct restore *x, srv_restore_progress_fn progress, void *arg)
{
    const char *dir = x->dir;
    int rc = make_parents(x, dir);
    if (rc < 0)
        return rc;
    char tmpl[PATH_BYTES];
    snprintf(tmpl, sizeof(tmpl), "%s.tmp-XXXXXX", dir);
    if (!mkdtemp(tmpl))
        return fail(x, CAIRN_EIO, "cannot create %s: %s", tmpl, strerror(errno));
    snprintf(x->tmp, sizeof(x->tmp), "%s", tmpl);
    rc = build_store(x, progress, arg);
    if (rc < 0)
        return rc;
    struct stat sb;
    if (lstat(dir, &sb) == 0) /* appeared meanwhile: rename would replace an empty one */
        return fail(x, CAIRN_EEXIST, "data-dir \"%s\" exists", dir);
    if (rename(x->tmp, dir) != 0)
        return fail(x, CAIRN_EIO, "rename %s to %s: %s", x->tmp, dir, strerror(errno));
    /* from here the directory has its name: a failure removes it under that name */
    snprintf(x->tmp, sizeof(x->tmp), "%s", dir);
    if (fsync_parent(dir) < 0)
        return fail(x, CAIRN_EIO, "fsync of the directory holding %s failed", dir);
    x->tmp[0] = '\0';
    return 0;
}

int srv_restore_data_dir(const struct srv_restore_opts *o, srv_restore_progress_fn progress,
                         void *arg, struct srv_restore_result *res, char *err, size_t err_len)
{
    CAIRN_ASSERT(o != NULL && res != NULL && err != NULL && err_len > 0);
    struct restore *x = calloc(1, sizeof(*x)); /* ~270 KiB of paths: not on the stack */
    if (!x) {
        snprintf(err, err_len, "restore: out of memory");
        return CAIRN_ENOMEM;
    }
    memset(res, 0, sizeof(*res));
    x->o = o;
    x->res = res;
    x->err = err;
    x->err_len = err_len;
    x->fd = -1;
    err[0] = '\0';
    struct stat sb;
    int rc = check_opts(x);
    if (rc == 0 && lstat(x->dir, &sb) == 0)
        rc = fail(x, CAIRN_EEXIST, "data-dir \"%s\" exists", o->data_dir);
    if (rc == 0)
        rc = plan_members(x);
    if (rc == 0)
        rc = open_snapshot(x);
    if (rc == 0)
        rc = read_compacted(x);
    if (rc == 0)
        rc = count_revisions(x);
    if (rc == 0)
        rc = restore_into_tmp(x, progress, arg);
    if (rc < 0)
        remove_partial(x);
    bolt_reader_close(x->rd);
    if (x->fd >= 0)
        close(x->fd);
    CAIRN_ASSERT(rc == 0 || err[0] != '\0');
    free(x);
    return rc;
}
