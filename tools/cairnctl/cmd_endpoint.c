/* endpoint health | status | hashkv: one request per endpoint (no failover: the point is to
 * ask each one), or with --cluster per member client URL. */
#include "ctl_json.h"
#include "ctl_kv.h"

#include "common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EPS_MAX 64

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void print_quoted(const char *label, const char *s)
{
    char q[2048];
    printf("\"%s\" : %s\n", label, ctl_go_quote((const uint8_t *)s, strlen(s), q, sizeof(q)));
}

struct health {
    int healthy;
    char took[40];
    char error[CAIRN_CLIENT_MESSAGE_MAX + 32];
};

static void check_health(struct ctl *c, const char *ep, struct health *h)
{
    memset(h, 0, sizeof(*h));
    cairn_client *cl = NULL;
    if (ctl_client_for(c, ep, &cl) != CTL_EXIT_OK) {
        snprintf(h->error, sizeof(h->error), "bad endpoint");
        snprintf(h->took, sizeof(h->took), "0s");
        return;
    }
    struct cairn_client_status st;
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key.data = (uint8_t *)"health";
    req.key.len = strlen("health");
    Etcdserverpb__RangeResponse *r = NULL;
    int64_t t0 = now_ns();
    int rc = cairn_client_range(cl, &req, &r, &st);
    ctl_go_duration(now_ns() - t0, h->took, sizeof(h->took));
    cairn_client_free(r);
    /* etcdctl: permission denied also proves the proposal went through consensus */
    h->healthy = rc == 0 || st.code == 7;
    if (!h->healthy)
        snprintf(h->error, sizeof(h->error), "%s", ctl_status_text(rc, &st));
    /* etcdctl 3.4 does not look at alarms here (3.5 reports an active alarm as unhealthy) */
    cairn_client_close(cl);
}

int cmd_endpoint_health(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    char *eps[EPS_MAX];
    size_t n;
    int rc = ctl_endpoints(c, ctl_flag_bool(&c->p, "cluster"), eps, EPS_MAX, &n);
    if (rc != CTL_EXIT_OK)
        return rc;
    static struct health hs[EPS_MAX];
    int all_ok = 1;
    for (size_t i = 0; i < n; i++) {
        check_health(c, eps[i], &hs[i]);
        all_ok = all_ok && hs[i].healthy;
    }
    if (c->format == CTL_JSON) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            cj_set(o, "endpoint", cj_str(eps[i]));
            cj_set(o, "health", cj_bool(hs[i].healthy));
            cj_set(o, "took", cj_str(hs[i].took));
            cj_set_str(o, "error", hs[i].error);
            json_array_append_new(a, o);
        }
        cj_print(stdout, a);
    } else if (c->format == CTL_TABLE) {
        static const char *const hdr[] = {"endpoint", "health", "took", "error"};
        struct ctl_table *t = ctl_table_new(hdr, 4);
        for (size_t i = 0; i < n; i++) {
            const char *row[] = {eps[i], hs[i].healthy ? "true" : "false", hs[i].took, hs[i].error};
            ctl_table_add(t, row);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    } else if (c->format == CTL_FIELDS) {
        for (size_t i = 0; i < n; i++) {
            print_quoted("Endpoint", eps[i]);
            printf("\"Health\" : %s\n\"Took\" : %s\n\"Error\" : %s\n\n",
                   hs[i].healthy ? "true" : "false", hs[i].took, hs[i].error);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (hs[i].healthy)
                fprintf(stderr, "%s is healthy: successfully committed proposal: took = %s\n",
                        eps[i], hs[i].took);
            else
                fprintf(stderr, "%s is unhealthy: failed to commit proposal: %s\n", eps[i],
                        hs[i].error);
        }
    }
    ctl_endpoints_free(eps, n);
    fflush(stdout);
    return all_ok ? CTL_EXIT_OK : ctl_error("unhealthy cluster");
}

int cmd_endpoint_status(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    char *eps[EPS_MAX];
    size_t n;
    int rc = ctl_endpoints(c, ctl_flag_bool(&c->p, "cluster"), eps, EPS_MAX, &n);
    if (rc != CTL_EXIT_OK)
        return rc;
    Etcdserverpb__StatusResponse *rs[EPS_MAX] = {0};
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        cairn_client *cl = NULL;
        struct cairn_client_status st;
        if (ctl_client_for(c, eps[i], &cl) != CTL_EXIT_OK) {
            failed = 1;
            continue;
        }
        int crc = cairn_client_server_status(cl, &rs[i], &st);
        if (crc < 0) {
            fprintf(stderr, "Failed to get the status of endpoint %s (%s)\n", eps[i],
                    ctl_status_text(crc, &st));
            failed = 1;
        }
        cairn_client_close(cl);
    }
    static const char *const hdr[] = {"endpoint",           "ID",         "version",   "db size",
                                      "is leader",          "is learner", "raft term", "raft index",
                                      "raft applied index", "errors"};
    struct ctl_table *t = c->format == CTL_TABLE ? ctl_table_new(hdr, 10) : NULL;
    json_t *arr = c->format == CTL_JSON ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__StatusResponse *r = rs[i];
        if (!r)
            continue;
        uint64_t member = r->header ? r->header->member_id : 0;
        if (arr) {
            json_t *o = json_object();
            cj_set(o, "Endpoint", cj_str(eps[i]));
            cj_set(o, "Status", cj_status(r));
            json_array_append_new(arr, o);
            continue;
        }
        if (c->format == CTL_FIELDS) {
            out_hdr_fields(r->header);
            print_quoted("Version", r->version ? r->version : "");
            printf("\"DBSize\" : %" PRId64 "\n\"Leader\" : %" PRIu64 "\n\"IsLearner\" : %s\n",
                   r->dbsize, r->leader, r->islearner ? "true" : "false");
            printf("\"RaftIndex\" : %" PRIu64 "\n\"RaftTerm\" : %" PRIu64
                   "\n\"RaftAppliedIndex\" : %" PRIu64 "\n",
                   r->raftindex, r->raftterm, r->raftappliedindex);
            printf("\"Errors\" : [");
            for (size_t k = 0; k < r->n_errors; k++)
                printf("%s%s", k ? " " : "", r->errors[k]);
            printf("]\n");
            print_quoted("Endpoint", eps[i]);
            printf("\n");
            continue;
        }
        char id[24], size[32], term[24], index[24], applied[24], errors[2048] = "";
        snprintf(id, sizeof(id), "%" PRIx64, member);
        ctl_humanize_bytes((uint64_t)(r->dbsize < 0 ? 0 : r->dbsize), size, sizeof(size));
        snprintf(term, sizeof(term), "%" PRIu64, r->raftterm);
        snprintf(index, sizeof(index), "%" PRIu64, r->raftindex);
        snprintf(applied, sizeof(applied), "%" PRIu64, r->raftappliedindex);
        for (size_t k = 0; k < r->n_errors; k++)
            snprintf(errors + strlen(errors), sizeof(errors) - strlen(errors), "%s%s",
                     k ? ", " : "", r->errors[k]);
        const char *row[] = {eps[i],
                             id,
                             r->version ? r->version : "",
                             size,
                             r->leader == member ? "true" : "false",
                             r->islearner ? "true" : "false",
                             term,
                             index,
                             applied,
                             errors};
        if (t)
            ctl_table_add(t, row);
        else
            printf("%s, %s, %s, %s, %s, %s, %s, %s, %s, %s\n", row[0], row[1], row[2], row[3],
                   row[4], row[5], row[6], row[7], row[8], row[9]);
    }
    if (arr)
        cj_print(stdout, arr);
    if (t) {
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    for (size_t i = 0; i < n; i++)
        cairn_client_free(rs[i]);
    ctl_endpoints_free(eps, n);
    return failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

int cmd_endpoint_hashkv(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    char *eps[EPS_MAX];
    size_t n;
    int rc = ctl_endpoints(c, ctl_flag_bool(&c->p, "cluster"), eps, EPS_MAX, &n);
    if (rc != CTL_EXIT_OK)
        return rc;
    int64_t rev = ctl_flag_int(&c->p, "rev");
    Etcdserverpb__HashKVResponse *rs[EPS_MAX] = {0};
    int failed = 0;
    /* etcdctl ends a hashkv that failed somewhere with the last failure as an Error line
     * (endpoint status only exits 1) */
    char last_error[CAIRN_CLIENT_MESSAGE_MAX + 32] = "";
    for (size_t i = 0; i < n; i++) {
        cairn_client *cl = NULL;
        struct cairn_client_status st;
        if (ctl_client_for(c, eps[i], &cl) != CTL_EXIT_OK) {
            failed = 1; /* its Error line is printed */
            continue;
        }
        int crc = cairn_client_hashkv(cl, rev, &rs[i], &st);
        if (crc < 0) {
            snprintf(last_error, sizeof(last_error), "%s", ctl_status_text(crc, &st));
            fprintf(stderr, "Failed to get the hash of endpoint %s (%s)\n", eps[i], last_error);
            failed = 1;
        }
        cairn_client_close(cl);
    }
    static const char *const hdr[] = {"endpoint", "hash"};
    struct ctl_table *t = c->format == CTL_TABLE ? ctl_table_new(hdr, 2) : NULL;
    json_t *arr = c->format == CTL_JSON ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__HashKVResponse *r = rs[i];
        if (!r)
            continue;
        char hash[16];
        snprintf(hash, sizeof(hash), "%" PRIu32, r->hash);
        if (arr) {
            json_t *o = json_object();
            cj_set(o, "Endpoint", cj_str(eps[i]));
            cj_set(o, "HashKV", cj_hashkv(r));
            json_array_append_new(arr, o);
        } else if (c->format == CTL_FIELDS) {
            out_hdr_fields(r->header);
            print_quoted("Endpoint", eps[i]);
            printf("\"Hash\" : %s\n\n", hash);
        } else if (t) {
            const char *row[] = {eps[i], hash};
            ctl_table_add(t, row);
        } else {
            printf("%s, %s\n", eps[i], hash);
        }
    }
    if (arr)
        cj_print(stdout, arr);
    if (t) {
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    for (size_t i = 0; i < n; i++)
        cairn_client_free(rs[i]);
    ctl_endpoints_free(eps, n);
    fflush(stdout);
    if (failed && last_error[0])
        return ctl_error("%s", last_error);
    return failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}
