/* Helpers shared by store/'s tests: temporary data dirs, one-entry batches, requests. */
#ifndef CAIRN_STORE_TEST_UTIL_H
#define CAIRN_STORE_TEST_UTIL_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under /tmp (mkdtemp); tu_rmdir removes it recursively. */
char *tu_tmpdir(const char *tag);
void tu_rmdir(char *dir); /* frees dir */

/* Opens with a small map and no fsync unless the config says otherwise. */
struct store *tu_open(const char *dir, uint64_t quota_bytes, uint64_t map_initial_bytes);

/* Applies op as the next entry in a batch of its own; returns the commit's result. */
int tu_apply(struct store *s, const struct store_op *op, ProtobufCAllocator *a,
             struct store_result *res);

int tu_put(struct store *s, const char *key, const char *val, int64_t lease, ProtobufCAllocator *a,
           struct store_result *res);
int tu_del(struct store *s, const char *key, const char *end, ProtobufCAllocator *a,
           struct store_result *res);
/* Range over [key, end) (end NULL = single key) at rev with limit: response from a. */
Etcdserverpb__RangeResponse *tu_range(struct store *s, const char *key, const char *end,
                                      int64_t rev, int64_t limit, ProtobufCAllocator *a, int *err);
int64_t tu_rev(struct store *s);
uint64_t tu_applied(struct store *s);

/* protobuf-c messages equal byte for byte once packed. */
int tu_msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b);

#endif
