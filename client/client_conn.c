/* The client object, its channels (one per endpoint) and the wait for a usable connection. */
#include "client.h"

#include "common.h"

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <limits.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reconnect backoff: grpc's default starts at 1 s and grows to 120 s, far too slow for a
 * client that comes back to an endpoint after failing over away from it. Note grpc 1.51
 * uses GRPC_ARG_MIN_RECONNECT_BACKOFF_MS as the timeout of one connection attempt: it gets
 * the dial timeout (a small value there aborted handshakes on a loaded machine). */
#define CLIENT_RECONNECT_INITIAL_MS 100
#define CLIENT_RECONNECT_MAX_MS     1000
/* Bound on connectivity-state changes observed while dialing one endpoint. */
#define CLIENT_DIAL_STATE_CHANGES_MAX 64

void cairn_client_options_init(struct cairn_client_options *opts)
{
    CAIRN_ASSERT(opts != NULL);
    memset(opts, 0, sizeof(*opts));
    opts->dial_timeout_ms = CAIRN_CLIENT_DIAL_TIMEOUT_MS_DEFAULT;
    opts->command_timeout_ms = CAIRN_CLIENT_COMMAND_TIMEOUT_MS_DEFAULT;
}

int cairn_client_open(const struct cairn_client_options *opts, cairn_client **out)
{
    CAIRN_ASSERT(out != NULL);
    struct cairn_client_options defaults;
    if (!opts) {
        cairn_client_options_init(&defaults);
        opts = &defaults;
    }
    *out = NULL;
    cairn_client *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return CAIRN_ENOMEM;
    int rc = client_endpoints_resolve(&cl->ep, opts->endpoints);
    for (size_t i = 0; rc == 0 && i < cl->ep.n; i++) {
        if (cl->ep.url[i].tls)
            rc = CAIRN_EINVAL; /* https:// needs TLS credentials, not supported yet */
        else
            rc = cairn_url_hostport(&cl->ep.url[i], cl->chan[i].target, sizeof(cl->chan[i].target));
    }
    if (rc < 0) {
        free(cl);
        return rc;
    }
    CAIRN_ASSERT(cl->ep.n > 0 && cl->ep.n <= CLIENT_ENDPOINTS_MAX);
    cl->dial_timeout_ms =
        opts->dial_timeout_ms > 0 ? opts->dial_timeout_ms : CAIRN_CLIENT_DIAL_TIMEOUT_MS_DEFAULT;
    cl->command_timeout_ms = opts->command_timeout_ms > 0 ? opts->command_timeout_ms
                                                          : CAIRN_CLIENT_COMMAND_TIMEOUT_MS_DEFAULT;
    cl->keepalive_time_ms = opts->keepalive_time_ms > 0 ? opts->keepalive_time_ms : 0;
    cl->keepalive_timeout_ms = opts->keepalive_timeout_ms > 0 ? opts->keepalive_timeout_ms : 0;
    cl->max_recv_bytes = opts->max_recv_bytes > 0 ? opts->max_recv_bytes : INT32_MAX;
    if (pthread_mutex_init(&cl->mu, NULL) != 0) {
        free(cl);
        return CAIRN_ENOMEM;
    }
    grpc_init();
    *out = cl;
    return 0;
}

void cairn_client_close(cairn_client *cl)
{
    if (!cl)
        return;
    CAIRN_ASSERT(cl->ep.n <= CLIENT_ENDPOINTS_MAX);
    for (size_t i = 0; i < cl->ep.n; i++)
        if (cl->chan[i].ch)
            grpc_channel_destroy(cl->chan[i].ch);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
    grpc_shutdown();
}

size_t cairn_client_endpoint_count(const cairn_client *cl)
{
    CAIRN_ASSERT(cl != NULL);
    return cl->ep.n;
}

const char *cairn_client_endpoint(const cairn_client *cl, size_t i)
{
    CAIRN_ASSERT(cl != NULL && i < cl->ep.n);
    return cl->chan[i].target;
}

size_t cairn_client_current_endpoint(cairn_client *cl)
{
    CAIRN_ASSERT(cl != NULL);
    pthread_mutex_lock(&cl->mu);
    size_t cur = cl->ep.current;
    pthread_mutex_unlock(&cl->mu);
    CAIRN_ASSERT(cur < cl->ep.n);
    return cur;
}

void cairn_client_free(void *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
}

gpr_timespec client_deadline(int64_t timeout_ms)
{
    if (timeout_ms < 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

static grpc_channel *channel_create(const cairn_client *cl, const char *target)
{
    grpc_arg args[8];
    size_t n = 0;
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[n++].value.integer = cl->max_recv_bytes;
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_ARG_MIN_RECONNECT_BACKOFF_MS;
    args[n++].value.integer = (int)(cl->dial_timeout_ms > INT_MAX ? INT_MAX : cl->dial_timeout_ms);
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[n++].value.integer = CLIENT_RECONNECT_INITIAL_MS;
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[n++].value.integer = CLIENT_RECONNECT_MAX_MS;
    /* Each client gets its own connections: failover state must not leak between clients. */
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[n++].value.integer = 1;
    if (cl->keepalive_time_ms > 0) {
        args[n].type = GRPC_ARG_INTEGER;
        args[n].key = (char *)GRPC_ARG_KEEPALIVE_TIME_MS;
        args[n++].value.integer =
            (int)(cl->keepalive_time_ms > INT_MAX ? INT_MAX : cl->keepalive_time_ms);
        if (cl->keepalive_timeout_ms > 0) {
            args[n].type = GRPC_ARG_INTEGER;
            args[n].key = (char *)GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
            args[n++].value.integer =
                (int)(cl->keepalive_timeout_ms > INT_MAX ? INT_MAX : cl->keepalive_timeout_ms);
        }
    }
    CAIRN_ASSERT(n <= CAIRN_ARRAY_LEN(args));
    grpc_channel_args ca = {.num_args = n, .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    return ch;
}

/* The channel for endpoint i, created on first use. */
static grpc_channel *channel_get(cairn_client *cl, size_t i)
{
    CAIRN_ASSERT(i < cl->ep.n);
    pthread_mutex_lock(&cl->mu);
    if (!cl->chan[i].ch)
        cl->chan[i].ch = channel_create(cl, cl->chan[i].target);
    grpc_channel *ch = cl->chan[i].ch;
    pthread_mutex_unlock(&cl->mu);
    return ch;
}

void client_cq_finish(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    grpc_completion_queue_destroy(cq);
}

/*
 * wait_ready — 1 once ch is READY; 0 when a connection attempt made during this wait fails
 * (TRANSIENT_FAILURE: refused, unreachable); -2 when the dial timeout passes. A channel
 * already in TRANSIENT_FAILURE from an earlier attempt returns -1 at once unless patient is
 * set, in which case it gets the timeout to recover (grpc keeps retrying it with backoff).
 */
static int wait_ready(grpc_channel *ch, int64_t timeout_ms, int patient)
{
    CAIRN_ASSERT(ch != NULL && timeout_ms > 0);
    grpc_connectivity_state s = grpc_channel_check_connectivity_state(ch, 1);
    if (s == GRPC_CHANNEL_READY)
        return 1;
    if (s == GRPC_CHANNEL_TRANSIENT_FAILURE && !patient)
        return -1;
    gpr_timespec deadline = client_deadline(timeout_ms);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    int tag_byte = 0;
    void *tag = &tag_byte;
    int ready = -2;
    for (int changes = 0; changes < CLIENT_DIAL_STATE_CHANGES_MAX; changes++) {
        grpc_channel_watch_connectivity_state(ch, s, deadline, cq, tag);
        grpc_event ev =
            grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        CAIRN_ASSERT(ev.type == GRPC_OP_COMPLETE);
        if (!ev.success)
            break; /* dial timeout */
        s = grpc_channel_check_connectivity_state(ch, 1);
        if (s == GRPC_CHANNEL_READY) {
            ready = 1;
            break;
        }
        if (s == GRPC_CHANNEL_TRANSIENT_FAILURE || s == GRPC_CHANNEL_SHUTDOWN) {
            ready = 0;
            break;
        }
    }
    client_cq_finish(cq);
    return ready;
}

int client_conn_pick(cairn_client *cl, size_t *idx, grpc_channel **ch,
                     struct cairn_client_status *st)
{
    CAIRN_ASSERT(cl != NULL && idx != NULL && ch != NULL);
    pthread_mutex_lock(&cl->mu);
    size_t start = cl->ep.current;
    pthread_mutex_unlock(&cl->mu);
    CAIRN_ASSERT(start < cl->ep.n);

    /* Pass 0 dials endpoints in order but skips those known to be failing, so a dead
     * endpoint costs nothing while another answers; pass 1 gives the skipped ones the dial
     * timeout to come back. */
    int skipped[CLIENT_ENDPOINTS_MAX] = {0};
    char failed[CAIRN_CLIENT_MESSAGE_MAX];
    size_t used = (size_t)snprintf(failed, sizeof(failed), "no connection to");
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < cl->ep.n; k++) {
            size_t i = (start + k) % cl->ep.n;
            if (pass == 1 && !skipped[i])
                continue;
            grpc_channel *c = channel_get(cl, i);
            if (!c) {
                client_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                  "out of memory creating a channel", cl->chan[i].target);
                return CAIRN_ENOMEM;
            }
            int r = wait_ready(c, cl->dial_timeout_ms, pass == 1);
            if (r == 1) {
                pthread_mutex_lock(&cl->mu);
                cl->ep.current = i;
                pthread_mutex_unlock(&cl->mu);
                *idx = i;
                *ch = c;
                return 0;
            }
            if (r == -1) {
                skipped[i] = 1;
                continue;
            }
            if (used < sizeof(failed) && r == 0)
                used += (size_t)snprintf(
                    failed + used, sizeof(failed) - used, "%s %s (connection failed)",
                    used > strlen("no connection to") ? "," : "", cl->chan[i].target);
            else if (used < sizeof(failed))
                used += (size_t)snprintf(failed + used, sizeof(failed) - used,
                                         "%s %s (none within the %lld ms dial timeout)",
                                         used > strlen("no connection to") ? "," : "",
                                         cl->chan[i].target, (long long)cl->dial_timeout_ms);
        }
    }
    client_status_set(st, CLIENT_GRPC_UNAVAILABLE, failed, cl->chan[start].target);
    return CAIRN_EUNAVAILABLE;
}

int client_conn_failover(cairn_client *cl, size_t idx, size_t first)
{
    CAIRN_ASSERT(idx < cl->ep.n && first < cl->ep.n);
    pthread_mutex_lock(&cl->mu);
    cl->ep.current = idx;
    int moved = client_endpoints_failover(&cl->ep, first);
    pthread_mutex_unlock(&cl->mu);
    return moved;
}
