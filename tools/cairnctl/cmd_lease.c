/* lease grant | revoke | timetolive | list | keep-alive */
#include "ctl_json.h"
#include "ctl_kv.h"

#include "common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEEPALIVE_POLL_MS 200 /* how often Ctrl-C is noticed between renewals */

static int lease_arg(struct ctl *c, const char *what, int64_t *id)
{
    if (c->p.n_args != 1)
        return ctl_usage_error(c, "lease %s command needs lease ID as argument", what);
    uint64_t v;
    if (ctl_parse_hex_u64(c->p.args[0], &v) < 0 || v > (uint64_t)INT64_MAX)
        return ctl_usage_error(c, "bad lease ID arg (%s), expecting ID in Hex", c->p.args[0]);
    *id = (int64_t)v;
    return CTL_EXIT_OK;
}

int cmd_lease_grant(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    if (c->p.n_args != 1)
        return ctl_usage_error(c, "lease grant command needs TTL argument");
    int64_t ttl;
    if (ctl_parse_int64(c->p.args[0], &ttl) < 0)
        return ctl_usage_error(c, "bad TTL (%s)", c->p.args[0]);
    struct cairn_client_status st;
    Etcdserverpb__LeaseGrantResponse *r = NULL;
    int rc = cairn_client_lease_grant(ctl_client(c), ttl, 0, &r, &st);
    if (rc < 0)
        return ctl_error("failed to grant lease (%s)", ctl_status_text(rc, &st));
    if (c->format == CTL_JSON) {
        json_t *o = json_object();
        cj_header_inline(o, r->header);
        cj_set(o, "ID", cj_i64(r->id));
        cj_set(o, "TTL", cj_i64(r->ttl));
        cj_set(o, "Error", cj_str(r->error));
        cj_print(stdout, o);
    } else if (c->format == CTL_FIELDS) {
        out_hdr_fields(r->header);
        printf("\"ID\" : %" PRId64 "\n\"TTL\" : %" PRId64 "\n", r->id, r->ttl);
    } else {
        printf("lease %016" PRIx64 " granted with TTL(%" PRId64 "s)\n", (uint64_t)r->id, r->ttl);
    }
    cairn_client_free(r);
    return CTL_EXIT_OK;
}

int cmd_lease_revoke(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    int64_t id = 0;
    int rc = lease_arg(c, "revoke", &id);
    if (rc != CTL_EXIT_OK)
        return rc;
    struct cairn_client_status st;
    Etcdserverpb__LeaseRevokeResponse *r = NULL;
    rc = cairn_client_lease_revoke(ctl_client(c), id, &r, &st);
    if (rc < 0)
        return ctl_error("failed to revoke lease (%s)", ctl_status_text(rc, &st));
    if (c->format == CTL_JSON) {
        json_t *o = json_object();
        if (r->header)
            cj_set(o, "header", cj_header(r->header));
        cj_print(stdout, o);
    } else if (c->format == CTL_FIELDS) {
        out_hdr_fields(r->header);
    } else {
        printf("lease %016" PRIx64 " revoked\n", (uint64_t)id);
    }
    cairn_client_free(r);
    return CTL_EXIT_OK;
}

int cmd_lease_timetolive(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    int64_t id = 0;
    int rc = lease_arg(c, "timetolive", &id);
    if (rc != CTL_EXIT_OK)
        return rc;
    int keys = ctl_flag_bool(&c->p, "keys");
    struct cairn_client_status st;
    Etcdserverpb__LeaseTimeToLiveResponse *r = NULL;
    rc = cairn_client_lease_ttl(ctl_client(c), id, keys, &r, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    if (c->format == CTL_JSON) {
        json_t *o = json_object();
        cj_header_inline(o, r->header);
        cj_set(o, "id", cj_i64(r->id));
        cj_set(o, "ttl", cj_i64(r->ttl));
        cj_set(o, "granted-ttl", cj_i64(r->grantedttl));
        json_t *k = json_null();
        if (r->n_keys) {
            k = json_array();
            for (size_t i = 0; i < r->n_keys; i++)
                json_array_append_new(k, cj_b64(&r->keys[i]));
        }
        cj_set(o, "keys", k);
        cj_print(stdout, o);
    } else if (c->format == CTL_FIELDS) {
        out_hdr_fields(r->header);
        printf("\"ID\" : %" PRId64 "\n\"TTL\" : %" PRId64 "\n\"GrantedTTL\" : %" PRId64 "\n", r->id,
               r->ttl, r->grantedttl);
        for (size_t i = 0; i < r->n_keys; i++) {
            size_t qlen = r->keys[i].len * 10 + 3;
            char *q = malloc(qlen);
            CAIRN_ASSERT(q != NULL);
            printf("\"Key\" : %s\n", ctl_go_quote(r->keys[i].data, r->keys[i].len, q, qlen));
            free(q);
        }
    } else if (r->grantedttl == 0 && r->ttl == -1) {
        printf("lease %016" PRIx64 " already expired\n", (uint64_t)r->id);
    } else {
        printf("lease %016" PRIx64 " granted with TTL(%" PRId64 "s), remaining(%" PRId64 "s)",
               (uint64_t)r->id, r->grantedttl, r->ttl);
        if (keys) { /* Go's %v of a []string: [a b] */
            printf(", attached keys([");
            for (size_t i = 0; i < r->n_keys; i++) {
                if (i)
                    putchar(' ');
                fwrite(r->keys[i].data, 1, r->keys[i].len, stdout);
            }
            printf("])");
        }
        printf("\n");
    }
    cairn_client_free(r);
    return CTL_EXIT_OK;
}

int cmd_lease_list(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    if (c->p.n_args != 0)
        return ctl_usage_error(c, "lease list command does not accept arguments");
    struct cairn_client_status st;
    Etcdserverpb__LeaseLeasesResponse *r = NULL;
    int rc = cairn_client_lease_leases(ctl_client(c), &r, &st);
    if (rc < 0)
        return ctl_error("failed to list leases (%s)", ctl_status_text(rc, &st));
    if (c->format == CTL_JSON) {
        json_t *o = json_object();
        cj_header_inline(o, r->header);
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_leases; i++) {
            json_t *l = json_object();
            cj_set(l, "id", cj_i64(r->leases[i]->id));
            json_array_append_new(a, l);
        }
        cj_set(o, "leases", a);
        cj_print(stdout, o);
    } else if (c->format == CTL_FIELDS) {
        out_hdr_fields(r->header);
        for (size_t i = 0; i < r->n_leases; i++)
            printf("\"ID\" : %" PRId64 "\n", r->leases[i]->id);
    } else {
        printf("found %zu leases\n", r->n_leases);
        for (size_t i = 0; i < r->n_leases; i++)
            printf("%016" PRIx64 "\n", (uint64_t)r->leases[i]->id);
    }
    cairn_client_free(r);
    return CTL_EXIT_OK;
}

static void print_keepalive(const struct ctl *c, const Etcdserverpb__LeaseKeepAliveResponse *r)
{
    if (c->format == CTL_JSON) {
        json_t *o = json_object();
        cj_header_inline(o, r->header);
        cj_set(o, "ID", cj_i64(r->id));
        cj_set(o, "TTL", cj_i64(r->ttl));
        cj_print(stdout, o);
    } else if (c->format == CTL_FIELDS) {
        out_hdr_fields(r->header);
        printf("\"ID\" : %" PRId64 "\n\"TTL\" : %" PRId64 "\n", r->id, r->ttl);
    } else {
        printf("lease %016" PRIx64 " keepalived with TTL(%" PRId64 ")\n", (uint64_t)r->id, r->ttl);
    }
    fflush(stdout);
}

/* Waits ms milliseconds in short steps, stopping early on Ctrl-C. This pacing is the
 * protocol (renew every TTL/3), not synchronisation. */
static void pause_ms(int64_t ms)
{
    for (int64_t waited = 0; waited < ms && !ctl_interrupted; waited += KEEPALIVE_POLL_MS) {
        int64_t step = ms - waited < KEEPALIVE_POLL_MS ? ms - waited : KEEPALIVE_POLL_MS;
        struct timespec ts = {.tv_sec = step / 1000, .tv_nsec = (step % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

int cmd_lease_keep_alive(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->format == CTL_TABLE)
        return ctl_format_unsupported(c);
    int64_t id = 0;
    int rc = lease_arg(c, "keep-alive", &id);
    if (rc != CTL_EXIT_OK)
        return rc;
    struct cairn_client_status st;
    Etcdserverpb__LeaseKeepAliveResponse *r = NULL;
    if (ctl_flag_bool(&c->p, "once")) {
        rc = cairn_client_keepalive_once(ctl_client(c), id, &r, &st);
        if (rc < 0)
            return ctl_error_status(rc, &st);
        if (r->ttl <= 0) {
            cairn_client_free(r);
            return ctl_error("etcdserver: requested lease not found");
        }
        print_keepalive(c, r);
        cairn_client_free(r);
        return CTL_EXIT_OK;
    }
    ctl_catch_interrupts();
    cairn_client_stream *s = NULL;
    rc = cairn_client_keepalive_open(ctl_client(c), &s, &st);
    if (rc < 0)
        return ctl_error_status(rc, &st);
    int expired = 0;
    /* Bounded by the lease: it is renewed only while the server says it lives. */
    while (!ctl_interrupted) {
        rc = cairn_client_keepalive_send(s, id, &st);
        if (rc == 0)
            rc = cairn_client_keepalive_recv(s, &r, c->command_timeout_ms, &st);
        if (rc < 0)
            break;
        if (r->ttl <= 0) {
            cairn_client_free(r);
            expired = 1;
            break;
        }
        print_keepalive(c, r);
        int64_t next_ms = r->ttl * 1000 / 3;
        cairn_client_free(r);
        pause_ms(next_ms > 500 ? next_ms : 500);
    }
    cairn_client_stream_destroy(s);
    if (rc < 0 && !ctl_interrupted)
        return ctl_error_status(rc, &st);
    if (expired && c->format == CTL_SIMPLE)
        printf("lease %016" PRIx64 " expired or revoked.\n", (uint64_t)id);
    return CTL_EXIT_OK;
}
