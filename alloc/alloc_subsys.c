/* Names of the accounted subsystems and of the reasons a cycle ran: metric labels. */
#include "alloc_int.h"

static const char *const subsys_names[ALLOC_SUBSYS_COUNT] = {
    [ALLOC_SUBSYS_RAFT_ENTRY_CACHE] = "raft_entry_cache",
    [ALLOC_SUBSYS_PROPOSALS] = "proposals",
    [ALLOC_SUBSYS_WATCH_BUFFERS] = "watch_buffers",
    [ALLOC_SUBSYS_LEASES] = "leases",
    [ALLOC_SUBSYS_REQUEST_ARENAS] = "request_arenas",
    [ALLOC_SUBSYS_GRPC_BUFFERS] = "grpc_buffers",
    [ALLOC_SUBSYS_OTHER] = "other",
};

static const char *const reason_names[ALLOC_CYCLE_REASON_COUNT] = {
    [ALLOC_CYCLE_HEAP_PERCENT] = "heap_percent",
    [ALLOC_CYCLE_MEMORY_LIMIT] = "memory_limit",
    [ALLOC_CYCLE_ADMISSION] = "admission",
    [ALLOC_CYCLE_REQUESTED] = "requested",
    [ALLOC_CYCLE_FORCED] = "forced",
};

const char *alloc_subsys_name(enum alloc_subsys subsys)
{
    if ((unsigned)subsys >= ALLOC_SUBSYS_COUNT)
        return "invalid";
    CAIRN_ASSERT(subsys_names[subsys] != NULL);
    return subsys_names[subsys];
}

const char *alloc_cycle_reason_name(enum alloc_cycle_reason reason)
{
    if ((unsigned)reason >= ALLOC_CYCLE_REASON_COUNT)
        return "invalid";
    CAIRN_ASSERT(reason_names[reason] != NULL);
    return reason_names[reason];
}
