/* cairnd — the cairn server: a thin main over server/. Flags are etcd's (see --help). */
#include "alloc.h"
#include "cairn.h"
#include "server.h"
#include "srv_node.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <lmdb.h>

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

int main(int argc, char **argv)
{
    struct srv_config cfg;
    char err[512];
    srv_config_defaults(&cfg);
    if (srv_config_parse_args(&cfg, argc, (const char *const *)argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "cairnd: %s (see cairnd --help)\n", err);
        return 2;
    }
    if (cfg.show_help) {
        srv_config_usage(stdout, "cairnd");
        return 0;
    }
    if (cfg.show_version) {
        printf("cairnd Version: %s\n", cairn_version_string());
        printf("API version: 3.4\n");
        printf("gRPC core: %s, LMDB: %s\n", grpc_version_string(), mdb_version(NULL, NULL, NULL));
        return 0;
    }
    if (alloc_configure(cfg.heap_percent[0] ? cfg.heap_percent : NULL,
                        cfg.memory_limit[0] ? cfg.memory_limit : NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "cairnd: %s\n", err);
        return 2;
    }
    /* block the stop signals in every thread; main waits for them with sigsuspend */
    sigset_t stop_set, old_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_set, &old_set);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct srv_node *node = NULL;
    int rc = srv_node_start(&cfg, &node, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "cairnd: %s\n", err[0] ? err : cairn_strerror(rc));
        return 1;
    }
    fprintf(stderr, "cairnd: member %s ready to serve client requests on %s (data dir %s)\n",
            cfg.name, cfg.listen_client_urls, cfg.data_dir);
    sigset_t wait_set = old_set;
    sigdelset(&wait_set, SIGINT);
    sigdelset(&wait_set, SIGTERM);
    while (!stop_signal)
        sigsuspend(&wait_set); /* atomically unblocks and waits: no lost wake-up */
    fprintf(stderr, "cairnd: received %s, shutting down\n",
            stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    srv_node_stop(node);
    return 0;
}
