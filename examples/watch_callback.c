/*
 * watch_callback — watch a prefix of an embedded store and get each change in a callback.
 *
 *   watch_callback [DATA_DIR]
 *
 * Starts a watch on "events/" (with the previous value of each key), writes five puts and a
 * delete, waits until the callback has seen all six events, prints them and exits 0 — or 1
 * if an event is missing, out of order or not what was written.
 *
 * The callback runs on the node's watch thread, one batch at a time; here it only copies
 * what it needs under a mutex and signals the main thread. A slow callback does not stall
 * writes: its watch falls behind and catches up from history (see cairn.h).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <cairn.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define WANT 6

struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    int end;
    char line[WANT][96];
    int64_t rev[WANT];
};

static void on_events(void *arg, const struct cairn_watch_batch *b)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < b->n_events && s->n < WANT; i++) {
        const struct cairn_event *e = &b->events[i];
        snprintf(s->line[s->n], sizeof(s->line[0]), "%s %.*s = %.*s (was %.*s)",
                 e->type == CAIRN_EVENT_PUT ? "PUT   " : "DELETE", (int)e->kv.key_len,
                 (const char *)e->kv.key, (int)e->kv.value_len, (const char *)e->kv.value,
                 e->has_prev_kv ? (int)e->prev_kv.value_len : 1,
                 e->has_prev_kv ? (const char *)e->prev_kv.value : "-");
        s->rev[s->n] = e->kv.mod_revision;
        s->n++;
    }
    if (b->end)
        s->end = b->end;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "watch_callback.cairn";
    cairn_config *cfg;
    cairn_node *node = NULL;
    if (cairn_config_new(&cfg) < 0 || cairn_config_set(cfg, "data-dir", dir) < 0 ||
        cairn_open(cfg, &node) < 0) {
        fprintf(stderr, "watch_callback: open %s: %s\n", dir, cairn_errmsg());
        return 1;
    }
    cairn_config_free(cfg);

    struct seen s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    struct cairn_watch_options o = {.prefix = 1, .prev_kv = 1};
    cairn_watcher *w;
    if (cairn_watch(node, "events/", 7, &o, on_events, &s, &w) < 0) {
        fprintf(stderr, "watch_callback: watch: %s\n", cairn_errmsg());
        cairn_close(node);
        return 1;
    }
    /* every write that completes after cairn_watch returned is delivered */
    int64_t revs[WANT];
    const char *vals[] = {"red", "green", "blue", "cyan", "white"};
    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf(key, sizeof(key), "events/%s", i % 2 ? "b" : "a");
        if (cairn_put(node, key, strlen(key), vals[i], strlen(vals[i]), 0, &revs[i]) < 0) {
            fprintf(stderr, "watch_callback: put: %s\n", cairn_errmsg());
            return 1;
        }
    }
    if (cairn_delete(node, "events/a", 8, NULL, 0, NULL, &revs[5]) < 0) {
        fprintf(stderr, "watch_callback: delete: %s\n", cairn_errmsg());
        return 1;
    }
    (void)cairn_put(node, "elsewhere", 9, "x", 1, 0, NULL); /* not watched */

    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&s.mu);
    int timed_out = 0;
    while (s.n < WANT && !s.end && !timed_out)
        timed_out = pthread_cond_timedwait(&s.cv, &s.mu, &until) == ETIMEDOUT;
    int ok = s.n == WANT;
    for (int i = 0; i < s.n; i++) {
        printf("rev %" PRId64 ": %s\n", s.rev[i], s.line[i]);
        ok &= s.rev[i] == revs[i];
    }
    pthread_mutex_unlock(&s.mu);
    cairn_watch_cancel(w);
    cairn_close(node);
    if (!ok) {
        fprintf(stderr, "watch_callback: saw %d of %d events in order%s\n", s.n, WANT,
                timed_out ? " before the 10 s deadline" : "");
        return 1;
    }
    printf("ok: %d events, in order\n", WANT);
    return 0;
}
