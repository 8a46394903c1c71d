/*
 * etcd 3.4's backend layout on top of bbolt: revision keys of bucket "key", big-endian
 * u64s, and the numbers `etcdctl snapshot status` prints, computed the way it does.
 */
#include "bolt.h"
#include "crc32c.h"
#include "common.h"

#include <string.h>

#define BOLT_ETCD_REV_SEP '_'

const char *const bolt_etcd_buckets[BOLT_ETCD_BUCKET_COUNT] = {
    "alarm", "auth",  "authRoles", "authUsers",       "cluster",
    "key",   "lease", "members",   "members_removed", "meta"};

void bolt_etcd_u64_encode(uint64_t v, uint8_t out[8])
{
    CAIRN_ASSERT(out != NULL);
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t bolt_etcd_u64_decode(const uint8_t in[8])
{
    CAIRN_ASSERT(in != NULL);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

size_t bolt_etcd_rev_encode(int64_t main, int64_t sub, int tombstone,
                            uint8_t out[BOLT_ETCD_REV_TOMB_LEN])
{
    CAIRN_ASSERT(main >= 0 && sub >= 0);
    CAIRN_ASSERT(out != NULL);
    bolt_etcd_u64_encode((uint64_t)main, out);
    out[8] = BOLT_ETCD_REV_SEP;
    bolt_etcd_u64_encode((uint64_t)sub, out + 9);
    if (!tombstone)
        return BOLT_ETCD_REV_LEN;
    out[BOLT_ETCD_REV_LEN] = BOLT_ETCD_TOMBSTONE;
    return BOLT_ETCD_REV_TOMB_LEN;
}

int bolt_etcd_rev_decode(const uint8_t *in, size_t len, int64_t *main, int64_t *sub, int *tombstone)
{
    CAIRN_ASSERT(in != NULL || len == 0);
    CAIRN_ASSERT(main != NULL && sub != NULL);
    if (len != BOLT_ETCD_REV_LEN && len != BOLT_ETCD_REV_TOMB_LEN)
        return CAIRN_ECORRUPT;
    if (in[8] != BOLT_ETCD_REV_SEP)
        return CAIRN_ECORRUPT;
    if (len == BOLT_ETCD_REV_TOMB_LEN && in[BOLT_ETCD_REV_LEN] != BOLT_ETCD_TOMBSTONE)
        return CAIRN_ECORRUPT;
    uint64_t m = bolt_etcd_u64_decode(in), s = bolt_etcd_u64_decode(in + 9);
    if (m > INT64_MAX || s > INT64_MAX)
        return CAIRN_ECORRUPT;
    *main = (int64_t)m;
    *sub = (int64_t)s;
    if (tombstone)
        *tombstone = len == BOLT_ETCD_REV_TOMB_LEN;
    return 0;
}

/* One top-level bucket into the running status (etcdctl: h.Write(name), then every k, v;
 * a nested bucket's value is nil to bbolt's ForEach, so only its key is hashed). */
static int status_bucket(struct bolt_reader *r, const uint8_t *name, size_t len,
                         struct bolt_etcd_status *st)
{
    static const char key_bucket[] = "key";
    int is_key = len == sizeof(key_bucket) - 1 && memcmp(name, key_bucket, len) == 0;
    struct bolt_cursor *c;
    int rc = bolt_cursor_open(r, name, len, &c);
    if (rc)
        return rc == CAIRN_ENOTFOUND ? CAIRN_ECORRUPT : rc;
    st->hash = cairn_crc32c(st->hash, name, len);
    struct bolt_item it;
    while ((rc = bolt_cursor_next(c, &it)) == 1) {
        st->hash = cairn_crc32c(st->hash, it.key, it.key_len);
        if (!it.is_bucket)
            st->hash = cairn_crc32c(st->hash, it.val, it.val_len);
        if (is_key) {
            if (it.key_len < BOLT_ETCD_REV_LEN) { /* etcdctl would panic on it */
                rc = CAIRN_ECORRUPT;
                break;
            }
            st->revision = (int64_t)bolt_etcd_u64_decode(it.key);
        }
        st->total_keys++;
    }
    bolt_cursor_close(c);
    return rc;
}

int bolt_etcd_status(struct bolt_reader *r, struct bolt_etcd_status *st)
{
    CAIRN_ASSERT(r != NULL && st != NULL);
    memset(st, 0, sizeof(*st));
    struct bolt_info info;
    bolt_reader_info(r, &info);
    st->total_size = info.size_bytes;
    struct bolt_cursor *root;
    int rc = bolt_cursor_open(r, NULL, 0, &root);
    if (rc)
        return rc;
    struct bolt_item it;
    while ((rc = bolt_cursor_next(root, &it)) == 1) {
        if (!it.is_bucket) { /* tx.Bucket() would be nil: etcdctl fails on it */
            rc = CAIRN_ECORRUPT;
            break;
        }
        /* it.key points into root's buffers, which stay put while another cursor runs */
        rc = status_bucket(r, it.key, it.key_len, st);
        if (rc)
            break;
    }
    bolt_cursor_close(root);
    CAIRN_ASSERT(rc <= 0);
    return rc;
}
