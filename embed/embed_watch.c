/*
 * Watches: one in-process Watch stream per cairn_watcher, and one watch thread per node that
 * runs the callbacks.
 *
 * The hub (node thread) hands each WatchResponse to the watcher's sink, which copies it into
 * one flat block (events and their bytes) on a bounded per-watcher queue. Past the bound
 * the sink refuses (CAIRN_ELIMIT) and the hub marks the watcher unsynced, to be caught up
 * from the store's history later: the node thread never waits for a callback.
 *
 * Lock order: a call's lock (held around sink functions) before wt->mu. Nothing calls into a
 * call (srv_local_*) while holding wt->mu.
 */
#include "embed.h"

#include "alloc.h"

#include "mvccpb/kv.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WATCH_QUEUE_BATCHES  64    /* event batches queued per watcher (cairn.h promises it) */
#define WATCH_CREATE_WAIT_MS 10000 /* the node answers a create well within this */
#define WATCH_CONTROL_MAX    4     /* end batches per watcher: only the first is delivered */

struct wbatch {
    struct wbatch *next;
    struct cairn_watch_batch b;
    size_t n_events;
    /* struct cairn_event events[n_events], then the keys and values */
};

struct embed_watch_thread {
    pthread_mutex_t mu;
    pthread_cond_t work; /* batches are ready, or stop */
    pthread_cond_t done; /* a callback returned, or a create was answered */
    pthread_t thread;
    int stop;
    struct cairn_watcher *ready_head, *ready_tail; /* watchers with queued batches */
    struct cairn_watcher *all;                     /* every live watcher */
};

struct cairn_watcher {
    cairn_node *nd;
    struct embed_watch_thread *wt;
    struct srv_call *call;
    struct srv_local_sink sink;
    cairn_watch_fn fn;
    void *arg;
    /* under wt->mu */
    struct wbatch *q_head, *q_tail;
    uint32_t q_events;  /* event batches queued (bounded) */
    uint32_t q_control; /* end batches queued */
    int on_ready;
    struct cairn_watcher *ready_next;
    struct cairn_watcher *all_next, *all_prev;
    int in_callback;
    int cancelled;
    int ended;         /* an end batch is queued or delivered: nothing after it */
    int free_after_cb; /* cancelled from its own callback */
    int create_state;  /* 0 pending, 1 created, < 0 refused (the code) */
    int64_t create_compact_rev;
    char create_msg[160];
};

/* ---- sink (node thread or caller's thread, under the call's lock) ---- */

static size_t kv_bytes(const Mvccpb__KeyValue *kv)
{
    return kv ? kv->key.len + kv->value.len : 0;
}

static void kv_copy(const Mvccpb__KeyValue *kv, struct cairn_kv *out, uint8_t **p)
{
    embed_kv_from_pb(kv, out);
    if (kv->key.len)
        memcpy(*p, kv->key.data, kv->key.len);
    out->key = *p;
    *p += kv->key.len;
    if (kv->value.len)
        memcpy(*p, kv->value.data, kv->value.len);
    out->value = *p;
    *p += kv->value.len;
}

static struct wbatch *batch_new(const Etcdserverpb__WatchResponse *r, int end)
{
    size_t n = r ? r->n_events : 0;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += kv_bytes(r->events[i]->kv) + kv_bytes(r->events[i]->prev_kv);
    struct wbatch *b = alloc_malloc(ALLOC_SUBSYS_WATCH_BUFFERS,
                                    sizeof(*b) + n * sizeof(struct cairn_event) + bytes);
    if (!b)
        return NULL;
    memset(b, 0, sizeof(*b));
    struct cairn_event *ev = (struct cairn_event *)(void *)(b + 1);
    uint8_t *p = (uint8_t *)(ev + n);
    for (size_t i = 0; i < n; i++) {
        const Mvccpb__Event *e = r->events[i];
        memset(&ev[i], 0, sizeof(ev[i]));
        ev[i].type =
            e->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? CAIRN_EVENT_DELETE : CAIRN_EVENT_PUT;
        if (e->kv)
            kv_copy(e->kv, &ev[i].kv, &p);
        if (e->prev_kv) {
            kv_copy(e->prev_kv, &ev[i].prev_kv, &p);
            ev[i].has_prev_kv = 1;
        }
    }
    b->n_events = n;
    b->b.events = n ? ev : NULL;
    b->b.n_events = n;
    b->b.revision = r && r->header ? r->header->revision : 0;
    b->b.end = end;
    b->b.compact_revision = r ? r->compact_revision : 0;
    return b;
}

/* Under wt->mu: w joins the end of the ready list. */
static void ready_push(struct embed_watch_thread *wt, struct cairn_watcher *w)
{
    CAIRN_ASSERT(!w->on_ready);
    w->on_ready = 1;
    w->ready_next = NULL;
    if (wt->ready_tail)
        wt->ready_tail->ready_next = w;
    else
        wt->ready_head = w;
    wt->ready_tail = w;
}

/* Under wt->mu. */
static void enqueue(struct cairn_watcher *w, struct wbatch *b)
{
    struct embed_watch_thread *wt = w->wt;
    if (w->q_tail)
        w->q_tail->next = b;
    else
        w->q_head = b;
    w->q_tail = b;
    if (b->b.end)
        w->q_control++;
    else
        w->q_events++;
    if (!w->on_ready)
        ready_push(wt, w);
    pthread_cond_signal(&wt->work);
}

/* Under wt->mu: queue the watch's end (once). An allocation failure still ends the watch. */
static void end_watch(struct cairn_watcher *w, int code, int64_t compact_rev)
{
    if (w->ended || w->cancelled)
        return;
    w->ended = 1;
    Etcdserverpb__WatchResponse r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
    r.compact_revision = compact_rev;
    struct wbatch *b = batch_new(&r, code);
    if (b)
        enqueue(w, b);
}

static int sink_message(void *arg, const ProtobufCMessage *msg)
{
    struct cairn_watcher *w = arg;
    const Etcdserverpb__WatchResponse *r = (const Etcdserverpb__WatchResponse *)msg;
    struct embed_watch_thread *wt = w->wt;
    int rc = 0;
    pthread_mutex_lock(&wt->mu);
    if (w->create_state == 0) {
        if (r->created && !r->canceled) {
            w->create_state = 1;
        } else if (r->canceled) {
            w->create_state = r->compact_revision > 0 ? CAIRN_ECOMPACTED : CAIRN_EINVAL;
            w->create_compact_rev = r->compact_revision;
            snprintf(w->create_msg, sizeof(w->create_msg), "%s",
                     r->cancel_reason && r->cancel_reason[0] ? r->cancel_reason
                                                             : "the watch was refused");
        }
        pthread_cond_broadcast(&wt->done);
    } else if (w->cancelled || w->ended) {
        /* nobody listens any more */
    } else if (r->canceled) {
        end_watch(w, r->compact_revision > 0 ? CAIRN_ECOMPACTED : CAIRN_ECANCELED,
                  r->compact_revision);
    } else if (w->q_events >= WATCH_QUEUE_BATCHES) {
        rc = r->n_events > 0 ? CAIRN_ELIMIT : 0; /* a progress note may be dropped */
    } else {
        struct wbatch *b = batch_new(r, 0);
        if (b)
            enqueue(w, b);
        else
            rc = CAIRN_ELIMIT; /* short of memory: caught up from history later */
    }
    pthread_mutex_unlock(&wt->mu);
    return rc;
}

static void sink_end(void *arg, enum srv_status code, const char *message)
{
    struct cairn_watcher *w = arg;
    struct embed_watch_thread *wt = w->wt;
    pthread_mutex_lock(&wt->mu);
    if (w->create_state == 0) {
        w->create_state = CAIRN_ESTOPPED;
        snprintf(w->create_msg, sizeof(w->create_msg), "%s",
                 message ? message : "the watch stream ended");
        pthread_cond_broadcast(&wt->done);
    } else {
        (void)code;
        end_watch(w, CAIRN_ESTOPPED, 0);
    }
    pthread_mutex_unlock(&wt->mu);
}

/* ---- the watch thread ---- */

static void unlink_watcher(struct embed_watch_thread *wt, struct cairn_watcher *w)
{
    if (w->all_prev)
        w->all_prev->all_next = w->all_next;
    else
        wt->all = w->all_next;
    if (w->all_next)
        w->all_next->all_prev = w->all_prev;
    if (w->on_ready) { /* bounded by the number of watchers */
        struct cairn_watcher **pp = &wt->ready_head, *prev = NULL;
        while (*pp && *pp != w) {
            prev = *pp;
            pp = &(*pp)->ready_next;
        }
        CAIRN_ASSERT(*pp == w);
        *pp = w->ready_next;
        if (wt->ready_tail == w)
            wt->ready_tail = prev;
        w->on_ready = 0;
    }
}

static void drop_queue(struct cairn_watcher *w)
{
    for (struct wbatch *b = w->q_head, *next; b; b = next) {
        next = b->next;
        alloc_free(ALLOC_SUBSYS_WATCH_BUFFERS, b);
    }
    w->q_head = w->q_tail = NULL;
    w->q_events = w->q_control = 0;
}

static void watcher_free(struct cairn_watcher *w)
{
    srv_local_close(w->call); /* no sink call reaches w after this */
    pthread_mutex_lock(&w->wt->mu);
    drop_queue(w);
    pthread_mutex_unlock(&w->wt->mu);
    free(w);
}

static void *watch_thread(void *arg)
{
    struct embed_watch_thread *wt = arg;
    pthread_mutex_lock(&wt->mu);
    for (;;) {
        struct cairn_watcher *w = wt->ready_head;
        if (!w) {
            if (wt->stop)
                break;
            pthread_cond_wait(&wt->work, &wt->mu);
            continue;
        }
        /* one batch per turn, round robin: a busy watcher does not starve the others */
        wt->ready_head = w->ready_next;
        if (!wt->ready_head)
            wt->ready_tail = NULL;
        w->on_ready = 0;
        struct wbatch *b = w->q_head;
        CAIRN_ASSERT(b != NULL);
        w->q_head = b->next;
        if (!w->q_head)
            w->q_tail = NULL;
        if (b->b.end)
            w->q_control--;
        else
            w->q_events--;
        if (w->q_head)
            ready_push(wt, w); /* to the back: the others get their turn first */
        if (!w->cancelled) {
            w->in_callback = 1;
            pthread_mutex_unlock(&wt->mu);
            w->fn(w->arg, &b->b);
            pthread_mutex_lock(&wt->mu);
            w->in_callback = 0;
        }
        if (b->b.end) /* the end is the last thing a watcher hears */
            drop_queue(w);
        alloc_free(ALLOC_SUBSYS_WATCH_BUFFERS, b);
        if (w->free_after_cb) {
            unlink_watcher(wt, w);
            pthread_mutex_unlock(&wt->mu);
            watcher_free(w);
            pthread_mutex_lock(&wt->mu);
        }
        pthread_cond_broadcast(&wt->done);
    }
    pthread_mutex_unlock(&wt->mu);
    return NULL;
}

static int start_thread(cairn_node *nd)
{
    pthread_mutex_lock(&nd->wt_mu);
    int rc = 0;
    if (!nd->wt) {
        struct embed_watch_thread *wt = calloc(1, sizeof(*wt));
        if (!wt) {
            rc = CAIRN_ENOMEM;
        } else {
            pthread_mutex_init(&wt->mu, NULL);
            pthread_cond_init(&wt->work, NULL);
            pthread_condattr_t ca;
            pthread_condattr_init(&ca);
            pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
            pthread_cond_init(&wt->done, &ca);
            pthread_condattr_destroy(&ca);
            if (pthread_create(&wt->thread, NULL, watch_thread, wt) != 0) {
                pthread_cond_destroy(&wt->work);
                pthread_cond_destroy(&wt->done);
                pthread_mutex_destroy(&wt->mu);
                free(wt);
                rc = CAIRN_ESYSTEM;
            } else {
                nd->wt = wt;
            }
        }
    }
    pthread_mutex_unlock(&nd->wt_mu);
    return rc;
}

/* ---- public ---- */

/* Wait (bounded) for the hub's answer to the create request. Under wt->mu. */
static void wait_created(struct embed_watch_thread *wt, struct cairn_watcher *w)
{
    struct timespec ts = cairn_deadline_after_ms(WATCH_CREATE_WAIT_MS);
    while (w->create_state == 0)
        if (pthread_cond_timedwait(&wt->done, &wt->mu, &ts) == ETIMEDOUT)
            break;
}

int cairn_watch(cairn_node *nd, const void *key, size_t key_len,
                const struct cairn_watch_options *opts, cairn_watch_fn fn, void *arg,
                cairn_watcher **out)
{
    CAIRN_ASSERT(nd != NULL && out != NULL);
    *out = NULL;
    if (!fn)
        return embed_error(CAIRN_EINVAL, "a watch needs a callback");
    if (!key && key_len)
        return embed_error(CAIRN_EINVAL, "key is NULL with a non-zero length");
    struct cairn_watch_options o;
    memset(&o, 0, sizeof(o));
    if (opts)
        o = *opts;
    if (o.start_revision < 0)
        return embed_error(CAIRN_EINVAL, "start_revision must be >= 0");
    if (!o.prefix && !o.range_end && o.range_end_len)
        return embed_error(CAIRN_EINVAL, "range_end is NULL with a non-zero length");
    int rc = start_thread(nd);
    if (rc < 0)
        return embed_error(rc, "cannot start the watch thread: %s", cairn_strerror(rc));
    struct embed_watch_thread *wt = nd->wt;
    /* the request, with its range end; the hub copies what it keeps */
    uint8_t *end = NULL;
    size_t end_len = 0;
    if (o.prefix) {
        end = malloc(key_len + 1);
        if (!end)
            return embed_error(CAIRN_ENOMEM, "out of memory");
        end_len = embed_prefix_end(key, key_len, end);
    }
    struct cairn_watcher *w = calloc(1, sizeof(*w));
    if (!w) {
        free(end);
        return embed_error(CAIRN_ENOMEM, "out of memory");
    }
    w->nd = nd;
    w->wt = wt;
    w->fn = fn;
    w->arg = arg;
    w->sink.message = sink_message;
    w->sink.end = sink_end;
    w->sink.arg = w;
    pthread_mutex_lock(&wt->mu);
    w->all_next = wt->all;
    if (wt->all)
        wt->all->all_prev = w;
    wt->all = w;
    pthread_mutex_unlock(&wt->mu);
    rc = embed_enter(nd);
    if (rc == 0) {
        rc = srv_local_open(nd->methods[EMBED_WATCH], nd->srv, &w->sink, &w->call);
        if (rc < 0)
            embed_leave(nd);
    }
    if (rc < 0) {
        pthread_mutex_lock(&wt->mu);
        unlink_watcher(wt, w);
        pthread_mutex_unlock(&wt->mu);
        free(w);
        free(end);
        return embed_error(rc, "%s", cairn_strerror(rc));
    }
    Etcdserverpb__WatchCreateRequest create = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
    create.key.data = (uint8_t *)(uintptr_t)key;
    create.key.len = key_len;
    if (end) {
        create.range_end.data = end;
        create.range_end.len = end_len;
    } else if (o.range_end) {
        create.range_end.data = (uint8_t *)(uintptr_t)o.range_end;
        create.range_end.len = o.range_end_len;
    }
    create.start_revision = o.start_revision;
    create.prev_kv = o.prev_kv != 0;
    create.progress_notify = o.progress_notify != 0;
    Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
    req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
    req.create_request = &create;
    srv_local_request(w->call, &req.base);
    free(end);
    pthread_mutex_lock(&wt->mu);
    wait_created(wt, w);
    int state = w->create_state;
    char msg[sizeof(w->create_msg)];
    memcpy(msg, w->create_msg, sizeof(msg));
    int64_t compact_rev = w->create_compact_rev;
    if (state != 1) {
        w->cancelled = 1;
        unlink_watcher(wt, w);
    }
    pthread_mutex_unlock(&wt->mu);
    /* held until here: cairn_close must not free the watcher while it is being created */
    embed_leave(nd);
    if (state == 1) {
        *out = w;
        embed_clear_error();
        return 0;
    }
    watcher_free(w);
    if (state == 0)
        return embed_error(CAIRN_ETIMEOUT, "the node did not register the watch in time");
    if (state == CAIRN_ECOMPACTED)
        return embed_error(state, "%s (compact revision %lld)", msg, (long long)compact_rev);
    return embed_error(state, "%s", msg);
}

void cairn_watch_cancel(cairn_watcher *w)
{
    if (!w)
        return;
    struct embed_watch_thread *wt = w->wt;
    pthread_mutex_lock(&wt->mu);
    CAIRN_ASSERT(!w->cancelled);
    w->cancelled = 1;
    drop_queue(w);
    if (w->in_callback && pthread_equal(pthread_self(), wt->thread)) {
        w->free_after_cb = 1; /* from its own callback: the watch thread frees it after */
        pthread_mutex_unlock(&wt->mu);
        return;
    }
    while (w->in_callback) /* bounded by the callback's own duration */
        pthread_cond_wait(&wt->done, &wt->mu);
    unlink_watcher(wt, w);
    pthread_mutex_unlock(&wt->mu);
    watcher_free(w);
}

void embed_watch_shutdown(cairn_node *nd)
{
    struct embed_watch_thread *wt = nd->wt;
    if (!wt)
        return;
    /* every watcher hears the end, then the thread delivers what is queued and stops */
    pthread_mutex_lock(&wt->mu);
    for (struct cairn_watcher *w = wt->all; w; w = w->all_next)
        end_watch(w, CAIRN_ESTOPPED, 0);
    wt->stop = 1;
    pthread_cond_signal(&wt->work);
    pthread_mutex_unlock(&wt->mu);
    pthread_join(wt->thread, NULL);
    /* the thread is gone: nothing else touches the list now but the sinks, closed here */
    for (size_t guard = 0; wt->all && guard < ((size_t)1 << 30); guard++) {
        pthread_mutex_lock(&wt->mu);
        struct cairn_watcher *w = wt->all;
        w->cancelled = 1;
        unlink_watcher(wt, w);
        pthread_mutex_unlock(&wt->mu);
        watcher_free(w);
    }
    pthread_cond_destroy(&wt->work);
    pthread_cond_destroy(&wt->done);
    pthread_mutex_destroy(&wt->mu);
    free(wt);
    nd->wt = NULL;
}
