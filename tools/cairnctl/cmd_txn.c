/* txn: a transaction read from standard input in etcdctl's format (compares, success
 * requests, failure requests, each section ended by a blank line). */
#include "ctl_json.h"
#include "ctl_kv.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

#define TXN_LINE_MAX   (1u << 20) /* one input line */
#define TXN_OPS_MAX    1024       /* per section; the server's limit (128) is lower anyway */
#define TXN_TOKENS_MAX CTL_ARGS_MAX

/* Go's strconv.Unquote for a double-quoted or back-quoted literal at s. On success *out is
 * a malloc'd buffer (not NUL-terminated data, but NUL appended), *end just past the closing
 * quote. Returns 0 or -1 (not a valid literal). */
static int go_unquote(const char *s, char **out, size_t *out_len, const char **end)
{
    char q = s[0];
    if (q != '"' && q != '`')
        return -1;
    size_t cap = strlen(s) + 1, n = 0;
    char *buf = malloc(cap);
    CAIRN_ASSERT(buf != NULL);
    const char *p = s + 1;
    for (; *p && *p != q; p++) {
        if (q == '`' || *p != '\\') {
            buf[n++] = *p;
            continue;
        }
        p++;
        unsigned v = 0;
        int digits = 0, base = 16;
        switch (*p) {
        case 'a':
            buf[n++] = '\a';
            continue;
        case 'b':
            buf[n++] = '\b';
            continue;
        case 'f':
            buf[n++] = '\f';
            continue;
        case 'n':
            buf[n++] = '\n';
            continue;
        case 'r':
            buf[n++] = '\r';
            continue;
        case 't':
            buf[n++] = '\t';
            continue;
        case 'v':
            buf[n++] = '\v';
            continue;
        case '\\':
            buf[n++] = '\\';
            continue;
        case '"':
            buf[n++] = '"';
            continue;
        case '\'':
            buf[n++] = '\'';
            continue;
        case 'x':
            digits = 2, p++;
            break;
        case 'u':
            digits = 4, p++;
            break;
        case 'U':
            digits = 8, p++;
            break;
        default:
            if (*p >= '0' && *p <= '7') {
                digits = 3, base = 8;
                break;
            }
            free(buf);
            return -1;
        }
        for (int i = 0; i < digits; i++, p++) {
            int d = (*p >= '0' && *p <= '9')   ? *p - '0'
                    : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
                    : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10
                                               : 99;
            if (d >= base) {
                free(buf);
                return -1;
            }
            v = v * (unsigned)base + (unsigned)d;
        }
        p--;
        if (digits == 2 || base == 8) {
            if (v > 255) {
                free(buf);
                return -1;
            }
            buf[n++] = (char)v;
        } else { /* a code point: UTF-8 */
            if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
                free(buf);
                return -1;
            }
            if (v < 0x80) {
                buf[n++] = (char)v;
            } else if (v < 0x800) {
                buf[n++] = (char)(0xc0 | (v >> 6));
                buf[n++] = (char)(0x80 | (v & 0x3f));
            } else if (v < 0x10000) {
                buf[n++] = (char)(0xe0 | (v >> 12));
                buf[n++] = (char)(0x80 | ((v >> 6) & 0x3f));
                buf[n++] = (char)(0x80 | (v & 0x3f));
            } else {
                buf[n++] = (char)(0xf0 | (v >> 18));
                buf[n++] = (char)(0x80 | ((v >> 12) & 0x3f));
                buf[n++] = (char)(0x80 | ((v >> 6) & 0x3f));
                buf[n++] = (char)(0x80 | (v & 0x3f));
            }
        }
    }
    if (*p != q) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    *end = p + 1;
    return 0;
}

/* etcdctl's Argify: "double quoted" (Go escapes), 'single quoted' or bare words. The tokens
 * are malloc'd into tok[0..*n). Returns 0 or -1 (too many tokens). */
static int argify(const char *line, char **tok, size_t max, size_t *n)
{
    *n = 0;
    for (const char *p = line; *p;) {
        if (*p == ' ' || *p == '\t') {
            p++;
            continue;
        }
        if (*n == max)
            return -1;
        const char *end;
        char *s;
        size_t len;
        if (*p == '"' && go_unquote(p, &s, &len, &end) == 0) {
            tok[(*n)++] = s;
            p = end;
        } else if (*p == '\'' && strchr(p + 1, '\'')) {
            end = strchr(p + 1, '\'');
            tok[(*n)++] = strndup(p + 1, (size_t)(end - p - 1));
            p = end + 1;
        } else if (*p == '"' || *p == '\'') {
            p++; /* an unmatched quote starts no token */
        } else {
            end = p;
            while (*end && *end != ' ' && *end != '\t')
                end++;
            tok[(*n)++] = strndup(p, (size_t)(end - p));
            p = end;
        }
        CAIRN_ASSERT(tok[*n - 1] != NULL);
    }
    return 0;
}

struct txn_build {
    Etcdserverpb__TxnRequest req;
    Etcdserverpb__Compare *cmp[TXN_OPS_MAX];
    Etcdserverpb__RequestOp *ops[2][TXN_OPS_MAX];
    struct kv_bytes bytes[3][TXN_OPS_MAX];
    char *cmp_val[TXN_OPS_MAX];
    char *tokens[TXN_OPS_MAX * 2][TXN_TOKENS_MAX]; /* the request lines' tokens, kept */
    size_t n_tokens[TXN_OPS_MAX * 2];
    size_t n_lines;
};

static void txn_build_free(struct txn_build *t)
{
    for (size_t i = 0; i < t->req.n_compare; i++) {
        free(t->cmp[i]->key.data);
        free(t->cmp_val[i]);
        free(t->cmp[i]);
    }
    for (int s = 0; s < 2; s++) {
        size_t n = s == 0 ? t->req.n_success : t->req.n_failure;
        for (size_t i = 0; i < n; i++) {
            Etcdserverpb__RequestOp *op = t->ops[s][i];
            free(op->request_range); /* any member of the union: one pointer */
            kv_bytes_free(&t->bytes[s + 1][i]);
            free(op);
        }
    }
    for (size_t l = 0; l < t->n_lines; l++)
        for (size_t k = 0; k < t->n_tokens[l]; k++)
            free(t->tokens[l][k]);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* `target("key") op "value"`, as etcdctl's ParseCompare. */
static int parse_compare(const char *line, Etcdserverpb__Compare *cmp, char **val_out, char *err,
                         size_t err_len)
{
    etcdserverpb__compare__init(cmp);
    *val_out = NULL;
    const char *lp = strchr(line, '(');
    if (!lp) {
        snprintf(err, err_len, "malformed comparison: %s", line);
        return -1;
    }
    size_t tlen = (size_t)(lp - line);
    char *key = NULL, *val = NULL;
    size_t klen = 0, vlen = 0;
    const char *p;
    char op[8];
    if (go_unquote(lp + 1, &key, &klen, &p) < 0 || *p != ')') {
        snprintf(err, err_len, "malformed comparison: %s", line);
        return -1;
    }
    p++;
    while (*p == ' ')
        p++;
    size_t olen = strcspn(p, " ");
    if (olen == 0 || olen >= sizeof(op)) {
        free(key);
        snprintf(err, err_len, "malformed comparison: %s", line);
        return -1;
    }
    memcpy(op, p, olen);
    op[olen] = '\0';
    p += olen;
    while (*p == ' ')
        p++;
    if (go_unquote(p, &val, &vlen, &p) < 0) {
        free(key);
        snprintf(err, err_len, "malformed comparison: %s", line);
        return -1;
    }
    cmp->key.data = (uint8_t *)key;
    cmp->key.len = klen;
    *val_out = val;
    if (strcmp(op, "=") == 0 || strcmp(op, "==") == 0)
        cmp->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
    else if (strcmp(op, "!=") == 0)
        cmp->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL;
    else if (strcmp(op, ">") == 0)
        cmp->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER;
    else if (strcmp(op, "<") == 0)
        cmp->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS;
    else {
        snprintf(err, err_len, "invalid txn compare request: %s (unknown operator %s)", line, op);
        return -1;
    }
    int64_t num = 0;
    uint64_t hex = 0;
#define TARGET(s) (tlen == strlen(s) && strncmp(line, s, tlen) == 0)
    if (TARGET("ver") || TARGET("version") || TARGET("c") || TARGET("create") || TARGET("m") ||
        TARGET("mod")) {
        if (ctl_parse_int64(val, &num) < 0) {
            snprintf(err, err_len, "invalid txn compare request: %s", line);
            return -1;
        }
        if (TARGET("ver") || TARGET("version")) {
            cmp->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
            cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
            cmp->version = num;
        } else if (TARGET("c") || TARGET("create")) {
            cmp->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
            cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
            cmp->create_revision = num;
        } else {
            cmp->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
            cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
            cmp->mod_revision = num;
        }
    } else if (TARGET("val") || TARGET("value")) {
        cmp->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
        cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
        cmp->value.data = (uint8_t *)val;
        cmp->value.len = vlen;
    } else if (TARGET("lease")) {
        if (ctl_parse_hex_u64(val, &hex) < 0 || hex > (uint64_t)INT64_MAX) {
            snprintf(err, err_len, "invalid txn compare request: %s", line);
            return -1;
        }
        cmp->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE;
        cmp->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
        cmp->lease = (int64_t)hex;
    } else {
        snprintf(err, err_len, "malformed comparison: %s (unknown target %.*s)", line, (int)tlen,
                 line);
        return -1;
    }
#undef TARGET
    return 0;
}

/* One request line ("put k v --prev-kv", "get k --prefix", "del k") into op. */
static int parse_op(struct txn_build *t, int section, size_t idx, const char *line,
                    Etcdserverpb__RequestOp *op, char *err, size_t err_len)
{
    etcdserverpb__request_op__init(op);
    size_t l = t->n_lines++;
    if (argify(line, t->tokens[l], TXN_TOKENS_MAX, &t->n_tokens[l]) < 0 || t->n_tokens[l] < 2) {
        snprintf(err, err_len, "invalid txn compare request: %s", line);
        return -1;
    }
    struct ctl_parsed p;
    char perr[256];
    if (ctl_parse((int)t->n_tokens[l], (const char *const *)t->tokens[l], &p, perr, sizeof(perr)) !=
            0 ||
        !p.cmd) {
        snprintf(err, err_len, "invalid txn request: %s", line);
        return -1;
    }
    struct kv_bytes *b = &t->bytes[section + 1][idx];
    int rc;
    if (strcmp(p.cmd->name, "get") == 0) {
        Etcdserverpb__RangeRequest *r = malloc(sizeof(*r));
        CAIRN_ASSERT(r != NULL);
        op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
        op->request_range = r;
        rc = kv_build_range(&p, r, b, perr, sizeof(perr));
    } else if (strcmp(p.cmd->name, "put") == 0) {
        Etcdserverpb__PutRequest *r = malloc(sizeof(*r));
        CAIRN_ASSERT(r != NULL);
        op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
        op->request_put = r;
        rc = kv_build_put(&p, 0, r, b, perr, sizeof(perr));
    } else if (strcmp(p.cmd->name, "del") == 0) {
        Etcdserverpb__DeleteRangeRequest *r = malloc(sizeof(*r));
        CAIRN_ASSERT(r != NULL);
        op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
        op->request_delete_range = r;
        rc = kv_build_delete(&p, r, b, perr, sizeof(perr));
    } else {
        snprintf(err, err_len, "invalid txn request: %s", line);
        return -1;
    }
    if (rc != CTL_EXIT_OK) { /* etcdctl reports the request's own complaint */
        snprintf(err, err_len, "%s", perr);
        return -1;
    }
    return 0;
}

/* Reads one section; returns 0 or -1 with err set. EOF ends a section too (etcdctl needs
 * the blank lines; accepting their absence is friendlier and changes no valid input). */
static int read_section(struct txn_build *t, int section, char *linebuf, char *err, size_t err_len)
{
    for (size_t i = 0;; i++) {
        if (!fgets(linebuf, TXN_LINE_MAX, stdin))
            return 0;
        char *line = trim(linebuf);
        if (!*line)
            return 0;
        if (i == TXN_OPS_MAX) {
            snprintf(err, err_len, "too many lines in one txn section (max %u)", TXN_OPS_MAX);
            return -1;
        }
        if (section < 0) {
            Etcdserverpb__Compare *cmp = malloc(sizeof(*cmp));
            CAIRN_ASSERT(cmp != NULL);
            t->cmp[t->req.n_compare] = cmp;
            t->cmp_val[t->req.n_compare] = NULL;
            t->req.n_compare++;
            if (parse_compare(line, cmp, &t->cmp_val[t->req.n_compare - 1], err, err_len) < 0)
                return -1;
            if (cmp->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE)
                t->cmp_val[t->req.n_compare - 1] = NULL; /* now owned by cmp->value */
        } else {
            size_t *n = section == 0 ? &t->req.n_success : &t->req.n_failure;
            Etcdserverpb__RequestOp *op = calloc(1, sizeof(*op));
            CAIRN_ASSERT(op != NULL);
            t->ops[section][*n] = op;
            (*n)++;
            if (parse_op(t, section, *n - 1, line, op, err, err_len) < 0)
                return -1;
        }
    }
}

int cmd_txn(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->p.n_args != 0)
        return ctl_usage_error(c, "txn command does not accept argument");
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    int interactive = ctl_flag_bool(&c->p, "interactive");
    struct txn_build *t = calloc(1, sizeof(*t));
    char *linebuf = malloc(TXN_LINE_MAX);
    CAIRN_ASSERT(t != NULL && linebuf != NULL);
    etcdserverpb__txn_request__init(&t->req);
    t->req.compare = t->cmp;
    t->req.success = t->ops[0];
    t->req.failure = t->ops[1];
    static const char *const prompts[] = {
        "compares:", "success requests (get, put, del):", "failure requests (get, put, del):"};
    char err[512];
    int rc = CTL_EXIT_OK;
    for (int s = -1; s < 2 && rc == CTL_EXIT_OK; s++) {
        if (interactive) {
            printf("%s\n", prompts[s + 1]);
            fflush(stdout);
        }
        if (read_section(t, s, linebuf, err, sizeof(err)) < 0)
            rc = ctl_usage_error(c, "%s", err);
    }
    if (rc == CTL_EXIT_OK) {
        struct cairn_client_status st;
        Etcdserverpb__TxnResponse *resp = NULL;
        int crc = cairn_client_txn(ctl_client(c), &t->req, &resp, &st);
        if (crc < 0) {
            rc = ctl_error_status(crc, &st);
        } else {
            if (c->format == CTL_JSON)
                cj_print(stdout, cj_txn(resp));
            else if (c->format == CTL_FIELDS)
                out_txn_fields(resp);
            else
                out_txn_simple(resp, c->hex);
            cairn_client_free(resp);
        }
    }
    txn_build_free(t);
    free(t);
    free(linebuf);
    return rc;
}
