/* The embedded node: configuration, cairn_open, cairn_close, and the per-thread error text. */
#include "embed.h"

#include "alloc.h"
#include "srv_log.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRMSG_MAX 512

static _Thread_local char errmsg[ERRMSG_MAX];

const char *cairn_errmsg(void)
{
    return errmsg;
}

int embed_error(int code, const char *fmt, ...)
{
    CAIRN_ASSERT(code < 0);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
    va_end(ap);
    return code;
}

void embed_clear_error(void)
{
    errmsg[0] = '\0';
}

void cairn_free(void *p)
{
    free(p);
}

/* ---- configuration ---- */

int cairn_config_new(cairn_config **out)
{
    CAIRN_ASSERT(out != NULL);
    cairn_config *c = calloc(1, sizeof(*c));
    if (!c)
        return embed_error(CAIRN_ENOMEM, "out of memory");
    srv_config_defaults(&c->cfg);
    /* embedded: no listeners unless asked for (cairnd's defaults listen on 2379/2380) */
    c->cfg.listen_client_urls[0] = '\0';
    c->cfg.advertise_client_urls[0] = '\0';
    c->cfg.listen_peer_urls[0] = '\0';
    *out = c;
    embed_clear_error();
    return 0;
}

int cairn_config_set(cairn_config *cfg, const char *option, const char *value)
{
    CAIRN_ASSERT(cfg != NULL);
    if (!option || !value)
        return embed_error(CAIRN_EINVAL, "option and value must not be NULL");
    struct srv_config next = cfg->cfg; /* a failed set changes nothing */
    char err[ERRMSG_MAX];
    err[0] = '\0';
    int rc = srv_config_set(&next, option, strlen(option), value, err, sizeof(err));
    if (rc < 0)
        return embed_error(rc, "%s", err[0] ? err : cairn_strerror(rc));
    cfg->cfg = next;
    embed_clear_error();
    return 0;
}

int cairn_config_parse_args(cairn_config *cfg, int argc, const char *const *argv)
{
    CAIRN_ASSERT(cfg != NULL && argc >= 0);
    struct srv_config next = cfg->cfg;
    char err[ERRMSG_MAX];
    err[0] = '\0';
    int rc = srv_config_parse_args(&next, argc, argv, err, sizeof(err));
    if (rc < 0)
        return embed_error(rc, "%s", err[0] ? err : cairn_strerror(rc));
    if (next.show_help || next.show_version)
        return embed_error(CAIRN_EINVAL, "--help and --version are cairnd's, not options");
    cfg->cfg = next;
    embed_clear_error();
    return 0;
}

int cairn_config_load_file(cairn_config *cfg, const char *path)
{
    CAIRN_ASSERT(cfg != NULL);
    if (!path)
        return embed_error(CAIRN_EINVAL, "path must not be NULL");
    struct srv_config next = cfg->cfg;
    char err[ERRMSG_MAX];
    err[0] = '\0';
    int rc = srv_config_load_yaml(&next, path, err, sizeof(err));
    if (rc < 0)
        return embed_error(rc, "%s", err[0] ? err : cairn_strerror(rc));
    next.config_file[0] = '\0'; /* loaded: cairn_open must not load it again over later sets */
    cfg->cfg = next;
    embed_clear_error();
    return 0;
}

void cairn_config_free(cairn_config *cfg)
{
    free(cfg);
}

/* ---- open, close ---- */

static const char *const method_paths[EMBED_METHOD_COUNT] = {
    [EMBED_RANGE] = "/etcdserverpb.KV/Range",
    [EMBED_PUT] = "/etcdserverpb.KV/Put",
    [EMBED_DELETE] = "/etcdserverpb.KV/DeleteRange",
    [EMBED_TXN] = "/etcdserverpb.KV/Txn",
    [EMBED_COMPACT] = "/etcdserverpb.KV/Compact",
    [EMBED_WATCH] = "/etcdserverpb.Watch/Watch",
    [EMBED_LEASE_GRANT] = "/etcdserverpb.Lease/LeaseGrant",
    [EMBED_LEASE_REVOKE] = "/etcdserverpb.Lease/LeaseRevoke",
    [EMBED_LEASE_KEEPALIVE] = "/etcdserverpb.Lease/LeaseKeepAlive",
    [EMBED_LEASE_TTL] = "/etcdserverpb.Lease/LeaseTimeToLive",
    [EMBED_STATUS] = "/etcdserverpb.Maintenance/Status",
    [EMBED_HASHKV] = "/etcdserverpb.Maintenance/HashKV",
};

int cairn_open(const cairn_config *cfg, cairn_node **out)
{
    CAIRN_ASSERT(out != NULL);
    *out = NULL;
    if (!cfg)
        return embed_error(CAIRN_EINVAL, "no configuration (cairn_config_new makes one)");
    struct srv_config c = cfg->cfg;
    char err[ERRMSG_MAX];
    err[0] = '\0';
    /* derived defaults (the data dir from the name), as cairnd fills them in */
    const char *argv0[] = {"cairn"};
    int rc = srv_config_parse_args(&c, 1, argv0, err, sizeof(err));
    if (rc < 0)
        return embed_error(rc, "%s", err[0] ? err : cairn_strerror(rc));
    rc = alloc_configure(c.heap_percent[0] ? c.heap_percent : NULL,
                         c.memory_limit[0] ? c.memory_limit : NULL, err, sizeof(err));
    if (rc < 0)
        return embed_error(rc, "%s", err[0] ? err : cairn_strerror(rc));
    cairn_node *nd = calloc(1, sizeof(*nd));
    if (!nd)
        return embed_error(CAIRN_ENOMEM, "out of memory");
    srv_log_configure(SRV_LOG_INFO, "cairn"); /* lines say cairn, not cairnd; level at start */
    for (int i = 0; i < EMBED_METHOD_COUNT; i++) {
        nd->methods[i] = srv_node_method(method_paths[i]);
        CAIRN_ASSERT(nd->methods[i] != NULL);
    }
    pthread_mutex_init(&nd->wt_mu, NULL);
    atomic_init(&nd->closing, 0);
    atomic_init(&nd->inside, 0);
    rc = srv_node_start(&c, &nd->srv, err, sizeof(err));
    if (rc < 0) {
        pthread_mutex_destroy(&nd->wt_mu);
        free(nd);
        return embed_error(rc, "%s", err[0] ? err : cairn_strerror(rc));
    }
    /* a one-member node elects itself at once; writes right after open must not see "no
     * leader" (a member of a larger cluster waits for its peers instead: not here) */
    rc = srv_node_wait_ready(nd->srv, 2 * c.election_timeout_ms + 1000);
    if (rc < 0) {
        srv_node_stop(nd->srv);
        pthread_mutex_destroy(&nd->wt_mu);
        free(nd);
        return embed_error(rc, "the node did not become leader of its one-member cluster");
    }
    *out = nd;
    embed_clear_error();
    return 0;
}

int embed_enter(struct cairn_node *nd)
{
    atomic_fetch_add(&nd->inside, 1);
    if (atomic_load(&nd->closing)) {
        atomic_fetch_sub(&nd->inside, 1);
        return CAIRN_ESTOPPED;
    }
    return 0;
}

void embed_leave(struct cairn_node *nd)
{
    int old = atomic_fetch_sub(&nd->inside, 1);
    CAIRN_ASSERT(old > 0);
}

int cairn_close(cairn_node *nd)
{
    if (!nd)
        return 0;
    atomic_store(&nd->closing, 1);
    /* callers inside a handler leave within the handler's inline work (a read, a queue
     * hand-off): bounded, and never waiting for this thread */
    for (unsigned spins = 0; atomic_load(&nd->inside) > 0; spins++) {
        CAIRN_ASSERT(spins < (1u << 31));
        sched_yield();
    }
    embed_watch_shutdown(nd); /* while the node runs: it lets go of the watch streams */
    srv_node_stop(nd->srv);
    pthread_mutex_destroy(&nd->wt_mu);
    free(nd);
    embed_clear_error();
    return 0;
}

int cairn_listen_port(const cairn_node *nd, size_t i)
{
    CAIRN_ASSERT(nd != NULL);
    return srv_node_client_port(nd->srv, i);
}
