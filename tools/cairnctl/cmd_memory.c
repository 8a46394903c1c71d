/* cairn's own commands: memory status and memory set (cairnpb.Admin). */
#include "ctl.h"
#include "ctl_json.h"

#include "common.h"

#include "cairnpb/admin.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* IEC units, as --memory-limit takes them: "512 MiB", "1.5 GiB", "900 B". */
static const char *iec(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < CAIRN_ARRAY_LEN(units)) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%" PRIu64 " B", n);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

static void print_status_json(const Cairnpb__MemoryStatusResponse *r)
{
    json_t *o = json_object();
    cj_set(o, "header", cj_header(r->header));
    cj_set(o, "live_bytes", cj_u64(r->live_bytes));
    cj_set(o, "goal_bytes", cj_u64(r->goal_bytes));
    cj_set(o, "limit_bytes", cj_i64(r->limit_bytes));
    cj_set(o, "heap_percent", cj_i64(r->heap_percent));
    cj_set(o, "rss_bytes", cj_u64(r->rss_bytes));
    cj_set(o, "in_use_bytes", cj_u64(r->in_use_bytes));
    cj_set(o, "cycles", cj_u64(r->cycles));
    cj_set(o, "cycles_per_min", json_real(r->cycles_per_min));
    cj_set(o, "pause_p50_ms", json_real(r->pause_p50_ms));
    cj_set(o, "pause_p99_ms", json_real(r->pause_p99_ms));
    cj_set(o, "pause_max_ms", json_real(r->pause_max_ms));
    cj_set(o, "released_bytes", cj_u64(r->released_bytes));
    cj_set(o, "refusals", cj_u64(r->refusals));
    cj_set(o, "pressure", cj_bool(r->pressure));
    json_t *subs = json_array();
    for (size_t i = 0; i < r->n_subsystems; i++) {
        json_t *s = json_object();
        cj_set(s, "name", cj_str(r->subsystems[i]->name));
        cj_set(s, "live_bytes", cj_u64(r->subsystems[i]->live_bytes));
        cj_set(s, "refusals", cj_u64(r->subsystems[i]->refusals));
        json_array_append_new(subs, s);
    }
    cj_set(o, "subsystems", subs);
    cj_print(stdout, o);
}

static void print_status_simple(const char *ep, const Cairnpb__MemoryStatusResponse *r)
{
    char a[32], b[32], c[32];
    printf("endpoint: %s\n", ep);
    printf("heap: %s live, next reclaim at %s\n", iec(r->live_bytes, a, sizeof(a)),
           r->goal_bytes ? iec(r->goal_bytes, b, sizeof(b)) : "off");
    if (r->heap_percent < 0)
        printf("heap percent: off\n");
    else
        printf("heap percent: %" PRId32 "\n", r->heap_percent);
    printf("memory limit: %s, in use %s, resident %s%s\n",
           r->limit_bytes < 0 ? "off" : iec((uint64_t)r->limit_bytes, a, sizeof(a)),
           iec(r->in_use_bytes, b, sizeof(b)), iec(r->rss_bytes, c, sizeof(c)),
           r->pressure ? " (pressure: returning pages eagerly)" : "");
    printf("reclaim cycles: %" PRIu64 " (%.1f per minute), pause p50 %.2f ms, p99 %.2f ms, "
           "max %.2f ms\n",
           r->cycles, r->cycles_per_min, r->pause_p50_ms, r->pause_p99_ms, r->pause_max_ms);
    printf("released by callbacks: %s, refused requests: %" PRIu64 "\n",
           iec(r->released_bytes, a, sizeof(a)), r->refusals);
    for (size_t i = 0; i < r->n_subsystems; i++)
        printf("  %-18s %12s  refusals %" PRIu64 "\n", r->subsystems[i]->name,
               iec(r->subsystems[i]->live_bytes, a, sizeof(a)), r->subsystems[i]->refusals);
}

int cmd_memory_status(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->p.n_args != 0)
        return ctl_usage_error(c, "memory status command does not accept arguments");
    if (c->format != CTL_SIMPLE && c->format != CTL_JSON)
        return ctl_format_unsupported(c);
    char *eps[64];
    size_t n;
    int rc = ctl_endpoints(c, 0, eps, CAIRN_ARRAY_LEN(eps), &n);
    if (rc != CTL_EXIT_OK)
        return rc;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        cairn_client *cl = NULL;
        if (ctl_client_for(c, eps[i], &cl) != CTL_EXIT_OK) {
            failed = 1;
            continue;
        }
        Cairnpb__MemoryStatusRequest req = CAIRNPB__MEMORY_STATUS_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct cairn_client_status st;
        int crc =
            cairn_client_call_unary(cl, "/cairnpb.Admin/MemoryStatus", &req.base,
                                    &cairnpb__memory_status_response__descriptor, &resp, 0, &st);
        if (crc < 0) {
            ctl_error_status(crc, &st);
            failed = 1;
        } else if (c->format == CTL_JSON) {
            print_status_json((const Cairnpb__MemoryStatusResponse *)resp);
        } else {
            print_status_simple(eps[i], (const Cairnpb__MemoryStatusResponse *)resp);
        }
        cairn_client_free(resp);
        cairn_client_close(cl);
    }
    ctl_endpoints_free(eps, n);
    return failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

int cmd_memory_set(struct ctl *c)
{
    CAIRN_ASSERT(c != NULL && c->p.cmd != NULL);
    if (c->p.n_args != 0)
        return ctl_usage_error(c, "memory set command does not accept arguments");
    const char *pct = ctl_flag_str(&c->p, "heap-percent");
    const char *lim = ctl_flag_str(&c->p, "memory-limit");
    if ((!pct || !*pct) && (!lim || !*lim))
        return ctl_usage_error(c, "memory set needs --heap-percent and/or --memory-limit");
    if (c->format != CTL_SIMPLE && c->format != CTL_JSON)
        return ctl_format_unsupported(c); /* before the change is made, not after */
    Cairnpb__MemorySetRequest req = CAIRNPB__MEMORY_SET_REQUEST__INIT;
    req.heap_percent = (char *)(pct ? pct : "");
    req.memory_limit = (char *)(lim ? lim : "");
    ProtobufCMessage *resp = NULL;
    struct cairn_client_status st;
    int crc = cairn_client_call_unary(ctl_client(c), "/cairnpb.Admin/MemorySet", &req.base,
                                      &cairnpb__memory_set_response__descriptor, &resp, 0, &st);
    if (crc < 0)
        return ctl_error_status(crc, &st);
    const Cairnpb__MemorySetResponse *r = (const Cairnpb__MemorySetResponse *)resp;
    char a[32], b[32];
    if (c->format == CTL_JSON) {
        json_t *o = json_object();
        cj_set(o, "header", cj_header(r->header));
        cj_set(o, "previous_heap_percent", cj_i64(r->previous_heap_percent));
        cj_set(o, "previous_limit_bytes", cj_i64(r->previous_limit_bytes));
        cj_set(o, "heap_percent", cj_i64(r->heap_percent));
        cj_set(o, "limit_bytes", cj_i64(r->limit_bytes));
        cj_print(stdout, o);
    } else {
        printf("heap percent: %" PRId32 " (was %" PRId32 ")\n", r->heap_percent,
               r->previous_heap_percent);
        printf("memory limit: %s (was %s)\n",
               r->limit_bytes < 0 ? "off" : iec((uint64_t)r->limit_bytes, a, sizeof(a)),
               r->previous_limit_bytes < 0 ? "off"
                                           : iec((uint64_t)r->previous_limit_bytes, b, sizeof(b)));
    }
    cairn_client_free(resp);
    return CTL_EXIT_OK;
}
