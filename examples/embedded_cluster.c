/*
 * embedded_cluster — one member of a cairn cluster inside a program. Run three of these (one
 * process each) and they form a cluster, as three cairnd would:
 *
 *   embedded_cluster --name a --data-dir a.cairn \
 *       --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls
 * http://127.0.0.1:2380 \
 *       --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
 *       --initial-cluster a=http://127.0.0.1:2380,b=http://127.0.0.1:2480,c=http://127.0.0.1:2580 \
 *       --initial-cluster-token demo
 *   (and b, c likewise on their own ports; embedded_cluster.run does all of it)
 *
 * The options are cairnd's flags, handed to cairn_config_parse_args unchanged. Each member
 * writes "members/NAME" = NAME, watches "members/" until it has seen every member's key
 * (the cluster works: a write on any member reaches all), then prints
 *
 *   agree NAME revision R hash H
 *
 * where H is HashKV at R, the revision of the last of those writes: members that agree print
 * the same R and H. It keeps serving (the client listener answers etcdctl) until SIGINT or
 * SIGTERM, then closes, handing leadership over if it leads, and exits 0.
 */
#define _POSIX_C_SOURCE 200809L /* sigwait, pthread_sigmask */

#include <cairn.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_S      60 /* the cluster must form and agree within this */
#define MEMBERS_MAX 16

struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char names[MEMBERS_MAX][64];
    int n;
    int64_t last_rev;
    int end;
};

static void on_member(void *arg, const struct cairn_watch_batch *b)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < b->n_events; i++) {
        const struct cairn_event *e = &b->events[i];
        if (e->type != CAIRN_EVENT_PUT)
            continue;
        int known = 0;
        for (int j = 0; j < s->n; j++)
            known |= strlen(s->names[j]) == e->kv.value_len &&
                     memcmp(s->names[j], e->kv.value, e->kv.value_len) == 0;
        if (!known && s->n < MEMBERS_MAX && e->kv.value_len < sizeof(s->names[0])) {
            memcpy(s->names[s->n], e->kv.value, e->kv.value_len);
            s->names[s->n][e->kv.value_len] = '\0';
            s->n++;
            s->last_rev = e->kv.mod_revision;
        }
    }
    if (b->end)
        s->end = b->end;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The value of --NAME / -NAME (as "--NAME=V" or "--NAME V"), or NULL. */
static const char *flag(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        a += a[0] == '-' ? (a[1] == '-' ? 2 : 1) : 0;
        if (strncmp(a, name, n) == 0 && a[n] == '=')
            return a + n + 1;
        if (strcmp(a, name) == 0 && i + 1 < argc)
            return argv[i + 1];
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *name = flag(argc, argv, "name");
    const char *initial = flag(argc, argv, "initial-cluster");
    if (!name || !initial) {
        fprintf(stderr,
                "usage: embedded_cluster --name NAME --initial-cluster ... [cairnd flags]\n");
        return 2;
    }
    int members = 1;
    for (const char *p = initial; *p; p++)
        members += *p == ',';

    /* the signals are taken by sigwait below; every thread cairn starts inherits the mask */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    cairn_config *cfg;
    cairn_node *node = NULL;
    if (cairn_config_new(&cfg) < 0 ||
        cairn_config_parse_args(cfg, argc, (const char *const *)argv) < 0 ||
        cairn_open(cfg, &node) < 0) {
        fprintf(stderr, "embedded_cluster %s: %s\n", name, cairn_errmsg());
        return 1;
    }
    cairn_config_free(cfg);

    struct seen s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_S;

    /* until the cluster has a leader, calls fail or time out: try again until the deadline */
    cairn_watcher *w = NULL;
    char key[96];
    snprintf(key, sizeof(key), "members/%s", name);
    int rc = -1;
    for (int attempt = 0; attempt < 100; attempt++) {
        struct cairn_watch_options o = {.prefix = 1, .start_revision = 1};
        rc = w ? 0 : cairn_watch(node, "members/", 8, &o, on_member, &s, &w);
        if (rc == 0)
            rc = cairn_put(node, key, strlen(key), name, strlen(name), 0, NULL);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (rc == 0 || now.tv_sec >= until.tv_sec)
            break;
        fprintf(stderr, "embedded_cluster %s: %s; trying again\n", name, cairn_errmsg());
        pthread_mutex_lock(&s.mu); /* wait a moment without spinning: nothing signals this */
        pthread_cond_timedwait(&s.cv, &s.mu, &(struct timespec){now.tv_sec + 1, now.tv_nsec});
        pthread_mutex_unlock(&s.mu);
    }
    if (rc < 0) {
        fprintf(stderr, "embedded_cluster %s: cannot write %s: %s\n", name, key, cairn_errmsg());
        cairn_close(node);
        return 1;
    }

    pthread_mutex_lock(&s.mu);
    int timed_out = 0;
    while (s.n < members && !s.end && !timed_out)
        timed_out = pthread_cond_timedwait(&s.cv, &s.mu, &until) == ETIMEDOUT;
    int n = s.n;
    int64_t rev = s.last_rev;
    pthread_mutex_unlock(&s.mu);
    cairn_watch_cancel(w);
    if (n < members) {
        fprintf(stderr, "embedded_cluster %s: saw %d of %d members within %d s\n", name, n, members,
                WAIT_S);
        cairn_close(node);
        return 1;
    }
    uint32_t hash = 0;
    if (cairn_hash_kv(node, rev, &hash, NULL) < 0) {
        fprintf(stderr, "embedded_cluster %s: hashkv: %s\n", name, cairn_errmsg());
        cairn_close(node);
        return 1;
    }
    struct cairn_status st;
    if (cairn_status(node, &st) == 0)
        fprintf(stderr,
                "embedded_cluster %s: member %016" PRIx64 " of cluster %016" PRIx64
                ", leader %016" PRIx64 "\n",
                name, st.member_id, st.cluster_id, st.leader);
    printf("agree %s revision %" PRId64 " hash %" PRIu32 "\n", name, rev, hash);
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig); /* serve until told to stop */
    cairn_close(node);
    fprintf(stderr, "embedded_cluster %s: closed on %s\n", name,
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    return 0;
}
