/* The invocation's shared pieces: global flags and environment, error reporting, clients. */
#include "ctl.h"

#include "common.h"

#include "etcdserverpb/rpc.pb-c.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CAIRNCTL_DEFAULT_ENDPOINT "127.0.0.1:2379"

volatile int ctl_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    ctl_interrupted = 1; /* polled by watch and keep-alive; no grpc calls here */
}

void ctl_catch_interrupts(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int ctl_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("Error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CTL_EXIT_ERROR;
}

const char *ctl_status_text(int rc, const struct cairn_client_status *st)
{
    CAIRN_ASSERT(rc < 0);
    if (st && st->message[0])
        return st->message;
    return cairn_strerror(rc);
}

int ctl_error_status(int rc, const struct cairn_client_status *st)
{
    return ctl_error("%s", ctl_status_text(rc, st));
}

int ctl_usage_error(const struct ctl *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("Error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (c && c->p.cmd)
        fprintf(stderr, "\nUsage:\n  cairnctl %s\n\nRun 'cairnctl %s --help' for the options.\n",
                c->p.cmd->usage, c->p.cmd->name);
    else
        fprintf(stderr, "\nRun 'cairnctl --help' for usage.\n");
    return CTL_EXIT_USAGE;
}

int ctl_format_unsupported(const struct ctl *c)
{
    static const char *const names[] = {"simple", "json", "table", "fields"};
    CAIRN_ASSERT(c->format < CAIRN_ARRAY_LEN(names));
    return ctl_error("%s not supported as output format", names[c->format]);
}

static int open_client(struct ctl *c, const char *endpoints, cairn_client **out)
{
    struct cairn_client_options o;
    cairn_client_options_init(&o);
    o.endpoints = endpoints;
    o.dial_timeout_ms = c->dial_timeout_ms;
    o.command_timeout_ms = c->command_timeout_ms;
    o.keepalive_time_ms = c->keepalive_time_ms;
    o.keepalive_timeout_ms = c->keepalive_timeout_ms;
    int rc = cairn_client_open(&o, out);
    if (rc == CAIRN_EINVAL)
        return ctl_error("bad endpoint list \"%s\" (want host:port or http://host:port, "
                         "comma-separated; https is not supported yet)",
                         endpoints ? endpoints : "(from the environment)");
    if (rc < 0)
        return ctl_error("%s", cairn_strerror(rc));
    return CTL_EXIT_OK;
}

cairn_client *ctl_client(struct ctl *c)
{
    if (!c->client && open_client(c, c->endpoints, &c->client) != CTL_EXIT_OK)
        exit(CTL_EXIT_ERROR);
    return c->client;
}

int ctl_client_for(struct ctl *c, const char *endpoint, cairn_client **out)
{
    return open_client(c, endpoint, out);
}

void ctl_endpoints_free(char **eps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(eps[i]);
}

int ctl_endpoints(struct ctl *c, int cluster, char **eps, size_t max, size_t *n)
{
    CAIRN_ASSERT(max > 0);
    *n = 0;
    if (!cluster) { /* as given, so the output names them the way the user did */
        char *list = strdup(c->endpoints ? c->endpoints : CAIRNCTL_DEFAULT_ENDPOINT);
        CAIRN_ASSERT(list != NULL);
        for (char *save = NULL, *t = strtok_r(list, ",", &save); t && *n < max;
             t = strtok_r(NULL, ",", &save)) {
            eps[*n] = strdup(t);
            CAIRN_ASSERT(eps[*n] != NULL);
            (*n)++;
        }
        free(list);
        return CTL_EXIT_OK;
    }
    cairn_client *cl = ctl_client(c);
    struct cairn_client_status st;
    Etcdserverpb__MemberListResponse *ml = NULL;
    int rc = cairn_client_member_list(cl, &ml, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    for (size_t i = 0; i < ml->n_members; i++) {
        for (size_t k = 0; k < ml->members[i]->n_clienturls && *n < max; k++) {
            eps[*n] = strdup(ml->members[i]->clienturls[k]);
            CAIRN_ASSERT(eps[*n] != NULL);
            (*n)++;
        }
    }
    cairn_client_free(ml);
    CAIRN_ASSERT(*n <= max);
    return CTL_EXIT_OK;
}

/* Global flags not given on the command line come from CAIRNCTL_<FLAG>, then
 * ETCDCTL_<FLAG> (as etcdctl reads ETCDCTL_<FLAG>). */
static int apply_env(struct ctl_parsed *p)
{
    for (size_t i = 0; i < p->n_global; i++) {
        struct ctl_flag_value *v = &p->global[i];
        if (v->set || strcmp(v->spec->name, "help") == 0)
            continue;
        char name[64];
        size_t k = 0;
        for (const char *s = v->spec->name; *s && k + 1 < sizeof(name); s++)
            name[k++] = *s == '-' ? '_' : (char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s);
        name[k] = '\0';
        static const char *const prefixes[] = {"CAIRNCTL_", "ETCDCTL_"};
        for (size_t j = 0; j < CAIRN_ARRAY_LEN(prefixes); j++) {
            char env[80];
            snprintf(env, sizeof(env), "%s%s", prefixes[j], name);
            const char *val = getenv(env);
            if (!val || !*val)
                continue;
            int64_t num = 0;
            int ok = 1;
            if (v->spec->type == CTL_DURATION)
                ok = ctl_parse_duration_ms(val, &num) == 0;
            else if (v->spec->type == CTL_BOOL)
                ok = (num = (strcmp(val, "true") == 0 || strcmp(val, "1") == 0)) ||
                     strcmp(val, "false") == 0 || strcmp(val, "0") == 0;
            if (!ok)
                return ctl_usage_error(NULL, "invalid value \"%s\" in %s", val, env);
            v->str = val;
            v->num = num;
            v->set = 1;
            break;
        }
    }
    return CTL_EXIT_OK;
}

int ctl_setup(struct ctl *c)
{
    int rc = apply_env(&c->p);
    if (rc != CTL_EXIT_OK)
        return rc;
    const struct ctl_flag_value *ep = ctl_flag(&c->p, "endpoints");
    c->endpoints = ep->set ? ep->str : NULL; /* NULL: client/ reads the environment */
    c->dial_timeout_ms = ctl_flag_int(&c->p, "dial-timeout");
    c->command_timeout_ms = ctl_flag_int(&c->p, "command-timeout");
    c->keepalive_time_ms = ctl_flag_int(&c->p, "keepalive-time");
    c->keepalive_timeout_ms = ctl_flag_int(&c->p, "keepalive-timeout");
    if (c->dial_timeout_ms <= 0 || c->command_timeout_ms <= 0)
        return ctl_usage_error(c, "--dial-timeout and --command-timeout must be positive");
    c->hex = ctl_flag_bool(&c->p, "hex");
    const char *w = ctl_flag_str(&c->p, "write-out");
    if (strcmp(w, "simple") == 0)
        c->format = CTL_SIMPLE;
    else if (strcmp(w, "json") == 0)
        c->format = CTL_JSON;
    else if (strcmp(w, "table") == 0)
        c->format = CTL_TABLE;
    else if (strcmp(w, "fields") == 0)
        c->format = CTL_FIELDS;
    else
        return ctl_usage_error(c, "unknown output format \"%s\" (simple, json, table, fields)", w);
    return CTL_EXIT_OK;
}

int cmd_help(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (ctl_flag_bool(&c->p, "markdown")) {
        ctl_help_markdown(stdout);
        return CTL_EXIT_OK;
    }
    if (c->p.n_args == 0) {
        ctl_help_root(stdout);
        return CTL_EXIT_OK;
    }
    char name[128] = "";
    for (size_t i = 0; i < c->p.n_args && i < 2; i++)
        snprintf(name + strlen(name), sizeof(name) - strlen(name), "%s%s", i ? " " : "",
                 c->p.args[i]);
    const struct ctl_command *cmd = ctl_command_find(name);
    if (cmd) {
        ctl_help_command(stdout, cmd);
        return CTL_EXIT_OK;
    }
    if (c->p.n_args == 1 && ctl_command_is_group(c->p.args[0])) {
        ctl_help_group(stdout, c->p.args[0]);
        return CTL_EXIT_OK;
    }
    return ctl_usage_error(c, "unknown help topic \"%s\"", name);
}

int cmd_version(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->p.n_args != 0)
        return ctl_usage_error(c, "version command does not accept arguments");
    printf("cairnctl version: %s\nAPI version: 3.4\n", cairn_version_string());
    return CTL_EXIT_OK;
}
