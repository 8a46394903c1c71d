/*
 * Key-value requests from command lines and their printing, shared by get/put/del, txn's
 * request lines and watch (cmd_kv.c builds, out_kv.c prints).
 */
#ifndef CAIRNCTL_KV_H
#define CAIRNCTL_KV_H

#include "ctl.h"

#include "etcdserverpb/rpc.pb-c.h"
#include "mvccpb/kv.pb-c.h"

/* Byte strings the requests point at; owned here so a request may outlive its argv. */
struct kv_bytes {
    uint8_t *key, *end;
    size_t key_len, end_len;
    uint8_t *value; /* put: from argv or stdin */
    size_t value_len;
};
void kv_bytes_free(struct kv_bytes *b);

/* The range end for a prefix: key with its last byte below 0xff incremented (and the rest
 * cut); "\0" (every key) when there is none. Writes into b->end. */
void kv_prefix_end(struct kv_bytes *b);

/*
 * Build a request from a parsed "get"/"put"/"del" command (flags and arguments, as etcdctl's
 * getGetOp/getPutOp/getDelOp). Returns CTL_EXIT_OK, or CTL_EXIT_USAGE with the message in
 * err. The request points into *b (free with kv_bytes_free after the call).
 * allow_stdin: put reads a missing value from standard input (not inside txn).
 */
int kv_build_range(const struct ctl_parsed *p, Etcdserverpb__RangeRequest *req, struct kv_bytes *b,
                   char *err, size_t err_len);
int kv_build_put(const struct ctl_parsed *p, int allow_stdin, Etcdserverpb__PutRequest *req,
                 struct kv_bytes *b, char *err, size_t err_len);
int kv_build_delete(const struct ctl_parsed *p, Etcdserverpb__DeleteRangeRequest *req,
                    struct kv_bytes *b, char *err, size_t err_len);

/* Printing in etcdctl's simple and fields formats (json: ctl_json.h). */
void out_kv_simple(const Mvccpb__KeyValue *kv, int hex, int value_only);
void out_range_simple(const Etcdserverpb__RangeResponse *r, int hex, int value_only);
void out_put_simple(const Etcdserverpb__PutResponse *r, int hex);
void out_delete_simple(const Etcdserverpb__DeleteRangeResponse *r, int hex);
void out_txn_simple(const Etcdserverpb__TxnResponse *r, int hex);

void out_hdr_fields(const Etcdserverpb__ResponseHeader *h);
void out_kv_fields(const char *prefix, const Mvccpb__KeyValue *kv);
void out_range_fields(const Etcdserverpb__RangeResponse *r);
void out_put_fields(const Etcdserverpb__PutResponse *r);
void out_delete_fields(const Etcdserverpb__DeleteRangeResponse *r);
void out_txn_fields(const Etcdserverpb__TxnResponse *r);

#endif /* CAIRNCTL_KV_H */
