/* -w json: etcd responses as jansson trees, printed with Go encoding/json's conventions. */
#include "ctl_json.h"

#include "common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* jansson integers are signed 64-bit; a uint64 above INT64_MAX (member and cluster IDs are
 * random 64-bit values) is carried as this marked string and turned back into a bare
 * number when the text is produced (cj_dumps). */
#define U64_MARK     "\x01u64:"
#define U64_MARK_OUT "\"\\u0001u64:"

json_t *cj_i64(int64_t v)
{
    json_t *j = json_integer((json_int_t)v);
    CAIRN_ASSERT(j != NULL);
    return j;
}

json_t *cj_u64(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX)
        return cj_i64((int64_t)v);
    char buf[32];
    snprintf(buf, sizeof(buf), U64_MARK "%" PRIu64, v);
    json_t *j = json_string(buf);
    CAIRN_ASSERT(j != NULL);
    return j;
}

json_t *cj_bool(int v)
{
    return v ? json_true() : json_false();
}

/* Go replaces each byte of an invalid UTF-8 sequence with U+FFFD. */
json_t *cj_str(const char *s)
{
    if (!s)
        s = "";
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *fixed = malloc(n * 3 + 1);
    CAIRN_ASSERT(fixed != NULL);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
        if (ok) {
            json_t *probe = json_stringn(s + i, len);
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok) {
            memcpy(fixed + o, s + i, len);
            o += len;
            i += len - 1;
        } else {
            memcpy(fixed + o, "\xef\xbf\xbd", 3);
            o += 3;
        }
    }
    fixed[o] = '\0';
    j = json_string(fixed);
    free(fixed);
    CAIRN_ASSERT(j != NULL);
    return j;
}

json_t *cj_b64(const ProtobufCBinaryData *b)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = b ? b->len : 0;
    char *out = malloc((n + 2) / 3 * 4 + 1);
    CAIRN_ASSERT(out != NULL);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b->data[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)b->data[i + 1] << 8;
        if (i + 2 < n)
            v |= b->data[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    json_t *j = json_string(out);
    free(out);
    CAIRN_ASSERT(j != NULL);
    return j;
}

void cj_set(json_t *obj, const char *key, json_t *v)
{
    CAIRN_ASSERT(obj != NULL && v != NULL);
    int rc = json_object_set_new(obj, key, v);
    CAIRN_ASSERT(rc == 0);
}

void cj_set_i64(json_t *obj, const char *key, int64_t v)
{
    if (v != 0)
        cj_set(obj, key, cj_i64(v));
}

void cj_set_u64(json_t *obj, const char *key, uint64_t v)
{
    if (v != 0)
        cj_set(obj, key, cj_u64(v));
}

void cj_set_bool(json_t *obj, const char *key, int v)
{
    if (v)
        cj_set(obj, key, json_true());
}

void cj_set_str(json_t *obj, const char *key, const char *s)
{
    if (s && *s)
        cj_set(obj, key, cj_str(s));
}

void cj_set_b64(json_t *obj, const char *key, const ProtobufCBinaryData *b)
{
    if (b && b->len > 0)
        cj_set(obj, key, cj_b64(b));
}

void cj_header_inline(json_t *obj, const Etcdserverpb__ResponseHeader *h)
{
    if (!h)
        return;
    cj_set_u64(obj, "cluster_id", h->cluster_id);
    cj_set_u64(obj, "member_id", h->member_id);
    cj_set_i64(obj, "revision", h->revision);
    cj_set_u64(obj, "raft_term", h->raft_term);
}

json_t *cj_header(const Etcdserverpb__ResponseHeader *h)
{
    if (!h)
        return json_null();
    json_t *o = json_object();
    cj_header_inline(o, h);
    return o;
}

static void set_header(json_t *obj, const Etcdserverpb__ResponseHeader *h)
{
    if (h) /* *ResponseHeader `json:"header,omitempty"` */
        cj_set(obj, "header", cj_header(h));
}

json_t *cj_kv(const Mvccpb__KeyValue *kv)
{
    if (!kv)
        return json_null();
    json_t *o = json_object();
    cj_set_b64(o, "key", &kv->key);
    cj_set_i64(o, "create_revision", kv->create_revision);
    cj_set_i64(o, "mod_revision", kv->mod_revision);
    cj_set_i64(o, "version", kv->version);
    cj_set_b64(o, "value", &kv->value);
    cj_set_i64(o, "lease", kv->lease);
    return o;
}

static json_t *kv_array(Mvccpb__KeyValue *const *kvs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, cj_kv(kvs[i]));
    return a;
}

json_t *cj_range(const Etcdserverpb__RangeResponse *r)
{
    json_t *o = json_object();
    set_header(o, r->header);
    if (r->n_kvs)
        cj_set(o, "kvs", kv_array(r->kvs, r->n_kvs));
    cj_set_bool(o, "more", r->more);
    cj_set_i64(o, "count", r->count);
    return o;
}

json_t *cj_put(const Etcdserverpb__PutResponse *r)
{
    json_t *o = json_object();
    set_header(o, r->header);
    if (r->prev_kv)
        cj_set(o, "prev_kv", cj_kv(r->prev_kv));
    return o;
}

json_t *cj_delete(const Etcdserverpb__DeleteRangeResponse *r)
{
    json_t *o = json_object();
    set_header(o, r->header);
    cj_set_i64(o, "deleted", r->deleted);
    if (r->n_prev_kvs)
        cj_set(o, "prev_kvs", kv_array(r->prev_kvs, r->n_prev_kvs));
    return o;
}

/* ResponseOp's oneof marshals as {"Response":{"ResponsePut":{...}}} (no json tags). */
static json_t *response_op(const Etcdserverpb__ResponseOp *op)
{
    json_t *inner;
    switch (op->response_case) {
    case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE:
        inner = json_object();
        cj_set(inner, "ResponseRange", cj_range(op->response_range));
        break;
    case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT:
        inner = json_object();
        cj_set(inner, "ResponsePut", cj_put(op->response_put));
        break;
    case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE:
        inner = json_object();
        cj_set(inner, "ResponseDeleteRange", cj_delete(op->response_delete_range));
        break;
    case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN:
        inner = json_object();
        cj_set(inner, "ResponseTxn", cj_txn(op->response_txn));
        break;
    default:
        inner = json_null();
        break;
    }
    json_t *o = json_object();
    cj_set(o, "Response", inner);
    return o;
}

json_t *cj_txn(const Etcdserverpb__TxnResponse *r)
{
    json_t *o = json_object();
    set_header(o, r->header);
    cj_set_bool(o, "succeeded", r->succeeded);
    if (r->n_responses) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_responses; i++)
            json_array_append_new(a, response_op(r->responses[i]));
        cj_set(o, "responses", a);
    }
    return o;
}

json_t *cj_event(const Mvccpb__Event *e)
{
    json_t *o = json_object();
    cj_set_i64(o, "type", (int64_t)e->type);
    if (e->kv)
        cj_set(o, "kv", cj_kv(e->kv));
    if (e->prev_kv)
        cj_set(o, "prev_kv", cj_kv(e->prev_kv));
    return o;
}

static json_t *str_array(char *const *s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, cj_str(s[i]));
    return a;
}

json_t *cj_member(const Etcdserverpb__Member *m)
{
    if (!m)
        return json_null();
    json_t *o = json_object();
    cj_set_u64(o, "ID", m->id);
    cj_set_str(o, "name", m->name);
    if (m->n_peerurls)
        cj_set(o, "peerURLs", str_array(m->peerurls, m->n_peerurls));
    if (m->n_clienturls)
        cj_set(o, "clientURLs", str_array(m->clienturls, m->n_clienturls));
    cj_set_bool(o, "isLearner", m->islearner);
    return o;
}

json_t *cj_members(const Etcdserverpb__ResponseHeader *h, const Etcdserverpb__Member *member,
                   Etcdserverpb__Member *const *members, size_t n)
{
    json_t *o = json_object();
    set_header(o, h);
    if (member)
        cj_set(o, "member", cj_member(member));
    if (n) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, cj_member(members[i]));
        cj_set(o, "members", a);
    }
    return o;
}

json_t *cj_status(const Etcdserverpb__StatusResponse *r)
{
    json_t *o = json_object();
    set_header(o, r->header);
    cj_set_str(o, "version", r->version);
    cj_set_i64(o, "dbSize", r->dbsize);
    cj_set_u64(o, "leader", r->leader);
    cj_set_u64(o, "raftIndex", r->raftindex);
    cj_set_u64(o, "raftTerm", r->raftterm);
    cj_set_u64(o, "raftAppliedIndex", r->raftappliedindex);
    if (r->n_errors)
        cj_set(o, "errors", str_array(r->errors, r->n_errors));
    cj_set_i64(o, "dbSizeInUse", r->dbsizeinuse);
    cj_set_bool(o, "isLearner", r->islearner);
    return o;
}

json_t *cj_hashkv(const Etcdserverpb__HashKVResponse *r)
{
    json_t *o = json_object();
    set_header(o, r->header);
    cj_set_u64(o, "hash", r->hash);
    cj_set_i64(o, "compact_revision", r->compact_revision);
    return o;
}

json_t *cj_alarm(const Etcdserverpb__AlarmResponse *r)
{
    json_t *o = json_object();
    set_header(o, r->header);
    if (r->n_alarms) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_alarms; i++) {
            json_t *m = json_object();
            cj_set_u64(m, "memberID", r->alarms[i]->memberid);
            cj_set_i64(m, "alarm", (int64_t)r->alarms[i]->alarm);
            json_array_append_new(a, m);
        }
        cj_set(o, "alarms", a);
    }
    return o;
}

/* ---- Go-compatible text ---------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        CAIRN_ASSERT(b->p != NULL);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * jansson's compact output differs from Go's encoding/json only inside strings: Go writes
 * \u0008 and \u000c where jansson writes \b and \f, lower-case hex in \u escapes, and
 * escapes <, >, & and U+2028/U+2029 (HTML safety). Outside strings the two agree. The scan
 * also turns the uint64 marks back into numbers.
 */
char *cj_dumps(const json_t *v)
{
    char *raw = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    CAIRN_ASSERT(raw != NULL);
    struct buf b = {0};
    buf_put(&b, "", 0);
    int in_str = 0;
    size_t mark_len = strlen(U64_MARK_OUT);
    for (size_t i = 0; raw[i];) {
        char c = raw[i];
        if (!in_str) {
            if (c == '"' && strncmp(raw + i, U64_MARK_OUT, mark_len) == 0) {
                size_t d = i + mark_len, e = d;
                while (raw[e] >= '0' && raw[e] <= '9')
                    e++;
                if (raw[e] == '"' && e > d) {
                    buf_put(&b, raw + d, e - d);
                    i = e + 1;
                    continue;
                }
            }
            in_str = c == '"';
            buf_put(&b, raw + i, 1);
            i++;
            continue;
        }
        if (c == '"') {
            in_str = 0;
            buf_put(&b, raw + i, 1);
            i++;
        } else if (c == '\\') {
            char e = raw[i + 1];
            CAIRN_ASSERT(e != '\0');
            if (e == 'b') {
                buf_put(&b, "\\u0008", 6);
                i += 2;
            } else if (e == 'f') {
                buf_put(&b, "\\u000c", 6);
                i += 2;
            } else if (e == 'u' && is_hex(raw[i + 2]) && is_hex(raw[i + 3]) && is_hex(raw[i + 4]) &&
                       is_hex(raw[i + 5])) {
                char esc[6] = {'\\', 'u', 0, 0, 0, 0};
                for (int k = 0; k < 4; k++) {
                    char h = raw[i + 2 + k];
                    esc[2 + k] = (char)(h >= 'A' && h <= 'F' ? h - 'A' + 'a' : h);
                }
                buf_put(&b, esc, 6);
                i += 6;
            } else {
                buf_put(&b, raw + i, 2);
                i += 2;
            }
        } else if (c == '<') {
            buf_put(&b, "\\u003c", 6), i++;
        } else if (c == '>') {
            buf_put(&b, "\\u003e", 6), i++;
        } else if (c == '&') {
            buf_put(&b, "\\u0026", 6), i++;
        } else if ((unsigned char)c == 0xe2 && (unsigned char)raw[i + 1] == 0x80 &&
                   ((unsigned char)raw[i + 2] == 0xa8 || (unsigned char)raw[i + 2] == 0xa9)) {
            buf_put(&b, (unsigned char)raw[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
            i += 3;
        } else {
            buf_put(&b, raw + i, 1);
            i++;
        }
    }
    free(raw);
    return b.p;
}

void cj_print(FILE *out, json_t *v)
{
    char *s = cj_dumps(v);
    fputs(s, out);
    fputc('\n', out);
    free(s);
    json_decref(v);
}
