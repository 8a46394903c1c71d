/* etcd-compatible flags for cairnd: one table drives parsing, defaults and --help. */
#include "server.h"
#include "srv_log.h"

#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum flag_kind { FLAG_STR, FLAG_U64, FLAG_BOOL };

struct flag {
    const char *name;
    enum flag_kind kind;
    size_t offset;
    size_t size; /* for strings: buffer size */
    const char *help;
};

#define STR(field, help)                                                                           \
    {                                                                                              \
#field, FLAG_STR, offsetof(struct srv_config, field),                                      \
            sizeof(((struct srv_config *)0)->field), help                                          \
    }
#define U64(field, help)                                                                           \
    {                                                                                              \
#field, FLAG_U64, offsetof(struct srv_config, field), 0, help                              \
    }

/* Names use '_' here and are matched against flags with '-' (as etcd spells them). */
static const struct flag flags[] = {
    STR(name, "human-readable name for this member (default \"default\")"),
    STR(data_dir, "path to the data directory (default \"<name>.cairn\")"),
    STR(listen_client_urls, "URLs to listen on for client traffic"),
    STR(advertise_client_urls, "client URLs advertised to the rest of the cluster"),
    STR(listen_peer_urls, "URLs to listen on for peer traffic"),
    STR(initial_advertise_peer_urls, "peer URLs advertised to the rest of the cluster"),
    STR(initial_cluster, "initial cluster configuration: name=peer-url,..."),
    STR(initial_cluster_state, "\"new\" or \"existing\""),
    STR(initial_cluster_token, "initial cluster token, keeps clusters apart"),
    U64(heartbeat_interval_ms, "time (in milliseconds) of a heartbeat interval"),
    U64(election_timeout_ms, "time (in milliseconds) for an election to timeout"),
    U64(snapshot_count, "applied entries between snapshots (log compaction)"),
    U64(quota_backend_bytes, "raise the NOSPACE alarm when the backend exceeds this size"),
    U64(max_request_bytes, "maximum client request size in bytes the server will accept"),
    U64(max_txn_ops, "maximum number of operations permitted in a transaction"),
    STR(auto_compaction_mode, "\"periodic\" or \"revision\""),
    STR(auto_compaction_retention, "auto compaction retention (e.g. 1h, or a revision count)"),
    STR(log_level, "debug, info, warn, error"),
    STR(logger, "logger name (accepted for etcd compatibility: \"zap\")"),
    STR(log_outputs, "stderr, stdout, or a file path"),
    STR(config_file, "path to a YAML configuration file with etcd's keys"),
    STR(heap_percent, "reclaim when the heap grows by this percent (like GOGC; \"off\")"),
    STR(memory_limit, "memory limit with IEC units B KiB MiB GiB TiB, or \"off\""),
};

void srv_config_defaults(struct srv_config *c)
{
    memset(c, 0, sizeof(*c));
    strcpy(c->name, "default");
    strcpy(c->listen_client_urls, "http://127.0.0.1:2379");
    strcpy(c->advertise_client_urls, "http://127.0.0.1:2379");
    strcpy(c->listen_peer_urls, "http://127.0.0.1:2380");
    strcpy(c->initial_advertise_peer_urls, "http://127.0.0.1:2380");
    strcpy(c->initial_cluster_state, "new");
    strcpy(c->initial_cluster_token, "etcd-cluster");
    c->heartbeat_interval_ms = 100;
    c->election_timeout_ms = 1000;
    c->snapshot_count = 100000;
    c->quota_backend_bytes = 2ULL << 30;
    c->max_request_bytes = 1572864;
    c->max_txn_ops = 128;
    strcpy(c->auto_compaction_mode, "periodic");
    strcpy(c->log_level, "info");
    strcpy(c->logger, "zap");
    strcpy(c->log_outputs, "default");
    /* heap_percent and memory_limit stay empty: unset, so CAIRN_* variables apply */
}

__attribute__((format(printf, 3, 4))) static void errf(char *err, size_t err_len, const char *fmt,
                                                       ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* "--listen-client-urls" vs table name "listen_client_urls"; etcd's timing flags have no
 * "_ms" suffix on the command line, so match the flag against the name minus "_ms". */
static int flag_matches(const char *table_name, const char *arg, size_t arg_len)
{
    size_t n = strlen(table_name);
    if (n > 3 && strcmp(table_name + n - 3, "_ms") == 0)
        n -= 3;
    if (arg_len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char t = table_name[i] == '_' ? '-' : table_name[i];
        if (t != arg[i])
            return 0;
    }
    return 1;
}

static int set_flag(struct srv_config *c, const struct flag *f, const char *v, char *err,
                    size_t err_len, const char *shown)
{
    char *dst = (char *)c + f->offset;
    if (f->kind == FLAG_STR) {
        if (strlen(v) >= f->size) {
            errf(err, err_len, "invalid value for --%s: longer than %zu bytes", shown, f->size - 1);
            return CAIRN_EINVAL;
        }
        strcpy(dst, v);
        return 0;
    }
    CAIRN_ASSERT(f->kind == FLAG_U64);
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-') {
        errf(err, err_len, "invalid value \"%s\" for --%s: want a non-negative integer", v, shown);
        return CAIRN_EINVAL;
    }
    uint64_t u = x;
    memcpy(dst, &u, sizeof(u));
    return 0;
}

static const struct flag *find_flag(const char *name, size_t len)
{
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(flags); k++)
        if (flag_matches(flags[k].name, name, len))
            return &flags[k];
    return NULL;
}

int srv_config_set(struct srv_config *c, const char *name, size_t name_len, const char *value,
                   char *err, size_t err_len)
{
    const struct flag *f = find_flag(name, name_len);
    if (!f) {
        errf(err, err_len, "unknown flag: --%.*s", (int)name_len, name);
        return CAIRN_ENOTFOUND;
    }
    char shown[64];
    snprintf(shown, sizeof(shown), "%.*s", (int)name_len, name);
    return set_flag(c, f, value, err, err_len, shown);
}

/* Checks that need the whole configuration, and defaults derived from other fields. */
static int finish(struct srv_config *c, char *err, size_t err_len)
{
    if (strcmp(c->initial_cluster_state, "new") != 0 &&
        strcmp(c->initial_cluster_state, "existing") != 0) {
        errf(err, err_len, "invalid value \"%s\" for --initial-cluster-state: want new or existing",
             c->initial_cluster_state);
        return CAIRN_EINVAL;
    }
    if (strcmp(c->auto_compaction_mode, "periodic") != 0 &&
        strcmp(c->auto_compaction_mode, "revision") != 0) {
        errf(err, err_len,
             "invalid value \"%s\" for --auto-compaction-mode: want periodic or revision",
             c->auto_compaction_mode);
        return CAIRN_EINVAL;
    }
    if (c->heartbeat_interval_ms == 0 || c->election_timeout_ms < 5 * c->heartbeat_interval_ms) {
        errf(err, err_len,
             "--election-timeout[%llu] should be at least 5 times --heartbeat-interval[%llu]",
             (unsigned long long)c->election_timeout_ms,
             (unsigned long long)c->heartbeat_interval_ms);
        return CAIRN_EINVAL;
    }
    if (c->max_txn_ops == 0 || c->max_request_bytes == 0) {
        errf(err, err_len, "--max-txn-ops and --max-request-bytes must be positive");
        return CAIRN_EINVAL;
    }
    enum srv_log_level level;
    if (srv_log_parse_level(c->log_level, &level) < 0) {
        errf(err, err_len,
             "invalid --log-level \"%s\": want debug, info, warn, error (or panic, fatal)",
             c->log_level);
        return CAIRN_EINVAL;
    }
    if (c->initial_cluster[0] == '\0') {
        int n = snprintf(c->initial_cluster, sizeof(c->initial_cluster), "%s=%s", c->name,
                         c->initial_advertise_peer_urls);
        if (n < 0 || (size_t)n >= sizeof(c->initial_cluster)) {
            errf(err, err_len, "invalid value for --initial-cluster: too long");
            return CAIRN_EINVAL;
        }
    }
    if (c->data_dir[0] == '\0') {
        if (strlen(c->name) + 7 > sizeof(c->data_dir)) {
            errf(err, err_len, "invalid value for --name: too long");
            return CAIRN_EINVAL;
        }
        size_t n = strlen(c->name); /* fits: checked above */
        memcpy(c->data_dir, c->name, n);
        memcpy(c->data_dir + n, ".cairn", 7);
    }
    return 0;
}

int srv_config_parse_args(struct srv_config *c, int argc, const char *const *argv, char *err,
                          size_t err_len)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 && !(a[0] == '-' && a[1] != '\0' && a[1] != '-')) {
            errf(err, err_len, "unexpected argument \"%s\"", a);
            return CAIRN_EINVAL;
        }
        a += (a[1] == '-') ? 2 : 1; /* Go's flag package accepts -flag and --flag */
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if ((len == 7 && strncmp(a, "version", 7) == 0)) {
            c->show_version = 1;
            continue;
        }
        if ((len == 4 && strncmp(a, "help", 4) == 0) || (len == 1 && a[0] == 'h')) {
            c->show_help = 1;
            continue;
        }
        if (!find_flag(a, len)) {
            errf(err, err_len, "unknown flag: --%.*s", (int)len, a);
            return CAIRN_EINVAL;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) {
                errf(err, err_len, "flag needs an argument: --%.*s", (int)len, a);
                return CAIRN_EINVAL;
            }
            v = argv[++i];
        }
        int rc = srv_config_set(c, a, len, v, err, err_len);
        if (rc < 0)
            return CAIRN_EINVAL;
    }
    if (c->config_file[0] != '\0' && !c->show_help && !c->show_version) {
        /* like etcd: with a config file, the other flags are ignored */
        char path[SRV_STR_MAX];
        strcpy(path, c->config_file);
        srv_config_defaults(c);
        strcpy(c->config_file, path);
        int rc = srv_config_load_yaml(c, path, err, err_len);
        if (rc < 0)
            return CAIRN_EINVAL;
    }
    return finish(c, err, err_len);
}

void srv_config_usage(FILE *out, const char *prog)
{
    fprintf(out, "usage: %s [flags]\n\nflags (as etcd names them):\n", prog);
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(flags); k++) {
        char shown[64];
        size_t n = strlen(flags[k].name);
        if (n > 3 && strcmp(flags[k].name + n - 3, "_ms") == 0)
            n -= 3;
        snprintf(shown, sizeof(shown), "%.*s", (int)n, flags[k].name);
        for (char *p = shown; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(out, "  --%-30s %s\n", shown, flags[k].help);
    }
    fprintf(out, "  --%-30s %s\n", "version", "print the version and exit");
    fprintf(out, "  --%-30s %s\n", "help", "print this help and exit");
}
