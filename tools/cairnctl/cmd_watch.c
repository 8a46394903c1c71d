/*
 * watch: print events as they arrive until Ctrl-C (exit 0). A stream that breaks
 * (UNAVAILABLE: the endpoint went away) is re-opened on the next reachable endpoint and the
 * watch resumes after the last revision printed, so no event is lost or repeated.
 */
#include "ctl_json.h"
#include "ctl_kv.h"

#include "common.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WATCH_POLL_MS         200 /* how often Ctrl-C is noticed while nothing arrives */
#define WATCH_RECONNECTS_MAX  10  /* consecutive failed re-opens before giving up */
#define WATCH_LINE_MAX        4096
#define WATCH_INTERACTIVE_MAX 256 /* watches one interactive session may create */

struct watch_state {
    struct ctl *c;
    cairn_client_stream *s;
    pthread_mutex_t send_mu; /* the interactive reader and the reconnect path both send */
    int closing;
    /* the watches to (re)create: the command line's, or the interactive ones */
    Etcdserverpb__WatchCreateRequest creates[WATCH_INTERACTIVE_MAX];
    struct kv_bytes bytes[WATCH_INTERACTIVE_MAX];
    size_t n_creates;
    int64_t next_rev; /* resume point after a reconnect (0: from now) */
};

static void print_event_json_response(const Etcdserverpb__WatchResponse *r)
{
    /* clientv3.WatchResponse: Header (a struct), Events, CompactRevision, Canceled, Created */
    json_t *o = json_object();
    json_t *h = json_object();
    cj_header_inline(h, r->header);
    cj_set(o, "Header", h);
    if (r->n_events) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_events; i++)
            json_array_append_new(a, cj_event(r->events[i]));
        cj_set(o, "Events", a);
    } else {
        cj_set(o, "Events", json_null());
    }
    cj_set(o, "CompactRevision", cj_i64(r->compact_revision));
    cj_set(o, "Canceled", cj_bool(r->canceled));
    cj_set(o, "Created", cj_bool(r->created));
    cj_print(stdout, o);
}

static void print_response(const struct ctl *c, const Etcdserverpb__WatchResponse *r)
{
    if (c->format == CTL_JSON) {
        print_event_json_response(r);
        return;
    }
    if (c->format == CTL_FIELDS)
        out_hdr_fields(r->header);
    for (size_t i = 0; i < r->n_events; i++) {
        const Mvccpb__Event *e = r->events[i];
        const char *type = e->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? "DELETE" : "PUT";
        static const Mvccpb__KeyValue empty = MVCCPB__KEY_VALUE__INIT;
        const Mvccpb__KeyValue *kv = e->kv ? e->kv : &empty;
        if (c->format == CTL_FIELDS) {
            printf("\"Type\" : %s\n", type);
            if (e->prev_kv)
                out_kv_fields("Prev", e->prev_kv);
            out_kv_fields("", kv);
        } else {
            printf("%s\n", type);
            if (e->prev_kv)
                out_kv_simple(e->prev_kv, c->hex, 0);
            out_kv_simple(kv, c->hex, 0);
        }
    }
}

/* Runs the command after "--" once per event, with etcdctl's ETCD_WATCH_* variables. */
static int run_exec(const struct ctl *c, const Etcdserverpb__WatchResponse *r)
{
    for (size_t i = 0; i < r->n_events; i++) {
        const Mvccpb__Event *e = r->events[i];
        static const Mvccpb__KeyValue empty = MVCCPB__KEY_VALUE__INIT;
        const Mvccpb__KeyValue *kv = e->kv ? e->kv : &empty;
        size_t qlen = (kv->key.len + kv->value.len) * 10 + 64;
        char *q = malloc(qlen);
        char env[4][80];
        CAIRN_ASSERT(q != NULL);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            snprintf(env[0], sizeof(env[0]), "%" PRId64, r->header ? r->header->revision : 0);
            setenv("ETCD_WATCH_REVISION", env[0], 1);
            setenv("ETCD_WATCH_EVENT_TYPE",
                   e->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? "\"DELETE\"" : "\"PUT\"", 1);
            setenv("ETCD_WATCH_KEY", ctl_go_quote(kv->key.data, kv->key.len, q, qlen), 1);
            setenv("ETCD_WATCH_VALUE", ctl_go_quote(kv->value.data, kv->value.len, q, qlen), 1);
            execvp(c->p.exec_args[0], (char *const *)c->p.exec_args);
            _exit(127);
        }
        free(q);
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fprintf(stderr, "command \"%s\" error (exit status %d)\n", c->p.exec_args[0],
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            return -1;
        }
    }
    return 0;
}

/* Builds a create request from a parsed watch command line. */
static int build_create(const struct ctl_parsed *p, Etcdserverpb__WatchCreateRequest *req,
                        struct kv_bytes *b, char *err, size_t err_len)
{
    etcdserverpb__watch_create_request__init(req);
    memset(b, 0, sizeof(*b));
    if (p->n_args < 1 || p->n_args > 2) {
        snprintf(err, err_len,
                 "watch needs one argument as key or prefix, and an optional "
                 "argument as range_end");
        return -1;
    }
    int prefix = ctl_flag_bool(p, "prefix");
    if (prefix && p->n_args > 1) {
        snprintf(err, err_len, "unexpected range_end with --prefix");
        return -1;
    }
    b->key_len = strlen(p->args[0]);
    b->key = malloc(b->key_len + 1);
    CAIRN_ASSERT(b->key != NULL);
    memcpy(b->key, p->args[0], b->key_len + 1);
    if (p->n_args > 1) {
        b->end_len = strlen(p->args[1]);
        b->end = (uint8_t *)strdup(p->args[1]);
        CAIRN_ASSERT(b->end != NULL);
    }
    if (prefix) {
        if (b->key_len == 0) { /* every key: "\0" to "\0" */
            b->key_len = 1;
            b->key[0] = 0;
            b->end = calloc(1, 1);
            CAIRN_ASSERT(b->end != NULL);
            b->end_len = 1;
        } else {
            kv_prefix_end(b);
        }
    }
    req->key.data = b->key, req->key.len = b->key_len;
    req->range_end.data = b->end, req->range_end.len = b->end_len;
    req->start_revision = ctl_flag_int(p, "rev");
    req->prev_kv = ctl_flag_bool(p, "prev-kv");
    req->progress_notify = ctl_flag_bool(p, "progress-notify");
    return 0;
}

/* (Re)opens the stream and creates every watch, from next_rev when resuming. */
static int open_watches(struct watch_state *w, struct cairn_client_status *st)
{
    cairn_client_stream *s = NULL;
    int rc = cairn_client_watch_open(ctl_client(w->c), &s, st);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&w->send_mu);
    w->s = s;
    for (size_t i = 0; i < w->n_creates && rc == 0; i++) {
        Etcdserverpb__WatchCreateRequest req = w->creates[i];
        if (w->next_rev > 0)
            req.start_revision = w->next_rev;
        rc = cairn_client_watch_create(s, &req, st);
    }
    pthread_mutex_unlock(&w->send_mu);
    return rc;
}

static void close_stream(struct watch_state *w)
{
    pthread_mutex_lock(&w->send_mu);
    cairn_client_stream *s = w->s;
    w->s = NULL;
    pthread_mutex_unlock(&w->send_mu);
    cairn_client_stream_destroy(s);
}

/* Interactive mode: "watch <key> [range_end] [options]" and "progress" lines on stdin. */
static void *interactive_reader(void *arg)
{
    struct watch_state *w = arg;
    char line[WATCH_LINE_MAX];
    while (fgets(line, sizeof(line), stdin)) {
        char *tok[CTL_ARGS_MAX];
        int n = 0;
        for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t && n < CTL_ARGS_MAX;
             t = strtok_r(NULL, " \t\r\n", &save))
            tok[n++] = t;
        if (n == 0)
            continue;
        struct cairn_client_status st;
        pthread_mutex_lock(&w->send_mu);
        if (w->closing || !w->s) {
            pthread_mutex_unlock(&w->send_mu);
            break;
        }
        if (strcmp(tok[0], "progress") == 0 && n == 1) {
            cairn_client_watch_progress(w->s, &st);
        } else if (strcmp(tok[0], "watch") == 0 && w->n_creates < WATCH_INTERACTIVE_MAX) {
            struct ctl_parsed p;
            char err[256];
            size_t k = w->n_creates;
            if (ctl_parse(n, (const char *const *)tok, &p, err, sizeof(err)) != 0 ||
                build_create(&p, &w->creates[k], &w->bytes[k], err, sizeof(err)) < 0) {
                fprintf(stderr, "Invalid command %s (%s)\n", tok[0], err);
            } else {
                w->n_creates++;
                cairn_client_watch_create(w->s, &w->creates[k], &st);
            }
        } else {
            fprintf(stderr, "Invalid command %s (only support watch and progress)\n", tok[0]);
        }
        pthread_mutex_unlock(&w->send_mu);
    }
    return NULL; /* at end of input the watches already made keep running */
}

/* Handles one response; returns 1 to keep going, 0 when the server canceled the watch. */
static int handle(struct watch_state *w, const Etcdserverpb__WatchResponse *r, int *exec_failed)
{
    if (r->canceled) {
        const char *why = r->cancel_reason && r->cancel_reason[0] ? r->cancel_reason
                          : r->compact_revision
                              ? "etcdserver: mvcc: required revision has been compacted"
                              : "canceled by the server";
        fprintf(stderr, "watch was canceled (%s)\n", why);
        return 0;
    }
    if (r->created && r->n_events == 0) {
        if (w->next_rev == 0 && r->header && w->creates[0].start_revision == 0)
            w->next_rev = r->header->revision + 1; /* resume from here if the stream breaks */
        return 1;                                  /* clientv3 does not deliver these */
    }
    if (r->n_events == 0 && r->header && r->header->revision && !r->compact_revision)
        printf("progress notify: %" PRId64 "\n", r->header->revision);
    print_response(w->c, r);
    if (r->n_events && r->events[r->n_events - 1]->kv)
        w->next_rev = r->events[r->n_events - 1]->kv->mod_revision + 1;
    fflush(stdout);
    if (w->c->p.n_exec_args && run_exec(w->c, r) < 0)
        *exec_failed = 1;
    return 1;
}

int cmd_watch(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    struct watch_state *w = calloc(1, sizeof(*w));
    CAIRN_ASSERT(w != NULL);
    w->c = c;
    pthread_mutex_init(&w->send_mu, NULL);
    int interactive = ctl_flag_bool(&c->p, "interactive");
    char err[256];
    int rc = CTL_EXIT_OK;
    if (interactive) {
        if (c->p.n_args)
            rc = ctl_usage_error(c, "watch in interactive mode takes no key: give \"watch "
                                    "<key>\" lines on standard input");
    } else if (build_create(&c->p, &w->creates[0], &w->bytes[0], err, sizeof(err)) < 0) {
        rc = ctl_usage_error(c, "%s", err);
    } else {
        w->n_creates = 1;
    }
    struct cairn_client_status st;
    if (rc == CTL_EXIT_OK) {
        ctl_catch_interrupts();
        int orc = open_watches(w, &st);
        if (orc < 0)
            rc = ctl_error_status(orc, &st);
    }
    pthread_t reader;
    int have_reader = 0;
    if (rc == CTL_EXIT_OK && interactive)
        have_reader = pthread_create(&reader, NULL, interactive_reader, w) == 0;

    int failures = 0, exec_failed = 0;
    while (rc == CTL_EXIT_OK && !ctl_interrupted && !exec_failed) {
        if (!w->s) { /* the endpoint went away: resume on the next reachable one */
            int orc = open_watches(w, &st);
            if (orc < 0 && (orc != CAIRN_EUNAVAILABLE || ++failures > WATCH_RECONNECTS_MAX))
                rc = ctl_error_status(orc, &st);
            continue;
        }
        Etcdserverpb__WatchResponse *r = NULL;
        int rrc = cairn_client_watch_recv(w->s, &r, WATCH_POLL_MS, &st);
        if (rrc == CAIRN_ETIMEOUT)
            continue;
        if (rrc == 0) {
            failures = 0;
            int more = handle(w, r, &exec_failed);
            cairn_client_free(r);
            if (!more)
                rc = ctl_error("watch is canceled by the server");
        } else if ((rrc == CAIRN_EUNAVAILABLE || rrc == CAIRN_ECANCELED) &&
                   ++failures <= WATCH_RECONNECTS_MAX) {
            /* UNAVAILABLE, or a cancel we did not ask for: the server or the connection
             * went away (a server shutting down cancels its calls) */
            close_stream(w);
        } else {
            rc = ctl_error_status(rrc == CAIRN_ESTOPPED ? CAIRN_ECANCELED : rrc, &st);
        }
    }
    if (exec_failed)
        rc = CTL_EXIT_ERROR;
    pthread_mutex_lock(&w->send_mu);
    w->closing = 1;
    pthread_mutex_unlock(&w->send_mu);
    close_stream(w);
    if (have_reader)
        pthread_detach(reader); /* it may sit in fgets; it sends nothing once closing is set */
    if (!have_reader) {
        for (size_t i = 0; i < w->n_creates; i++)
            kv_bytes_free(&w->bytes[i]);
        pthread_mutex_destroy(&w->send_mu);
        free(w);
    } /* else: the detached reader may still look at w; the process is about to exit */
    return rc;
}
