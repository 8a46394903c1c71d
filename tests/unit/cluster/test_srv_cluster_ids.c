/* Member and cluster ids: equal on every founder whatever the order of URLs and members,
 * different across tokens; --initial-cluster parsing and its errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "srv_cluster.h"

#include <stdio.h>
#include <string.h>

static void test_member_id_ignores_url_order(void **state)
{
    (void)state;
    char a[SRV_MEMBER_URLS_MAX] = "http://10.0.0.2:2380,http://10.0.0.1:2380";
    char b[SRV_MEMBER_URLS_MAX] = "http://10.0.0.1:2380,http://10.0.0.2:2380";
    assert_int_equal(srv_cluster_sort_urls(a, sizeof(a)), 0);
    assert_int_equal(srv_cluster_sort_urls(b, sizeof(b)), 0);
    assert_string_equal(a, b);
    assert_string_equal(a, "http://10.0.0.1:2380,http://10.0.0.2:2380");
    uint64_t ida = srv_cluster_member_id(a, "tok");
    assert_int_not_equal(ida, 0);
    assert_int_equal(ida, srv_cluster_member_id(b, "tok"));
    assert_int_not_equal(ida, srv_cluster_member_id(a, "other-token"));
    assert_int_not_equal(ida, srv_cluster_member_id("http://10.0.0.1:2380", "tok"));
}

static void test_cluster_id_ignores_member_order(void **state)
{
    (void)state;
    uint64_t x[3] = {30, 10, 20}, y[3] = {20, 30, 10}, z[2] = {10, 20};
    uint64_t cx = srv_cluster_id_of(x, 3, "t");
    assert_int_equal(cx, srv_cluster_id_of(y, 3, "t"));
    assert_int_equal(x[0], 10); /* sorted in place */
    assert_int_not_equal(cx, srv_cluster_id_of(z, 2, "t"));
    uint64_t x2[3] = {30, 10, 20};
    assert_int_not_equal(cx, srv_cluster_id_of(x2, 3, "u"));
}

static void test_parse_initial_cluster(void **state)
{
    (void)state;
    struct srv_member m[SRV_MEMBERS_MAX];
    size_t n = 0;
    char err[256];
    assert_int_equal(srv_cluster_parse_initial("a=http://127.0.0.1:2380,b=http://127.0.0.1:22380,"
                                               "a=http://10.0.0.1:2380,c=127.0.0.1:32380",
                                               "tok", m, SRV_MEMBERS_MAX, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(m[0].name, "a");
    assert_string_equal(m[0].peer_urls, "http://10.0.0.1:2380,http://127.0.0.1:2380");
    assert_string_equal(m[2].peer_urls, "127.0.0.1:32380");
    assert_int_equal(m[0].id, srv_cluster_member_id(m[0].peer_urls, "tok"));
    /* every founder, whatever its flag's member order, computes the same ids */
    struct srv_member r[SRV_MEMBERS_MAX];
    size_t rn = 0;
    assert_int_equal(srv_cluster_parse_initial("c=127.0.0.1:32380,a=http://10.0.0.1:2380,"
                                               "b=http://127.0.0.1:22380,a=http://127.0.0.1:2380",
                                               "tok", r, SRV_MEMBERS_MAX, &rn, err, sizeof(err)),
                     0);
    assert_int_equal(rn, 3);
    uint64_t ids1[3], ids2[3];
    for (size_t i = 0; i < 3; i++)
        ids1[i] = m[i].id, ids2[i] = r[i].id;
    assert_int_equal(srv_cluster_id_of(ids1, 3, "tok"), srv_cluster_id_of(ids2, 3, "tok"));
}

static void test_parse_initial_errors(void **state)
{
    (void)state;
    struct srv_member m[4];
    size_t n = 0;
    char err[256];
    const char *bad[] = {
        "",                                           /* empty */
        "a",                                          /* no '=' */
        "=http://127.0.0.1:2380",                     /* no name */
        "a=",                                         /* no URL */
        "a=ftp://x:1",                                /* scheme */
        "a=http://127.0.0.1",                         /* no port */
        "a=http://127.0.0.1:1,b=http://127.0.0.1:1",  /* same URLs: same id */
        "a=http://127.0.0.1:1,,b=http://127.0.0.1:2", /* empty item */
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        assert_int_equal(srv_cluster_parse_initial(bad[i], "t", m, 4, &n, err, sizeof(err)),
                         CAIRN_EINVAL);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(
        srv_cluster_parse_initial("a=h:1,b=h:2,c=h:3,d=h:4,e=h:5", "t", m, 4, &n, err, sizeof(err)),
        CAIRN_ELIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_id_ignores_url_order),
        cmocka_unit_test(test_cluster_id_ignores_member_order),
        cmocka_unit_test(test_parse_initial_cluster),
        cmocka_unit_test(test_parse_initial_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
