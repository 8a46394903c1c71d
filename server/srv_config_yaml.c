/* etcd's --config-file: a flat YAML mapping of flag names to values, read with libyaml. */
#include "server.h"
#include "srv_log.h"

#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define YAML_EVENTS_MAX 100000 /* bound on a configuration file's size in events */

struct yaml_state {
    char key[128];
    int have_key;
    int in_seq;
    char seq[SRV_STR_MAX * 4]; /* a sequence's items joined with commas */
};

static int apply(struct srv_config *c, const char *key, const char *value, int line, char *err,
                 size_t err_len)
{
    int rc = srv_config_set(c, key, strlen(key), value, err, err_len);
    if (rc == CAIRN_ENOTFOUND) {
        srv_log(SRV_LOG_WARN, "config file line %d: ignoring unknown key \"%s\"\n", line, key);
        return 0;
    }
    if (rc < 0) {
        char inner[256];
        snprintf(inner, sizeof(inner), "%s", err);
        snprintf(err, err_len, "config file line %d: %s", line, inner);
    }
    return rc;
}

static int on_scalar(struct srv_config *c, struct yaml_state *st, const yaml_event_t *ev, char *err,
                     size_t err_len)
{
    const char *v = (const char *)ev->data.scalar.value;
    int line = (int)ev->start_mark.line + 1;
    if (st->in_seq) {
        size_t used = strlen(st->seq);
        if (used + strlen(v) + 2 > sizeof(st->seq)) {
            snprintf(err, err_len, "config file line %d: list for \"%s\" too long", line, st->key);
            return CAIRN_EINVAL;
        }
        if (used)
            strcat(st->seq, ",");
        strcat(st->seq, v);
        return 0;
    }
    if (!st->have_key) {
        snprintf(st->key, sizeof(st->key), "%s", v);
        st->have_key = 1;
        return 0;
    }
    st->have_key = 0;
    if (v[0] == '\0' && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        return 0; /* "key:" with nothing after it keeps the default, as etcd does */
    return apply(c, st->key, v, line, err, err_len);
}

int srv_config_load_yaml(struct srv_config *c, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "cannot open config file %s: %s", path, strerror(errno));
        return CAIRN_EINVAL;
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    struct yaml_state st;
    memset(&st, 0, sizeof(st));
    int rc = 0, depth = 0, done = 0;
    for (int n = 0; rc == 0 && !done && n < YAML_EVENTS_MAX; n++) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            snprintf(err, err_len, "config file %s line %d: %s", path, (int)p.problem_mark.line + 1,
                     p.problem ? p.problem : "YAML error");
            rc = CAIRN_EINVAL;
            break;
        }
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
            if (++depth > 1) { /* nested sections (e.g. client-transport-security) */
                srv_log(SRV_LOG_WARN, "config file: ignoring section \"%s\"\n", st.key);
            }
            st.have_key = 0;
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            st.have_key = 0;
            break;
        case YAML_SEQUENCE_START_EVENT:
            st.in_seq = 1;
            st.seq[0] = '\0';
            break;
        case YAML_SEQUENCE_END_EVENT:
            st.in_seq = 0;
            st.have_key = 0;
            if (depth == 1)
                rc = apply(c, st.key, st.seq, (int)ev.start_mark.line + 1, err, err_len);
            break;
        case YAML_SCALAR_EVENT:
            if (depth == 1)
                rc = on_scalar(c, &st, &ev, err, err_len);
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}
