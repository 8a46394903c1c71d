/* Snapshot streaming: copy to an unlinked temp file, then send it chunk by chunk. */
#include "srv_snapshot.h"

#include "bolt.h"
#include "common.h"
#include "srv_errors.h"
#include "srv_node_int.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM_STALL_MS 30000 /* a client that reads nothing for this long is dropped */

static atomic_int active_streams;

struct job {
    struct srv_node *n;
    struct srv_call *call;
};

struct export_ctx {
    struct bolt_writer *w;
    uint8_t *buf; /* packed KeyValue, grown as needed */
    size_t cap;
};

static int put_revision(void *arg, struct store_rev rev, int tombstone, const Mvccpb__KeyValue *kv)
{
    struct export_ctx *x = arg;
    uint8_t key[BOLT_ETCD_REV_TOMB_LEN];
    size_t klen = bolt_etcd_rev_encode(rev.main, rev.sub, tombstone, key);
    size_t n = mvccpb__key_value__get_packed_size(kv);
    if (n > x->cap) {
        size_t cap = n > 2 * x->cap ? n : 2 * x->cap;
        uint8_t *nb = realloc(x->buf, cap);
        if (!nb)
            return CAIRN_ENOMEM;
        x->buf = nb;
        x->cap = cap;
    }
    size_t packed = mvccpb__key_value__pack(kv, x->buf);
    CAIRN_ASSERT(packed == n);
    return bolt_writer_put(x->w, key, klen, x->buf, n);
}

/* leasepb.Lease{ID = 1, TTL = 2, RemainingTTL = 3}: three varints. */
static size_t lease_encode(const struct store_lease *l, uint8_t *out)
{
    const int64_t f[3] = {l->id, l->ttl_s, l->remaining_ttl_s};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (f[i] == 0)
            continue; /* proto3 omits zero values */
        out[n++] = (uint8_t)((i + 1) << 3);
        for (uint64_t v = (uint64_t)f[i];; v >>= 7) {
            out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            if (v <= 0x7f)
                break;
        }
    }
    return n;
}

static int put_leases(struct bolt_writer *w, struct store_read *rd)
{
    int64_t after = 0;
    for (int round = 0; round < (1 << 24); round++) {
        struct store_lease batch[256];
        size_t got = 0;
        int rc = store_lease_scan(rd, after, batch, 256, &got);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < got; i++) {
            uint8_t key[8], val[32];
            bolt_etcd_u64_encode((uint64_t)batch[i].id, key);
            rc = bolt_writer_put(w, key, 8, val, lease_encode(&batch[i], val));
            if (rc < 0)
                return rc;
        }
        if (got < 256)
            return 0;
        after = batch[got - 1].id;
    }
    return CAIRN_ELIMIT;
}

/* The buckets of an etcd 3.4 backend, in bbolt's (byte) order, from one read view. */
static int export_bolt(struct srv_node *n, struct bolt_writer *w, struct store_read *rd)
{
    struct store_state st;
    int rc = store_read_state(rd, &st);
    uint8_t u64[8], rev[BOLT_ETCD_REV_TOMB_LEN];
    for (int i = 0; rc == 0 && i < BOLT_ETCD_BUCKET_COUNT; i++) {
        const char *b = bolt_etcd_buckets[i];
        rc = bolt_writer_bucket(w, b, strlen(b));
        if (rc < 0)
            break;
        if (strcmp(b, "auth") == 0) {
            bolt_etcd_u64_encode(1, u64);
            rc = bolt_writer_put(w, "authRevision", 12, u64, 8);
        } else if (strcmp(b, "cluster") == 0) {
            rc = bolt_writer_put(w, "clusterVersion", 14, "3.4.0", 5);
        } else if (strcmp(b, "key") == 0) {
            struct export_ctx x = {.w = w};
            rc = store_export_revisions(rd, put_revision, &x);
            free(x.buf);
        } else if (strcmp(b, "lease") == 0) {
            rc = put_leases(w, rd);
        } else if (strcmp(b, "meta") == 0) {
            bolt_etcd_u64_encode(st.applied_index, u64);
            rc = bolt_writer_put(w, "consistent_index", 16, u64, 8);
            if (rc == 0 && st.compact_revision > 0) {
                bolt_etcd_rev_encode(st.compact_revision, 0, 0, rev);
                rc = bolt_writer_put(w, "finishedCompactRev", 18, rev, BOLT_ETCD_REV_LEN);
                if (rc == 0)
                    rc = bolt_writer_put(w, "scheduledCompactRev", 19, rev, BOLT_ETCD_REV_LEN);
            }
        }
    }
    (void)n;
    return rc;
}

/* Write an etcd-format (bbolt) copy of the store into a temporary file, so that etcd's tools
 * (`etcdctl snapshot status|restore`) read it. The read view is held only while writing the
 * local file, never while waiting on the network. Returns an fd at offset 0, or an error. */
static int produce(struct srv_node *n, uint64_t *size)
{
    FILE *tmp = tmpfile();
    if (!tmp)
        return CAIRN_EIO;
    int fd = dup(fileno(tmp));
    fclose(tmp);
    if (fd < 0)
        return CAIRN_EIO;
    struct bolt_writer *w = NULL;
    struct store_read *rd = NULL;
    int rc = bolt_writer_create(fd, &w);
    if (rc == 0)
        rc = store_read_begin(n->store, &rd);
    if (rc == 0)
        rc = export_bolt(n, w, rd);
    if (rd)
        store_read_end(rd);
    if (rc == 0)
        rc = bolt_writer_finish(w);
    if (rc == 0)
        *size = bolt_writer_size_bytes(w);
    if (w)
        bolt_writer_destroy(w);
    if (rc == 0 && lseek(fd, 0, SEEK_SET) != 0)
        rc = CAIRN_EIO;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int send_chunk(struct srv_node *n, struct srv_call *call, const uint8_t *data, size_t len,
                      uint64_t remaining, int first)
{
    int rc = srv_stream_wait_room(call, STREAM_STALL_MS);
    if (rc < 0)
        return rc;
    Etcdserverpb__SnapshotResponse resp = ETCDSERVERPB__SNAPSHOT_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    if (first) {
        srv_node_header(n, &h, 0);
        resp.header = &h;
        resp.version = (char *)SRV_VERSION_STRING;
    }
    resp.remaining_bytes = remaining;
    resp.blob.data = (uint8_t *)data;
    resp.blob.len = len;
    return srv_stream_send(call, &resp.base);
}

static int stream_file(struct srv_node *n, struct srv_call *call, int fd, uint64_t size)
{
    uint8_t *buf = malloc(SRV_SNAPSHOT_CHUNK_BYTES);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = (buf && md) ? 0 : CAIRN_ENOMEM;
    if (rc == 0 && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        rc = CAIRN_EIO;
    uint64_t sent = 0;
    for (uint64_t i = 0; rc == 0 && sent < size && i <= size / 4096 + 2; i++) {
        ssize_t got = read(fd, buf, SRV_SNAPSHOT_CHUNK_BYTES);
        if (got <= 0) {
            rc = CAIRN_EIO;
            break;
        }
        EVP_DigestUpdate(md, buf, (size_t)got);
        sent += (uint64_t)got;
        rc = send_chunk(n, call, buf, (size_t)got, size - sent, i == 0);
    }
    if (rc == 0) { /* etcd ends the stream with the SHA-256 of everything before it */
        unsigned char sha[EVP_MAX_MD_SIZE];
        unsigned int sha_len = 0;
        EVP_DigestFinal_ex(md, sha, &sha_len);
        rc = send_chunk(n, call, sha, sha_len, 0, size == 0);
    }
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

static void *snapshot_thread(void *arg)
{
    struct job *j = arg;
    uint64_t size = 0;
    int fd = produce(j->n, &size);
    int rc = fd < 0 ? fd : stream_file(j->n, j->call, fd, size);
    if (fd >= 0)
        close(fd);
    if (rc == 0) {
        srv_stream_finish(j->call, SRV_OK, NULL);
    } else {
        struct srv_error e = srv_error_from_code(rc);
        srv_stream_finish(j->call, e.code, e.message);
    }
    srv_call_unref(j->call);
    free(j);
    atomic_fetch_sub(&active_streams, 1);
    return NULL;
}

void srv_snapshot_stream_start(struct srv_node *n, struct srv_call *call)
{
    if (atomic_fetch_add(&active_streams, 1) >= SRV_SNAPSHOT_STREAMS_MAX) {
        atomic_fetch_sub(&active_streams, 1);
        srv_stream_finish(call, SRV_UNAVAILABLE, "cairn: too many snapshot streams in progress");
        return;
    }
    struct job *j = malloc(sizeof(*j));
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (j) {
        j->n = n;
        j->call = call;
        srv_call_ref(call);
    }
    if (!j || pthread_create(&t, &attr, snapshot_thread, j) != 0) {
        if (j)
            srv_call_unref(call);
        free(j);
        atomic_fetch_sub(&active_streams, 1);
        srv_stream_finish(call, SRV_RESOURCE_EXHAUSTED, "cairn: cannot start snapshot stream");
    }
    pthread_attr_destroy(&attr);
}
