/*
 * store_model.h — a plain in-memory reference model of etcd's MVCC semantics, used by the
 * property and crash tests to check store/. Naive on purpose: every key keeps its whole
 * history in an array, reads scan everything. It answers with the same protobuf-c
 * messages store/ does, so results compare byte for byte once packed.
 */
#ifndef CAIRN_STORE_MODEL_H
#define CAIRN_STORE_MODEL_H

#include "store.h"

struct model;

struct model *model_new(int64_t lease_min_ttl_s);
void model_free(struct model *m);
int64_t model_rev(const struct model *m);
int64_t model_compact_rev(const struct model *m);

/* Applies op (always with events and prev_kv); responses from a. */
void model_apply(struct model *m, const struct store_op *op, ProtobufCAllocator *a,
                 struct store_result *res);
int model_range(struct model *m, const Etcdserverpb__RangeRequest *req, ProtobufCAllocator *a,
                Etcdserverpb__RangeResponse **out);
/* Every event with revision >= start_rev in [key, end), with prev_kv when asked. */
int model_history(struct model *m, const uint8_t *key, size_t klen, const uint8_t *end, size_t elen,
                  int prev_kv, int64_t start_rev, ProtobufCAllocator *a, Mvccpb__Event ***ev,
                  size_t *n);
int model_hash(struct model *m, int64_t rev, uint32_t *hash);
/* CAIRN_ELEASENOTFOUND or 0 with the attached keys (sorted) from a. */
int model_lease_get(struct model *m, int64_t id, struct store_lease *l, ProtobufCAllocator *a,
                    ProtobufCBinaryData **keys, size_t *n);

#endif
