/* Status and HashKV over in-process Maintenance calls; memory settings from alloc/. */
#include "embed.h"

#include "alloc.h"

#include <string.h>

static int copy_status(void *arg, const ProtobufCMessage *m)
{
    const Etcdserverpb__StatusResponse *r = (const Etcdserverpb__StatusResponse *)m;
    struct cairn_status *o = arg;
    if (r->header) {
        o->member_id = r->header->member_id;
        o->cluster_id = r->header->cluster_id;
        o->revision = r->header->revision;
    }
    o->leader = r->leader;
    o->raft_term = r->raftterm;
    o->raft_index = r->raftindex;
    o->raft_applied_index = r->raftappliedindex;
    o->db_size_bytes = r->dbsize;
    o->db_size_in_use_bytes = r->dbsizeinuse;
    o->is_learner = r->islearner;
    return 0;
}

int cairn_status(cairn_node *nd, struct cairn_status *out)
{
    CAIRN_ASSERT(nd != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
    return embed_call(nd, EMBED_STATUS, &req.base, copy_status, out);
}

struct hash_out {
    uint32_t hash;
    int64_t revision;
};

static int copy_hash(void *arg, const ProtobufCMessage *m)
{
    const Etcdserverpb__HashKVResponse *r = (const Etcdserverpb__HashKVResponse *)m;
    struct hash_out *o = arg;
    o->hash = r->hash;
    o->revision = r->header ? r->header->revision : 0;
    return 0;
}

int cairn_hash_kv(cairn_node *nd, int64_t revision, uint32_t *hash, int64_t *hash_revision)
{
    CAIRN_ASSERT(nd != NULL && hash != NULL);
    Etcdserverpb__HashKVRequest req = ETCDSERVERPB__HASH_KVREQUEST__INIT;
    req.revision = revision;
    struct hash_out o = {0, 0};
    int rc = embed_call(nd, EMBED_HASHKV, &req.base, copy_hash, &o);
    if (rc < 0)
        return rc;
    *hash = o.hash;
    if (hash_revision)
        *hash_revision = revision > 0 ? revision : o.revision;
    return 0;
}

int cairn_memory_stats(struct cairn_memory_stats *out)
{
    CAIRN_ASSERT(out != NULL);
    struct alloc_stats st;
    alloc_stats_get(&st);
    memset(out, 0, sizeof(*out));
    out->live_bytes = st.live_total_bytes;
    out->goal_bytes = st.goal_bytes == UINT64_MAX ? 0 : st.goal_bytes;
    out->limit_bytes = st.memory_limit_bytes == ALLOC_NO_LIMIT ? -1 : st.memory_limit_bytes;
    out->heap_percent = st.heap_percent;
    out->rss_bytes = st.rss_bytes;
    out->in_use_bytes = st.rss_anon_bytes;
    out->cycles = st.cycles;
    out->cycles_per_min = st.cycles_per_min;
    out->pause_p99_ms = (double)st.pause_p99_ns / 1e6;
    out->refusals = st.refusals;
    embed_clear_error();
    return 0;
}

int cairn_memory_set(const char *heap_percent, const char *memory_limit)
{
    int32_t pct = alloc_get_heap_percent();
    int64_t limit = alloc_get_memory_limit();
    /* parse both before applying either: a bad value changes nothing */
    if (heap_percent && heap_percent[0] && alloc_parse_heap_percent(heap_percent, &pct) < 0)
        return embed_error(CAIRN_EINVAL, "invalid heap percent \"%s\": want an integer or off",
                           heap_percent);
    if (memory_limit && memory_limit[0] && alloc_parse_memory_limit(memory_limit, &limit) < 0)
        return embed_error(CAIRN_EINVAL,
                           "invalid memory limit \"%s\": want a byte count with B, KiB, MiB, "
                           "GiB, TiB or off",
                           memory_limit);
    alloc_set_heap_percent(pct);
    alloc_set_memory_limit(limit);
    embed_clear_error();
    return 0;
}
