/*
 * bolt_etcd_tool — the C side of the bolt/ compat test (test_bolt_etcd.sh):
 *   dump FILE               print the meta, every bucket and what `snapshot status` would say
 *   status FILE             one line: hash revision total_keys total_size (bolt_etcd_status)
 *   write FILE NREV         write an etcd 3.4 layout snapshot with NREV revisions, a lease,
 *                           meta/consistent_index and the SHA-256 trailer; print the expected
 *                           "revision total_keys" as the generator counted them
 *   stress FILE             write a file that is hard on the format, not on etcd: values far
 *                           above a page (up to 1 MiB, overflow pages), 9 KiB keys (fat,
 *                           multi-level branch pages), an empty bucket, 5000 revisions
 *   check FILE KEY=VALUE... the latest KeyValue of each KEY in bucket "key" has VALUE, and
 *                           bucket "lease" holds at least one lease
 * Exit 0 on success, 1 with a message on stderr otherwise.
 */
#include "bolt.h"
#include "common.h"
#include "mvccpb/kv.pb-c.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int die(const char *what, int rc)
{
    fprintf(stderr, "bolt_etcd_tool: %s: %s\n", what, rc ? cairn_strerror(rc) : "failed");
    return 1;
}

static void print_bytes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n && i < 64; i++)
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            putchar(p[i]);
        else
            printf("\\x%02x", p[i]);
    if (n > 64)
        printf("...(%zu bytes)", n);
}

static int cmd_status(const char *path, int verbose)
{
    struct bolt_reader *r;
    int rc = bolt_reader_open(path, &r);
    if (rc)
        return die("open", rc);
    if (verbose) {
        struct bolt_info in;
        bolt_reader_info(r, &in);
        printf("meta: page_size=%u txid=%" PRIu64 " page_count=%" PRIu64 " root=%" PRIu64
               " freelist=%" PRIu64 " meta_index=%d\n",
               in.page_size, in.txid, in.page_count, in.root_pgid, in.freelist_pgid, in.meta_index);
        struct bolt_cursor *root;
        struct bolt_item b;
        rc = bolt_cursor_open(r, NULL, 0, &root);
        while (rc >= 0 && (rc = bolt_cursor_next(root, &b)) == 1) {
            int is_inline = b.val_len >= 8 && bolt_etcd_u64_decode(b.val) == 0; /* LE 0 == BE 0 */
            printf("bucket ");
            print_bytes(b.key, b.key_len);
            printf(" (%s)\n", is_inline ? "inline" : "pages");
            struct bolt_cursor *c;
            struct bolt_item it;
            uint64_t n = 0;
            rc = bolt_cursor_open(r, b.key, b.key_len, &c);
            while (rc >= 0 && (rc = bolt_cursor_next(c, &it)) == 1) {
                if (n++ < 8) {
                    printf("  ");
                    print_bytes(it.key, it.key_len);
                    printf(" = ");
                    print_bytes(it.val, it.val_len);
                    printf("\n");
                }
            }
            bolt_cursor_close(c);
            printf("  %" PRIu64 " entries\n", n);
            rc = rc < 0 ? rc : 0;
        }
        bolt_cursor_close(root);
        if (rc < 0)
            return die("walk", rc);
    }
    struct bolt_etcd_status st;
    rc = bolt_etcd_status(r, &st);
    bolt_reader_close(r);
    if (rc)
        return die("status", rc);
    printf("%s%" PRIu32 " %" PRId64 " %" PRIu64 " %" PRIu64 "\n", verbose ? "status: " : "",
           st.hash, st.revision, st.total_keys, st.total_size);
    return 0;
}

/* leasepb.Lease{ID=1, TTL=2, RemainingTTL=3}: three varint fields. */
static size_t lease_encode(int64_t id, int64_t ttl, uint8_t *out)
{
    size_t n = 0;
    int64_t f[2] = {id, ttl};
    for (int i = 0; i < 2; i++) {
        out[n++] = (uint8_t)((i + 1) << 3);
        uint64_t v = (uint64_t)f[i];
        do {
            out[n] = (uint8_t)(v & 0x7f);
            v >>= 7;
            out[n++] |= v ? 0x80 : 0;
        } while (v);
    }
    return n;
}

static int put_kv(struct bolt_writer *w, int64_t main, int64_t sub, int tomb, const char *key,
                  const char *val, int64_t create, int64_t version, int64_t lease)
{
    uint8_t rk[BOLT_ETCD_REV_TOMB_LEN];
    size_t rlen = bolt_etcd_rev_encode(main, sub, tomb, rk);
    Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
    kv.key.data = (uint8_t *)(uintptr_t)key;
    kv.key.len = strlen(key);
    if (!tomb) { /* etcd's tombstone value carries the key alone */
        kv.mod_revision = main;
        kv.create_revision = create;
        kv.version = version;
        kv.value.data = (uint8_t *)(uintptr_t)val;
        kv.value.len = strlen(val);
        kv.lease = lease;
    }
    uint8_t buf[512];
    size_t n = mvccpb__key_value__get_packed_size(&kv);
    CAIRN_ASSERT(n <= sizeof(buf));
    mvccpb__key_value__pack(&kv, buf);
    return bolt_writer_put(w, rk, rlen, buf, n);
}

#define NKEYS 50

static int cmd_write(const char *path, long nrev)
{
    if (nrev < 3)
        return die("NREV must be >= 3", 0);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return die("open", CAIRN_EIO);
    struct bolt_writer *w;
    int rc = bolt_writer_create(fd, &w);
    /* alarm, auth, authRoles, authUsers, cluster: present and empty */
    for (size_t i = 0; rc == 0 && strcmp(bolt_etcd_buckets[i], "key") != 0; i++)
        rc = bolt_writer_bucket(w, bolt_etcd_buckets[i], strlen(bolt_etcd_buckets[i]));
    const int64_t lease_id = 0x694d7a1b2c3d4e5f;
    uint64_t total = 0;
    int64_t create[NKEYS] = {0}, version[NKEYS] = {0};
    if (!rc)
        rc = bolt_writer_bucket(w, "key", 3);
    /* revision 1 is etcd's empty start; each later revision writes or deletes one key */
    for (long m = 2; rc == 0 && m < nrev + 2; m++) {
        int k = (int)(m % NKEYS);
        char key[32], val[64];
        snprintf(key, sizeof(key), "k%03d", k);
        int tomb = m % 17 == 0 && version[k] > 0;
        if (tomb) {
            version[k] = 0;
            rc = put_kv(w, m, 0, 1, key, "", 0, 0, 0);
        } else {
            if (version[k] == 0)
                create[k] = m;
            version[k]++;
            snprintf(val, sizeof(val), "v%ld", m);
            rc = put_kv(w, m, 0, 0, key, val, create[k], version[k], k == 7 ? lease_id : 0);
        }
        total++;
    }
    uint8_t idb[8], lease[32];
    bolt_etcd_u64_encode((uint64_t)lease_id, idb);
    size_t llen = lease_encode(lease_id, 600, lease);
    if (!rc)
        rc = bolt_writer_bucket(w, "lease", 5);
    if (!rc)
        rc = bolt_writer_put(w, idb, 8, lease, llen);
    total += 1;
    if (!rc)
        rc = bolt_writer_bucket(w, "members", 7);
    if (!rc)
        rc = bolt_writer_bucket(w, "members_removed", 15);
    uint8_t ci[8];
    bolt_etcd_u64_encode((uint64_t)nrev + 10, ci);
    if (!rc)
        rc = bolt_writer_bucket(w, "meta", 4);
    if (!rc)
        rc = bolt_writer_put(w, "consistent_index", 16, ci, 8);
    total += 1;
    if (!rc)
        rc = bolt_writer_finish(w);
    bolt_writer_destroy(w);
    if (!rc)
        rc = bolt_snapshot_append_hash(fd);
    close(fd);
    if (rc)
        return die("write", rc);
    printf("%ld %" PRIu64 "\n", nrev + 1, total);
    return 0;
}

static void fill(uint64_t *seed, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (uint8_t)(*seed >> 56);
    }
}

static int cmd_stress(const char *path)
{
    static const size_t big[] = {0, 1, 4000, 4096, 4097, 70000, 300000, 1u << 20};
    const size_t buf_len = 1u << 20;
    uint8_t *key = malloc(BOLT_KEY_MAX), *val = malloc(buf_len);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (!key || !val || fd < 0)
        return die("setup", CAIRN_ENOMEM);
    uint64_t seed = 7;
    struct bolt_writer *w;
    int rc = bolt_writer_create(fd, &w);
    if (!rc)
        rc = bolt_writer_bucket(w, "a-empty", 7);
    if (!rc)
        rc = bolt_writer_bucket(w, "big", 3);
    for (size_t i = 0; rc == 0 && i < CAIRN_ARRAY_LEN(big); i++) {
        size_t kl = (size_t)snprintf((char *)key, 16, "big%02zu", i);
        if (i == CAIRN_ARRAY_LEN(big) - 1) { /* the longest key bbolt allows */
            memset(key + kl, 'x', BOLT_KEY_MAX - kl);
            kl = BOLT_KEY_MAX;
        }
        fill(&seed, val, big[i]);
        rc = bolt_writer_put(w, key, kl, val, big[i]);
    }
    if (!rc)
        rc = bolt_writer_bucket(w, "key", 3);
    for (int64_t m = 1; rc == 0 && m <= 5000; m++) {
        size_t kl = bolt_etcd_rev_encode(m, m % 3, m % 13 == 0, key);
        size_t vl = 20 + (size_t)(m * 37 % 400);
        fill(&seed, val, vl);
        rc = bolt_writer_put(w, key, kl, val, vl);
    }
    if (!rc)
        rc = bolt_writer_bucket(w, "wide", 4);
    for (uint32_t i = 0; rc == 0 && i < 300; i++) {
        size_t kl = 4 + 100 + (i % 10 == 9 ? (i * 131u) % 9000 : (i * 71u) % 2900);
        key[0] = (uint8_t)(i >> 24);
        key[1] = (uint8_t)(i >> 16);
        key[2] = (uint8_t)(i >> 8);
        key[3] = (uint8_t)i;
        fill(&seed, key + 4, kl - 4);
        fill(&seed, val, i % 100);
        rc = bolt_writer_put(w, key, kl, val, i % 100);
    }
    if (!rc)
        rc = bolt_writer_finish(w);
    bolt_writer_destroy(w);
    close(fd);
    free(key);
    free(val);
    return rc ? die("stress", rc) : 0;
}

static int cmd_check(const char *path, int npairs, char **pairs)
{
    struct bolt_reader *r;
    int rc = bolt_reader_open(path, &r);
    if (rc)
        return die("open", rc);
    int fails = 0;
    for (int i = 0; i < npairs; i++) {
        const char *eq = strchr(pairs[i], '=');
        if (!eq)
            return die("argument is not KEY=VALUE", 0);
        size_t klen = (size_t)(eq - pairs[i]);
        struct bolt_cursor *c;
        struct bolt_item it;
        int found = 0;
        rc = bolt_cursor_open(r, "key", 3, &c);
        while (rc >= 0 && (rc = bolt_cursor_next(c, &it)) == 1) {
            Mvccpb__KeyValue *kv = mvccpb__key_value__unpack(NULL, it.val_len, it.val);
            if (!kv) {
                rc = CAIRN_ECORRUPT;
                break;
            }
            if (kv->key.len == klen && memcmp(kv->key.data, pairs[i], klen) == 0) {
                int tomb = it.key_len == BOLT_ETCD_REV_TOMB_LEN;
                found = !tomb && kv->value.len == strlen(eq + 1) &&
                        memcmp(kv->value.data, eq + 1, kv->value.len) == 0;
            }
            mvccpb__key_value__free_unpacked(kv, NULL);
        }
        bolt_cursor_close(c);
        if (rc < 0)
            return die("walk key bucket", rc);
        if (!found) {
            fprintf(stderr, "bolt_etcd_tool: %s not found as the latest value\n", pairs[i]);
            fails++;
        }
    }
    struct bolt_cursor *c;
    struct bolt_item it;
    rc = bolt_cursor_open(r, "lease", 5, &c);
    int leases = 0;
    while (rc >= 0 && (rc = bolt_cursor_next(c, &it)) == 1)
        leases += it.key_len == 8;
    bolt_cursor_close(c);
    bolt_reader_close(r);
    if (rc < 0)
        return die("walk lease bucket", rc);
    if (leases == 0) {
        fprintf(stderr, "bolt_etcd_tool: no lease in bucket lease\n");
        fails++;
    }
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "dump") == 0)
        return cmd_status(argv[2], 1);
    if (argc >= 3 && strcmp(argv[1], "status") == 0)
        return cmd_status(argv[2], 0);
    if (argc >= 4 && strcmp(argv[1], "write") == 0)
        return cmd_write(argv[2], strtol(argv[3], NULL, 10));
    if (argc >= 3 && strcmp(argv[1], "stress") == 0)
        return cmd_stress(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "check") == 0)
        return cmd_check(argv[2], argc - 3, argv + 3);
    fprintf(stderr, "usage: bolt_etcd_tool dump|status|write|stress|check FILE ...\n");
    return 2;
}
