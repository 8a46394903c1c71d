/* Key-value responses in etcdctl's simple and fields formats. */
#include "ctl_kv.h"

#include "common.h"

#include <inttypes.h>
#include <stdlib.h>

void out_kv_simple(const Mvccpb__KeyValue *kv, int hex, int value_only)
{
    CAIRN_ASSERT(kv != NULL);
    if (!value_only)
        ctl_print_bytes_line(stdout, kv->key.data, kv->key.len, hex);
    ctl_print_bytes_line(stdout, kv->value.data, kv->value.len, hex);
}

void out_range_simple(const Etcdserverpb__RangeResponse *r, int hex, int value_only)
{
    for (size_t i = 0; i < r->n_kvs; i++)
        out_kv_simple(r->kvs[i], hex, value_only);
}

void out_put_simple(const Etcdserverpb__PutResponse *r, int hex)
{
    printf("OK\n");
    if (r->prev_kv)
        out_kv_simple(r->prev_kv, hex, 0);
}

void out_delete_simple(const Etcdserverpb__DeleteRangeResponse *r, int hex)
{
    printf("%" PRId64 "\n", r->deleted);
    for (size_t i = 0; i < r->n_prev_kvs; i++)
        out_kv_simple(r->prev_kvs[i], hex, 0);
}

void out_txn_simple(const Etcdserverpb__TxnResponse *r, int hex)
{
    printf("%s\n", r->succeeded ? "SUCCESS" : "FAILURE");
    for (size_t i = 0; i < r->n_responses; i++) {
        const Etcdserverpb__ResponseOp *op = r->responses[i];
        printf("\n");
        switch (op->response_case) {
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE:
            out_delete_simple(op->response_delete_range, hex);
            break;
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT:
            out_put_simple(op->response_put, hex);
            break;
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE:
            out_range_simple(op->response_range, hex, 0);
            break;
        default:
            printf("unexpected response\n");
            break;
        }
    }
}

void out_hdr_fields(const Etcdserverpb__ResponseHeader *h)
{
    static const Etcdserverpb__ResponseHeader zero = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    if (!h)
        h = &zero;
    printf("\"ClusterID\" : %" PRIu64 "\n", h->cluster_id);
    printf("\"MemberID\" : %" PRIu64 "\n", h->member_id);
    printf("\"Revision\" : %" PRId64 "\n", h->revision);
    printf("\"RaftTerm\" : %" PRIu64 "\n", h->raft_term);
}

void out_kv_fields(const char *prefix, const Mvccpb__KeyValue *kv)
{
    CAIRN_ASSERT(prefix != NULL && kv != NULL);
    size_t qlen = (kv->key.len > kv->value.len ? kv->key.len : kv->value.len) * 10 + 3;
    char *q = malloc(qlen);
    CAIRN_ASSERT(q != NULL);
    printf("\"%sKey\" : %s\n", prefix, ctl_go_quote(kv->key.data, kv->key.len, q, qlen));
    printf("\"%sCreateRevision\" : %" PRId64 "\n", prefix, kv->create_revision);
    printf("\"%sModRevision\" : %" PRId64 "\n", prefix, kv->mod_revision);
    printf("\"%sVersion\" : %" PRId64 "\n", prefix, kv->version);
    printf("\"%sValue\" : %s\n", prefix, ctl_go_quote(kv->value.data, kv->value.len, q, qlen));
    printf("\"%sLease\" : %" PRId64 "\n", prefix, kv->lease);
    free(q);
}

void out_range_fields(const Etcdserverpb__RangeResponse *r)
{
    out_hdr_fields(r->header);
    for (size_t i = 0; i < r->n_kvs; i++)
        out_kv_fields("", r->kvs[i]);
    printf("\"More\" : %s\n", r->more ? "true" : "false");
    printf("\"Count\" : %" PRId64 "\n", r->count);
}

void out_put_fields(const Etcdserverpb__PutResponse *r)
{
    out_hdr_fields(r->header);
    if (r->prev_kv)
        out_kv_fields("Prev", r->prev_kv);
}

void out_delete_fields(const Etcdserverpb__DeleteRangeResponse *r)
{
    out_hdr_fields(r->header);
    printf("\"Deleted\" : %" PRId64 "\n", r->deleted);
    for (size_t i = 0; i < r->n_prev_kvs; i++)
        out_kv_fields("Prev", r->prev_kvs[i]);
}

void out_txn_fields(const Etcdserverpb__TxnResponse *r)
{
    out_hdr_fields(r->header);
    printf("\"Succeeded\" : %s\n", r->succeeded ? "true" : "false");
    for (size_t i = 0; i < r->n_responses; i++) {
        const Etcdserverpb__ResponseOp *op = r->responses[i];
        switch (op->response_case) {
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE:
            out_delete_fields(op->response_delete_range);
            break;
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT:
            out_put_fields(op->response_put);
            break;
        case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE:
            out_range_fields(op->response_range);
            break;
        default:
            printf("\"Unknown\" : \"\"\n");
            break;
        }
    }
}
