/* Unary calls, failover rules, status surfacing, deadlines and streams against the in-process
 * fake server (fake_server.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client.h"
#include "common.h"
#include "fake_server.h"

#include "etcdserverpb/rpc.pb-c.h"

#include <stdio.h>
#include <string.h>

static cairn_client *open_client(const char *endpoints, int64_t command_timeout_ms)
{
    struct cairn_client_options o;
    cairn_client_options_init(&o);
    o.endpoints = endpoints;
    o.command_timeout_ms = command_timeout_ms;
    cairn_client *cl = NULL;
    assert_int_equal(cairn_client_open(&o, &cl), 0);
    assert_non_null(cl);
    return cl;
}

static int do_range(cairn_client *cl, int64_t revision, Etcdserverpb__RangeResponse **resp,
                    struct cairn_client_status *st)
{
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key.data = (uint8_t *)"k";
    req.key.len = 1;
    req.revision = revision;
    return cairn_client_range(cl, &req, resp, st);
}

static int do_put(cairn_client *cl, Etcdserverpb__PutResponse **resp,
                  struct cairn_client_status *st)
{
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key.data = (uint8_t *)"k";
    req.key.len = 1;
    return cairn_client_put(cl, &req, resp, st);
}

static void test_unary_ok(void **state)
{
    (void)state;
    struct fake_server *fs = fake_server_start(FAKE_MODE_OK, 0xa1);
    char ep[64];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", fake_server_port(fs));
    cairn_client *cl = open_client(ep, 0);
    assert_int_equal(cairn_client_endpoint_count(cl), 1);
    struct cairn_client_status st;
    Etcdserverpb__RangeResponse *r = NULL;
    assert_int_equal(do_range(cl, 0, &r, &st), 0);
    assert_non_null(r);
    assert_int_equal(r->count, FAKE_RANGE_COUNT);
    assert_int_equal(r->header->member_id, 0xa1);
    assert_int_equal(st.code, 0);
    assert_string_equal(st.endpoint, ep + strlen("http://"));
    cairn_client_free(r);
    cairn_client_close(cl);
    fake_server_stop(fs);
}

static void test_server_message_surfaced(void **state)
{
    (void)state;
    struct fake_server *fs = fake_server_start(FAKE_MODE_OK, 1);
    char ep[64];
    snprintf(ep, sizeof(ep), "127.0.0.1:%d", fake_server_port(fs));
    cairn_client *cl = open_client(ep, 0);
    struct cairn_client_status st;
    static Etcdserverpb__RangeResponse stale;
    Etcdserverpb__RangeResponse *r = &stale; /* the call must reset it */
    assert_int_equal(do_range(cl, 1, &r, &st), CAIRN_ECOMPACTED);
    assert_null(r);
    assert_int_equal(st.code, 11); /* OUT_OF_RANGE */
    assert_string_equal(st.message, FAKE_COMPACTED_MSG);
    cairn_client_close(cl);
    fake_server_stop(fs);
}

static void test_failover_from_closed_port(void **state)
{
    (void)state;
    struct fake_server *fs = fake_server_start(FAKE_MODE_OK, 0xb2);
    char eps[128];
    snprintf(eps, sizeof(eps), "127.0.0.1:%d,127.0.0.1:%d", fake_closed_port(),
             fake_server_port(fs));
    cairn_client *cl = open_client(eps, 0);
    assert_int_equal(cairn_client_current_endpoint(cl), 0);
    struct cairn_client_status st;
    /* A write may move on too: it was never sent to the unreachable endpoint. */
    Etcdserverpb__PutResponse *p = NULL;
    assert_int_equal(do_put(cl, &p, &st), 0);
    assert_int_equal(p->header->member_id, 0xb2);
    cairn_client_free(p);
    assert_int_equal(cairn_client_current_endpoint(cl), 1);
    Etcdserverpb__RangeResponse *r = NULL;
    assert_int_equal(do_range(cl, 0, &r, &st), 0);
    assert_int_equal(r->header->member_id, 0xb2);
    cairn_client_free(r);
    assert_int_equal(fake_server_calls(fs), 2);
    cairn_client_close(cl);
    fake_server_stop(fs);
}

static void test_unavailable_read_fails_over_write_does_not(void **state)
{
    (void)state;
    struct fake_server *bad = fake_server_start(FAKE_MODE_UNAVAILABLE, 1);
    struct fake_server *good = fake_server_start(FAKE_MODE_OK, 2);
    char eps[128];
    snprintf(eps, sizeof(eps), "127.0.0.1:%d,127.0.0.1:%d", fake_server_port(bad),
             fake_server_port(good));
    struct cairn_client_status st;

    cairn_client *cl = open_client(eps, 0);
    Etcdserverpb__RangeResponse *r = NULL;
    assert_int_equal(do_range(cl, 0, &r, &st), 0);
    assert_int_equal(r->header->member_id, 2);
    cairn_client_free(r);
    assert_int_equal(fake_server_calls(bad), 1);
    cairn_client_close(cl);

    cl = open_client(eps, 0);
    Etcdserverpb__PutResponse *p = NULL;
    assert_int_equal(do_put(cl, &p, &st), CAIRN_EUNAVAILABLE);
    assert_null(p);
    assert_int_equal(st.code, 14);
    assert_string_equal(st.message, FAKE_UNAVAILABLE_MSG);
    assert_int_equal(fake_server_calls(good), 1); /* only the range above */
    assert_int_equal(cairn_client_current_endpoint(cl), 0);
    cairn_client_close(cl);
    fake_server_stop(good);
    fake_server_stop(bad);
}

static void test_all_endpoints_down(void **state)
{
    (void)state;
    char eps[128];
    int p1 = fake_closed_port(), p2 = fake_closed_port();
    snprintf(eps, sizeof(eps), "127.0.0.1:%d,127.0.0.1:%d", p1, p2);
    cairn_client *cl = open_client(eps, 0);
    struct cairn_client_status st;
    Etcdserverpb__RangeResponse *r = NULL;
    assert_int_equal(do_range(cl, 0, &r, &st), CAIRN_EUNAVAILABLE);
    assert_null(r);
    assert_int_equal(st.code, 14);
    char want[32];
    snprintf(want, sizeof(want), "127.0.0.1:%d", p1);
    assert_non_null(strstr(st.message, want));
    snprintf(want, sizeof(want), "127.0.0.1:%d", p2);
    assert_non_null(strstr(st.message, want));
    cairn_client_close(cl);
}

static void test_command_timeout(void **state)
{
    (void)state;
    struct fake_server *fs = fake_server_start(FAKE_MODE_SILENT, 1);
    char ep[64];
    snprintf(ep, sizeof(ep), "127.0.0.1:%d", fake_server_port(fs));
    cairn_client *cl = open_client(ep, 100);
    struct cairn_client_status st;
    Etcdserverpb__RangeResponse *r = NULL;
    assert_int_equal(do_range(cl, 0, &r, &st), CAIRN_ETIMEOUT);
    assert_int_equal(st.code, 4); /* DEADLINE_EXCEEDED */
    assert_null(r);
    cairn_client_close(cl);
    fake_server_stop(fs);
}

static void test_watch_stream(void **state)
{
    (void)state;
    struct fake_server *fs = fake_server_start(FAKE_MODE_OK, 1);
    char ep[64];
    snprintf(ep, sizeof(ep), "127.0.0.1:%d", fake_server_port(fs));
    cairn_client *cl = open_client(ep, 0);
    struct cairn_client_status st;
    cairn_client_stream *s = NULL;
    assert_int_equal(cairn_client_watch_open(cl, &s, &st), 0);
    /* nothing sent yet: a short receive times out and the stream stays usable */
    Etcdserverpb__WatchResponse *w = NULL;
    assert_int_equal(cairn_client_watch_recv(s, &w, 20, &st), CAIRN_ETIMEOUT);
    assert_null(w);
    for (int64_t id = 1; id <= 3; id++) {
        Etcdserverpb__WatchCreateRequest c = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
        c.key.data = (uint8_t *)"k";
        c.key.len = 1;
        c.watch_id = id;
        assert_int_equal(cairn_client_watch_create(s, &c, &st), 0);
        assert_int_equal(cairn_client_watch_recv(s, &w, -1, &st), 0);
        assert_int_equal(w->watch_id, id);
        assert_true(w->created);
        cairn_client_free(w);
    }
    assert_int_equal(cairn_client_watch_progress(s, &st), 0);
    assert_int_equal(cairn_client_watch_recv(s, &w, -1, &st), 0);
    assert_false(w->created);
    cairn_client_free(w);
    assert_int_equal(cairn_client_stream_close_send(s, &st), 0);
    assert_int_equal(cairn_client_watch_recv(s, &w, -1, &st), CAIRN_ESTOPPED);
    assert_int_equal(st.code, 0);
    assert_int_equal(cairn_client_watch_recv(s, &w, -1, &st), CAIRN_ESTOPPED);
    cairn_client_stream_destroy(s);
    cairn_client_close(cl);
    fake_server_stop(fs);
}

static void test_stream_cancel(void **state)
{
    (void)state;
    struct fake_server *fs = fake_server_start(FAKE_MODE_OK, 1);
    char ep[64];
    snprintf(ep, sizeof(ep), "127.0.0.1:%d", fake_server_port(fs));
    cairn_client *cl = open_client(ep, 0);
    struct cairn_client_status st;
    cairn_client_stream *s = NULL;
    assert_int_equal(cairn_client_watch_open(cl, &s, &st), 0);
    Etcdserverpb__WatchResponse *w = NULL;
    assert_int_equal(cairn_client_watch_recv(s, &w, 10, &st), CAIRN_ETIMEOUT);
    cairn_client_stream_cancel(s); /* the pending receive ends */
    assert_int_equal(cairn_client_watch_recv(s, &w, -1, &st), CAIRN_ECANCELED);
    assert_int_equal(st.code, 1);
    assert_null(w);
    cairn_client_stream_destroy(s);
    /* destroying a stream with a receive in flight and no cancel is clean too */
    assert_int_equal(cairn_client_watch_open(cl, &s, &st), 0);
    assert_int_equal(cairn_client_watch_recv(s, &w, 10, &st), CAIRN_ETIMEOUT);
    cairn_client_stream_destroy(s);
    cairn_client_close(cl);
    fake_server_stop(fs);
}

static void test_endpoint_dies_mid_session(void **state)
{
    (void)state;
    struct fake_server *first = fake_server_start(FAKE_MODE_OK, 1);
    struct fake_server *second = fake_server_start(FAKE_MODE_OK, 2);
    char eps[128];
    snprintf(eps, sizeof(eps), "127.0.0.1:%d,127.0.0.1:%d", fake_server_port(first),
             fake_server_port(second));
    cairn_client *cl = open_client(eps, 0);
    struct cairn_client_status st;
    Etcdserverpb__RangeResponse *r = NULL;
    assert_int_equal(do_range(cl, 0, &r, &st), 0);
    assert_int_equal(r->header->member_id, 1);
    cairn_client_free(r);
    cairn_client_stream *s = NULL;
    assert_int_equal(cairn_client_watch_open(cl, &s, &st), 0);
    /* The server cancels every call and goes: the stream ends UNAVAILABLE or, when the
     * server's cancel reaches the client first, CANCELLED (not asked for by the client). */
    fake_server_stop(first);
    Etcdserverpb__WatchResponse *w = NULL;
    int rc = cairn_client_watch_recv(s, &w, -1, &st);
    assert_true((rc == CAIRN_EUNAVAILABLE && st.code == 14) ||
                (rc == CAIRN_ECANCELED && st.code == 1));
    assert_null(w);
    cairn_client_stream_destroy(s);
    /* the dead endpoint refuses connections: even a write moves on, it was never sent */
    Etcdserverpb__PutResponse *p = NULL;
    assert_int_equal(do_put(cl, &p, &st), 0);
    assert_int_equal(p->header->member_id, 2);
    cairn_client_free(p);
    assert_int_equal(cairn_client_current_endpoint(cl), 1);
    assert_int_equal(cairn_client_watch_open(cl, &s, &st), 0); /* streams too */
    assert_string_equal(st.endpoint, cairn_client_endpoint(cl, 1));
    cairn_client_stream_destroy(s);
    cairn_client_close(cl);
    fake_server_stop(second);
}

static void test_keepalive_once(void **state)
{
    (void)state;
    struct fake_server *fs = fake_server_start(FAKE_MODE_OK, 1);
    char ep[64];
    snprintf(ep, sizeof(ep), "127.0.0.1:%d", fake_server_port(fs));
    cairn_client *cl = open_client(ep, 0);
    struct cairn_client_status st;
    Etcdserverpb__LeaseKeepAliveResponse *k = NULL;
    assert_int_equal(cairn_client_keepalive_once(cl, 0x1234, &k, &st), 0);
    assert_int_equal(k->id, 0x1234);
    assert_int_equal(k->ttl, FAKE_KEEPALIVE_TTL);
    cairn_client_free(k);
    cairn_client_close(cl);
    fake_server_stop(fs);
}

struct snap_acc {
    size_t bytes;
    int chunks;
    uint64_t last_remaining;
    int stop_after;
};

static int snap_chunk(void *arg, const uint8_t *data, size_t len, uint64_t remaining)
{
    struct snap_acc *a = arg;
    assert_true(len > 0);
    assert_int_equal(data[0], 'a' + a->chunks);
    a->bytes += len;
    a->chunks++;
    a->last_remaining = remaining;
    return a->chunks == a->stop_after ? 77 : 0;
}

static void test_snapshot_stream(void **state)
{
    (void)state;
    struct fake_server *fs = fake_server_start(FAKE_MODE_OK, 1);
    char ep[64];
    snprintf(ep, sizeof(ep), "127.0.0.1:%d", fake_server_port(fs));
    cairn_client *cl = open_client(ep, 0);
    struct cairn_client_status st;
    struct snap_acc a = {0};
    assert_int_equal(cairn_client_snapshot(cl, snap_chunk, &a, &st), 0);
    assert_int_equal(a.chunks, FAKE_SNAPSHOT_CHUNKS);
    assert_int_equal(a.bytes, FAKE_SNAPSHOT_CHUNKS * FAKE_SNAPSHOT_CHUNK_BYTES);
    assert_int_equal(a.last_remaining, 0);
    struct snap_acc b = {.stop_after = 1};
    assert_int_equal(cairn_client_snapshot(cl, snap_chunk, &b, &st), 77);
    assert_int_equal(b.chunks, 1);
    cairn_client_close(cl);
    fake_server_stop(fs);
}

static void test_open_rejects_bad_endpoints(void **state)
{
    (void)state;
    struct cairn_client_options o;
    cairn_client_options_init(&o);
    cairn_client *cl = NULL;
    o.endpoints = "no-port";
    assert_int_equal(cairn_client_open(&o, &cl), CAIRN_EINVAL);
    assert_null(cl);
    o.endpoints = "https://127.0.0.1:2379";
    assert_int_equal(cairn_client_open(&o, &cl), CAIRN_EINVAL);
    o.endpoints = "a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9,j:10,k:11,l:12,m:13,n:14,o:15,p:16,q:17";
    assert_int_equal(cairn_client_open(&o, &cl), CAIRN_ELIMIT);
    o.endpoints = "a:1,b:2";
    assert_int_equal(cairn_client_open(&o, &cl), 0);
    assert_string_equal(cairn_client_endpoint(cl, 1), "b:2");
    cairn_client_close(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_ok),
        cmocka_unit_test(test_server_message_surfaced),
        cmocka_unit_test(test_failover_from_closed_port),
        cmocka_unit_test(test_unavailable_read_fails_over_write_does_not),
        cmocka_unit_test(test_all_endpoints_down),
        cmocka_unit_test(test_command_timeout),
        cmocka_unit_test(test_watch_stream),
        cmocka_unit_test(test_stream_cancel),
        cmocka_unit_test(test_endpoint_dies_mid_session),
        cmocka_unit_test(test_keepalive_once),
        cmocka_unit_test(test_snapshot_stream),
        cmocka_unit_test(test_open_rejects_bad_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
