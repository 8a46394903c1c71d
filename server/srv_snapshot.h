/*
 * srv_snapshot.h — Maintenance.Snapshot: a consistent copy of the backend streamed to a
 * client in chunks, followed by its SHA-256 (as etcd does, so `etcdctl snapshot save`
 * and restore tools can verify it). The copy is made and streamed on a worker thread
 * with flow control (never more than half the stream queue buffered), so a polling
 * thread never blocks and memory stays bounded however large the database is.
 */
#ifndef CAIRN_SRV_SNAPSHOT_H
#define CAIRN_SRV_SNAPSHOT_H

#include "srv_grpc.h"

struct srv_node;

#define SRV_SNAPSHOT_STREAMS_MAX 2 /* concurrent Snapshot calls; more get UNAVAILABLE */
#define SRV_SNAPSHOT_CHUNK_BYTES (64 << 10)

/* Start streaming to call (a SRV_SERVER_STREAM call). Always ends the call eventually. */
void srv_snapshot_stream_start(struct srv_node *n, struct srv_call *call);

#endif /* CAIRN_SRV_SNAPSHOT_H */
