/*
 * A tiny in-process etcd-like gRPC server for the client tests (gRPC core, one thread).
 * It answers by method and mode, so tests can see failover, status messages, deadlines
 * and streams without a real etcd:
 *   /etcdserverpb.KV/Range            RangeResponse{count = FAKE_RANGE_COUNT, header.member_id
 *                                     = id}; revision 1 -> OUT_OF_RANGE "...compacted"
 *   /etcdserverpb.KV/Put              PutResponse{header.member_id = id}
 *   /etcdserverpb.Watch/Watch         one WatchResponse{watch_id = create.watch_id,
 *                                     created} per request; OK status after half-close
 *   /etcdserverpb.Lease/LeaseKeepAlive  LeaseKeepAliveResponse{ID, TTL = FAKE_KEEPALIVE_TTL}
 *   /etcdserverpb.Maintenance/Snapshot  FAKE_SNAPSHOT_CHUNKS chunks of FAKE_SNAPSHOT_CHUNK_BYTES
 * FAKE_MODE_UNAVAILABLE answers every unary call with UNAVAILABLE FAKE_UNAVAILABLE_MSG;
 * FAKE_MODE_SILENT never answers Range (the client's deadline ends it).
 */
#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

#include <stdint.h>

#define FAKE_RANGE_COUNT          42
#define FAKE_KEEPALIVE_TTL        7
#define FAKE_SNAPSHOT_CHUNKS      3
#define FAKE_SNAPSHOT_CHUNK_BYTES 1000
#define FAKE_UNAVAILABLE_MSG      "etcdserver: leader changed"
#define FAKE_COMPACTED_MSG        "etcdserver: mvcc: required revision has been compacted"

enum fake_mode { FAKE_MODE_OK, FAKE_MODE_UNAVAILABLE, FAKE_MODE_SILENT };

struct fake_server;

/* Start on 127.0.0.1 (an ephemeral port). Aborts the test on failure. */
struct fake_server *fake_server_start(enum fake_mode mode, uint64_t member_id);
int fake_server_port(const struct fake_server *fs);
/* Number of unary calls the server has answered or held so far. */
int fake_server_calls(struct fake_server *fs);
void fake_server_stop(struct fake_server *fs);

/* A 127.0.0.1 port nothing listens on (bound, then closed). */
int fake_closed_port(void);

#endif
