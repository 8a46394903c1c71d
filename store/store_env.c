/* The LMDB environment: open/close, named databases, map growth, the reader gate and the
 * read-transaction pool. */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAP_GROW_MIN_BYTES (64ULL << 20)
#define WRITE_RETRIES_MAX  64
#define STORE_MAX_DBS      12
#define STORE_MAX_READERS  254
#define STORE_TMP_PREFIX   "data.mdb.tmp"

int store_lmdb_err(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return CAIRN_ENOTFOUND;
    case MDB_MAP_FULL:
        return STORE_ERR_MAPFULL;
    case MDB_READERS_FULL:
        return CAIRN_EBUSY;
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
        return CAIRN_ELIMIT;
    case MDB_BAD_VALSIZE:
        return CAIRN_ETOOLARGE;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        return CAIRN_ECORRUPT;
    case ENOMEM:
        return CAIRN_ENOMEM;
    default:
        return CAIRN_EIO;
    }
}

/* ---- gate ---- */

static void gate_init(struct store_gate *g)
{
    memset(g, 0, sizeof(*g));
    CAIRN_ASSERT(pthread_mutex_init(&g->mu, NULL) == 0);
    CAIRN_ASSERT(pthread_cond_init(&g->cv, NULL) == 0);
}

static void gate_destroy(struct store_gate *g)
{
    CAIRN_ASSERT(g->readers == 0 && !g->exclusive);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

void store_gate_enter(struct store_gate *g)
{
    pthread_mutex_lock(&g->mu);
    /* A waiting exclusive holder goes first, so readers cannot starve it. */
    while (g->exclusive || g->waiting)
        pthread_cond_wait(&g->cv, &g->mu);
    g->readers++;
    CAIRN_ASSERT(g->readers > 0);
    pthread_mutex_unlock(&g->mu);
}

void store_gate_exit(struct store_gate *g)
{
    pthread_mutex_lock(&g->mu);
    CAIRN_ASSERT(g->readers > 0 && !g->exclusive);
    if (--g->readers == 0)
        pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void store_gate_lock(struct store_gate *g)
{
    pthread_mutex_lock(&g->mu);
    CAIRN_ASSERT(!g->exclusive && !g->waiting); /* callers hold write_mu: one at a time */
    g->waiting = 1;
    while (g->readers > 0)
        pthread_cond_wait(&g->cv, &g->mu);
    g->waiting = 0;
    g->exclusive = 1;
    pthread_mutex_unlock(&g->mu);
}

void store_gate_unlock(struct store_gate *g)
{
    pthread_mutex_lock(&g->mu);
    CAIRN_ASSERT(g->exclusive && g->readers == 0);
    g->exclusive = 0;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* ---- read pool ---- */

static void pool_drop(struct store *s)
{
    pthread_mutex_lock(&s->pool_mu);
    for (uint32_t i = 0; i < s->n_pool; i++)
        mdb_txn_abort(s->pool[i]);
    s->n_pool = 0;
    pthread_mutex_unlock(&s->pool_mu);
}

int store_view_load(MDB_txn *txn, const struct store_dbs *db, int64_t *rev, int64_t *compact)
{
    int rc = store_meta_get_i64(txn, db, STORE_META_REV, 1, rev);
    if (rc == 0)
        rc = store_meta_get_i64(txn, db, STORE_META_COMPACT, -1, compact);
    if (rc == 0 && (*rev < 1 || *compact > *rev))
        rc = CAIRN_ECORRUPT;
    return rc;
}

/* The revisions of the snapshot txn reads, from the cache when another reader of the same
 * snapshot loaded them (seqlock read: retried a bounded number of times, then loaded). */
static int view_of(struct store *s, MDB_txn *txn, int64_t *rev, int64_t *compact)
{
    uint64_t key = (uint64_t)mdb_txn_id(txn) + 1; /* 0 = nothing cached */
    for (int tries = 0; tries < 4; tries++) {
        uint64_t seq = atomic_load_explicit(&s->view_seq, memory_order_acquire);
        if (seq & 1)
            break; /* being filled: load it ourselves */
        uint64_t id = atomic_load_explicit(&s->view_txnid, memory_order_relaxed);
        int64_t r = atomic_load_explicit(&s->view_rev, memory_order_relaxed);
        int64_t c = atomic_load_explicit(&s->view_compact, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->view_seq, memory_order_relaxed) != seq)
            continue;
        if (id != key)
            break;
        *rev = r;
        *compact = c;
        return 0;
    }
    int rc = store_view_load(txn, &s->db, rev, compact);
    if (rc == 0 && pthread_mutex_trylock(&s->view_fill_mu) == 0) {
        atomic_fetch_add_explicit(&s->view_seq, 1, memory_order_relaxed); /* odd: writing */
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&s->view_txnid, key, memory_order_relaxed);
        atomic_store_explicit(&s->view_rev, *rev, memory_order_relaxed);
        atomic_store_explicit(&s->view_compact, *compact, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->view_seq, 1, memory_order_release); /* even: done */
        pthread_mutex_unlock(&s->view_fill_mu);
    }
    return rc;
}

/* A new environment (open, restore, defragment) restarts txn ids: forget the cache. Called
 * with no reader inside (the gate is exclusive or the store is not open yet). */
static void view_forget(struct store *s)
{
    pthread_mutex_lock(&s->view_fill_mu);
    atomic_fetch_add_explicit(&s->view_seq, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->view_txnid, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->view_seq, 1, memory_order_release);
    pthread_mutex_unlock(&s->view_fill_mu);
}

int store_read_begin(struct store *s, struct store_read **out)
{
    CAIRN_ASSERT(s != NULL && out != NULL);
    struct store_read *r = malloc(sizeof(*r));
    if (r == NULL)
        return CAIRN_ENOMEM;
    store_gate_enter(&s->gate);
    MDB_txn *txn = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->n_pool > 0)
        txn = s->pool[--s->n_pool];
    pthread_mutex_unlock(&s->pool_mu);
    int rc;
    if (txn != NULL) {
        rc = mdb_txn_renew(txn);
        if (rc != 0) {
            mdb_txn_abort(txn);
            txn = NULL;
        }
    }
    if (txn == NULL)
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        store_gate_exit(&s->gate);
        free(r);
        return store_lmdb_err(rc);
    }
    r->s = s;
    r->txn = txn;
    rc = view_of(s, txn, &r->rev, &r->compact_rev);
    if (rc != 0) {
        mdb_txn_abort(txn);
        store_gate_exit(&s->gate);
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void store_read_end(struct store_read *r)
{
    if (r == NULL)
        return;
    struct store *s = r->s;
    CAIRN_ASSERT(s != NULL && r->txn != NULL);
    mdb_txn_reset(r->txn);
    pthread_mutex_lock(&s->pool_mu);
    if (s->n_pool < STORE_READ_POOL_MAX) {
        s->pool[s->n_pool++] = r->txn;
        r->txn = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (r->txn != NULL)
        mdb_txn_abort(r->txn);
    store_gate_exit(&s->gate);
    free(r);
}

int store_read_state(struct store_read *r, struct store_state *st)
{
    CAIRN_ASSERT(r != NULL && st != NULL);
    memset(st, 0, sizeof(*st));
    st->revision = r->rev;
    st->compact_revision = r->compact_rev;
    uint64_t v[2];
    int found;
    int rc = store_meta_get_u64s(r->txn, &r->s->db, STORE_META_APPLIED, v, 2, &found);
    if (rc != 0)
        return rc;
    st->applied_index = v[0];
    st->applied_term = v[1];
    rc = store_meta_get_u64s(r->txn, &r->s->db, STORE_META_IDS, v, 2, &found);
    if (rc != 0)
        return rc;
    st->cluster_id = v[0];
    st->member_id = v[1];
    MDB_cursor *c;
    rc = mdb_cursor_open(r->txn, r->s->db.alarm, &c);
    if (rc != 0)
        return store_lmdb_err(rc);
    MDB_val k, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size != STORE_U64_BYTES + 1)
            continue;
        uint8_t type = ((const uint8_t *)k.mv_data)[STORE_U64_BYTES];
        if (type == ETCDSERVERPB__ALARM_TYPE__NOSPACE)
            st->alarm_nospace = 1;
        else if (type == ETCDSERVERPB__ALARM_TYPE__CORRUPT)
            st->alarm_corrupt = 1;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
}

/* ---- environment ---- */

static int open_dbs(struct store *s)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return store_lmdb_err(rc);
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"log", &s->db.log},     {"meta", &s->db.meta},   {"kidx", &s->db.kidx},
        {"rev", &s->db.rev},     {"lease", &s->db.lease}, {"leasekey", &s->db.leasekey},
        {"alarm", &s->db.alarm}, {"aux", &s->db.aux},
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(dbs) && rc == 0; i++)
        rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
    if (rc == 0)
        rc = mdb_set_compare(txn, s->db.kidx, store_kidx_cmp);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return store_lmdb_err(rc);
    }
    int64_t fmt;
    int crc = store_meta_get_i64(txn, &s->db, STORE_META_FORMAT, 0, &fmt);
    if (crc == 0 && fmt == 0)
        crc = store_meta_put_i64(txn, &s->db, STORE_META_FORMAT, STORE_FORMAT_VERSION);
    else if (crc == 0 && fmt != STORE_FORMAT_VERSION)
        crc = CAIRN_ECORRUPT;
    if (crc != 0) {
        mdb_txn_abort(txn);
        return crc;
    }
    return store_lmdb_err(mdb_txn_commit(txn));
}

int store_env_open(struct store *s)
{
    CAIRN_ASSERT(s->env == NULL && s->map_bytes > 0);
    view_forget(s);
    int rc = mdb_env_create(&s->env);
    if (rc != 0)
        return store_lmdb_err(rc);
    unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
    if (s->cfg.unsafe_no_sync)
        flags |= MDB_NOSYNC;
    rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(s->env, STORE_MAX_READERS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, s->map_bytes);
    if (rc == 0)
        rc = mdb_env_open(s->env, s->path, flags, 0644);
    MDB_envinfo info;
    MDB_stat st;
    if (rc == 0)
        rc = mdb_env_info(s->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(s->env, &st);
    int err = store_lmdb_err(rc);
    if (err == 0) {
        s->map_bytes = info.me_mapsize; /* LMDB raises it to the file size if needed */
        s->page_bytes = st.ms_psize;
        err = open_dbs(s);
    }
    if (err != 0) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return err;
}

void store_env_close(struct store *s)
{
    pool_drop(s);
    if (s->env != NULL)
        mdb_env_close(s->env);
    s->env = NULL;
}

int store_map_grow(struct store *s)
{
    CAIRN_ASSERT(s->env != NULL);
    if (s->map_bytes >= s->map_max_bytes)
        return CAIRN_ENOSPACE; /* the hard ceiling: nothing a user can do but compact */
    uint64_t next = s->map_bytes * 2;
    if (next < s->map_bytes + MAP_GROW_MIN_BYTES)
        next = s->map_bytes + MAP_GROW_MIN_BYTES;
    if (next > s->map_max_bytes)
        next = s->map_max_bytes;
    store_gate_lock(&s->gate);
    pool_drop(s);
    int rc = mdb_env_set_mapsize(s->env, next);
    store_gate_unlock(&s->gate);
    if (rc != 0)
        return store_lmdb_err(rc);
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0)
        s->map_bytes = info.me_mapsize;
    CAIRN_ASSERT(s->map_bytes >= next);
    s->map_grows++;
    return 0;
}

uint64_t store_db_bytes(struct store *s)
{
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) != 0)
        return 0;
    return ((uint64_t)info.me_last_pgno + 1) * s->page_bytes;
}

int store_txn_begin_write(struct store *s, MDB_txn **txn)
{
    return store_lmdb_err(mdb_txn_begin(s->env, NULL, 0, txn));
}

int store_write_txn_run(struct store *s, int (*fn)(void *arg, MDB_txn *txn), void *arg)
{
    for (int attempt = 0; attempt < WRITE_RETRIES_MAX; attempt++) {
        MDB_txn *txn;
        int rc = store_txn_begin_write(s, &txn);
        if (rc != 0)
            return rc;
        rc = fn(arg, txn);
        if (rc == 0)
            rc = store_lmdb_err(mdb_txn_commit(txn)); /* commit frees txn even on failure */
        else
            mdb_txn_abort(txn);
        if (rc != STORE_ERR_MAPFULL)
            return rc;
        s->batch_retries++;
        rc = store_map_grow(s);
        if (rc != 0)
            return rc;
    }
    return CAIRN_ENOSPACE;
}

/* ---- open / close ---- */

static int mkdir_p(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(buf))
        return CAIRN_EINVAL;
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return CAIRN_EIO;
        buf[i] = saved;
    }
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : CAIRN_EIO;
}

/* Temporary files of an interrupted defragment / restore are garbage after a crash. */
static void remove_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, STORE_TMP_PREFIX, strlen(STORE_TMP_PREFIX)) != 0)
            continue;
        if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) < (int)sizeof(p))
            unlink(p);
    }
    closedir(d);
}

char *store_path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int store_open(const struct store_config *cfg, struct store **out)
{
    if (cfg == NULL || cfg->dir == NULL || out == NULL || cfg->dir[0] == '\0')
        return CAIRN_EINVAL;
    int rc = mkdir_p(cfg->dir);
    if (rc != 0)
        return rc;
    struct store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return CAIRN_ENOMEM;
    s->cfg = *cfg;
    s->dir = strdup(cfg->dir);
    s->path = store_path_join(cfg->dir, "data.mdb");
    if (s->dir == NULL || s->path == NULL) {
        free(s->dir);
        free(s->path);
        free(s);
        return CAIRN_ENOMEM;
    }
    s->cfg.dir = s->dir;
    if (s->cfg.quota_bytes == 0)
        s->cfg.quota_bytes = STORE_QUOTA_BYTES_DEFAULT;
    s->map_max_bytes = s->cfg.map_max_bytes;
    if (s->map_max_bytes == 0) {
        uint64_t q = s->cfg.quota_bytes;
        s->map_max_bytes = q * 2 > q + (1ULL << 30) ? q * 2 : q + (1ULL << 30);
    }
    s->map_bytes =
        s->cfg.map_initial_bytes ? s->cfg.map_initial_bytes : STORE_MAP_INITIAL_BYTES_DEF;
    if (s->map_bytes > s->map_max_bytes)
        s->map_bytes = s->map_max_bytes;
    CAIRN_ASSERT(pthread_mutex_init(&s->write_mu, NULL) == 0);
    CAIRN_ASSERT(pthread_mutex_init(&s->pool_mu, NULL) == 0);
    CAIRN_ASSERT(pthread_mutex_init(&s->view_fill_mu, NULL) == 0);
    gate_init(&s->gate);
    remove_tmp_files(s->dir);
    rc = store_env_open(s);
    if (rc != 0) {
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    CAIRN_ASSERT(!s->batch.open);
    store_env_close(s);
    free(s->batch.recs);
    gate_destroy(&s->gate);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->view_fill_mu);
    pthread_mutex_destroy(&s->write_mu);
    free(s->dir);
    free(s->path);
    free(s);
}

/* ---- sizes and quota ---- */

static int count_free_pages(MDB_txn *txn, uint64_t *pages)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, 0 /* FREE_DBI */, &c);
    if (rc != 0)
        return store_lmdb_err(rc);
    MDB_val k, d;
    *pages = 0;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (d.mv_size >= sizeof(size_t)) {
            size_t n;
            memcpy(&n, d.mv_data, sizeof(n)); /* an IDL: the count comes first */
            *pages += n;
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
}

int store_size(struct store *s, struct store_size *out)
{
    CAIRN_ASSERT(s != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    store_gate_enter(&s->gate);
    out->db_bytes = store_db_bytes(s);
    out->map_bytes = s->map_bytes;
    out->quota_bytes = s->cfg.quota_bytes;
    out->map_grows = s->map_grows;
    out->batch_redos = s->batch_retries;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    uint64_t free_pages = 0;
    if (rc == 0) {
        rc = count_free_pages(txn, &free_pages);
        mdb_txn_abort(txn);
    } else {
        rc = store_lmdb_err(rc);
    }
    store_gate_exit(&s->gate);
    uint64_t free_bytes = free_pages * s->page_bytes;
    out->in_use_bytes = free_bytes < out->db_bytes ? out->db_bytes - free_bytes : 0;
    return rc;
}

int store_quota_available(struct store *s, uint64_t cost)
{
    CAIRN_ASSERT(s != NULL);
    if (cost == 0)
        return 1; /* nothing that can grow the store: always allowed, as in etcd */
    store_gate_enter(&s->gate);
    uint64_t db = store_db_bytes(s);
    store_gate_exit(&s->gate);
    return db + cost < s->cfg.quota_bytes;
}
