/* Synchronous in-process calls: a waiter on the caller's stack, woken by the call's end. */
#include "embed.h"

#include "client.h"

#include <string.h>

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    embed_copy_fn copy;
    void *arg;
    int copy_rc;
    int got_message;
    int done;
    int code; /* gRPC status */
    char msg[CAIRN_CLIENT_MESSAGE_MAX];
    int stream; /* the first message answers: later ones are ignored */
};

static void wake(struct waiter *w)
{
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int on_message(void *arg, const ProtobufCMessage *msg)
{
    struct waiter *w = arg;
    if (w->got_message)
        return 0; /* a stream's later messages: the caller has its answer */
    w->got_message = 1;
    w->copy_rc = w->copy ? w->copy(w->arg, msg) : 0;
    if (w->stream)
        wake(w);
    return 0;
}

static void on_end(void *arg, enum srv_status code, const char *message)
{
    struct waiter *w = arg;
    if (w->stream && w->got_message)
        return; /* answered already; the caller may have returned */
    w->code = (int)code;
    if (message) /* only failures carry one: no formatting on the common path */
        snprintf(w->msg, sizeof(w->msg), "%s", message);
    wake(w);
}

int embed_call(struct cairn_node *nd, enum embed_method m, const ProtobufCMessage *req,
               embed_copy_fn copy, void *arg)
{
    return embed_call_flags(nd, m, req, 0, copy, arg);
}

int embed_call_flags(struct cairn_node *nd, enum embed_method m, const ProtobufCMessage *req,
                     unsigned flags, embed_copy_fn copy, void *arg)
{
    CAIRN_ASSERT(nd != NULL && m < EMBED_METHOD_COUNT);
    const struct srv_method *method = nd->methods[m];
    CAIRN_ASSERT(method != NULL && req->descriptor == method->req_desc);
    struct waiter w;
    memset(&w, 0, sizeof(w));
    w.copy = copy;
    w.arg = arg;
    w.stream = method->kind != SRV_UNARY;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    struct srv_local_sink sink = {.message = on_message, .end = on_end, .arg = &w};
    struct srv_call *call;
    int rc = embed_enter(nd);
    if (rc == 0) {
        rc = srv_local_open(method, nd->srv, &sink, &call);
        if (rc < 0)
            embed_leave(nd);
    }
    if (rc < 0) {
        pthread_cond_destroy(&w.cv);
        pthread_mutex_destroy(&w.mu);
        return embed_error(rc, "%s",
                           rc == CAIRN_ESTOPPED ? "the node is closing" : cairn_strerror(rc));
    }
    if (flags)
        srv_local_set_flags(call, flags);
    srv_local_request(call, req);
    embed_leave(nd); /* what is left runs on the node thread, or is done */
    /* bounded: the node answers every request (its own timeouts, or "server stopped") */
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    srv_local_close(call); /* a stream: cancelled, so no message reaches w after this */
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    if (!w.got_message || w.code != 0) {
        rc = client_status_to_error(w.code, w.msg);
        if (rc == 0) /* a stream that ended OK without answering */
            rc = CAIRN_ESTOPPED;
        return embed_error(rc, "%s", w.msg[0] ? w.msg : cairn_strerror(rc));
    }
    if (w.copy_rc < 0)
        return embed_error(w.copy_rc, "%s", cairn_strerror(w.copy_rc));
    embed_clear_error();
    return 0;
}
