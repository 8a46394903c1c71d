/* Membership: ids, the member table in the store's aux tables, bootstrap and join, and
 * applying membership entries. The Cluster service is srv_cluster_svc.c. */
#include "srv_cluster_int.h"
#include "srv_log.h"

#include "common.h"
#include "srv_node_int.h"
#include "srv_peer.h"
#include "url.h"

#include "cairnpb/peer.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URLS_MAX 32 /* URLs per member */

/* ---- ids ---- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL

uint64_t srv_cluster_member_id(const char *sorted_urls, const char *token)
{
    uint64_t h = fnv1a(FNV_OFFSET, sorted_urls, strlen(sorted_urls));
    h = fnv1a(h, token, strlen(token));
    return h ? h : 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t srv_cluster_id_of(uint64_t *ids, size_t n, const char *token)
{
    qsort(ids, n, sizeof(*ids), cmp_u64);
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++) {
        uint8_t le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (uint8_t)(ids[i] >> (8 * k));
        h = fnv1a(h, le, sizeof(le));
    }
    h = fnv1a(h, token, strlen(token));
    return h ? h : 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int srv_cluster_join_urls(char *const *urls, size_t n, char *buf, size_t cap)
{
    size_t off = 0;
    CAIRN_ASSERT(cap > 0);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + off, cap - off, "%s%s", i ? "," : "", urls[i]);
        if (w < 0 || (size_t)w >= cap - off)
            return CAIRN_ELIMIT;
        off += (size_t)w;
    }
    return 0;
}

int srv_cluster_sort_urls(char *urls, size_t cap)
{
    char copy[SRV_MEMBER_URLS_MAX];
    if (strlen(urls) >= sizeof(copy))
        return CAIRN_EINVAL;
    strcpy(copy, urls);
    char *parts[URLS_MAX];
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == URLS_MAX)
            return CAIRN_EINVAL;
        parts[n++] = tok;
    }
    qsort(parts, n, sizeof(*parts), cmp_str);
    char out[SRV_MEMBER_URLS_MAX];
    if (srv_cluster_join_urls(parts, n, out, sizeof(out)) < 0 || strlen(out) >= cap)
        return CAIRN_EINVAL;
    strcpy(urls, out);
    return 0;
}

static int valid_urls(const char *urls)
{
    struct cairn_url u[URLS_MAX];
    size_t n = 0;
    return urls[0] && cairn_url_list_parse(urls, u, URLS_MAX, &n) == 0 && n > 0;
}

static struct srv_member *book_find_name(struct srv_member *m, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0)
            return &m[i];
    return NULL;
}

int srv_cluster_parse_initial(const char *initial_cluster, const char *token,
                              struct srv_member *out, size_t max, size_t *n, char *err,
                              size_t err_len)
{
    CAIRN_ASSERT(initial_cluster && out && n);
    *n = 0;
    const char *p = initial_cluster;
    for (int guard = 0; *p && guard < 4096; guard++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq || eq == p || eq == p + len - 1) {
            snprintf(err, err_len, "invalid --initial-cluster entry \"%.*s\": want name=url",
                     (int)len, p);
            return CAIRN_EINVAL;
        }
        size_t name_len = (size_t)(eq - p), url_len = len - name_len - 1;
        struct cairn_url u;
        if (name_len >= SRV_MEMBER_NAME_MAX || cairn_url_parse(eq + 1, url_len, &u) < 0) {
            snprintf(err, err_len, "invalid --initial-cluster entry \"%.*s\"", (int)len, p);
            return CAIRN_EINVAL;
        }
        char name[SRV_MEMBER_NAME_MAX];
        memcpy(name, p, name_len);
        name[name_len] = '\0';
        struct srv_member *m = book_find_name(out, *n, name);
        if (!m) {
            if (*n == max) {
                snprintf(err, err_len, "--initial-cluster has more than %zu members", max);
                return CAIRN_ELIMIT;
            }
            m = &out[(*n)++];
            memset(m, 0, sizeof(*m));
            strcpy(m->name, name);
        }
        size_t have = strlen(m->peer_urls);
        if (have + url_len + 2 > sizeof(m->peer_urls)) {
            snprintf(err, err_len, "--initial-cluster: too many URLs for %s", name);
            return CAIRN_EINVAL;
        }
        snprintf(m->peer_urls + have, sizeof(m->peer_urls) - have, "%s%.*s", have ? "," : "",
                 (int)url_len, eq + 1);
        p = comma ? comma + 1 : p + len;
    }
    for (size_t i = 0; i < *n; i++) {
        if (srv_cluster_sort_urls(out[i].peer_urls, sizeof(out[i].peer_urls)) < 0) {
            snprintf(err, err_len, "--initial-cluster: bad URLs for %s", out[i].name);
            return CAIRN_EINVAL;
        }
        out[i].id = srv_cluster_member_id(out[i].peer_urls, token);
        for (size_t k = 0; k < i; k++)
            if (out[k].id == out[i].id) {
                snprintf(err, err_len, "--initial-cluster: %s and %s have the same peer URLs",
                         out[k].name, out[i].name);
                return CAIRN_EINVAL;
            }
    }
    if (*n == 0) {
        snprintf(err, err_len, "--initial-cluster is empty");
        return CAIRN_EINVAL;
    }
    return 0;
}

/* ---- member records ---- */

const struct srv_member *srv_cluster_find(const struct srv_cluster *c, uint64_t id)
{
    for (size_t i = 0; i < c->n_members; i++)
        if (c->members[i].id == id)
            return &c->members[i];
    return NULL;
}

static const struct srv_member *book_find(const struct srv_cluster *c, uint64_t id)
{
    for (size_t i = 0; i < c->n_book; i++)
        if (c->book[i].id == id)
            return &c->book[i];
    return NULL;
}

int srv_cluster_is_learner(const struct srv_cluster *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->conf.n_learners; i++)
        if (c->conf.learners[i] == id)
            return 1;
    return 0;
}

static char **split(ProtobufCAllocator *a, const char *urls, size_t *n_out)
{
    *n_out = 0;
    if (!urls[0])
        return NULL;
    size_t count = 1;
    for (const char *p = urls; *p; p++)
        count += *p == ',';
    char **out = a->alloc(a->allocator_data, count * sizeof(*out));
    char *copy = a->alloc(a->allocator_data, strlen(urls) + 1);
    if (!out || !copy)
        return NULL;
    strcpy(copy, urls);
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && n < count;
         tok = strtok_r(NULL, ",", &save))
        out[n++] = tok;
    *n_out = n;
    return out;
}

int srv_cluster_member_pb(const struct srv_cluster *c, const struct srv_member *m,
                          ProtobufCAllocator *a, Etcdserverpb__Member *out)
{
    etcdserverpb__member__init(out);
    out->id = m->id;
    out->name = (char *)m->name;
    out->peerurls = split(a, m->peer_urls, &out->n_peerurls);
    out->clienturls = split(a, m->client_urls, &out->n_clienturls);
    out->islearner = c ? srv_cluster_is_learner(c, m->id) : 0;
    if ((m->peer_urls[0] && !out->peerurls) || (m->client_urls[0] && !out->clienturls))
        return CAIRN_ENOMEM;
    return 0;
}

int srv_cluster_member_from_pb(const Etcdserverpb__Member *pb, struct srv_member *out)
{
    memset(out, 0, sizeof(*out));
    out->id = pb->id;
    if (pb->name && strlen(pb->name) >= sizeof(out->name))
        return CAIRN_EINVAL;
    if (pb->name)
        strcpy(out->name, pb->name);
    if (srv_cluster_join_urls(pb->peerurls, pb->n_peerurls, out->peer_urls,
                              sizeof(out->peer_urls)) < 0 ||
        srv_cluster_join_urls(pb->clienturls, pb->n_clienturls, out->client_urls,
                              sizeof(out->client_urls)) < 0)
        return CAIRN_EINVAL;
    return srv_cluster_sort_urls(out->peer_urls, sizeof(out->peer_urls));
}

static void key_of(uint64_t id, uint8_t key[8])
{
    store_u64_encode(id, key);
}

/* Records m in the batch (aux, with entry index) and in memory. c->mu held. */
static void table_put(struct srv_node *n, struct store_batch *b, uint64_t index,
                      const struct srv_member *m)
{
    struct srv_cluster *c = n->cluster;
    ProtobufCAllocator *a = alloc_arena_protobuf(n->batch_arena);
    Etcdserverpb__Member pb;
    uint8_t *key = a->alloc(a->allocator_data, 8);
    if (!key || srv_cluster_member_pb(NULL, m, a, &pb) < 0)
        srv_node_fatal(CAIRN_ENOMEM, "member record");
    size_t len = etcdserverpb__member__get_packed_size(&pb);
    uint8_t *val = a->alloc(a->allocator_data, len + 1);
    if (!val)
        srv_node_fatal(CAIRN_ENOMEM, "member record");
    etcdserverpb__member__pack(&pb, val);
    key_of(m->id, key);
    if (store_batch_aux_put(b, index, SRV_AUX_MEMBERS, key, 8, val, len) < 0)
        srv_node_fatal(CAIRN_ENOMEM, "member record");
    for (size_t i = 0; i < c->n_members; i++)
        if (c->members[i].id == m->id) {
            c->members[i] = *m;
            return;
        }
    if (c->n_members < SRV_MEMBERS_MAX)
        c->members[c->n_members++] = *m;
}

static void table_remove(struct srv_node *n, struct store_batch *b, uint64_t index, uint64_t id)
{
    struct srv_cluster *c = n->cluster;
    ProtobufCAllocator *a = alloc_arena_protobuf(n->batch_arena);
    uint8_t *key = a->alloc(a->allocator_data, 8);
    if (!key)
        srv_node_fatal(CAIRN_ENOMEM, "member record");
    key_of(id, key);
    if (store_batch_aux_del(b, index, SRV_AUX_MEMBERS, key, 8) < 0 ||
        store_batch_aux_put(b, index, SRV_AUX_REMOVED, key, 8, (const uint8_t *)"", 0) < 0)
        srv_node_fatal(CAIRN_ENOMEM, "member record");
    for (size_t i = 0; i < c->n_members; i++)
        if (c->members[i].id == id) {
            c->members[i] = c->members[--c->n_members];
            break;
        }
    int known = 0;
    for (size_t i = 0; i < c->n_removed; i++)
        known |= c->removed[i] == id;
    if (!known && c->n_removed < SRV_REMOVED_MAX)
        c->removed[c->n_removed++] = id;
}

/* Loads the table and the removed ids from the store into memory. */
static int table_load(struct srv_node *n)
{
    struct srv_cluster *c = n->cluster;
    struct store_read *rd;
    int rc = store_read_begin(n->store, &rd);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->mu);
    c->n_members = 0;
    c->n_removed = 0;
    uint8_t after[8];
    size_t after_len = 0;
    for (int round = 0; rc == 0 && round < 1024; round++) {
        ProtobufCBinaryData keys[16], vals[16];
        size_t got = 0;
        rc = store_aux_scan(rd, SRV_AUX_MEMBERS, after, after_len, keys, vals, 16, &got);
        for (size_t i = 0; rc == 0 && i < got; i++) {
            Etcdserverpb__Member *pb =
                etcdserverpb__member__unpack(NULL, vals[i].len, vals[i].data);
            struct srv_member m;
            if (pb && srv_cluster_member_from_pb(pb, &m) == 0 && c->n_members < SRV_MEMBERS_MAX)
                c->members[c->n_members++] = m;
            else
                srv_log(SRV_LOG_WARN, "a member record does not decode; skipped\n");
            if (pb)
                etcdserverpb__member__free_unpacked(pb, NULL);
        }
        if (rc < 0 || got < 16)
            break;
        memcpy(after, keys[got - 1].data, 8);
        after_len = 8;
    }
    after_len = 0;
    for (int round = 0; rc == 0 && round < 1024 && c->n_removed < SRV_REMOVED_MAX; round++) {
        ProtobufCBinaryData keys[16], vals[16];
        size_t got = 0;
        rc = store_aux_scan(rd, SRV_AUX_REMOVED, after, after_len, keys, vals, 16, &got);
        for (size_t i = 0; rc == 0 && i < got && c->n_removed < SRV_REMOVED_MAX; i++)
            if (keys[i].len == 8)
                c->removed[c->n_removed++] = store_u64_decode(keys[i].data);
        if (rc < 0 || got < 16)
            break;
        memcpy(after, keys[got - 1].data, 8);
        after_len = 8;
    }
    pthread_mutex_unlock(&c->mu);
    store_read_end(rd);
    return rc;
}

/* ---- bootstrap and join ---- */

static int urls_sorted(const char *urls, char *out, size_t cap, char *err, size_t err_len)
{
    if (strlen(urls) >= cap || !valid_urls(urls)) {
        snprintf(err, err_len, "invalid --initial-advertise-peer-urls \"%s\"", urls);
        return CAIRN_EINVAL;
    }
    strcpy(out, urls);
    return srv_cluster_sort_urls(out, cap);
}

static int write_ids(struct srv_node *n, char *err, size_t err_len)
{
    struct store_batch *b;
    int rc = store_batch_begin(n->store, 0, &b);
    if (rc == 0) {
        store_batch_set_ids(b, n->cluster_id, n->member_id);
        rc = store_batch_commit(b);
    }
    if (rc < 0)
        snprintf(err, err_len, "cannot write data dir: %s", cairn_strerror(rc));
    return rc;
}

static int bootstrap_new(struct srv_node *n, uint64_t *voters, uint32_t *n_voters, char *err,
                         size_t err_len)
{
    struct srv_cluster *c = n->cluster;
    int rc = srv_cluster_parse_initial(n->cfg.initial_cluster, n->cfg.initial_cluster_token,
                                       c->book, SRV_MEMBERS_MAX, &c->n_book, err, err_len);
    if (rc < 0)
        return rc;
    const struct srv_member *self = book_find_name(c->book, c->n_book, n->cfg.name);
    if (!self) {
        snprintf(err, err_len,
                 "couldn't find local name \"%s\" in the initial cluster configuration",
                 n->cfg.name);
        return CAIRN_EINVAL;
    }
    char mine[SRV_MEMBER_URLS_MAX];
    rc = urls_sorted(n->cfg.initial_advertise_peer_urls, mine, sizeof(mine), err, err_len);
    if (rc < 0)
        return rc;
    if (strcmp(mine, self->peer_urls) != 0) {
        snprintf(err, err_len,
                 "--initial-cluster has %s=%s but --initial-advertise-peer-urls is %s "
                 "(they must match)",
                 self->name, self->peer_urls, mine);
        return CAIRN_EINVAL;
    }
    n->member_id = self->id;
    uint64_t ids[SRV_MEMBERS_MAX];
    for (size_t i = 0; i < c->n_book; i++)
        ids[i] = voters[i] = c->book[i].id;
    *n_voters = (uint32_t)c->n_book;
    n->cluster_id = srv_cluster_id_of(ids, c->n_book, n->cfg.initial_cluster_token);
    return 0;
}

/* Asks one member for the member list; 0 and the book filled, or a negative code. */
static int fetch_members(struct srv_node *n, const char *urls, const char *mine, char *err,
                         size_t err_len)
{
    struct srv_cluster *c = n->cluster;
    char target[SRV_PEER_TARGET_MAX];
    if (srv_peer_target(urls, target, sizeof(target)) < 0)
        return CAIRN_EINVAL;
    Etcdserverpb__MemberListRequest req = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
    ProtobufCMessage *resp_msg = NULL;
    int status = 0;
    char msg[256];
    int rc = srv_peer_call(target, "/etcdserverpb.Cluster/MemberList", &req.base,
                           &etcdserverpb__member_list_response__descriptor, NULL, 0, 1000,
                           &resp_msg, &status, msg, sizeof(msg));
    if (rc < 0) {
        snprintf(err, err_len, "cannot fetch the member list from %s: %s", target, msg);
        return rc;
    }
    Etcdserverpb__MemberListResponse *resp = (Etcdserverpb__MemberListResponse *)resp_msg;
    rc = CAIRN_ENOTFOUND;
    c->n_book = 0;
    for (size_t i = 0; i < resp->n_members && c->n_book < SRV_MEMBERS_MAX; i++) {
        struct srv_member m;
        if (srv_cluster_member_from_pb(resp->members[i], &m) < 0 || m.id == 0)
            continue;
        c->book[c->n_book++] = m;
        if (strcmp(m.peer_urls, mine) == 0) {
            n->member_id = m.id;
            rc = 0;
        }
    }
    if (rc == 0 && resp->header && resp->header->cluster_id)
        n->cluster_id = resp->header->cluster_id;
    else if (rc == 0)
        rc = CAIRN_EINVAL;
    if (rc < 0)
        snprintf(err, err_len,
                 "the cluster at %s has no member with peer URLs %s: add it first with "
                 "\"member add\"",
                 target, mine);
    protobuf_c_message_free_unpacked(resp_msg, NULL);
    return rc;
}

static int join_existing(struct srv_node *n, char *err, size_t err_len)
{
    struct srv_member listed[SRV_MEMBERS_MAX];
    size_t n_listed = 0;
    int rc = srv_cluster_parse_initial(n->cfg.initial_cluster, n->cfg.initial_cluster_token, listed,
                                       SRV_MEMBERS_MAX, &n_listed, err, err_len);
    if (rc < 0)
        return rc;
    char mine[SRV_MEMBER_URLS_MAX];
    rc = urls_sorted(n->cfg.initial_advertise_peer_urls, mine, sizeof(mine), err, err_len);
    if (rc < 0)
        return rc;
    uint64_t deadline = srv_now_ms() + SRV_JOIN_TIMEOUT_MS;
    rc = CAIRN_EUNAVAILABLE;
    snprintf(err, err_len, "--initial-cluster lists no other member to join");
    for (int round = 0; srv_now_ms() < deadline && round < 1000; round++) {
        for (size_t i = 0; i < n_listed; i++) {
            if (strcmp(listed[i].peer_urls, mine) == 0)
                continue;
            /* a member that has not applied our addition yet answers without us: ask
             * the others, then again, until the deadline */
            rc = fetch_members(n, listed[i].peer_urls, mine, err, err_len);
            if (rc == 0)
                return rc;
        }
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL); /* start-up retry pacing while the others come up */
    }
    return rc;
}

int srv_cluster_open(struct srv_node *n, const struct store_state *st, uint64_t *voters,
                     uint32_t *n_voters, char *err, size_t err_len)
{
    CAIRN_ASSERT(n && st && voters && n_voters);
    struct srv_cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return CAIRN_ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    n->cluster = c;
    *n_voters = 0;
    struct raft_hard_state hs;
    struct raft_storage rs;
    store_raft_storage(n->store, &rs);
    int rc = rs.initial_state(rs.ctx, &hs, &c->conf);
    uint64_t last = 0;
    if (rc == 0)
        rc = rs.last_index(rs.ctx, &last);
    if (rc < 0) {
        snprintf(err, err_len, "cannot read the raft state: %s", cairn_strerror(rc));
        return rc;
    }
    n->conf = c->conf;
    int fresh_log = hs.term == 0 && last == 0;
    if (st->member_id != 0) { /* a restart: identity and table are on disk */
        n->member_id = st->member_id;
        n->cluster_id = st->cluster_id;
        rc = table_load(n);
        if (rc == 0 && fresh_log && strcmp(n->cfg.initial_cluster_state, "new") == 0) {
            /* stopped before the first batch: bootstrap again, identically */
            uint64_t cid = n->cluster_id, mid = n->member_id;
            rc = bootstrap_new(n, voters, n_voters, err, err_len);
            if (rc == 0 && (cid != n->cluster_id || mid != n->member_id)) {
                snprintf(err, err_len, "the data dir belongs to another cluster configuration");
                rc = CAIRN_EINVAL;
            }
        } else if (rc == 0 && fresh_log) {
            /* joined but nothing replicated yet: the book again, to find the founders */
            uint64_t cid = n->cluster_id, mid = n->member_id;
            rc = join_existing(n, err, err_len);
            if (rc == 0 && (cid != n->cluster_id || mid != n->member_id)) {
                snprintf(err, err_len, "the data dir belongs to another cluster or member");
                rc = CAIRN_EINVAL;
            }
        }
        return rc;
    }
    if (strcmp(n->cfg.initial_cluster_state, "new") == 0)
        rc = bootstrap_new(n, voters, n_voters, err, err_len);
    else
        rc = join_existing(n, err, err_len);
    if (rc == 0)
        rc = write_ids(n, err, err_len);
    if (rc == 0)
        srv_log(SRV_LOG_INFO, "member %" PRIx64 " of cluster %" PRIx64 " (%s)\n", n->member_id,
                n->cluster_id,
                strcmp(n->cfg.initial_cluster_state, "new") == 0 ? "new cluster" : "joined");
    return rc;
}

void srv_cluster_close(struct srv_node *n)
{
    struct srv_cluster *c = n->cluster;
    if (!c)
        return;
    CAIRN_ASSERT(c->retry == NULL);
    pthread_mutex_destroy(&c->mu);
    free(c);
    n->cluster = NULL;
}

void srv_cluster_reload(struct srv_node *n, const struct raft_conf_state *conf)
{
    int rc = table_load(n);
    if (rc < 0)
        srv_node_fatal(rc, "reloading the member table");
    pthread_mutex_lock(&n->cluster->mu);
    n->cluster->conf = *conf;
    pthread_mutex_unlock(&n->cluster->mu);
    n->conf = *conf;
    srv_cluster_sync_transport(n);
}

void srv_cluster_sync_transport(struct srv_node *n)
{
    struct srv_cluster *c = n->cluster;
    if (!n->peers)
        return;
    struct srv_member all[2 * SRV_MEMBERS_MAX];
    size_t k = 0;
    uint64_t removed[SRV_REMOVED_MAX > 64 ? 64 : SRV_REMOVED_MAX];
    size_t n_rm = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_members; i++)
        all[k++] = c->members[i];
    for (size_t i = 0; i < c->n_book; i++)
        if (!srv_cluster_find(c, c->book[i].id))
            all[k++] = c->book[i];
    /* the most recent removals are the ones the transport may still know */
    for (size_t i = c->n_removed; i > 0 && n_rm < CAIRN_ARRAY_LEN(removed); i--)
        removed[n_rm++] = c->removed[i - 1];
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n_rm; i++)
        srv_peer_forget(n->peers, removed[i]);
    for (size_t i = 0; i < k; i++) {
        int gone = 0;
        for (size_t r = 0; r < n_rm; r++)
            gone |= removed[r] == all[i].id;
        if (all[i].id == n->member_id || gone || !all[i].peer_urls[0])
            continue;
        if (srv_peer_set_addr(n->peers, all[i].id, all[i].peer_urls) < 0)
            srv_log(SRV_LOG_WARN, "cannot use peer URLs %s of member %" PRIx64 "\n",
                    all[i].peer_urls, all[i].id);
    }
}

/* ---- applying entries ---- */

void srv_cluster_apply_conf_change(struct srv_node *n, struct store_batch *b,
                                   const struct raft_entry *e, struct raft_conf_state *conf,
                                   struct srv_cluster_effect *fx)
{
    struct srv_cluster *c = n->cluster;
    CAIRN_ASSERT(e->type == RAFT_ENTRY_CONF_CHANGE);
    memset(fx, 0, sizeof(*fx));
    struct raft_conf_change cc;
    struct raft_conf_state next;
    if (raft_conf_change_decode(e->data, e->len, &cc) != 0 ||
        raft_conf_apply(conf, &cc, &next) != 0) {
        fx->err = CAIRN_EINVAL; /* a no-op on every member alike (raft/ skips it too) */
        return;
    }
    Cairnpb__ConfChangeContext *ctx =
        cc.context_len ? cairnpb__conf_change_context__unpack(alloc_arena_protobuf(n->batch_arena),
                                                              cc.context_len, cc.context)
                       : NULL;
    if (ctx) {
        fx->request_id = ctx->request_id;
        fx->proposer = ctx->proposer;
    }
    pthread_mutex_lock(&c->mu);
    for (uint32_t i = 0; i < cc.n_changes; i++) {
        const struct raft_cc_single *ch = &cc.changes[i];
        if (ch->type == RAFT_CC_REMOVE) {
            table_remove(n, b, e->index, ch->id);
            fx->self_removed |= ch->id == n->member_id;
            continue;
        }
        if (srv_cluster_find(c, ch->id))
            continue; /* promotion or demotion: the configuration says which */
        struct srv_member m;
        memset(&m, 0, sizeof(m));
        m.id = ch->id;
        const struct srv_member *known = book_find(c, ch->id);
        if (ctx && ctx->member && ctx->member->id == ch->id &&
            srv_cluster_member_from_pb(ctx->member, &m) == 0)
            fx->added_id = ch->id;
        else if (known)
            m = *known;
        table_put(n, b, e->index, &m);
    }
    c->conf = next;
    pthread_mutex_unlock(&c->mu);
    *conf = next;
    fx->changed = 1;
}

void srv_cluster_apply_request(struct srv_node *n, struct store_batch *b, uint64_t index,
                               const uint8_t *data, size_t len, struct srv_cluster_effect *fx)
{
    struct srv_cluster *c = n->cluster;
    memset(fx, 0, sizeof(*fx));
    Cairnpb__ClusterRequest *cr =
        cairnpb__cluster_request__unpack(alloc_arena_protobuf(n->batch_arena), len, data);
    if (!cr) {
        fx->err = CAIRN_ECORRUPT;
        return;
    }
    fx->request_id = cr->request_id;
    fx->proposer = cr->proposer;
    pthread_mutex_lock(&c->mu);
    if (cr->request_case == CAIRNPB__CLUSTER_REQUEST__REQUEST_ATTRIBUTES) {
        const Cairnpb__MemberAttributes *at = cr->attributes;
        const struct srv_member *cur = srv_cluster_find(c, at->id);
        struct srv_member m;
        if (!cur || !at->name || strlen(at->name) >= sizeof(m.name)) {
            fx->err = CAIRN_ENOTFOUND;
        } else {
            m = *cur;
            strcpy(m.name, at->name);
            if (srv_cluster_join_urls(at->client_urls, at->n_client_urls, m.client_urls,
                                      sizeof(m.client_urls)) < 0)
                fx->err = CAIRN_EINVAL;
            else
                table_put(n, b, index, &m);
        }
    } else if (cr->request_case == CAIRNPB__CLUSTER_REQUEST__REQUEST_UPDATE) {
        const Cairnpb__MemberPeerUpdate *up = cr->update;
        const struct srv_member *cur = srv_cluster_find(c, up->id);
        struct srv_member m;
        if (!cur) {
            fx->err = CAIRN_ENOTFOUND;
        } else {
            m = *cur;
            if (srv_cluster_join_urls(up->peer_urls, up->n_peer_urls, m.peer_urls,
                                      sizeof(m.peer_urls)) < 0 ||
                srv_cluster_sort_urls(m.peer_urls, sizeof(m.peer_urls)) < 0) {
                fx->err = CAIRN_EINVAL;
            } else {
                table_put(n, b, index, &m);
                fx->changed = 1;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- queries ---- */

int srv_cluster_is_removed(struct srv_node *n, uint64_t id)
{
    struct srv_cluster *c = n->cluster;
    int removed = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_removed && !removed; i++)
        removed = c->removed[i] == id;
    pthread_mutex_unlock(&c->mu);
    return removed;
}

int srv_cluster_peer_urls(struct srv_node *n, uint64_t id, char *buf, size_t cap)
{
    struct srv_cluster *c = n->cluster;
    int rc = CAIRN_ENOTFOUND;
    pthread_mutex_lock(&c->mu);
    const struct srv_member *m = srv_cluster_find(c, id);
    if (!m || !m->peer_urls[0])
        m = book_find(c, id);
    if (m && m->peer_urls[0] && strlen(m->peer_urls) < cap) {
        strcpy(buf, m->peer_urls);
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

size_t srv_cluster_size(struct srv_node *n)
{
    pthread_mutex_lock(&n->cluster->mu);
    size_t k = n->cluster->n_members;
    pthread_mutex_unlock(&n->cluster->mu);
    return k;
}
