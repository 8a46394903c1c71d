/*
 * JSON output for -w json, built with jansson and printed the way etcdctl's Go
 * encoding/json prints the same structs: field names and order of the gogoproto json tags,
 * "omitempty" where etcd's structs have it, bytes as base64, integers as numbers (uint64
 * above INT64_MAX included), Go's string escapes (<, >, & as \u003c...).
 */
#ifndef CAIRNCTL_JSON_H
#define CAIRNCTL_JSON_H

#include "etcdserverpb/rpc.pb-c.h"
#include "mvccpb/kv.pb-c.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

json_t *cj_i64(int64_t v);
json_t *cj_u64(uint64_t v);    /* exact, even above INT64_MAX */
json_t *cj_str(const char *s); /* invalid UTF-8 becomes U+FFFD, as Go does */
json_t *cj_b64(const ProtobufCBinaryData *b);
json_t *cj_bool(int v);

/* obj[key] = v (steals v); asserts success. */
void cj_set(json_t *obj, const char *key, json_t *v);
/* omitempty variants: nothing is set for 0, false, "" or empty bytes. */
void cj_set_i64(json_t *obj, const char *key, int64_t v);
void cj_set_u64(json_t *obj, const char *key, uint64_t v);
void cj_set_bool(json_t *obj, const char *key, int v);
void cj_set_str(json_t *obj, const char *key, const char *s);
void cj_set_b64(json_t *obj, const char *key, const ProtobufCBinaryData *b);

/* etcd messages as Go marshals them. NULL in -> JSON null. */
json_t *cj_header(const Etcdserverpb__ResponseHeader *h);
/* The header's fields inlined into obj (clientv3's embedded *pb.ResponseHeader). */
void cj_header_inline(json_t *obj, const Etcdserverpb__ResponseHeader *h);
json_t *cj_kv(const Mvccpb__KeyValue *kv);
json_t *cj_range(const Etcdserverpb__RangeResponse *r);
json_t *cj_put(const Etcdserverpb__PutResponse *r);
json_t *cj_delete(const Etcdserverpb__DeleteRangeResponse *r);
json_t *cj_txn(const Etcdserverpb__TxnResponse *r);
json_t *cj_event(const Mvccpb__Event *e);
json_t *cj_member(const Etcdserverpb__Member *m);
/* {"header":..., ["member":...,] "members":[...]} for every Member*Response */
json_t *cj_members(const Etcdserverpb__ResponseHeader *h, const Etcdserverpb__Member *member,
                   Etcdserverpb__Member *const *members, size_t n);
json_t *cj_status(const Etcdserverpb__StatusResponse *r);
json_t *cj_hashkv(const Etcdserverpb__HashKVResponse *r);
json_t *cj_alarm(const Etcdserverpb__AlarmResponse *r);

/* Print v as one line (Go-compatible escapes) and release it. */
void cj_print(FILE *out, json_t *v);
/* The Go-compatible text of v (malloc'd); v is not released. Exposed for tests. */
char *cj_dumps(const json_t *v);

#endif /* CAIRNCTL_JSON_H */
