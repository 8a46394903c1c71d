/* Consistent compacted copies of the environment: snapshots streamed in chunks, restore
 * from one, and defragment (copy and swap). */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_TEMPLATE "data.mdb.tmp.XXXXXX"

struct store_snapshot {
    int fd;
    uint64_t size;
    uint64_t off;
};

struct store_restore {
    struct store *s;
    int fd;
    char *path;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int store_tmp_create(struct store *s, char **path, int *fd)
{
    *path = store_path_join(s->dir, TMP_TEMPLATE);
    if (*path == NULL)
        return CAIRN_ENOMEM;
    *fd = mkstemp(*path);
    if (*fd < 0) {
        free(*path);
        *path = NULL;
        return CAIRN_EIO;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY);
    if (fd < 0)
        return CAIRN_EIO;
    int rc = fsync(fd) == 0 ? 0 : CAIRN_EIO;
    close(fd);
    return rc;
}

/* Compacting copy of the live environment into fd (readers and writers keep going). */
static int copy_into(struct store *s, int fd)
{
    store_gate_enter(&s->gate); /* the environment must not be swapped meanwhile */
    int rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    store_gate_exit(&s->gate);
    if (rc != 0)
        return store_lmdb_err(rc);
    return fsync(fd) == 0 ? 0 : CAIRN_EIO;
}

/* Opens a copy as its own environment (no lock file) for reading or fixing up. */
int store_copy_env_open(const char *path, int rdonly, uint64_t extra_bytes, MDB_env **env,
                        struct store_dbs *db)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return CAIRN_EIO;
    int rc = mdb_env_create(env);
    if (rc != 0)
        return store_lmdb_err(rc);
    unsigned flags = MDB_NOSUBDIR | MDB_NOLOCK | (rdonly ? MDB_RDONLY : 0);
    rc = mdb_env_set_maxdbs(*env, 12);
    if (rc == 0)
        rc = mdb_env_set_mapsize(*env, (size_t)st.st_size + extra_bytes);
    if (rc == 0)
        rc = mdb_env_open(*env, path, flags, 0644);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin(*env, NULL, rdonly ? MDB_RDONLY : 0, &txn);
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"log", &db->log},     {"meta", &db->meta},   {"kidx", &db->kidx},
        {"rev", &db->rev},     {"lease", &db->lease}, {"leasekey", &db->leasekey},
        {"alarm", &db->alarm}, {"aux", &db->aux},
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(dbs) && rc == 0; i++)
        rc = mdb_dbi_open(txn, dbs[i].name, rdonly ? 0 : MDB_CREATE, dbs[i].dbi);
    if (rc == 0)
        rc = mdb_set_compare(txn, db->kidx, store_kidx_cmp);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else if (txn != NULL)
        mdb_txn_abort(txn);
    if (rc != 0) {
        mdb_env_close(*env);
        *env = NULL;
        return rc == MDB_NOTFOUND ? CAIRN_ECORRUPT : store_lmdb_err(rc); /* not a store */
    }
    return 0;
}

/* The state machine position a copy holds: applied index, its term, membership. */
static int copy_meta(MDB_txn *txn, const struct store_dbs *db, struct raft_snapshot_meta *m)
{
    int64_t fmt;
    int rc = store_meta_get_i64(txn, db, STORE_META_FORMAT, 0, &fmt);
    if (rc == 0 && fmt != STORE_FORMAT_VERSION)
        return CAIRN_ECORRUPT;
    uint64_t ap[2];
    int found;
    memset(m, 0, sizeof(*m));
    if (rc == 0)
        rc = store_meta_get_u64s(txn, db, STORE_META_APPLIED, ap, 2, &found);
    if (rc == 0) {
        m->index = ap[0];
        m->term = ap[1];
        rc = store_meta_get_conf(txn, db, STORE_META_CONF_STATE, &m->conf);
    }
    return rc;
}

int store_snapshot_begin(struct store *s, struct store_snapshot **out,
                         struct raft_snapshot_meta *meta, uint64_t *size_bytes)
{
    CAIRN_ASSERT(s != NULL && out != NULL && meta != NULL);
    /* The copy holds the reader gate throughout, and the map cannot grow while it does: a
     * batch needing more map would wait for the copy. Make room first. */
    pthread_mutex_lock(&s->write_mu);
    if (store_db_bytes(s) > s->map_bytes / 2 && s->map_bytes < s->map_max_bytes)
        (void)store_map_grow(s); /* best effort: a batch can still grow it later */
    pthread_mutex_unlock(&s->write_mu);
    struct store_snapshot *ss = calloc(1, sizeof(*ss));
    if (ss == NULL)
        return CAIRN_ENOMEM;
    char *path;
    int rc = store_tmp_create(s, &path, &ss->fd);
    if (rc != 0) {
        free(ss);
        return rc;
    }
    rc = copy_into(s, ss->fd);
    MDB_env *env = NULL;
    struct store_dbs db;
    if (rc == 0)
        rc = store_copy_env_open(path, 1, 0, &env, &db);
    if (rc == 0) {
        MDB_txn *txn;
        rc = store_lmdb_err(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
        if (rc == 0) {
            rc = copy_meta(txn, &db, meta);
            mdb_txn_abort(txn);
        }
        mdb_env_close(env);
    }
    unlink(path); /* the open descriptor keeps the data until snapshot_end */
    free(path);
    struct stat st;
    if (rc == 0 && fstat(ss->fd, &st) != 0)
        rc = CAIRN_EIO;
    if (rc == 0 && lseek(ss->fd, 0, SEEK_SET) != 0)
        rc = CAIRN_EIO;
    if (rc != 0) {
        close(ss->fd);
        free(ss);
        return rc;
    }
    ss->size = (uint64_t)st.st_size;
    if (size_bytes != NULL)
        *size_bytes = ss->size;
    *out = ss;
    return 0;
}

int store_snapshot_read(struct store_snapshot *ss, uint8_t *buf, size_t cap, size_t *n)
{
    CAIRN_ASSERT(ss != NULL && n != NULL);
    *n = 0;
    while (*n < cap && ss->off < ss->size) {
        ssize_t r = read(ss->fd, buf + *n, cap - *n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return CAIRN_EIO;
        *n += (size_t)r;
        ss->off += (uint64_t)r;
    }
    CAIRN_ASSERT(ss->off <= ss->size);
    return 0;
}

void store_snapshot_end(struct store_snapshot *ss)
{
    if (ss == NULL)
        return;
    close(ss->fd);
    free(ss);
}

/* ---- swapping a prepared copy in ---- */

/* Replaces data.mdb with the file at path. write_mu must be held; readers are waited for. */
int store_swap_in(struct store *s, const char *path, uint64_t *reads_blocked_us)
{
    uint64_t t0 = now_us();
    store_gate_lock(&s->gate);
    store_env_close(s);
    int rc = rename(path, s->path) == 0 ? 0 : CAIRN_EIO;
    if (rc == 0)
        rc = fsync_dir(s->dir);
    int orc = store_env_open(s); /* the old file again if the rename failed */
    store_gate_unlock(&s->gate);
    if (reads_blocked_us != NULL)
        *reads_blocked_us = now_us() - t0;
    return rc != 0 ? rc : orc;
}

int store_defrag(struct store *s, struct store_defrag_report *rep)
{
    CAIRN_ASSERT(s != NULL && rep != NULL);
    memset(rep, 0, sizeof(*rep));
    pthread_mutex_lock(&s->write_mu);
    CAIRN_ASSERT(!s->batch.open);
    uint64_t t0 = now_us();
    rep->db_bytes_before = store_db_bytes(s);
    char *path;
    int fd;
    int rc = store_tmp_create(s, &path, &fd);
    if (rc == 0) {
        rc = copy_into(s, fd);
        close(fd);
        if (rc == 0)
            rc = store_swap_in(s, path, &rep->reads_blocked_us);
        if (rc != 0)
            unlink(path);
        free(path);
    }
    rep->db_bytes_after = store_db_bytes(s);
    rep->writes_blocked_us = now_us() - t0;
    pthread_mutex_unlock(&s->write_mu);
    return rc;
}

/* ---- restore ---- */

int store_restore_begin(struct store *s, struct store_restore **out)
{
    CAIRN_ASSERT(s != NULL && out != NULL);
    struct store_restore *rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        return CAIRN_ENOMEM;
    rs->s = s;
    int rc = store_tmp_create(s, &rs->path, &rs->fd);
    if (rc != 0) {
        free(rs);
        return rc;
    }
    *out = rs;
    return 0;
}

int store_restore_write(struct store_restore *rs, const uint8_t *buf, size_t n)
{
    CAIRN_ASSERT(rs != NULL && rs->fd >= 0);
    while (n > 0) {
        ssize_t w = write(rs->fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return CAIRN_EIO;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

void store_restore_abort(struct store_restore *rs)
{
    if (rs == NULL)
        return;
    if (rs->fd >= 0)
        close(rs->fd);
    unlink(rs->path);
    free(rs->path);
    free(rs);
}

/* Makes the copy this node's: empty log starting at the snapshot, local hard state, ids. */
int store_restore_fixup(struct store *s, MDB_txn *txn, const struct store_dbs *db,
                        const struct raft_snapshot_meta *meta)
{
    struct raft_snapshot_meta own;
    int rc = copy_meta(txn, db, &own);
    if (rc != 0)
        return rc;
    const struct raft_snapshot_meta *m = meta ? meta : &own;
    if (m->index > own.index)
        return CAIRN_EINVAL; /* the data must cover what the snapshot claims */
    uint64_t hs[3], ids[2];
    int found_hs, found_ids;
    MDB_txn *cur;
    rc = store_lmdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &cur));
    if (rc != 0)
        return rc;
    rc = store_meta_get_u64s(cur, &s->db, STORE_META_HARD_STATE, hs, 3, &found_hs);
    if (rc == 0)
        rc = store_meta_get_u64s(cur, &s->db, STORE_META_IDS, ids, 2, &found_ids);
    mdb_txn_abort(cur);
    if (rc != 0)
        return rc;
    if (hs[2] < m->index)
        hs[2] = m->index; /* the snapshot is committed */
    if (hs[0] < m->term)
        hs[0] = m->term;
    rc = store_lmdb_err(mdb_drop(txn, db->log, 0));
    uint64_t ls[2] = {m->index, m->term};
    if (rc == 0)
        rc = store_meta_put_u64s(txn, db, STORE_META_LOG_START, ls, 2);
    if (rc == 0)
        rc = store_meta_put_u64s(txn, db, STORE_META_HARD_STATE, hs, 3);
    if (rc == 0 && found_ids)
        rc = store_meta_put_u64s(txn, db, STORE_META_IDS, ids, 2);
    return rc;
}

int store_restore_finish(struct store_restore *rs, const struct raft_snapshot_meta *meta)
{
    CAIRN_ASSERT(rs != NULL && rs->fd >= 0);
    struct store *s = rs->s;
    int rc = fsync(rs->fd) == 0 ? 0 : CAIRN_EIO;
    close(rs->fd);
    rs->fd = -1;
    MDB_env *env = NULL;
    struct store_dbs db;
    if (rc == 0)
        rc = store_copy_env_open(rs->path, 0, 64ULL << 20, &env, &db);
    pthread_mutex_lock(&s->write_mu);
    CAIRN_ASSERT(!s->batch.open);
    if (rc == 0) {
        MDB_txn *txn;
        rc = store_lmdb_err(mdb_txn_begin(env, NULL, 0, &txn));
        if (rc == 0) {
            rc = store_restore_fixup(s, txn, &db, meta);
            if (rc == 0)
                rc = store_lmdb_err(mdb_txn_commit(txn));
            else
                mdb_txn_abort(txn);
        }
        if (rc == 0)
            rc = store_lmdb_err(mdb_env_sync(env, 1));
    }
    if (env != NULL)
        mdb_env_close(env);
    if (rc == 0)
        rc = store_swap_in(s, rs->path, NULL);
    pthread_mutex_unlock(&s->write_mu);
    if (rc != 0)
        unlink(rs->path);
    free(rs->path);
    free(rs);
    return rc;
}
