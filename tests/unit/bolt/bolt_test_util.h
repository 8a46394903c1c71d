/* Helpers shared by bolt/'s unit tests: in-memory files, a seeded PRNG, a deterministic data
 * set, and an independent page-level checker with the rules of bbolt's tx.Check(). */
#ifndef CAIRN_BOLT_TEST_UTIL_H
#define CAIRN_BOLT_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "bolt.h"

/* A memfd (a regular file in memory): nothing touches the disk, nothing to clean up. */
int tu_memfd(void);

/* Replaces fd's content with p[0..n). */
void tu_put_file(int fd, const uint8_t *p, size_t n);

/* The whole content of fd (malloc'd; *n its length). */
uint8_t *tu_get_file(int fd, size_t *n);

/* xorshift64*: deterministic per seed. */
struct tu_rng {
    uint64_t s;
};
uint64_t tu_rand(struct tu_rng *r);

/* The data set: bucket names in ascending order and, per bucket, a count and a generator
 * that rebuilds entry i (key and value into caller buffers, at least TU_KEY_MAX /
 * TU_VAL_MAX bytes). scale 1 is the full set (overflow pages, deep branches, a 1 MiB value),
 * scale 0 a small one for the fuzzer. */
#define TU_KEY_MAX BOLT_KEY_MAX
#define TU_VAL_MAX (1u << 20)
size_t tu_bucket_count(void);
const char *tu_bucket_name(size_t b);
size_t tu_entry_count(size_t b, int scale);
void tu_entry(size_t b, size_t i, uint8_t *key, size_t *klen, uint8_t *val, size_t *vlen);

/* Writes the data set into fd with bolt_writer (asserts every call succeeds). */
void tu_write_dataset(int fd, int scale);

/* Reads every bucket back and compares entry by entry (cmocka asserts). */
void tu_verify_dataset(struct bolt_reader *r, int scale);

/*
 * The tx.Check() rules, on the raw bytes: both meta pages valid; the freelist readable with
 * no id twice; every page reachable from the root (tree pages with their overflow, inline
 * buckets followed, the freelist page and the meta pages) at most once; every page below
 * the high-water mark reachable or free, never both; tree pages well-formed with keys
 * ascending and each branch key equal to its child's first key. Returns 0, or -1 with a
 * reason in err.
 */
int tu_check_file(const uint8_t *file, size_t len, char *err, size_t errlen);

#endif /* CAIRN_BOLT_TEST_UTIL_H */
