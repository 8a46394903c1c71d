/*
 * srv_errors.h — etcd's gRPC errors, byte for byte. Clients match on the message string
 * (clientv3's errStringToError), so the strings here are copied exactly from etcd's
 * rpctypes; the codes are etcd 3.4's.
 */
#ifndef CAIRN_SRV_ERRORS_H
#define CAIRN_SRV_ERRORS_H

#include "srv_grpc.h"

/* The wire error for a cairn code. Unknown codes map to UNKNOWN with cairn_strerror(). */
struct srv_error {
    enum srv_status code;
    const char *message;
};

struct srv_error srv_error_from_code(int cairn_code);

/* Messages used directly by request validation (no cairn code of their own). */
#define SRV_ERR_KEY_NOT_FOUND     "etcdserver: key not found"
#define SRV_ERR_VALUE_PROVIDED    "etcdserver: value is provided"
#define SRV_ERR_LEASE_PROVIDED    "etcdserver: lease is provided"
#define SRV_ERR_EMPTY_KEY         "etcdserver: key is not provided"
#define SRV_ERR_TOO_MANY_OPS      "etcdserver: too many operations in txn request"
#define SRV_ERR_DUPLICATE_KEY     "etcdserver: duplicate key given in txn request"
#define SRV_ERR_REQUEST_TOO_LARGE "etcdserver: request is too large"
#define SRV_ERR_TOO_LARGE_TTL     "etcdserver: too large lease TTL"
#define SRV_ERR_MEMBER_NOT_FOUND  "etcdserver: member not found"
#define SRV_ERR_BAD_TRANSFEREE    "etcdserver: bad leader transferee"
#define SRV_ERR_NOT_LEADER        "etcdserver: not leader"
#define SRV_ERR_NOT_CAPABLE       "etcdserver: not capable"

/* Fail a unary call with the wire error for a cairn code. */
void srv_call_fail_code(struct srv_call *call, int cairn_code);

#endif /* CAIRN_SRV_ERRORS_H */
