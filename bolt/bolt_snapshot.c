/*
 * The snapshot hash trailer: etcd's Maintenance.Snapshot stream ends with SHA-256 of the
 * database bytes, and `etcdctl snapshot restore` recognises it by the file size (a bbolt
 * file is a whole number of pages, so size % 512 == 32 means "trailer present").
 */
#include "bolt.h"
#include "bolt_page.h"
#include "common.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOLT_HASH_CHUNK (256u * 1024u) /* read buffer: memory stays bounded for any size */
#define BOLT_HASH_ALIGN 512u

/* SHA-256 of fd's bytes [0, size). */
static int hash_prefix(int fd, uint64_t size, uint8_t out[BOLT_SHA256_LEN])
{
    uint8_t *buf = malloc(BOLT_HASH_CHUNK);
    if (!buf)
        return CAIRN_ENOMEM;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : CAIRN_ENOMEM;
    for (uint64_t off = 0; off < size && rc == 0;) {
        size_t n = size - off < BOLT_HASH_CHUNK ? (size_t)(size - off) : BOLT_HASH_CHUNK;
        rc = bolt_pread_all(fd, buf, n, off);
        if (rc == CAIRN_ECORRUPT)
            rc = CAIRN_EIO; /* shrank under us */
        if (rc == 0 && EVP_DigestUpdate(md, buf, n) != 1)
            rc = CAIRN_EIO;
        off += n;
    }
    free(buf);
    unsigned int len = 0;
    if (rc == 0 && (EVP_DigestFinal_ex(md, out, &len) != 1 || len != BOLT_SHA256_LEN))
        rc = CAIRN_EIO;
    EVP_MD_CTX_free(md);
    return rc;
}

static int file_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0)
        return CAIRN_EIO;
    *size = (uint64_t)st.st_size;
    return 0;
}

int bolt_snapshot_append_hash(int fd)
{
    CAIRN_ASSERT(fd >= 0);
    uint64_t size;
    int rc = file_size(fd, &size);
    if (rc)
        return rc;
    if (size % BOLT_HASH_ALIGN != 0)
        return CAIRN_EINVAL;
    uint8_t sum[BOLT_SHA256_LEN];
    rc = hash_prefix(fd, size, sum);
    if (rc)
        return rc;
    for (size_t done = 0; done < sizeof(sum);) {
        ssize_t k = pwrite(fd, sum + done, sizeof(sum) - done, (off_t)(size + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return CAIRN_EIO;
        done += (size_t)k;
    }
    CAIRN_ASSERT((size + sizeof(sum)) % BOLT_HASH_ALIGN == BOLT_SHA256_LEN);
    return fsync(fd) == 0 ? 0 : CAIRN_EIO;
}

int bolt_snapshot_verify_hash(int fd, uint64_t *db_size_bytes)
{
    CAIRN_ASSERT(fd >= 0);
    uint64_t size;
    int rc = file_size(fd, &size);
    if (rc)
        return rc;
    if (size % BOLT_HASH_ALIGN != BOLT_SHA256_LEN)
        return CAIRN_ENOTFOUND;
    uint64_t db = size - BOLT_SHA256_LEN;
    uint8_t want[BOLT_SHA256_LEN], got[BOLT_SHA256_LEN];
    rc = bolt_pread_all(fd, want, sizeof(want), db);
    if (rc == 0)
        rc = hash_prefix(fd, db, got);
    if (rc)
        return rc == CAIRN_ECORRUPT ? CAIRN_EIO : rc;
    if (db_size_bytes)
        *db_size_bytes = db;
    return memcmp(want, got, sizeof(want)) == 0 ? 0 : CAIRN_ECORRUPT;
}
