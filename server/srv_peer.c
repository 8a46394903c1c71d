/* The peer transport's sending side: one Stream call per peer, coalesced sends, acks,
 * reconnects with backoff, drop-and-report when a peer is down, snapshot sender threads. */
#include "srv_peer_int.h"
#include "srv_log.h"

#include "common.h"
#include "srv_peer_wire.h"

#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS        50 /* timer resolution of the transport thread */
#define REPORT_MAX_IDS 64 /* distinct destinations handled per srv_peer_send phase */

struct tag {
    void (*fn)(struct tag *t, int ok);
};

enum stream_state { ST_CONNECTING = 0, ST_UP, ST_DEAD };

struct peer;

struct stream {
    struct peer *p;
    grpc_channel *ch;
    grpc_call *call;
    atomic_int refs;
    struct tag t_start, t_send, t_recv, t_status;
    struct srv_peer_md md;
    grpc_metadata_array recv_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *send_buf, *recv_buf;
    /* under p->mu */
    enum stream_state state;
    int send_in_flight;
    int sent_since_ack;
    uint64_t created_ms, up_ms, first_unacked_ms;
    const char *cancel_reason; /* why we cancelled it ourselves, for the log */
};

struct peer {
    struct srv_peer_transport *t;
    uint64_t id;
    pthread_mutex_t mu;
    char target[SRV_PEER_TARGET_MAX];
    int gone;          /* forgotten: no stream, messages dropped */
    struct stream *st; /* current stream (NULL while backing off) */
    uint64_t retry_at_ms;
    uint64_t backoff_ms;
    grpc_slice *q; /* ring of encoded PeerBatch messages */
    uint32_t q_head, q_len;
    size_t q_bytes;
    int unreachable;    /* report pending */
    int snap_report;    /* 0 none, 1 ok, 2 failed */
    int snap_busy;      /* a snapshot sender thread runs for this peer */
    char last_err[256]; /* last stream failure logged (logged again only when it changes) */
    int refs;           /* streams and snapshot threads referring to it, under t->mu */
};

struct srv_peer_transport {
    struct srv_peer_config cfg;
    grpc_completion_queue *cq;
    pthread_t thread;
    atomic_int stopping;
    atomic_int refused_removed;
    pthread_mutex_t mu; /* peers[] membership, snapshot thread count */
    pthread_cond_t cv;
    struct peer *peers[SRV_PEER_MAX];
    int snap_threads;
    atomic_uint_fast64_t batches_sent, msgs_sent, msgs_dropped, reconnects, snaps_ok, snaps_bad;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wake(struct srv_peer_transport *t)
{
    if (t->cfg.wake)
        t->cfg.wake(t->cfg.user);
}

/* ---- queue (p->mu held) ---- */

static void queue_clear(struct peer *p)
{
    for (uint32_t i = 0; i < p->q_len; i++)
        grpc_slice_unref(p->q[(p->q_head + i) % SRV_PEER_QUEUE_MAX]);
    p->q_len = 0;
    p->q_head = 0;
    p->q_bytes = 0;
}

/* ---- streams ---- */

static void stream_unref(struct stream *s)
{
    int old = atomic_fetch_sub(&s->refs, 1);
    CAIRN_ASSERT(old > 0);
    if (old != 1)
        return;
    CAIRN_ASSERT(s->send_buf == NULL);
    if (s->recv_buf)
        grpc_byte_buffer_destroy(s->recv_buf);
    grpc_metadata_array_destroy(&s->recv_md);
    grpc_metadata_array_destroy(&s->trail_md);
    grpc_slice_unref(s->details);
    if (s->call)
        grpc_call_unref(s->call);
    if (s->ch)
        grpc_channel_destroy(s->ch);
    struct srv_peer_transport *t = s->p->t;
    pthread_mutex_lock(&t->mu);
    s->p->refs--;
    pthread_mutex_unlock(&t->mu);
    free(s);
}

static void start_batch(struct stream *s, const grpc_op *ops, size_t n, struct tag *tag)
{
    atomic_fetch_add(&s->refs, 1);
    grpc_call_error e = grpc_call_start_batch(s->call, ops, n, tag, NULL);
    CAIRN_ASSERT(e == GRPC_CALL_OK);
}

/* Starts the next coalesced send if the stream is up and idle. p->mu held. */
static void kick(struct peer *p)
{
    struct stream *s = p->st;
    if (!s || s->state != ST_UP || s->send_in_flight || p->q_len == 0)
        return;
    grpc_slice slices[64];
    size_t k = 0, bytes = 0;
    while (p->q_len > 0 && k < CAIRN_ARRAY_LEN(slices)) {
        grpc_slice sl = p->q[p->q_head];
        size_t len = GRPC_SLICE_LENGTH(sl);
        if (k > 0 && bytes + len > SRV_PEER_SEND_BYTES)
            break;
        slices[k++] = sl;
        bytes += len;
        p->q_head = (p->q_head + 1) % SRV_PEER_QUEUE_MAX;
        p->q_len--;
        p->q_bytes -= len;
    }
    CAIRN_ASSERT(k > 0);
    /* several slices make one message: their concatenation, i.e. one merged PeerBatch */
    s->send_buf = grpc_raw_byte_buffer_create(slices, k);
    for (size_t i = 0; i < k; i++)
        grpc_slice_unref(slices[i]);
    s->send_in_flight = 1;
    atomic_fetch_add(&p->t->batches_sent, 1);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = s->send_buf;
    start_batch(s, &op, 1, &s->t_send);
}

static void post_recv(struct stream *s)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv_buf;
    start_batch(s, &op, 1, &s->t_recv);
}

static void on_start(struct tag *tg, int ok)
{
    struct stream *s = CAIRN_CONTAINER_OF(tg, struct stream, t_start);
    struct peer *p = s->p;
    pthread_mutex_lock(&p->mu);
    if (ok && s->state == ST_CONNECTING && !p->gone) {
        s->state = ST_UP;
        s->up_ms = now_ms();
        if (p->last_err[0])
            srv_log(SRV_LOG_INFO, "peer %" PRIx64 " (%s): stream up again\n", p->id, p->target);
        p->last_err[0] = '\0';
        post_recv(s);
        kick(p);
    }
    pthread_mutex_unlock(&p->mu);
    stream_unref(s);
}

static void on_send(struct tag *tg, int ok)
{
    struct stream *s = CAIRN_CONTAINER_OF(tg, struct stream, t_send);
    struct peer *p = s->p;
    pthread_mutex_lock(&p->mu);
    grpc_byte_buffer_destroy(s->send_buf);
    s->send_buf = NULL;
    s->send_in_flight = 0;
    if (ok && s->state == ST_UP) {
        if (!s->sent_since_ack) {
            s->sent_since_ack = 1;
            s->first_unacked_ms = now_ms();
        }
        if (p->st == s)
            kick(p);
    } else if (!ok && s->state != ST_DEAD) {
        grpc_call_cancel(s->call, NULL); /* the status batch tells the rest */
    }
    pthread_mutex_unlock(&p->mu);
    stream_unref(s);
}

static void on_recv(struct tag *tg, int ok)
{
    struct stream *s = CAIRN_CONTAINER_OF(tg, struct stream, t_recv);
    struct peer *p = s->p;
    int again = 0;
    pthread_mutex_lock(&p->mu);
    if (ok && s->recv_buf) {
        grpc_byte_buffer_destroy(s->recv_buf);
        s->recv_buf = NULL;
        s->sent_since_ack = 0; /* the receiver is alive and reading */
        again = s->state == ST_UP;
    }
    if (again)
        post_recv(s);
    pthread_mutex_unlock(&p->mu);
    stream_unref(s);
}

/* Classifies a refusal; logs a failure once per distinct message. p->mu held. */
static void note_failure(struct peer *p, struct stream *s)
{
    struct srv_peer_transport *t = p->t;
    char msg[256];
    srv_peer_slice_str(s->details, msg, sizeof(msg));
    if (s->cancel_reason)
        snprintf(msg, sizeof(msg), "%s", s->cancel_reason);
    if (s->status == GRPC_STATUS_FAILED_PRECONDITION && strstr(msg, SRV_PEER_ERR_REMOVED)) {
        if (!atomic_exchange(&t->refused_removed, 1))
            wake(t);
    }
    char line[sizeof(p->last_err)];
    snprintf(line, sizeof(line), "%d %.200s", (int)s->status, msg);
    if (strcmp(line, p->last_err) == 0)
        return;
    snprintf(p->last_err, sizeof(p->last_err), "%s", line);
    if (s->status == GRPC_STATUS_FAILED_PRECONDITION)
        srv_log(SRV_LOG_WARN, "peer %" PRIx64 " (%s) refused our stream: %s\n", p->id, p->target,
                msg);
    else
        srv_log(SRV_LOG_WARN, "peer %" PRIx64 " (%s) unreachable: status %d %s\n", p->id, p->target,
                (int)s->status, msg[0] ? msg : "(no message)");
}

static void on_status(struct tag *tg, int ok)
{
    struct stream *s = CAIRN_CONTAINER_OF(tg, struct stream, t_status);
    struct peer *p = s->p;
    struct srv_peer_transport *t = p->t;
    (void)ok; /* RECV_STATUS_ON_CLIENT always completes with the final status */
    int report = 0;
    pthread_mutex_lock(&p->mu);
    int was_up = s->state == ST_UP;
    s->state = ST_DEAD;
    if (!atomic_load(&t->stopping) && !p->gone)
        note_failure(p, s);
    if (p->st == s) {
        p->st = NULL;
        uint64_t now = now_ms();
        if (was_up && now - s->up_ms > 2 * SRV_PEER_BACKOFF_MAX_MS)
            p->backoff_ms = SRV_PEER_BACKOFF_MIN_MS; /* it worked for a while: retry soon */
        p->retry_at_ms = now + p->backoff_ms;
        p->backoff_ms = p->backoff_ms * 2 > SRV_PEER_BACKOFF_MAX_MS ? SRV_PEER_BACKOFF_MAX_MS
                                                                    : p->backoff_ms * 2;
        if (p->q_len > 0 || was_up) {
            atomic_fetch_add(&t->msgs_dropped, p->q_len);
            queue_clear(p);
            p->unreachable = 1;
            report = 1;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (report)
        wake(t);
    stream_unref(s);
}

/* A new Stream call on a fresh channel. p->mu held; p->st is NULL. */
static void stream_start(struct peer *p)
{
    struct srv_peer_transport *t = p->t;
    CAIRN_ASSERT(p->st == NULL && !p->gone);
    struct stream *s = calloc(1, sizeof(*s));
    if (!s)
        return; /* retried at the next tick */
    s->p = p;
    atomic_init(&s->refs, 1); /* the peer's p->st reference, dropped by on_status */
    s->t_start.fn = on_start;
    s->t_send.fn = on_send;
    s->t_recv.fn = on_recv;
    s->t_status.fn = on_status;
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->recv_md);
    grpc_metadata_array_init(&s->trail_md);
    s->created_ms = now_ms();
    srv_peer_md_init(&s->md, t->cfg.cluster_id, t->cfg.self_id, p->id);
    s->ch = srv_peer_channel(p->target);
    if (s->ch)
        s->call = grpc_channel_create_call(s->ch, NULL, GRPC_PROPAGATE_DEFAULTS, t->cq,
                                           grpc_slice_from_static_string(SRV_PEER_PATH_STREAM),
                                           NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (!s->call) {
        atomic_fetch_sub(&s->refs, 1);
        if (s->ch)
            grpc_channel_destroy(s->ch);
        grpc_metadata_array_destroy(&s->recv_md);
        grpc_metadata_array_destroy(&s->trail_md);
        free(s);
        p->retry_at_ms = now_ms() + SRV_PEER_BACKOFF_MAX_MS;
        return;
    }
    pthread_mutex_lock(&t->mu);
    p->refs++;
    pthread_mutex_unlock(&t->mu);
    p->st = s;
    atomic_fetch_add(&t->reconnects, 1);
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = 3;
    ops[0].data.send_initial_metadata.metadata = s->md.md;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->recv_md;
    start_batch(s, ops, 2, &s->t_start);
    grpc_op st;
    memset(&st, 0, sizeof(st));
    st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    st.data.recv_status_on_client.status = &s->status;
    st.data.recv_status_on_client.status_details = &s->details;
    st.data.recv_status_on_client.trailing_metadata = &s->trail_md;
    /* the initial reference becomes the status batch's: released in on_status */
    grpc_call_error e = grpc_call_start_batch(s->call, &st, 1, &s->t_status, NULL);
    CAIRN_ASSERT(e == GRPC_CALL_OK);
}

/* Timers: connect, liveness, reconnect. p->mu held. */
static void maintain(struct peer *p, uint64_t now)
{
    struct srv_peer_transport *t = p->t;
    struct stream *s = p->st;
    if (!s) {
        if (!p->gone && p->target[0] && now >= p->retry_at_ms)
            stream_start(p);
        return;
    }
    if (s->cancel_reason)
        return; /* cancelled: waiting for the status */
    if (s->state == ST_CONNECTING && now - s->created_ms > t->cfg.connect_timeout_ms) {
        s->cancel_reason = "no connection within the connect timeout";
        grpc_call_cancel(s->call, NULL);
    } else if (s->state == ST_UP && s->sent_since_ack &&
               now - s->first_unacked_ms > t->cfg.dead_after_ms) {
        srv_log(SRV_LOG_WARN,
                "peer %" PRIx64 " (%s): no acknowledgement for %" PRIu64 " ms; reconnecting\n",
                p->id, p->target, now - s->first_unacked_ms);
        s->cancel_reason = "no acknowledgement (peer silent)";
        grpc_call_cancel(s->call, NULL);
    }
}

static void *transport_thread(void *arg)
{
    struct srv_peer_transport *t = arg;
    uint64_t next_tick = now_ms();
    for (;;) {
        gpr_timespec dl =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(TICK_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(t->cq, dl, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            ((struct tag *)ev.tag)->fn(ev.tag, ev.success);
        uint64_t now = now_ms();
        if (now < next_tick || atomic_load(&t->stopping))
            continue;
        next_tick = now + TICK_MS;
        pthread_mutex_lock(&t->mu);
        struct peer *ps[SRV_PEER_MAX];
        memcpy(ps, t->peers, sizeof(ps));
        pthread_mutex_unlock(&t->mu);
        for (size_t i = 0; i < SRV_PEER_MAX; i++) {
            if (!ps[i])
                continue;
            pthread_mutex_lock(&ps[i]->mu);
            maintain(ps[i], now);
            pthread_mutex_unlock(&ps[i]->mu);
        }
    }
    return NULL;
}

/* ---- public ---- */

int srv_peer_create(const struct srv_peer_config *cfg, struct srv_peer_transport **out)
{
    CAIRN_ASSERT(cfg && out && cfg->self_id != 0);
    CAIRN_ASSERT(cfg->dead_after_ms > 0 && cfg->connect_timeout_ms > 0);
    struct srv_peer_transport *t = calloc(1, sizeof(*t));
    if (!t)
        return CAIRN_ENOMEM;
    t->cfg = *cfg;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->cq = grpc_completion_queue_create_for_next(NULL);
    if (pthread_create(&t->thread, NULL, transport_thread, t) != 0) {
        grpc_completion_queue_shutdown(t->cq);
        grpc_completion_queue_destroy(t->cq);
        free(t);
        return CAIRN_ESYSTEM;
    }
    *out = t;
    return 0;
}

static struct peer *find(struct srv_peer_transport *t, uint64_t id)
{
    for (size_t i = 0; i < SRV_PEER_MAX; i++)
        if (t->peers[i] && t->peers[i]->id == id)
            return t->peers[i];
    return NULL;
}

static void peer_free(struct peer *p)
{
    queue_clear(p);
    free(p->q);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int srv_peer_set_addr(struct srv_peer_transport *t, uint64_t id, const char *peer_urls)
{
    CAIRN_ASSERT(id != 0 && id != t->cfg.self_id);
    char target[SRV_PEER_TARGET_MAX];
    if (srv_peer_target(peer_urls, target, sizeof(target)) < 0)
        return CAIRN_EINVAL;
    pthread_mutex_lock(&t->mu);
    struct peer *p = find(t, id);
    if (!p) {
        size_t slot = SRV_PEER_MAX;
        for (size_t i = 0; i < SRV_PEER_MAX && slot == SRV_PEER_MAX; i++)
            if (!t->peers[i])
                slot = i;
        /* reuse the slot of a forgotten peer nothing refers to any more */
        for (size_t i = 0; i < SRV_PEER_MAX && slot == SRV_PEER_MAX; i++)
            if (t->peers[i]->gone && t->peers[i]->refs == 0) {
                peer_free(t->peers[i]);
                t->peers[i] = NULL;
                slot = i;
            }
        p = slot < SRV_PEER_MAX ? calloc(1, sizeof(*p)) : NULL;
        grpc_slice *q = p ? calloc(SRV_PEER_QUEUE_MAX, sizeof(*q)) : NULL;
        if (!q) {
            free(p);
            pthread_mutex_unlock(&t->mu);
            return slot < SRV_PEER_MAX ? CAIRN_ENOMEM : CAIRN_ELIMIT;
        }
        p->t = t;
        p->id = id;
        p->q = q;
        p->backoff_ms = SRV_PEER_BACKOFF_MIN_MS;
        pthread_mutex_init(&p->mu, NULL);
        t->peers[slot] = p;
    }
    pthread_mutex_unlock(&t->mu);
    pthread_mutex_lock(&p->mu);
    p->gone = 0;
    if (strcmp(p->target, target) != 0) {
        if (p->target[0])
            srv_log(SRV_LOG_INFO, "peer %" PRIx64 " moves from %s to %s\n", id, p->target, target);
        snprintf(p->target, sizeof(p->target), "%s", target);
        if (p->st)
            grpc_call_cancel(p->st->call, NULL); /* reconnects to the new address */
        p->retry_at_ms = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void srv_peer_forget(struct srv_peer_transport *t, uint64_t id)
{
    pthread_mutex_lock(&t->mu);
    struct peer *p = find(t, id);
    pthread_mutex_unlock(&t->mu);
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->gone = 1;
    queue_clear(p);
    if (p->st)
        grpc_call_cancel(p->st->call, NULL);
    pthread_mutex_unlock(&p->mu);
}

/* Queues one encoded batch for p; 0, or -1 if it was dropped. p->mu held. */
static int enqueue(struct peer *p, grpc_slice sl, size_t n_msgs)
{
    struct srv_peer_transport *t = p->t;
    size_t len = GRPC_SLICE_LENGTH(sl);
    if (p->gone || !p->st || p->st->state != ST_UP || p->q_len >= SRV_PEER_QUEUE_MAX ||
        p->q_bytes + len > SRV_PEER_QUEUE_BYTES) {
        grpc_slice_unref(sl);
        atomic_fetch_add(&t->msgs_dropped, n_msgs);
        return -1;
    }
    p->q[(p->q_head + p->q_len) % SRV_PEER_QUEUE_MAX] = sl;
    p->q_len++;
    p->q_bytes += len;
    atomic_fetch_add(&t->msgs_sent, n_msgs);
    kick(p);
    return 0;
}

static void *snapshot_thread(void *arg);

struct snap_job {
    struct peer *p;
    struct raft_msg m; /* a clone (malloc) */
};

static void start_snapshot(struct srv_peer_transport *t, struct peer *p, const struct raft_msg *m)
{
    pthread_mutex_lock(&p->mu);
    int busy = p->snap_busy || p->gone;
    if (!busy)
        p->snap_busy = 1;
    pthread_mutex_unlock(&p->mu);
    if (busy)
        return; /* one at a time; the running one's report moves raft on */
    struct snap_job *j = calloc(1, sizeof(*j));
    struct raft_allocator a = {0};
    int ok = j && raft_msg_clone(&a, m, &j->m) == 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    if (ok) {
        j->p = p;
        pthread_mutex_lock(&t->mu);
        t->snap_threads++;
        p->refs++;
        pthread_mutex_unlock(&t->mu);
        if (pthread_create(&th, &attr, snapshot_thread, j) != 0) {
            pthread_mutex_lock(&t->mu);
            t->snap_threads--;
            p->refs--;
            pthread_mutex_unlock(&t->mu);
            raft_msg_free(&a, &j->m);
            ok = 0;
        }
    }
    pthread_attr_destroy(&attr);
    if (!ok) {
        free(j);
        pthread_mutex_lock(&p->mu);
        p->snap_busy = 0;
        p->snap_report = 2;
        pthread_mutex_unlock(&p->mu);
        wake(t);
    }
}

static void *snapshot_thread(void *arg)
{
    struct snap_job *j = arg;
    struct peer *p = j->p;
    struct srv_peer_transport *t = p->t;
    char target[SRV_PEER_TARGET_MAX];
    pthread_mutex_lock(&p->mu);
    memcpy(target, p->target, sizeof(target));
    pthread_mutex_unlock(&p->mu);
    char err[256] = "";
    srv_log(SRV_LOG_INFO, "sending a snapshot to peer %" PRIx64 " (%s)\n", p->id, target);
    uint64_t t0 = now_ms(), bytes = 0;
    int rc = srv_peer_snapshot_send(t->cfg.store, target, t->cfg.cluster_id, &j->m, &t->stopping,
                                    &bytes, err, sizeof(err));
    if (rc == 0)
        srv_log(SRV_LOG_INFO,
                "snapshot sent to peer %" PRIx64 " (%" PRIu64 " bytes in %" PRIu64 " ms)\n", p->id,
                bytes, now_ms() - t0);
    else if (!atomic_load(&t->stopping))
        srv_log(SRV_LOG_WARN, "snapshot to peer %" PRIx64 " failed: %s\n", p->id,
                err[0] ? err : cairn_strerror(rc));
    atomic_fetch_add(rc == 0 ? &t->snaps_ok : &t->snaps_bad, 1);
    pthread_mutex_lock(&p->mu);
    p->snap_busy = 0;
    p->snap_report = rc == 0 ? 1 : 2;
    pthread_mutex_unlock(&p->mu);
    struct raft_allocator a = {0};
    raft_msg_free(&a, &j->m);
    free(j);
    wake(t);
    pthread_mutex_lock(&t->mu);
    p->refs--;
    t->snap_threads--;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

size_t srv_peer_send(struct srv_peer_transport *t, const struct raft_msg *msgs, size_t n, int phase,
                     uint64_t *unreachable, size_t cap)
{
    CAIRN_ASSERT(t && (msgs || n == 0));
    size_t n_unr = 0;
    uint64_t done[REPORT_MAX_IDS];
    size_t n_done = 0;
    size_t *idx = n ? malloc(n * sizeof(*idx)) : NULL;
    for (size_t first = 0; first < n; first++) {
        const struct raft_msg *m0 = &msgs[first];
        if ((m0->after_persist != 0) != (phase != 0))
            continue;
        uint64_t to = m0->to;
        int seen = 0;
        for (size_t k = 0; k < n_done; k++)
            seen |= done[k] == to;
        if (seen)
            continue;
        if (n_done < REPORT_MAX_IDS)
            done[n_done++] = to;
        pthread_mutex_lock(&t->mu);
        struct peer *p = find(t, to);
        pthread_mutex_unlock(&t->mu);
        size_t cnt = 0;
        for (size_t i = first; i < n; i++) {
            const struct raft_msg *m = &msgs[i];
            if (m->to != to || (m->after_persist != 0) != (phase != 0))
                continue;
            if (m->type == RAFT_MSG_SNAP) {
                if (p)
                    start_snapshot(t, p, m);
                continue;
            }
            if (idx)
                idx[cnt++] = i;
        }
        int dropped = !p || !idx;
        /* encode in slices of at most SRV_PEER_SEND_BYTES (one message may exceed it) */
        for (size_t lo = 0; !dropped && lo < cnt;) {
            size_t hi = lo, bytes = 0;
            while (hi < cnt) {
                size_t one = srv_peer_wire_batch_size(msgs, &idx[hi], 1);
                if (hi > lo && bytes + one > SRV_PEER_SEND_BYTES)
                    break;
                bytes += one;
                hi++;
            }
            grpc_slice sl = grpc_slice_malloc(bytes);
            size_t w = srv_peer_wire_batch_pack(msgs, &idx[lo], hi - lo, GRPC_SLICE_START_PTR(sl));
            CAIRN_ASSERT(w == bytes);
            pthread_mutex_lock(&p->mu);
            dropped = enqueue(p, sl, hi - lo) < 0;
            pthread_mutex_unlock(&p->mu);
            lo = hi;
        }
        if (dropped && cnt > 0) {
            if (!p)
                atomic_fetch_add(&t->msgs_dropped, cnt);
            if (n_unr < cap)
                unreachable[n_unr++] = to;
        }
    }
    free(idx);
    return n_unr;
}

size_t srv_peer_reports(struct srv_peer_transport *t, struct srv_peer_report *out, size_t cap)
{
    size_t k = 0;
    pthread_mutex_lock(&t->mu);
    struct peer *ps[SRV_PEER_MAX];
    memcpy(ps, t->peers, sizeof(ps));
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < SRV_PEER_MAX && k < cap; i++) {
        struct peer *p = ps[i];
        if (!p)
            continue;
        pthread_mutex_lock(&p->mu);
        if (p->unreachable && k < cap) {
            out[k++] = (struct srv_peer_report){p->id, SRV_PEER_UNREACHABLE, 0};
            p->unreachable = 0;
        }
        if (p->snap_report && k < cap) {
            out[k++] = (struct srv_peer_report){p->id, SRV_PEER_SNAPSHOT, p->snap_report == 1};
            p->snap_report = 0;
        }
        pthread_mutex_unlock(&p->mu);
    }
    return k;
}

int srv_peer_refused_removed(const struct srv_peer_transport *t)
{
    return atomic_load(&t->refused_removed);
}

void srv_peer_stats(struct srv_peer_transport *t, struct srv_peer_stats *out)
{
    out->batches_sent = atomic_load(&t->batches_sent);
    out->msgs_sent = atomic_load(&t->msgs_sent);
    out->msgs_dropped = atomic_load(&t->msgs_dropped);
    out->reconnects = atomic_load(&t->reconnects);
    out->snapshots_ok = atomic_load(&t->snaps_ok);
    out->snapshots_bad = atomic_load(&t->snaps_bad);
}

void srv_peer_destroy(struct srv_peer_transport *t)
{
    if (!t)
        return;
    atomic_store(&t->stopping, 1);
    pthread_mutex_lock(&t->mu);
    struct peer *ps[SRV_PEER_MAX];
    memcpy(ps, t->peers, sizeof(ps));
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < SRV_PEER_MAX; i++) {
        if (!ps[i])
            continue;
        pthread_mutex_lock(&ps[i]->mu);
        ps[i]->gone = 1;
        queue_clear(ps[i]);
        if (ps[i]->st)
            grpc_call_cancel(ps[i]->st->call, NULL);
        pthread_mutex_unlock(&ps[i]->mu);
    }
    /* snapshot threads poll `stopping` between chunks and end within a stall bound */
    pthread_mutex_lock(&t->mu);
    while (t->snap_threads > 0)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    /* streams end once their status arrives; the transport thread still polls for it */
    for (int i = 0; i < 2000; i++) {
        int live = 0;
        pthread_mutex_lock(&t->mu);
        for (size_t k = 0; k < SRV_PEER_MAX; k++)
            live += t->peers[k] ? t->peers[k]->refs : 0;
        pthread_mutex_unlock(&t->mu);
        if (!live)
            break;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL); /* waiting for gRPC to finish cancelled calls, bounded */
    }
    grpc_completion_queue_shutdown(t->cq);
    pthread_join(t->thread, NULL);
    grpc_completion_queue_destroy(t->cq);
    for (size_t i = 0; i < SRV_PEER_MAX; i++)
        if (t->peers[i])
            peer_free(t->peers[i]);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}
