/* Endpoint precedence (flag, CAIRNCTL_ENDPOINTS, ETCDCTL_ENDPOINTS, default) and failover. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client.h"
#include "common.h"

#include <stdlib.h>

static void test_precedence(void **state)
{
    (void)state;
    struct client_endpoints e;
    unsetenv("CAIRNCTL_ENDPOINTS");
    unsetenv("ETCDCTL_ENDPOINTS");
    assert_int_equal(client_endpoints_resolve(&e, NULL), 0);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.url[0].port, 2379);
    setenv("ETCDCTL_ENDPOINTS", "127.0.0.1:3", 1);
    assert_int_equal(client_endpoints_resolve(&e, NULL), 0);
    assert_int_equal(e.url[0].port, 3);
    setenv("CAIRNCTL_ENDPOINTS", "127.0.0.1:2", 1);
    assert_int_equal(client_endpoints_resolve(&e, NULL), 0);
    assert_int_equal(e.url[0].port, 2);
    assert_int_equal(client_endpoints_resolve(&e, "127.0.0.1:1,127.0.0.1:9"), 0);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.url[0].port, 1);
    assert_int_equal(client_endpoints_resolve(&e, "nope"), CAIRN_EINVAL);
}

static void test_failover_visits_each_once(void **state)
{
    (void)state;
    struct client_endpoints e;
    assert_int_equal(client_endpoints_resolve(&e, "a:1,b:2,c:3"), 0);
    e.current = 1;
    size_t first = e.current;
    assert_int_equal(client_endpoints_failover(&e, first), 1);
    assert_int_equal(e.current, 2);
    assert_int_equal(client_endpoints_failover(&e, first), 1);
    assert_int_equal(e.current, 0);
    assert_int_equal(client_endpoints_failover(&e, first), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_failover_visits_each_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
