/* snapshot save | status | restore. Snapshots are etcd 3.4 backend files (bbolt format with
 * etcd's SHA-256 trailer); status reads them with bolt/ the way `etcdctl snapshot status`
 * does; restore hands the file to server/srv_restore, which builds cairnd's data dir. */
#include "bolt.h"
#include "ctl.h"
#include "ctl_json.h"
#include "srv_restore.h"

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_EVERY_NS 100000000 /* progress line refresh on a terminal */

struct save_sink {
    int fd;
    uint64_t received;
    uint64_t total; /* received + remaining, from the first chunk */
    int tty;
    int64_t last_ns;
    int io_errno;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void progress(const struct save_sink *s, const char *end)
{
    char got[32], total[32];
    ctl_humanize_bytes(s->received, got, sizeof(got));
    ctl_humanize_bytes(s->total, total, sizeof(total));
    fprintf(stderr, "\rsnapshot: received %s of %s (%" PRIu64 "%%)%s", got, total,
            s->total ? s->received * 100 / s->total : 100, end);
}

static int save_chunk(void *arg, const uint8_t *data, size_t len, uint64_t remaining)
{
    struct save_sink *s = arg;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(s->fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->io_errno = w < 0 ? errno : EIO;
            return -1;
        }
        off += (size_t)w;
    }
    s->received += len;
    s->total = s->received + remaining;
    int64_t now = mono_ns();
    if (s->tty && now - s->last_ns >= PROGRESS_EVERY_NS) {
        progress(s, "");
        s->last_ns = now;
    }
    return 0;
}

int cmd_snapshot_save(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->p.n_args != 1)
        return ctl_usage_error(c, "snapshot save expects one argument");
    const char *path = c->p.args[0];
    char part[4096];
    snprintf(part, sizeof(part), "%s.part", path);
    struct save_sink s = {.fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
                          .tty = isatty(2)};
    if (s.fd < 0)
        return ctl_error("could not open %s (%s)", part, strerror(errno));
    cairn_client *cl = ctl_client(c);
    struct cairn_client_status st;
    int64_t t0 = mono_ns();
    int rc = cairn_client_snapshot(cl, save_chunk, &s, &st);
    if (rc == 0 && fsync(s.fd) != 0)
        s.io_errno = errno, rc = -1;
    if (close(s.fd) != 0 && rc == 0)
        s.io_errno = errno, rc = -1;
    if (rc == 0 && rename(part, path) != 0) {
        int e = errno;
        unlink(part);
        return ctl_error("could not rename %s to %s (%s)", part, path, strerror(e));
    }
    if (rc != 0) {
        unlink(part);
        if (s.io_errno)
            return ctl_error("write %s: %s", part, strerror(s.io_errno));
        return ctl_error_status(rc < 0 ? rc : CAIRN_ECANCELED, &st);
    }
    if (s.tty)
        progress(&s, "\n");
    char size[32], took[40];
    fprintf(stderr, "snapshot: fetched %s from %s in %s\n",
            ctl_humanize_bytes(s.received, size, sizeof(size)),
            cairn_client_endpoint(cl, cairn_client_current_endpoint(cl)),
            ctl_go_duration(mono_ns() - t0, took, sizeof(took)));
    printf("Snapshot saved at %s\n", path);
    return CTL_EXIT_OK;
}

/* Opens and reads the status of an etcd snapshot file; prints the error itself. */
static int read_status(const char *path, struct bolt_etcd_status *out)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        char e[128]; /* Go's error text: lower-case */
        snprintf(e, sizeof(e), "%s", strerror(errno));
        e[0] = (char)(e[0] >= 'A' && e[0] <= 'Z' ? e[0] - 'A' + 'a' : e[0]);
        return ctl_error("stat %s: %s", path, e);
    }
    struct bolt_reader *r = NULL;
    int rc = bolt_reader_open(path, &r);
    if (rc == 0)
        rc = bolt_etcd_status(r, out);
    bolt_reader_close(r);
    if (rc == CAIRN_ECORRUPT) /* bbolt's words, as etcdctl prints them */
        return ctl_error("invalid database");
    if (rc < 0)
        return ctl_error("%s: %s", path, cairn_strerror(rc));
    return CTL_EXIT_OK;
}

int cmd_snapshot_status(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->p.n_args != 1)
        return ctl_usage_error(c, "snapshot status requires exactly one argument");
    struct bolt_etcd_status s;
    int rc = read_status(c->p.args[0], &s);
    if (rc != CTL_EXIT_OK)
        return rc;
    char hash[16], rev[24], keys[24], size[32];
    snprintf(hash, sizeof(hash), "%" PRIx32, s.hash);
    snprintf(rev, sizeof(rev), "%" PRId64, s.revision);
    snprintf(keys, sizeof(keys), "%" PRIu64, s.total_keys);
    ctl_humanize_bytes(s.total_size, size, sizeof(size));
    if (c->format == CTL_JSON) {
        json_t *o = json_object();
        cj_set(o, "hash", cj_u64(s.hash));
        cj_set(o, "revision", cj_i64(s.revision));
        cj_set(o, "totalKey", cj_u64(s.total_keys));
        cj_set(o, "totalSize", cj_u64(s.total_size));
        cj_print(stdout, o);
    } else if (c->format == CTL_FIELDS) {
        printf("\"Hash\" : %" PRIu32 "\n\"Revision\" : %s\n\"Keys\" : %s\n\"Size\" : %" PRIu64 "\n",
               s.hash, rev, keys, s.total_size);
    } else if (c->format == CTL_TABLE) {
        static const char *const hdr[] = {"hash", "revision", "total keys", "total size"};
        const char *row[] = {hash, rev, keys, size};
        struct ctl_table *t = ctl_table_new(hdr, 4);
        ctl_table_add(t, row);
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    } else {
        printf("%s, %s, %s, %s\n", hash, rev, keys, size);
    }
    return CTL_EXIT_OK;
}

/* Progress of a restore: a line on a terminal, refreshed at most every PROGRESS_EVERY_NS. */
struct restore_progress {
    int tty;
    int64_t last_ns;
    int shown;
};

/* Returns non-zero after Ctrl-C or SIGTERM: the restore stops and removes what it built. */
static int restore_progress(void *arg, uint64_t done, uint64_t total)
{
    struct restore_progress *p = arg;
    int64_t now = mono_ns();
    if (ctl_interrupted)
        return 1;
    if (!p->tty || (done < total && now - p->last_ns < PROGRESS_EVERY_NS))
        return 0;
    fprintf(stderr, "\rsnapshot: imported %" PRIu64 " of %" PRIu64 " revisions (%" PRIu64 "%%)",
            done, total, total ? done * 100 / total : 100);
    p->last_ns = now;
    p->shown = 1;
    return 0;
}

/* etcdctl 3.4 logs restore as zap JSON lines on standard error; so does this. */
static json_t *restore_log(const char *msg, const char *path, const char *dir)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *o = json_object();
    cj_set(o, "level", cj_str("info"));
    cj_set(o, "ts", json_real((double)ts.tv_sec + (double)ts.tv_nsec / 1e9));
    cj_set(o, "caller", cj_str("cairnctl/snapshot"));
    cj_set(o, "msg", cj_str(msg));
    cj_set(o, "path", cj_str(path));
    cj_set(o, "data-dir", cj_str(dir));
    return o;
}

static json_t *hex_id(uint64_t id)
{
    char buf[20];
    snprintf(buf, sizeof(buf), "%" PRIx64, id);
    return cj_str(buf);
}

int cmd_snapshot_restore(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->p.n_args != 1)
        return ctl_usage_error(c, "snapshot restore requires exactly one argument");
    int64_t bump = ctl_flag_int(&c->p, "bump-revision");
    if (bump < 0)
        return ctl_usage_error(c, "--bump-revision must be >= 0");
    if (bump > 0 && !ctl_flag_bool(&c->p, "mark-compacted"))
        return ctl_usage_error(c, "--mark-compacted required if --bump-revision > 0");
    char dir[4096];
    const char *data_dir = ctl_flag_str(&c->p, "data-dir");
    if (data_dir[0]) /* else cairnd's default for --name: "<name>.cairn" */
        snprintf(dir, sizeof(dir), "%s", data_dir);
    else
        snprintf(dir, sizeof(dir), "%s.cairn", ctl_flag_str(&c->p, "name"));
    struct srv_restore_opts o = {
        .snapshot_path = c->p.args[0],
        .data_dir = dir,
        .name = ctl_flag_str(&c->p, "name"),
        .initial_cluster = ctl_flag_str(&c->p, "initial-cluster"),
        .initial_cluster_token = ctl_flag_str(&c->p, "initial-cluster-token"),
        .initial_advertise_peer_urls = ctl_flag_str(&c->p, "initial-advertise-peer-urls"),
        .skip_hash_check = ctl_flag_bool(&c->p, "skip-hash-check"),
        .bump_revision = bump,
        .mark_compacted = ctl_flag_bool(&c->p, "mark-compacted"),
    };
    struct stat sb;
    if (lstat(dir, &sb) == 0) /* before the first log line, as etcdctl (restore checks again) */
        return ctl_error("data-dir \"%s\" exists", dir);
    cj_print(stderr, restore_log("restoring snapshot", o.snapshot_path, dir));
    struct restore_progress p = {.tty = isatty(2)};
    ctl_catch_interrupts(); /* Ctrl-C stops the restore cleanly: no half-built directory */
    struct srv_restore_result r;
    char err[512];
    int64_t t0 = mono_ns();
    int rc = srv_restore_data_dir(&o, restore_progress, &p, &r, err, sizeof(err));
    if (p.shown)
        fputc('\n', stderr);
    if (rc < 0)
        return ctl_error("%s", err);
    char took[40];
    json_t *log = restore_log("restored snapshot", o.snapshot_path, dir);
    cj_set(log, "cluster-id", hex_id(r.cluster_id));
    cj_set(log, "member-id", hex_id(r.member_id));
    cj_set(log, "members", cj_u64(r.n_members));
    cj_set(log, "revision", cj_i64(r.revision));
    cj_set(log, "compact-revision", cj_i64(r.compact_revision));
    cj_set(log, "revisions", cj_u64(r.revisions));
    cj_set(log, "leases", cj_u64(r.leases));
    cj_set(log, "took", cj_str(ctl_go_duration(mono_ns() - t0, took, sizeof(took))));
    cj_print(stderr, log);
    return CTL_EXIT_OK;
}
