/* cairnpb.Admin: the memory manager's statistics and runtime settings over gRPC. */
#include "srv_errors.h"
#include "srv_node_int.h"

#include "alloc.h"
#include "common.h"

#include "cairnpb/admin.pb-c.h"

#include <stdio.h>

static void *arena_alloc(struct srv_call *call, size_t size)
{
    ProtobufCAllocator *a = srv_call_allocator(call);
    return a->alloc(a->allocator_data, size);
}

static int64_t limit_out(int64_t limit)
{
    return limit == ALLOC_NO_LIMIT ? -1 : limit;
}

static void on_memory_status(struct srv_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    struct alloc_stats st;
    alloc_stats_get(&st);
    Cairnpb__MemoryStatusResponse resp = CAIRNPB__MEMORY_STATUS_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    srv_node_header(srv_call_user(call), &h, 0);
    resp.header = &h;
    resp.live_bytes = st.live_total_bytes;
    resp.goal_bytes = st.goal_bytes == UINT64_MAX ? 0 : st.goal_bytes;
    resp.limit_bytes = limit_out(st.memory_limit_bytes);
    resp.heap_percent = st.heap_percent;
    resp.rss_bytes = st.rss_bytes;
    resp.in_use_bytes = st.rss_anon_bytes;
    resp.cycles = st.cycles;
    resp.cycles_per_min = st.cycles_per_min;
    resp.pause_p50_ms = (double)st.pause_p50_ns / 1e6;
    resp.pause_p99_ms = (double)st.pause_p99_ns / 1e6;
    resp.pause_max_ms = (double)st.pause_max_ns / 1e6;
    resp.released_bytes = st.bytes_released;
    resp.refusals = st.refusals;
    resp.pressure = st.memory_pressure != 0;
    Cairnpb__SubsystemMemory *subs = arena_alloc(call, ALLOC_SUBSYS_COUNT * sizeof(*subs));
    Cairnpb__SubsystemMemory **ptrs = arena_alloc(call, ALLOC_SUBSYS_COUNT * sizeof(*ptrs));
    if (!subs || !ptrs) {
        srv_call_fail_code(call, CAIRN_ENOMEM);
        return;
    }
    for (int i = 0; i < ALLOC_SUBSYS_COUNT; i++) {
        cairnpb__subsystem_memory__init(&subs[i]);
        subs[i].name = (char *)alloc_subsys_name((enum alloc_subsys)i);
        subs[i].live_bytes = st.live_bytes[i];
        subs[i].refusals = st.refusals_by_subsys[i];
        ptrs[i] = &subs[i];
    }
    resp.subsystems = ptrs;
    resp.n_subsystems = ALLOC_SUBSYS_COUNT;
    srv_call_reply(call, &resp.base);
}

static void on_memory_set(struct srv_call *call, const ProtobufCMessage *msg)
{
    const Cairnpb__MemorySetRequest *req = (const Cairnpb__MemorySetRequest *)msg;
    int32_t pct = alloc_get_heap_percent();
    int64_t limit = alloc_get_memory_limit();
    char err[160];
    /* parse both before applying either: a bad request changes nothing */
    if (req->heap_percent && req->heap_percent[0] &&
        alloc_parse_heap_percent(req->heap_percent, &pct) < 0) {
        snprintf(err, sizeof(err), "cairn: invalid heap percent \"%s\": want an integer or off",
                 req->heap_percent);
        srv_call_fail(call, SRV_INVALID_ARGUMENT, err);
        return;
    }
    if (req->memory_limit && req->memory_limit[0] &&
        alloc_parse_memory_limit(req->memory_limit, &limit) < 0) {
        snprintf(err, sizeof(err),
                 "cairn: invalid memory limit \"%s\": want a byte count with B, KiB, MiB, GiB, "
                 "TiB or off",
                 req->memory_limit);
        srv_call_fail(call, SRV_INVALID_ARGUMENT, err);
        return;
    }
    Cairnpb__MemorySetResponse resp = CAIRNPB__MEMORY_SET_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    srv_node_header(srv_call_user(call), &h, 0);
    resp.header = &h;
    resp.previous_heap_percent = alloc_set_heap_percent(pct);
    resp.previous_limit_bytes = limit_out(alloc_set_memory_limit(limit));
    resp.heap_percent = alloc_get_heap_percent();
    resp.limit_bytes = limit_out(alloc_get_memory_limit());
    srv_call_reply(call, &resp.base);
}

const struct srv_method srv_admin_methods[] = {
    {"/cairnpb.Admin/MemoryStatus", SRV_UNARY, &cairnpb__memory_status_request__descriptor, NULL,
     on_memory_status, NULL},
    {"/cairnpb.Admin/MemorySet", SRV_UNARY, &cairnpb__memory_set_request__descriptor, NULL,
     on_memory_set, NULL},
};
const size_t srv_admin_n_methods = CAIRN_ARRAY_LEN(srv_admin_methods);
