/* Command-line parsing the way etcdctl's cobra/pflag does it. */
#include "ctl.h"

#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define WORDS_MAX 128 /* non-flag tokens of one invocation */

/* Every flag name any command declares, to know whether "--x" takes the next token before
 * the command is known (flags may precede the command words). */
static const struct ctl_flag_spec *any_flag(const char *name, char shorthand)
{
    for (size_t i = 0; i < ctl_n_global_flags; i++) {
        const struct ctl_flag_spec *f = &ctl_global_flags[i];
        if (name ? strcmp(f->name, name) == 0 : f->shorthand == shorthand)
            return f;
    }
    for (size_t c = 0; c < ctl_n_commands; c++) {
        for (size_t i = 0; i < ctl_commands[c].n_flags; i++) {
            const struct ctl_flag_spec *f = &ctl_commands[c].flags[i];
            if (name ? strcmp(f->name, name) == 0 : f->shorthand == shorthand)
                return f;
        }
    }
    return NULL;
}

static const struct ctl_flag_spec *cmd_flag(const struct ctl_command *cmd, const char *name,
                                            char shorthand, int *is_global)
{
    *is_global = 0;
    for (size_t i = 0; cmd && i < cmd->n_flags; i++) {
        const struct ctl_flag_spec *f = &cmd->flags[i];
        if (name ? strcmp(f->name, name) == 0 : f->shorthand == shorthand)
            return f;
    }
    *is_global = 1;
    for (size_t i = 0; i < ctl_n_global_flags; i++) {
        const struct ctl_flag_spec *f = &ctl_global_flags[i];
        if (name ? strcmp(f->name, name) == 0 : f->shorthand == shorthand)
            return f;
    }
    return NULL;
}

int ctl_parse_int64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int ctl_parse_hex_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int ctl_parse_duration_ms(const char *s, int64_t *ms)
{
    CAIRN_ASSERT(ms != NULL);
    if (!s || !*s)
        return -1;
    int64_t n;
    if (ctl_parse_int64(s, &n) == 0) { /* a bare number: seconds, like etcdctl's ints */
        *ms = n * 1000;
        return n >= 0 ? 0 : -1;
    }
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1},
                 {"s", 1000},  {"m", 60000}, {"h", 3600000}};
    double total = 0;
    const char *p = s;
    for (int parts = 0; *p; parts++) {
        if (parts > 8)
            return -1;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || v < 0)
            return -1;
        p = end;
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < CAIRN_ARRAY_LEN(units); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && l > best_len)
                best = i, best_len = l;
        }
        if (best_len == 0)
            return -1;
        total += v * units[best].ms;
        p += best_len;
    }
    *ms = (int64_t)total;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(t); i++) {
        if (strcmp(s, t[i]) == 0)
            return *out = 1, 0;
        if (strcmp(s, f[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

static int set_value(struct ctl_flag_value *v, const char *text, char *err, size_t err_len)
{
    const struct ctl_flag_spec *f = v->spec;
    v->str = text;
    switch (f->type) {
    case CTL_BOOL: {
        int b;
        if (parse_bool(text, &b) < 0) {
            snprintf(err, err_len, "invalid argument \"%s\" for \"--%s\" flag: bad boolean", text,
                     f->name);
            return -1;
        }
        v->num = b;
        return 0;
    }
    case CTL_INT:
        if (ctl_parse_int64(text, &v->num) < 0) {
            snprintf(err, err_len, "invalid argument \"%s\" for \"--%s\" flag: bad integer", text,
                     f->name);
            return -1;
        }
        return 0;
    case CTL_DURATION:
        if (ctl_parse_duration_ms(text, &v->num) < 0) {
            snprintf(err, err_len, "invalid argument \"%s\" for \"--%s\" flag: bad duration", text,
                     f->name);
            return -1;
        }
        return 0;
    case CTL_STRING:
        return 0;
    }
    return -1;
}

static void init_values(struct ctl_flag_value *vals, size_t *n, const struct ctl_flag_spec *specs,
                        size_t n_specs)
{
    CAIRN_ASSERT(n_specs <= CTL_FLAGS_MAX);
    char ignored[256]; /* defaults always parse; room for the message keeps gcc -O3 quiet */
    for (size_t i = 0; i < n_specs; i++) {
        vals[i].spec = &specs[i];
        vals[i].set = 0;
        int rc = set_value(&vals[i], specs[i].def, ignored, sizeof(ignored));
        CAIRN_ASSERT(rc == 0); /* every default parses */
    }
    *n = n_specs;
}

struct occurrence {
    const char *name; /* long name, or NULL for a shorthand */
    char shorthand;
    const char *value; /* NULL: none given (bool) */
    const char *token;
};

/* Splits argv into words and flag occurrences. */
static int scan(int argc, const char *const *argv, const char **words, size_t *n_words,
                struct occurrence *occ, size_t *n_occ, const char **after, size_t *n_after,
                int *dashdash, char *err, size_t err_len, char *deferred, size_t deferred_len)
{
    *n_words = *n_occ = *n_after = 0;
    *dashdash = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (*dashdash || a[0] != '-' || a[1] == '\0') {
            const char **dst = *dashdash ? after : words;
            size_t *n = *dashdash ? n_after : n_words;
            if (*n == (*dashdash ? (size_t)CTL_ARGS_MAX : (size_t)WORDS_MAX)) {
                snprintf(err, err_len, "too many arguments");
                return -1;
            }
            dst[(*n)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            *dashdash = 1;
            continue;
        }
        if (*n_occ == WORDS_MAX) {
            snprintf(err, err_len, "too many flags");
            return -1;
        }
        struct occurrence *o = &occ[(*n_occ)++];
        memset(o, 0, sizeof(*o));
        o->token = a;
        const struct ctl_flag_spec *f;
        if (a[1] == '-') { /* --name[=value] */
            static char names[WORDS_MAX][64];
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (len >= sizeof(names[0])) {
                snprintf(err, err_len, "unknown flag: %s", a);
                return -1;
            }
            memcpy(names[*n_occ - 1], a + 2, len);
            names[*n_occ - 1][len] = '\0';
            o->name = names[*n_occ - 1];
            o->value = eq ? eq + 1 : NULL;
            f = any_flag(o->name, 0);
        } else { /* -x, -xvalue, -x=value, -x value */
            o->shorthand = a[1];
            o->value = a[2] ? (a[2] == '=' ? a + 3 : a + 2) : NULL;
            f = any_flag(NULL, o->shorthand);
        }
        if (!f) { /* reported once the command is known (to show its usage) */
            if (!*deferred)
                snprintf(deferred, deferred_len, "unknown %s: %s",
                         o->name ? "flag" : "shorthand flag", a);
            (*n_occ)--;
            continue;
        }
        if (f->type == CTL_BOOL && o->shorthand && o->value && a[2] != '=') {
            snprintf(err, err_len, "unknown shorthand flag: %s", a);
            return -1;
        }
        if (f->type != CTL_BOOL && !o->value) {
            if (i + 1 >= argc) {
                snprintf(err, err_len, "flag needs an argument: %s", a);
                return -1;
            }
            o->value = argv[++i];
        }
    }
    return 0;
}

int ctl_parse(int argc, const char *const *argv, struct ctl_parsed *p, char *err, size_t err_len)
{
    CAIRN_ASSERT(p != NULL && err != NULL && err_len > 0);
    memset(p, 0, sizeof(*p));
    err[0] = '\0';
    init_values(p->global, &p->n_global, ctl_global_flags, ctl_n_global_flags);
    const char *words[WORDS_MAX], *after[CTL_ARGS_MAX];
    static struct occurrence occ[WORDS_MAX];
    size_t n_words, n_occ, n_after;
    char deferred[256] = "";
    if (scan(argc, argv, words, &n_words, occ, &n_occ, after, &n_after, &p->dashdash, err, err_len,
             deferred, sizeof(deferred)) < 0)
        return CTL_EXIT_USAGE;

    /* the command: one word, or a group word and a sub-command word */
    size_t used = 0;
    if (n_words > 0) {
        char name[128];
        if (n_words > 1 && ctl_command_is_group(words[0])) {
            snprintf(name, sizeof(name), "%s %s", words[0], words[1]);
            p->cmd = ctl_command_find(name);
            used = p->cmd ? 2 : 0;
        }
        if (!p->cmd) {
            p->cmd = ctl_command_find(words[0]);
            used = p->cmd ? 1 : 0;
        }
        if (!p->cmd && !ctl_command_is_group(words[0])) {
            snprintf(err, err_len, "unknown command \"%s\" for \"cairnctl\"", words[0]);
            return CTL_EXIT_USAGE;
        }
        if (!p->cmd) {
            p->group = words[0];
            if (n_words > 1) {
                snprintf(err, err_len, "unknown command \"%s\" for \"cairnctl %s\"", words[1],
                         words[0]);
                return CTL_EXIT_USAGE;
            }
        }
    }
    if (p->cmd)
        init_values(p->local, &p->n_local, p->cmd->flags, p->cmd->n_flags);
    if (deferred[0]) {
        snprintf(err, err_len, "%s", deferred);
        return CTL_EXIT_USAGE;
    }

    for (size_t i = 0; i < n_occ; i++) {
        struct occurrence *o = &occ[i];
        int is_global;
        const struct ctl_flag_spec *f = cmd_flag(p->cmd, o->name, o->shorthand, &is_global);
        if (!f) {
            snprintf(err, err_len, "unknown %s: %s", o->name ? "flag" : "shorthand flag", o->token);
            return CTL_EXIT_USAGE;
        }
        struct ctl_flag_value *vals = is_global ? p->global : p->local;
        size_t n = is_global ? p->n_global : p->n_local;
        size_t k = (size_t)(f - (is_global ? ctl_global_flags : p->cmd->flags));
        CAIRN_ASSERT(k < n && vals[k].spec == f);
        if (set_value(&vals[k], o->value ? o->value : "true", err, err_len) < 0)
            return CTL_EXIT_USAGE;
        vals[k].set = 1;
    }
    p->help = ctl_flag_bool(p, "help");

    for (size_t i = used; i < n_words; i++)
        p->args[p->n_args++] = words[i]; /* n_words <= WORDS_MAX, checked below */
    if (p->n_args > CTL_ARGS_MAX) {
        snprintf(err, err_len, "too many arguments");
        return CTL_EXIT_USAGE;
    }
    /* After "--": watch runs them as a command; everywhere else they are arguments. */
    int exec = p->cmd && strcmp(p->cmd->name, "watch") == 0;
    for (size_t i = 0; i < n_after; i++) {
        if (exec) {
            p->exec_args[p->n_exec_args++] = after[i];
        } else if (p->n_args < CTL_ARGS_MAX) {
            p->args[p->n_args++] = after[i];
        } else {
            snprintf(err, err_len, "too many arguments");
            return CTL_EXIT_USAGE;
        }
    }
    return 0;
}

const struct ctl_flag_value *ctl_flag(const struct ctl_parsed *p, const char *name)
{
    CAIRN_ASSERT(p != NULL && name != NULL);
    for (size_t i = 0; i < p->n_local; i++)
        if (strcmp(p->local[i].spec->name, name) == 0)
            return &p->local[i];
    for (size_t i = 0; i < p->n_global; i++)
        if (strcmp(p->global[i].spec->name, name) == 0)
            return &p->global[i];
    CAIRN_ASSERT(!"flag not declared for this command");
    return NULL;
}

int ctl_flag_bool(const struct ctl_parsed *p, const char *name)
{
    const struct ctl_flag_value *v = ctl_flag(p, name);
    CAIRN_ASSERT(v->spec->type == CTL_BOOL);
    return v->num != 0;
}

const char *ctl_flag_str(const struct ctl_parsed *p, const char *name)
{
    return ctl_flag(p, name)->str;
}

int64_t ctl_flag_int(const struct ctl_parsed *p, const char *name)
{
    const struct ctl_flag_value *v = ctl_flag(p, name);
    CAIRN_ASSERT(v->spec->type == CTL_INT || v->spec->type == CTL_DURATION);
    return v->num;
}
