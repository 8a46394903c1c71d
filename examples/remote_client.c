/*
 * remote_client — cairn's remote client in one page: connect to a cairn (or etcd) cluster,
 * put a key, read it back, compare.
 *
 *   remote_client [ENDPOINTS]
 *
 * ENDPOINTS is a comma-separated list ("127.0.0.1:2379,127.0.0.1:22379", http:// URLs
 * too). Without it the client takes $CAIRNCTL_ENDPOINTS, then $ETCDCTL_ENDPOINTS, then
 * 127.0.0.1:2379. Exits 0 when the value read back is the value written, 1 otherwise.
 *
 * Requests and responses are the protobuf-c structs of etcd's API ("etcdserverpb/rpc.pb-c.h",
 * installed with cairn.h): fill a request, call, read the response, free it with
 * cairn_client_free().
 */
#define _POSIX_C_SOURCE 200809L /* getpid */

#include <cairn.h>
#include "etcdserverpb/rpc.pb-c.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char example_key[] = "cairn-examples/remote-client";

static int fail(const char *what, int rc, const struct cairn_client_status *st)
{
    fprintf(stderr, "remote_client: %s: %s (gRPC status %d \"%s\" from %s)\n", what,
            cairn_strerror(rc), st->code, st->message, st->endpoint[0] ? st->endpoint : "-");
    return 1;
}

/* Put example_key = value; *revision gets the store revision of the write. */
static int put_value(cairn_client *cl, const char *value, int64_t *revision)
{
    char key[sizeof(example_key)];
    char val[128];
    memcpy(key, example_key, sizeof(key));
    snprintf(val, sizeof(val), "%s", value);

    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key.data = (uint8_t *)key;
    req.key.len = strlen(key);
    req.value.data = (uint8_t *)val;
    req.value.len = strlen(val);

    Etcdserverpb__PutResponse *resp = NULL;
    struct cairn_client_status st;
    int rc = cairn_client_put(cl, &req, &resp, &st);
    if (rc < 0)
        return fail("put", rc, &st);
    *revision = resp->header ? resp->header->revision : 0;
    cairn_client_free(resp);
    return 0;
}

/* Read example_key back and compare it with want. */
static int check_value(cairn_client *cl, const char *want, int64_t put_revision)
{
    char key[sizeof(example_key)];
    memcpy(key, example_key, sizeof(key));

    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key.data = (uint8_t *)key;
    req.key.len = strlen(key);

    Etcdserverpb__RangeResponse *resp = NULL;
    struct cairn_client_status st;
    int rc = cairn_client_range(cl, &req, &resp, &st);
    if (rc < 0)
        return fail("get", rc, &st);

    int bad = 1;
    if (resp->n_kvs != 1) {
        fprintf(stderr, "remote_client: get returned %zu pairs, want 1\n", resp->n_kvs);
    } else {
        const Mvccpb__KeyValue *kv = resp->kvs[0];
        printf("get %s -> \"%.*s\" (mod_revision %lld, version %lld)\n", example_key,
               (int)kv->value.len, (const char *)kv->value.data, (long long)kv->mod_revision,
               (long long)kv->version);
        if (kv->value.len != strlen(want) || memcmp(kv->value.data, want, kv->value.len) != 0)
            fprintf(stderr, "remote_client: read back a different value than written\n");
        else if (kv->mod_revision != put_revision)
            fprintf(stderr, "remote_client: mod_revision %lld, but the put was at %lld\n",
                    (long long)kv->mod_revision, (long long)put_revision);
        else
            bad = 0;
    }
    cairn_client_free(resp);
    return bad;
}

int main(int argc, char **argv)
{
    struct cairn_client_options opts;
    cairn_client_options_init(&opts);
    opts.endpoints = argc > 1 ? argv[1] : NULL; /* NULL: the environment, then the default */

    cairn_client *cl = NULL;
    int rc = cairn_client_open(&opts, &cl);
    if (rc < 0) {
        fprintf(stderr, "remote_client: cannot use endpoints \"%s\": %s\n",
                opts.endpoints ? opts.endpoints : "(from the environment)", cairn_strerror(rc));
        return 1;
    }
    printf("cairn %s, endpoints:", cairn_version_string());
    for (size_t i = 0; i < cairn_client_endpoint_count(cl); i++)
        printf(" %s", cairn_client_endpoint(cl, i));
    printf("\n");

    /* A value no earlier run wrote, so reading it back proves this run's put landed. */
    char value[96];
    snprintf(value, sizeof(value), "hello from remote_client, pid %ld", (long)getpid());

    int64_t revision = 0;
    int bad = put_value(cl, value, &revision);
    if (!bad) {
        printf("put %s = \"%s\" at revision %lld\n", example_key, value, (long long)revision);
        bad = check_value(cl, value, revision);
    }
    cairn_client_close(cl);
    printf("%s\n", bad ? "FAILED" : "ok");
    return bad ? 1 : 0;
}
