/*
 * The watch hub and etcdserverpb.Watch.
 *
 * One bidi stream carries many watchers. Stream messages are decoded on the polling thread
 * and queued to the node thread in order; the hub (node thread only) owns every watcher.
 * A synced watcher receives events straight from each applied batch. When a stream's send
 * queue is full (a slow client) the watcher becomes unsynced at the first revision it did
 * not get and is fed later from the store's history in bounded reads (etcd's "unsynced"
 * watchers), so the server never buffers a slow watcher's events without bound. A watcher
 * whose next revision was compacted away is cancelled with compact_revision, as etcd does.
 */
#include "srv_errors.h"
#include "srv_node_int.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

#define CATCHUP_PER_TICK     16     /* unsynced watchers served per loop iteration */
#define PROGRESS_INTERVAL_MS 600000 /* etcd's default progress-notify interval (10 min) */
#define WATCHERS_PER_STREAM  100000

enum wop { WOP_OPEN, WOP_CREATE, WOP_CANCEL, WOP_PROGRESS, WOP_CLOSE };

struct wstream;

struct watcher {
    struct watcher *next; /* in its stream */
    struct wstream *s;
    int64_t id;
    uint8_t *key; /* key and range_end in one allocation */
    size_t key_len;
    uint8_t *end;
    size_t end_len;
    int prev_kv, no_put, no_delete, progress_notify;
    int unsynced;
    struct store_rev pos; /* next revision to deliver */
    uint64_t last_sent_ms;
};

struct wstream {
    struct wstream *next; /* in the hub */
    struct srv_call *call;
    struct watcher *watchers;
    size_t n_watchers;
    int64_t next_id;
    int in_hub; /* linked in the hub; freed only by the stream's WOP_CLOSE */
};

struct wreq {
    enum wop op;
    struct wstream *s;
    struct srv_call *call; /* WOP_CLOSE: the call whose reference the stream held */
    Etcdserverpb__WatchCreateRequest create; /* key/range_end point into `bytes` */
    int64_t cancel_id;
    int *filters;
    uint8_t bytes[];
};

struct srv_watch_hub {
    struct srv_node *n;
    struct wstream *streams;
    size_t prev_kv_watchers;
    size_t unsynced;
};

/* ---- polling thread: decode and queue ---- */

static void free_wreq(struct srv_req *r)
{
    struct wreq *w = r->watch;
    if (w->op == WOP_CLOSE) { /* the last message of a stream: nothing refers to it now */
        CAIRN_ASSERT(!w->s->in_hub);
        free(w->s);
        srv_call_unref(w->call);
    }
    free(w);
    free(r);
}

static void queue_op(struct srv_call *call, struct wreq *w)
{
    struct srv_req *r = calloc(1, sizeof(*r));
    if (!r) {
        free(w);
        return;
    }
    r->kind = SRV_REQ_WATCH;
    r->call = NULL; /* answered through the stream, never failed as a unary call */
    r->watch = w;
    r->on_free = free_wreq;
    srv_node_submit(srv_call_user(call), r);
}

static void on_open(struct srv_call *call)
{
    struct wstream *s = calloc(1, sizeof(*s));
    struct wreq *w = calloc(1, sizeof(*w));
    if (!s || !w) {
        free(s);
        free(w);
        srv_stream_finish(call, SRV_RESOURCE_EXHAUSTED, "cairn: out of memory");
        return;
    }
    srv_call_ref(call); /* released when the node thread handles WOP_CLOSE */
    s->call = call;
    srv_call_set_data(call, s);
    w->op = WOP_OPEN;
    w->s = s;
    queue_op(call, w);
}

static void on_request(struct srv_call *call, const ProtobufCMessage *msg)
{
    const Etcdserverpb__WatchRequest *req = (const Etcdserverpb__WatchRequest *)msg;
    struct wstream *s = srv_call_get_data(call);
    if (!s)
        return;
    struct wreq *w = NULL;
    if (req->request_union_case == ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST &&
        req->create_request) {
        const Etcdserverpb__WatchCreateRequest *c = req->create_request;
        size_t extra = c->key.len + c->range_end.len + c->n_filters * sizeof(int);
        w = calloc(1, sizeof(*w) + extra);
        if (!w)
            return;
        w->op = WOP_CREATE;
        w->create = *c;
        uint8_t *p = w->bytes;
        if (c->key.len)
            memcpy(p, c->key.data, c->key.len);
        w->create.key.data = p;
        p += c->key.len;
        if (c->range_end.len)
            memcpy(p, c->range_end.data, c->range_end.len);
        w->create.range_end.data = p;
        p += c->range_end.len;
        w->filters = (int *)(void *)p;
        for (size_t i = 0; i < c->n_filters; i++)
            memcpy(p + i * sizeof(int), &c->filters[i], sizeof(int));
        w->create.filters = NULL;
    } else if (req->request_union_case ==
                   ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST &&
               req->cancel_request) {
        w = calloc(1, sizeof(*w));
        if (!w)
            return;
        w->op = WOP_CANCEL;
        w->cancel_id = req->cancel_request->watch_id;
    } else if (req->request_union_case ==
               ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST) {
        w = calloc(1, sizeof(*w));
        if (!w)
            return;
        w->op = WOP_PROGRESS;
    } else {
        return; /* etcd ignores requests it does not understand */
    }
    w->s = s;
    queue_op(call, w);
}

static void on_close(struct srv_call *call, int cancelled)
{
    struct wstream *s = srv_call_get_data(call);
    if (!s)
        return;
    if (!cancelled)
        srv_stream_finish(call, SRV_OK, NULL); /* etcd ends the stream when the client does */
    struct wreq *w = calloc(1, sizeof(*w));
    if (!w)
        return; /* leaks the stream's watchers until shutdown; memory is already short */
    w->op = WOP_CLOSE;
    w->s = s;
    w->call = call;
    queue_op(call, w);
}

/* ---- node thread ---- */

static int in_range(const struct watcher *w, const uint8_t *k, size_t klen)
{
    size_t m = klen < w->key_len ? klen : w->key_len;
    int c = memcmp(k, w->key, m);
    if (c < 0 || (c == 0 && klen < w->key_len))
        return 0; /* below key */
    if (w->end_len == 0)
        return klen == w->key_len && c == 0;
    if (w->end_len == 1 && w->end[0] == 0)
        return 1; /* "\0": every key >= key */
    m = klen < w->end_len ? klen : w->end_len;
    c = memcmp(k, w->end, m);
    return c < 0 || (c == 0 && klen < w->end_len);
}

static int wanted(const struct watcher *w, const Mvccpb__Event *ev)
{
    if (ev->type == MVCCPB__EVENT__EVENT_TYPE__PUT ? w->no_put : w->no_delete)
        return 0;
    return in_range(w, ev->kv->key.data, ev->kv->key.len);
}

static void header(struct srv_watch_hub *h, Etcdserverpb__ResponseHeader *hd, int64_t rev)
{
    etcdserverpb__response_header__init(hd);
    srv_node_header(h->n, hd, rev);
}

static int64_t current_revision(struct srv_watch_hub *h, int64_t *compact_rev)
{
    struct store_read *rd;
    struct store_state st = {0};
    if (store_read_begin(h->n->store, &rd) == 0) {
        store_read_state(rd, &st);
        store_read_end(rd);
    }
    if (compact_rev)
        *compact_rev = st.compact_revision;
    return st.revision;
}

/* Send events; with prev_kv stripped for watchers that did not ask for it. */
static int send_events(struct srv_watch_hub *h, struct watcher *w, Mvccpb__Event **evs, size_t n,
                       int64_t rev)
{
    Etcdserverpb__WatchResponse resp = ETCDSERVERPB__WATCH_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader hd;
    header(h, &hd, rev);
    resp.header = &hd;
    resp.watch_id = w->id;
    Mvccpb__Event *copies = NULL;
    Mvccpb__Event **list = evs;
    if (!w->prev_kv) {
        copies = malloc(n * sizeof(*copies));
        list = malloc(n * sizeof(*list));
        if (!copies || !list) {
            free(copies);
            free(list);
            return CAIRN_ELIMIT; /* treated like a full queue: caught up from disk later */
        }
        for (size_t i = 0; i < n; i++) {
            copies[i] = *evs[i];
            copies[i].prev_kv = NULL;
            list[i] = &copies[i];
        }
    }
    resp.events = list;
    resp.n_events = n;
    int rc = srv_stream_send(w->s->call, &resp.base);
    if (copies) {
        free(copies);
        free(list);
    }
    if (rc == 0)
        w->last_sent_ms = srv_now_ms();
    return rc;
}

static void send_simple(struct srv_watch_hub *h, struct wstream *s, int64_t id, int created,
                        int canceled, int64_t compact_rev, const char *reason)
{
    Etcdserverpb__WatchResponse resp = ETCDSERVERPB__WATCH_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader hd;
    header(h, &hd, current_revision(h, NULL));
    resp.header = &hd;
    resp.watch_id = id;
    resp.created = created;
    resp.canceled = canceled;
    resp.compact_revision = compact_rev;
    resp.cancel_reason = (char *)(reason ? reason : "");
    (void)srv_stream_send(s->call, &resp.base); /* control messages: best effort */
}

static void remove_watcher(struct srv_watch_hub *h, struct wstream *s, struct watcher *w)
{
    for (struct watcher **pp = &s->watchers; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    s->n_watchers--;
    if (w->prev_kv)
        h->prev_kv_watchers--;
    if (w->unsynced)
        h->unsynced--;
    alloc_free(ALLOC_SUBSYS_WATCH_BUFFERS, w->key);
    alloc_free(ALLOC_SUBSYS_WATCH_BUFFERS, w);
}

static struct watcher *find_watcher(struct wstream *s, int64_t id)
{
    for (struct watcher *w = s->watchers; w; w = w->next)
        if (w->id == id)
            return w;
    return NULL;
}

static void mark_unsynced(struct srv_watch_hub *h, struct watcher *w, int64_t rev)
{
    if (!w->unsynced)
        h->unsynced++;
    w->unsynced = 1;
    w->pos.main = rev;
    w->pos.sub = 0;
}

static void create_watcher(struct srv_watch_hub *h, struct wstream *s, struct wreq *rq)
{
    const Etcdserverpb__WatchCreateRequest *c = &rq->create;
    int64_t id = c->watch_id;
    if (id != 0 && find_watcher(s, id)) {
        send_simple(h, s, -1, 1, 1, 0, "etcdserver: duplicate watch ID");
        return;
    }
    if (s->n_watchers >= WATCHERS_PER_STREAM) {
        send_simple(h, s, -1, 1, 1, 0, "cairn: too many watchers on one stream");
        return;
    }
    if (id == 0) {
        while (find_watcher(s, s->next_id))
            s->next_id++;
        id = s->next_id++;
    }
    size_t need = sizeof(struct watcher) + c->key.len + c->range_end.len + 1;
    if (alloc_admit(ALLOC_SUBSYS_WATCH_BUFFERS, need) < 0) {
        char msg[256];
        alloc_memlimit_message(ALLOC_SUBSYS_WATCH_BUFFERS, need, msg, sizeof(msg));
        send_simple(h, s, -1, 1, 1, 0, msg); /* created and cancelled, with the reason */
        return;
    }
    struct watcher *w = alloc_calloc(ALLOC_SUBSYS_WATCH_BUFFERS, 1, sizeof(*w));
    uint8_t *mem = alloc_malloc(ALLOC_SUBSYS_WATCH_BUFFERS, c->key.len + c->range_end.len + 1);
    if (!w || !mem) {
        alloc_free(ALLOC_SUBSYS_WATCH_BUFFERS, w);
        alloc_free(ALLOC_SUBSYS_WATCH_BUFFERS, mem);
        send_simple(h, s, -1, 1, 1, 0, "cairn: out of memory");
        return;
    }
    if (c->key.len)
        memcpy(mem, c->key.data, c->key.len);
    if (c->range_end.len)
        memcpy(mem + c->key.len, c->range_end.data, c->range_end.len);
    w->s = s;
    w->id = id;
    w->key = mem;
    w->key_len = c->key.len;
    w->end = mem + c->key.len;
    w->end_len = c->range_end.len;
    w->prev_kv = c->prev_kv;
    w->progress_notify = c->progress_notify;
    for (size_t i = 0; i < c->n_filters; i++) {
        int f;
        memcpy(&f, (const uint8_t *)rq->filters + i * sizeof(int), sizeof(int));
        w->no_put |= f == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT;
        w->no_delete |= f == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE;
    }
    w->last_sent_ms = srv_now_ms();
    int64_t rev = current_revision(h, NULL);
    w->pos.main = rev + 1;
    if (c->start_revision > 0 && c->start_revision <= rev)
        mark_unsynced(h, w, c->start_revision); /* history first, then live events */
    else if (c->start_revision > rev)
        w->pos.main = c->start_revision; /* a future revision: skip events before it */
    w->next = s->watchers;
    s->watchers = w;
    s->n_watchers++;
    if (w->prev_kv)
        h->prev_kv_watchers++;
    send_simple(h, s, id, 1, 0, 0, NULL);
}

/* Forget a stream's watchers and unlink it; its memory goes with its WOP_CLOSE. */
static void drop_stream(struct srv_watch_hub *h, struct wstream *s)
{
    while (s->watchers)
        remove_watcher(h, s, s->watchers);
    for (struct wstream **pp = &h->streams; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    s->in_hub = 0;
}

void srv_watch_handle(struct srv_watch_hub *h, struct srv_req *r)
{
    struct wreq *rq = r->watch;
    struct wstream *s = rq->s;
    switch (rq->op) {
    case WOP_OPEN:
        s->next = h->streams;
        h->streams = s;
        s->in_hub = 1;
        break;
    case WOP_CREATE:
        if (s->in_hub)
            create_watcher(h, s, rq);
        break;
    case WOP_CANCEL: {
        struct watcher *w = s->in_hub ? find_watcher(s, rq->cancel_id) : NULL;
        if (w) {
            remove_watcher(h, s, w);
            send_simple(h, s, rq->cancel_id, 0, 1, 0, NULL);
        }
        break;
    }
    case WOP_PROGRESS:
        if (s->in_hub)
            send_simple(h, s, -1, 0, 0, 0, NULL);
        break;
    case WOP_CLOSE:
        if (s->in_hub)
            drop_stream(h, s);
        break;
    }
    if (r->on_free)
        r->on_free(r);
}

/* Live events from one applied batch: each synced watcher gets one response per revision
 * group, never splitting a revision (so a watcher falling behind resumes on a boundary). */
void srv_watch_on_events(struct srv_watch_hub *h, const struct store_result *res, size_t n_res,
                         int64_t revision)
{
    if (!h->streams)
        return;
    size_t total = 0;
    for (size_t i = 0; i < n_res; i++)
        total += res[i].skipped ? 0 : res[i].n_events;
    if (total == 0)
        return;
    Mvccpb__Event **buf = malloc(total * sizeof(*buf));
    if (!buf) { /* no memory to fan out: everyone catches up from disk */
        for (struct wstream *s = h->streams; s; s = s->next)
            for (struct watcher *w = s->watchers; w; w = w->next)
                if (!w->unsynced)
                    mark_unsynced(h, w, w->pos.main);
        return;
    }
    for (struct wstream *s = h->streams; s; s = s->next) {
        for (struct watcher *w = s->watchers; w; w = w->next) {
            if (w->unsynced)
                continue;
            size_t n = 0;
            int64_t first_rev = 0;
            for (size_t i = 0; i < n_res; i++) {
                if (res[i].skipped || res[i].revision < w->pos.main)
                    continue;
                for (size_t k = 0; k < res[i].n_events; k++) {
                    if (!wanted(w, res[i].events[k]))
                        continue;
                    if (n == 0)
                        first_rev = res[i].revision;
                    buf[n++] = res[i].events[k];
                }
            }
            if (n > 0 && send_events(h, w, buf, n, revision) < 0) {
                mark_unsynced(h, w, first_rev);
                continue;
            }
            if (revision + 1 > w->pos.main)
                w->pos.main = revision + 1;
        }
    }
    free(buf);
}

/* Feed one unsynced watcher from history; returns when its queue fills or it is synced. */
static void catch_up(struct srv_watch_hub *h, struct wstream *s, struct watcher *w)
{
    struct store_read *rd;
    if (store_read_begin(h->n->store, &rd) < 0)
        return;
    struct store_state st;
    store_read_state(rd, &st);
    Mvccpb__Event **evs = NULL;
    size_t n = 0;
    int64_t compact_rev = 0;
    struct store_rev pos = w->pos;
    struct alloc_arena *a = h->n->batch_arena;
    int rc =
        store_watch_history(rd, w->key, w->key_len, w->end, w->end_len, w->prev_kv, &pos,
                            SRV_WATCH_EVENTS_MAX, alloc_arena_protobuf(a), &evs, &n, &compact_rev);
    if (rc == CAIRN_ECOMPACTED) {
        store_read_end(rd);
        send_simple(h, s, w->id, 0, 1, compact_rev, NULL);
        remove_watcher(h, s, w);
        alloc_arena_reset(a);
        return;
    }
    if (rc < 0) {
        store_read_end(rd);
        alloc_arena_reset(a);
        return;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (wanted(w, evs[i]))
            evs[kept++] = evs[i];
    int sent = kept == 0 || send_events(h, w, evs, kept, st.revision) == 0;
    store_read_end(rd); /* events pointed into the map: sent (packed) above */
    alloc_arena_reset(a);
    if (!sent)
        return; /* still full: try again later from the same position */
    w->pos = pos;
    if (n < SRV_WATCH_EVENTS_MAX) { /* history exhausted up to st.revision */
        w->unsynced = 0;
        h->unsynced--;
        if (w->pos.main < st.revision + 1)
            w->pos.main = st.revision + 1, w->pos.sub = 0;
    }
}

void srv_watch_tick(struct srv_watch_hub *h)
{
    uint64_t now = srv_now_ms();
    int budget = CATCHUP_PER_TICK;
    for (struct wstream *s = h->streams; s; s = s->next) {
        for (struct watcher *w = s->watchers, *next; w; w = next) {
            next = w->next;
            if (w->unsynced && budget > 0) {
                budget--;
                catch_up(h, s, w);
            } else if (!w->unsynced && w->progress_notify &&
                       now - w->last_sent_ms >= PROGRESS_INTERVAL_MS) {
                Etcdserverpb__WatchResponse resp = ETCDSERVERPB__WATCH_RESPONSE__INIT;
                Etcdserverpb__ResponseHeader hd;
                header(h, &hd, current_revision(h, NULL));
                resp.header = &hd;
                resp.watch_id = w->id;
                if (srv_stream_send(s->call, &resp.base) == 0)
                    w->last_sent_ms = now;
            }
        }
    }
}

/* The store was replaced by a snapshot: every watcher catches up from the new history. */
void srv_watch_resync(struct srv_watch_hub *h)
{
    for (struct wstream *s = h->streams; s; s = s->next)
        for (struct watcher *w = s->watchers; w; w = w->next)
            if (!w->unsynced)
                mark_unsynced(h, w, w->pos.main);
}

int srv_watch_wants_prev_kv(const struct srv_watch_hub *h)
{
    return h->prev_kv_watchers > 0;
}

int srv_watch_hub_create(struct srv_node *n, struct srv_watch_hub **out)
{
    struct srv_watch_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return CAIRN_ENOMEM;
    h->n = n;
    *out = h;
    return 0;
}

void srv_watch_hub_destroy(struct srv_watch_hub *h)
{
    if (!h)
        return;
    while (h->streams) {
        struct wstream *s = h->streams;
        srv_stream_finish(s->call, SRV_UNAVAILABLE, "etcdserver: server stopped");
        drop_stream(h, s); /* freed, and its call released, by its WOP_CLOSE */
    }
    free(h);
}

const struct srv_method srv_watch_methods[] = {
    {"/etcdserverpb.Watch/Watch", SRV_BIDI, &etcdserverpb__watch_request__descriptor, on_open,
     on_request, on_close},
};
const size_t srv_watch_n_methods = CAIRN_ARRAY_LEN(srv_watch_methods);
