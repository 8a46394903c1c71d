/* get, put, del: requests built from flags the way etcdctl 3.4 builds them. */
#include "ctl_json.h"
#include "ctl_kv.h"

#include "common.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STDIN_VALUE_MAX (64u << 20) /* a value read from stdin: far above any request limit */

void kv_bytes_free(struct kv_bytes *b)
{
    free(b->key);
    free(b->end);
    free(b->value);
    memset(b, 0, sizeof(*b));
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    CAIRN_ASSERT(d != NULL);
    if (n)
        memcpy(d, p, n);
    return d;
}

static void set_key(struct kv_bytes *b, const char *key)
{
    free(b->key);
    b->key_len = strlen(key);
    b->key = dup_bytes(key, b->key_len);
}

static void set_end(struct kv_bytes *b, const void *end, size_t len)
{
    free(b->end);
    b->end_len = len;
    b->end = dup_bytes(end, len);
}

void kv_prefix_end(struct kv_bytes *b)
{
    for (size_t i = b->key_len; i > 0; i--) {
        if (b->key[i - 1] < 0xff) {
            set_end(b, b->key, i);
            b->end[i - 1]++;
            return;
        }
    }
    set_end(b, "", 1); /* "\0": every key */
}

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return CTL_EXIT_USAGE;
}

static void set_zero_key(struct kv_bytes *b)
{
    free(b->key);
    b->key = dup_bytes("", 1); /* "\0", the smallest key */
    b->key_len = 1;
}

/* --prefix / --from-key on key (etcdctl: an empty key with either means every key). */
static void apply_prefix_from_key(struct kv_bytes *b, int prefix, int from_key)
{
    if (prefix) {
        if (b->key_len == 0) {
            set_zero_key(b);
            set_end(b, "", 1);
        } else {
            kv_prefix_end(b);
        }
    }
    if (from_key) {
        if (b->key_len == 0)
            set_zero_key(b);
        set_end(b, "", 1);
    }
}

int kv_build_range(const struct ctl_parsed *p, Etcdserverpb__RangeRequest *req, struct kv_bytes *b,
                   char *err, size_t err_len)
{
    CAIRN_ASSERT(p != NULL && req != NULL && b != NULL);
    etcdserverpb__range_request__init(req);
    memset(b, 0, sizeof(*b));
    int prefix = ctl_flag_bool(p, "prefix"), from_key = ctl_flag_bool(p, "from-key");
    if (prefix && from_key)
        return fail(err, err_len,
                    "`--prefix` and `--from-key` cannot be set at the same time, choose one");
    if (p->n_args == 0 || p->n_args > 2)
        return fail(err, err_len,
                    "get command needs one argument as key and an optional argument as "
                    "range_end");
    const char *consistency = ctl_flag_str(p, "consistency");
    if (strcmp(consistency, "s") == 0)
        req->serializable = 1;
    else if (strcmp(consistency, "l") != 0)
        return fail(err, err_len, "unknown consistency flag \"%s\"", consistency);
    set_key(b, p->args[0]);
    if (p->n_args > 1) {
        if (prefix || from_key)
            return fail(err, err_len,
                        "too many arguments, only accept one argument when `--prefix` or "
                        "`--from-key` is set.");
        set_end(b, p->args[1], strlen(p->args[1]));
    }
    req->limit = ctl_flag_int(p, "limit");
    int64_t rev = ctl_flag_int(p, "rev");
    req->revision = rev > 0 ? rev : 0;

    const char *order = ctl_flag_str(p, "order");
    if (strcasecmp(order, "ASCEND") == 0)
        req->sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
    else if (strcasecmp(order, "DESCEND") == 0)
        req->sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
    else if (order[0])
        return fail(err, err_len, "bad sort order %s", order);
    static const struct {
        const char *name;
        Etcdserverpb__RangeRequest__SortTarget target;
    } targets[] = {{"CREATE", ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE},
                   {"KEY", ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY},
                   {"MODIFY", ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD},
                   {"VALUE", ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE},
                   {"VERSION", ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VERSION}};
    const char *by = ctl_flag_str(p, "sort-by");
    int found = by[0] == '\0';
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(targets) && !found; i++) {
        if (strcasecmp(by, targets[i].name) == 0) {
            req->sort_target = targets[i].target;
            found = 1;
        }
    }
    if (!found)
        return fail(err, err_len, "bad sort target %s", by);
    /* clientv3's WithSort: by key ascending is the server's natural order, sent as NONE */
    if (req->sort_target == ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY &&
        req->sort_order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND)
        req->sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE;
    apply_prefix_from_key(b, prefix, from_key);
    req->keys_only = ctl_flag_bool(p, "keys-only");
    req->count_only = ctl_flag_bool(p, "count-only");
    req->key.data = b->key, req->key.len = b->key_len;
    req->range_end.data = b->end, req->range_end.len = b->end_len;
    return CTL_EXIT_OK;
}

static int read_stdin(struct kv_bytes *b)
{
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    CAIRN_ASSERT(buf != NULL);
    for (;;) {
        if (len == cap) {
            if (cap >= STDIN_VALUE_MAX)
                break;
            cap *= 2;
            buf = realloc(buf, cap);
            CAIRN_ASSERT(buf != NULL);
        }
        size_t n = fread(buf + len, 1, cap - len, stdin);
        if (n == 0)
            break;
        len += n;
    }
    b->value = buf;
    b->value_len = len;
    return len > 0 ? 0 : -1;
}

int kv_build_put(const struct ctl_parsed *p, int allow_stdin, Etcdserverpb__PutRequest *req,
                 struct kv_bytes *b, char *err, size_t err_len)
{
    CAIRN_ASSERT(p != NULL && req != NULL && b != NULL);
    etcdserverpb__put_request__init(req);
    memset(b, 0, sizeof(*b));
    static const char usage[] = "put command needs 1 argument and input from stdin or 2 arguments";
    if (p->n_args == 0)
        return fail(err, err_len, usage);
    int ignore_value = ctl_flag_bool(p, "ignore-value");
    if (ignore_value && p->n_args > 1)
        return fail(err, err_len, "put command needs only 1 argument when 'ignore-value' is set");
    if (p->n_args > 2)
        return fail(err, err_len, usage);
    set_key(b, p->args[0]);
    if (!ignore_value) {
        if (p->n_args > 1) {
            b->value_len = strlen(p->args[1]);
            b->value = dup_bytes(p->args[1], b->value_len);
        } else if (!allow_stdin || read_stdin(b) < 0) {
            return fail(err, err_len, usage);
        }
    }
    uint64_t lease;
    const char *ls = ctl_flag_str(p, "lease");
    if (ctl_parse_hex_u64(ls, &lease) < 0 || lease > (uint64_t)INT64_MAX)
        return fail(err, err_len, "bad lease ID (%s), expecting ID in Hex", ls);
    req->key.data = b->key, req->key.len = b->key_len;
    req->value.data = b->value, req->value.len = b->value_len;
    req->lease = (int64_t)lease;
    req->prev_kv = ctl_flag_bool(p, "prev-kv");
    req->ignore_value = ignore_value;
    req->ignore_lease = ctl_flag_bool(p, "ignore-lease");
    return CTL_EXIT_OK;
}

int kv_build_delete(const struct ctl_parsed *p, Etcdserverpb__DeleteRangeRequest *req,
                    struct kv_bytes *b, char *err, size_t err_len)
{
    CAIRN_ASSERT(p != NULL && req != NULL && b != NULL);
    etcdserverpb__delete_range_request__init(req);
    memset(b, 0, sizeof(*b));
    int prefix = ctl_flag_bool(p, "prefix"), from_key = ctl_flag_bool(p, "from-key");
    if (p->n_args == 0 || p->n_args > 2)
        return fail(err, err_len,
                    "del command needs one argument as key and an optional argument as "
                    "range_end");
    if (prefix && from_key)
        return fail(err, err_len,
                    "`--prefix` and `--from-key` cannot be set at the same time, choose one");
    set_key(b, p->args[0]);
    if (p->n_args > 1) {
        if (prefix || from_key)
            return fail(err, err_len,
                        "too many arguments, only accept one argument when `--prefix` or "
                        "`--from-key` is set.");
        set_end(b, p->args[1], strlen(p->args[1]));
    }
    apply_prefix_from_key(b, prefix, from_key);
    req->key.data = b->key, req->key.len = b->key_len;
    req->range_end.data = b->end, req->range_end.len = b->end_len;
    req->prev_kv = ctl_flag_bool(p, "prev-kv");
    return CTL_EXIT_OK;
}

int cmd_get(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    int value_only = ctl_flag_bool(&c->p, "print-value-only");
    if (value_only && c->format != CTL_SIMPLE)
        return ctl_usage_error(c, "print-value-only is only for `--write-out=simple`");
    Etcdserverpb__RangeRequest req;
    struct kv_bytes b;
    char err[256];
    int rc = kv_build_range(&c->p, &req, &b, err, sizeof(err));
    if (rc != CTL_EXIT_OK) {
        kv_bytes_free(&b);
        return ctl_usage_error(c, "%s", err);
    }
    struct cairn_client_status st;
    Etcdserverpb__RangeResponse *resp = NULL;
    rc = cairn_client_range(ctl_client(c), &req, &resp, &st);
    kv_bytes_free(&b);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    if (c->format == CTL_JSON)
        cj_print(stdout, cj_range(resp));
    else if (c->format == CTL_FIELDS)
        out_range_fields(resp);
    else if (req.count_only)
        printf("%lld\n", (long long)resp->count);
    else
        out_range_simple(resp, c->hex, value_only);
    cairn_client_free(resp);
    return CTL_EXIT_OK;
}

int cmd_put(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    Etcdserverpb__PutRequest req;
    struct kv_bytes b;
    char err[256];
    int rc = kv_build_put(&c->p, 1, &req, &b, err, sizeof(err));
    if (rc != CTL_EXIT_OK) {
        kv_bytes_free(&b);
        return ctl_usage_error(c, "%s", err);
    }
    struct cairn_client_status st;
    Etcdserverpb__PutResponse *resp = NULL;
    rc = cairn_client_put(ctl_client(c), &req, &resp, &st);
    kv_bytes_free(&b);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    if (c->format == CTL_JSON)
        cj_print(stdout, cj_put(resp));
    else if (c->format == CTL_FIELDS)
        out_put_fields(resp);
    else
        out_put_simple(resp, c->hex);
    cairn_client_free(resp);
    return CTL_EXIT_OK;
}

int cmd_del(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    Etcdserverpb__DeleteRangeRequest req;
    struct kv_bytes b;
    char err[256];
    int rc = kv_build_delete(&c->p, &req, &b, err, sizeof(err));
    if (rc != CTL_EXIT_OK) {
        kv_bytes_free(&b);
        return ctl_usage_error(c, "%s", err);
    }
    struct cairn_client_status st;
    Etcdserverpb__DeleteRangeResponse *resp = NULL;
    rc = cairn_client_delete_range(ctl_client(c), &req, &resp, &st);
    kv_bytes_free(&b);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    if (c->format == CTL_JSON)
        cj_print(stdout, cj_delete(resp));
    else if (c->format == CTL_FIELDS)
        out_delete_fields(resp);
    else
        out_delete_simple(resp, c->hex);
    cairn_client_free(resp);
    return CTL_EXIT_OK;
}
