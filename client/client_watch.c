/* The typed streams: Watch (bidi), LeaseKeepAlive (bidi) and Snapshot (server stream). */
#include "client.h"

#include "common.h"

#include "etcdserverpb/rpc.pb-c.h"

/* Snapshot: a server that sends nothing for this long is treated as gone. */
#define CLIENT_SNAPSHOT_IDLE_MS_MIN 30000
/* Snapshot: bound on chunks, far above any real backend (etcd sends 32 KiB chunks). */
#define CLIENT_SNAPSHOT_CHUNKS_MAX (1u << 28)

int cairn_client_watch_open(cairn_client *cl, cairn_client_stream **out,
                            struct cairn_client_status *st)
{
    return cairn_client_stream_open(cl, "/etcdserverpb.Watch/Watch",
                                    &etcdserverpb__watch_response__descriptor, -1, out, st);
}

int cairn_client_watch_create(cairn_client_stream *s,
                              const Etcdserverpb__WatchCreateRequest *create,
                              struct cairn_client_status *st)
{
    CAIRN_ASSERT(s != NULL && create != NULL);
    Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
    req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
    req.create_request = (Etcdserverpb__WatchCreateRequest *)create; /* only read by pack */
    return cairn_client_stream_send(s, &req.base, st);
}

int cairn_client_watch_cancel(cairn_client_stream *s, int64_t watch_id,
                              struct cairn_client_status *st)
{
    CAIRN_ASSERT(s != NULL);
    Etcdserverpb__WatchCancelRequest cancel = ETCDSERVERPB__WATCH_CANCEL_REQUEST__INIT;
    cancel.watch_id = watch_id;
    Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
    req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST;
    req.cancel_request = &cancel;
    return cairn_client_stream_send(s, &req.base, st);
}

int cairn_client_watch_progress(cairn_client_stream *s, struct cairn_client_status *st)
{
    CAIRN_ASSERT(s != NULL);
    Etcdserverpb__WatchProgressRequest progress = ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;
    Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
    req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
    req.progress_request = &progress;
    return cairn_client_stream_send(s, &req.base, st);
}

int cairn_client_watch_recv(cairn_client_stream *s, Etcdserverpb__WatchResponse **resp,
                            int64_t timeout_ms, struct cairn_client_status *st)
{
    CAIRN_ASSERT(s != NULL && resp != NULL);
    ProtobufCMessage *m = NULL;
    int rc = cairn_client_stream_recv(s, &m, timeout_ms, st);
    CAIRN_ASSERT(!m || m->descriptor == &etcdserverpb__watch_response__descriptor);
    *resp = (Etcdserverpb__WatchResponse *)m;
    return rc;
}

int cairn_client_keepalive_open(cairn_client *cl, cairn_client_stream **out,
                                struct cairn_client_status *st)
{
    return cairn_client_stream_open(cl, "/etcdserverpb.Lease/LeaseKeepAlive",
                                    &etcdserverpb__lease_keep_alive_response__descriptor, -1, out,
                                    st);
}

int cairn_client_keepalive_send(cairn_client_stream *s, int64_t id, struct cairn_client_status *st)
{
    CAIRN_ASSERT(s != NULL);
    Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
    req.id = id;
    return cairn_client_stream_send(s, &req.base, st);
}

int cairn_client_keepalive_recv(cairn_client_stream *s, Etcdserverpb__LeaseKeepAliveResponse **resp,
                                int64_t timeout_ms, struct cairn_client_status *st)
{
    CAIRN_ASSERT(s != NULL && resp != NULL);
    ProtobufCMessage *m = NULL;
    int rc = cairn_client_stream_recv(s, &m, timeout_ms, st);
    CAIRN_ASSERT(!m || m->descriptor == &etcdserverpb__lease_keep_alive_response__descriptor);
    *resp = (Etcdserverpb__LeaseKeepAliveResponse *)m;
    return rc;
}

int cairn_client_keepalive_once(cairn_client *cl, int64_t id,
                                Etcdserverpb__LeaseKeepAliveResponse **resp,
                                struct cairn_client_status *st)
{
    CAIRN_ASSERT(cl != NULL && resp != NULL);
    *resp = NULL;
    cairn_client_stream *s = NULL;
    int rc = cairn_client_keepalive_open(cl, &s, st);
    if (rc < 0)
        return rc;
    rc = cairn_client_keepalive_send(s, id, st);
    if (rc == 0)
        rc = cairn_client_keepalive_recv(s, resp, cl->command_timeout_ms, st);
    if (rc == CAIRN_ESTOPPED) { /* the server closed the stream without answering */
        client_status_set(st, CLIENT_GRPC_UNAVAILABLE, "keep-alive stream closed by the server",
                          NULL);
        rc = CAIRN_EUNAVAILABLE;
    }
    cairn_client_stream_destroy(s);
    CAIRN_ASSERT((rc == 0) == (*resp != NULL));
    return rc;
}

int cairn_client_snapshot(cairn_client *cl,
                          int (*chunk)(void *arg, const uint8_t *data, size_t len,
                                       uint64_t remaining_bytes),
                          void *arg, struct cairn_client_status *st)
{
    CAIRN_ASSERT(cl != NULL && chunk != NULL);
    cairn_client_stream *s = NULL;
    int rc = cairn_client_stream_open(cl, "/etcdserverpb.Maintenance/Snapshot",
                                      &etcdserverpb__snapshot_response__descriptor, -1, &s, st);
    if (rc < 0)
        return rc;
    Etcdserverpb__SnapshotRequest req = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
    rc = cairn_client_stream_send(s, &req.base, st);
    if (rc == 0)
        rc = cairn_client_stream_close_send(s, st);
    int64_t idle_ms = cl->command_timeout_ms > CLIENT_SNAPSHOT_IDLE_MS_MIN
                          ? cl->command_timeout_ms
                          : CLIENT_SNAPSHOT_IDLE_MS_MIN;
    for (uint32_t n = 0; rc == 0 && n < CLIENT_SNAPSHOT_CHUNKS_MAX; n++) {
        ProtobufCMessage *m = NULL;
        rc = cairn_client_stream_recv(s, &m, idle_ms, st);
        if (rc == CAIRN_ETIMEOUT) {
            client_status_set(st, CLIENT_GRPC_DEADLINE_EXCEEDED,
                              "snapshot: the server sent nothing within the idle timeout", NULL);
            break;
        }
        if (rc < 0)
            break;
        const Etcdserverpb__SnapshotResponse *r = (const Etcdserverpb__SnapshotResponse *)m;
        rc = chunk(arg, r->blob.data, r->blob.len, r->remaining_bytes);
        cairn_client_free(m);
    }
    if (rc == CAIRN_ESTOPPED)
        rc = 0; /* the server ended the stream with OK: the snapshot is complete */
    cairn_client_stream_destroy(s);
    return rc;
}
