/*
 * bolt/ — files in the bbolt (go.etcd.io/bbolt) on-disk format, laid out as an etcd 3.4
 * backend snapshot: what `etcdctl snapshot save` writes and `etcdctl snapshot status` /
 * `etcdctl snapshot restore` read. Format notes: docs/bolt.md.
 *
 * Promises:
 *  - bolt_writer produces a file that bbolt opens and whose tx.Check() finds nothing wrong:
 *    every page below the high-water mark is reachable exactly once, the freelist is empty
 *    and valid, both meta pages carry a valid FNV-64a checksum. Memory is bounded by the
 *    tree height times a page (plus the largest single key/value): leaves and branch pages
 *    are written as they fill, so a bucket of any size streams through.
 *  - bolt_reader never trusts the file: every page id, count, offset and length is
 *    bounds-checked, tree depth and the number of pages visited are bounded, keys must be
 *    strictly ascending. A corrupt or hostile file yields CAIRN_ECORRUPT, never a crash,
 *    an unbounded loop or an unbounded allocation (at most the file's own size).
 *  - Reading uses pread() on a file descriptor (no mmap), so a file truncated under the
 *    reader gives CAIRN_ECORRUPT/CAIRN_EIO instead of SIGBUS.
 * Owns: the file descriptor it opens (bolt_reader_open) and its own buffers. The fd given
 *  to bolt_writer_create / bolt_reader_open_fd stays the caller's.
 * Never: depends on store/, raft/ or server/; interprets values (KeyValue, Lease protobufs
 *  are opaque bytes here); writes nested buckets; modifies a file it reads.
 *
 * Threads: a writer, a reader and each cursor are used by one thread at a time. Several
 * cursors may be open on one reader at once (each keeps its own buffers; pread is safe).
 *
 * Errors: 0 or a negative cairn code (include/cairn.h). CAIRN_EIO for a failed read/write
 * or fsync, CAIRN_ECORRUPT for a malformed file, CAIRN_ENOMEM, CAIRN_EINVAL for arguments
 * outside bbolt's limits. Programming errors (keys or bucket names not ascending, calls
 * after finish) are CAIRN_ASSERT failures.
 */
#ifndef CAIRN_BOLT_H
#define CAIRN_BOLT_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

/* ---- format limits (bbolt's own) ---------------------------------------------------- */

#define BOLT_PAGE_SIZE  4096u             /* what bolt_writer writes */
#define BOLT_KEY_MAX    32768u            /* bbolt MaxKeySize */
#define BOLT_VALUE_MAX  ((1u << 31) - 2u) /* bbolt MaxValueSize */
#define BOLT_DEPTH_MAX  32                /* deepest tree the reader follows */
#define BOLT_SHA256_LEN 32

/* ---- writer ------------------------------------------------------------------------- */

struct bolt_writer;

/*
 * bolt_writer_create — start writing a database into fd, a regular file opened for writing
 * (and seekable: pages are placed with pwrite). The file is truncated to 0 first. The fd is
 * not closed by the writer. *out is freed with bolt_writer_destroy().
 * Returns 0, CAIRN_EINVAL (fd < 0), CAIRN_EIO (truncate failed), CAIRN_ENOMEM.
 */
int bolt_writer_create(int fd, struct bolt_writer **out);

/*
 * bolt_writer_bucket — close the current top-level bucket (if any) and start the next one.
 * Names are 1..BOLT_KEY_MAX bytes and strictly ascending (memcmp order, shorter prefix
 * first) across calls: asserted. The name is copied.
 * Returns 0, CAIRN_EINVAL (empty or too long), CAIRN_EIO, CAIRN_ENOMEM, or the writer's
 * earlier error (a failed writer stays failed).
 */
int bolt_writer_bucket(struct bolt_writer *w, const void *name, size_t len);

/*
 * bolt_writer_put — append key/value to the current bucket (a bucket must be open). Keys
 * are 1..BOLT_KEY_MAX bytes and strictly ascending within the bucket (asserted); values
 * 0..BOLT_VALUE_MAX bytes. Both are copied before return. Full pages go to the file as
 * they fill; a value larger than a page gets overflow pages.
 * Returns 0, CAIRN_EINVAL (size limits), CAIRN_EIO, CAIRN_ENOMEM, or the earlier error.
 */
int bolt_writer_put(struct bolt_writer *w, const void *key, size_t klen, const void *val,
                    size_t vlen);

/*
 * bolt_writer_finish — close the last bucket, write the root bucket, the (empty) freelist
 * and both meta pages (page 0 with txid 2, page 1 with txid 1, as bbolt's WriteTo), trim
 * the file to exactly page_count * BOLT_PAGE_SIZE bytes and fsync it. After finish only
 * bolt_writer_size_bytes and bolt_writer_destroy may be called.
 * Returns 0, CAIRN_EIO, CAIRN_ENOMEM, or the earlier error.
 */
int bolt_writer_finish(struct bolt_writer *w);

/* bolt_writer_size_bytes — the database size (high-water page count * page size) once
 * finished; the bytes written so far before that. */
uint64_t bolt_writer_size_bytes(const struct bolt_writer *w);

/* bolt_writer_destroy — free the writer (finished or not; an unfinished file is left as
 * garbage for the caller to remove). NULL is a no-op. */
void bolt_writer_destroy(struct bolt_writer *w);

/* ---- reader ------------------------------------------------------------------------- */

struct bolt_reader;
struct bolt_cursor;

/* What the chosen meta page says. */
struct bolt_info {
    uint32_t page_size;
    uint64_t txid;
    uint64_t page_count;    /* high-water mark: pages 0 .. page_count-1 are the database */
    uint64_t root_pgid;     /* root bucket's root page */
    uint64_t freelist_pgid; /* BOLT_NO_FREELIST when the freelist was not synced */
    uint64_t size_bytes;    /* page_count * page_size, what bbolt's tx.Size() reports */
    int meta_index;         /* 0 or 1: which meta page won */
};
#define BOLT_NO_FREELIST UINT64_MAX

/*
 * bolt_reader_open — open path read-only and pick the meta page: the valid one (magic,
 * version 2, FNV-64a checksum, page size a power of two in 512..65536, ids below the
 * high-water mark, file long enough) with the higher txid. Bytes past the database (e.g.
 * etcd's 32-byte SHA-256 trailer) are ignored. *out is freed with bolt_reader_close().
 * Returns 0, CAIRN_ENOTFOUND (no such file), CAIRN_EIO, CAIRN_ECORRUPT (no valid meta),
 * CAIRN_ENOMEM.
 */
int bolt_reader_open(const char *path, struct bolt_reader **out);

/* bolt_reader_open_fd — the same on an fd the caller keeps (it must stay open until
 * bolt_reader_close; reads use pread, the file offset is not used). */
int bolt_reader_open_fd(int fd, struct bolt_reader **out);

/* bolt_reader_close — close (the fd only if bolt_reader_open opened it) and free. Every
 * cursor must have been closed first. NULL is a no-op. */
void bolt_reader_close(struct bolt_reader *r);

/* bolt_reader_info — the chosen meta page's fields. */
void bolt_reader_info(const struct bolt_reader *r, struct bolt_info *info);

/* One entry of a bucket. key/val point into the cursor's buffers and stay valid until the
 * next call on that cursor. is_bucket is 1 for a sub-bucket entry (in the root: every
 * top-level bucket; val is then bbolt's raw bucket value: 16-byte header [+ inline page]). */
struct bolt_item {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *val;
    size_t val_len;
    int is_bucket;
};

/*
 * bolt_cursor_open — a cursor over top-level bucket `name` (len bytes), or over the root
 * bucket (the list of top-level buckets) when name is NULL. Positioned before the first
 * key. *out is freed with bolt_cursor_close().
 * Returns 0, CAIRN_ENOTFOUND (no such bucket), CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOMEM.
 */
int bolt_cursor_open(struct bolt_reader *r, const void *name, size_t len, struct bolt_cursor **out);

/*
 * bolt_cursor_next — the next entry in ascending key order.
 * Returns 1 and fills *item, 0 at the end, or a negative code (CAIRN_ECORRUPT, CAIRN_EIO,
 * CAIRN_ENOMEM). An error is sticky: later calls return it again.
 */
int bolt_cursor_next(struct bolt_cursor *c, struct bolt_item *item);

/*
 * bolt_cursor_seek — position so that the next bolt_cursor_next returns the first key
 * >= key (klen may be 0: the first key). Clears an end-of-bucket state.
 * Returns 0 or a negative code (sticky, as for next).
 */
int bolt_cursor_seek(struct bolt_cursor *c, const void *key, size_t klen);

/* bolt_cursor_close — free the cursor. NULL is a no-op. */
void bolt_cursor_close(struct bolt_cursor *c);

/*
 * bolt_reader_get — copy the value of key in top-level bucket `bucket` into a fresh
 * malloc'd buffer (*val_out, free() it; never NULL on success, even for an empty value).
 * Returns 0, CAIRN_ENOTFOUND (bucket or key absent, or the key names a sub-bucket),
 * CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOMEM.
 */
int bolt_reader_get(struct bolt_reader *r, const void *bucket, size_t blen, const void *key,
                    size_t klen, uint8_t **val_out, size_t *vlen_out);

/* ---- etcd snapshot layout (etcd 3.4 backend) ------------------------------------------ */

/* The top-level buckets etcd 3.4 creates (all of them, even when empty), in bbolt's
 * ascending order: what a snapshot writer emits. See docs/bolt.md for their contents. */
#define BOLT_ETCD_BUCKET_COUNT 10
extern const char *const bolt_etcd_buckets[BOLT_ETCD_BUCKET_COUNT];

/* A revision key in bucket "key": 8-byte big-endian main, '_', 8-byte big-endian sub, and
 * an 18th byte 't' for a tombstone. */
#define BOLT_ETCD_REV_LEN      17
#define BOLT_ETCD_REV_TOMB_LEN 18
#define BOLT_ETCD_TOMBSTONE    't'

/* Writes 17 or 18 bytes (tombstone) into out; returns the length written. main, sub >= 0. */
size_t bolt_etcd_rev_encode(int64_t main, int64_t sub, int tombstone,
                            uint8_t out[BOLT_ETCD_REV_TOMB_LEN]);

/* Parses a revision key. Returns 0, or CAIRN_ECORRUPT (wrong length, no '_', bad marker). */
int bolt_etcd_rev_decode(const uint8_t *in, size_t len, int64_t *main, int64_t *sub,
                         int *tombstone);

/* 8-byte big-endian u64, the encoding of meta/consistent_index and lease ids. */
void bolt_etcd_u64_encode(uint64_t v, uint8_t out[8]);
uint64_t bolt_etcd_u64_decode(const uint8_t in[8]);

/* What `etcdctl snapshot status` prints, computed the same way. */
struct bolt_etcd_status {
    uint32_t hash;       /* CRC-32C over every top-level bucket name, key and value */
    int64_t revision;    /* main revision of the last key in bucket "key" (0 if none) */
    uint64_t total_keys; /* entries over all top-level buckets */
    uint64_t total_size; /* the database size in bytes (bbolt tx.Size()) */
};

/* bolt_etcd_status — walk every top-level bucket as etcdctl does.
 * Returns 0, CAIRN_ECORRUPT (including a "key" bucket key shorter than 17 bytes),
 * CAIRN_EIO, CAIRN_ENOMEM. */
int bolt_etcd_status(struct bolt_reader *r, struct bolt_etcd_status *st);

/* ---- the snapshot hash trailer ------------------------------------------------------ */

/* etcd's Maintenance.Snapshot stream appends SHA-256 of the database bytes (libcrypto's);
 * restore recognises it by file size % 512 == 32 and refuses a file without it unless
 * --skip-hash-check. Status hashes use CRC-32C (common/crc32c.h). */

/*
 * bolt_snapshot_append_hash — read fd (opened read-write) from offset 0 to its end with a
 * bounded buffer, append SHA-256 of those bytes at the end and fsync. The size must be a
 * multiple of 512 (every bbolt file is). A server that streams the file can instead hash
 * the bytes as it sends them (libcrypto's EVP_sha256) and send the 32 bytes last, as etcd does.
 * Returns 0, CAIRN_EINVAL (size not a multiple of 512), CAIRN_EIO.
 */
int bolt_snapshot_append_hash(int fd);

/*
 * bolt_snapshot_verify_hash — does fd end in a SHA-256 trailer that matches the bytes
 * before it? *db_size_bytes (may be NULL) gets the size without the trailer.
 * Returns 0 (present and matching), CAIRN_ENOTFOUND (size % 512 != 32: no trailer),
 * CAIRN_ECORRUPT (mismatch), CAIRN_EIO.
 */
int bolt_snapshot_verify_hash(int fd, uint64_t *db_size_bytes);

#endif /* CAIRN_BOLT_H */
