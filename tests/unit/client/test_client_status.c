/* gRPC status -> cairn code mapping, status filling and the idempotent-method table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client.h"
#include "common.h"

#include <string.h>

static void test_etcd_strings_win_over_codes(void **state)
{
    (void)state;
    assert_int_equal(client_status_to_error(0, "anything"), 0);
    assert_int_equal(
        client_status_to_error(11, "etcdserver: mvcc: required revision has been compacted"),
        CAIRN_ECOMPACTED);
    assert_int_equal(
        client_status_to_error(11, "etcdserver: mvcc: required revision is a future revision"),
        CAIRN_EFUTUREREV);
    assert_int_equal(client_status_to_error(5, "etcdserver: requested lease not found"),
                     CAIRN_ELEASENOTFOUND);
    assert_int_equal(client_status_to_error(14, "etcdserver: no leader"), CAIRN_ENOLEADER);
    assert_int_equal(client_status_to_error(8, "etcdserver: mvcc: database space exceeded"),
                     CAIRN_ENOSPACE);
    /* a near miss is classified by code only */
    assert_int_equal(client_status_to_error(11, "etcdserver: mvcc: required revision"),
                     CAIRN_EINVAL);
}

static void test_code_classes(void **state)
{
    (void)state;
    assert_int_equal(client_status_to_error(1, NULL), CAIRN_ECANCELED);
    assert_int_equal(client_status_to_error(3, "x"), CAIRN_EINVAL);
    assert_int_equal(client_status_to_error(4, NULL), CAIRN_ETIMEOUT);
    assert_int_equal(client_status_to_error(5, "etcdserver: member not found"), CAIRN_ENOTFOUND);
    assert_int_equal(client_status_to_error(8, "etcdserver: too many requests"), CAIRN_ELIMIT);
    assert_int_equal(client_status_to_error(8, "cairn: memory limit reached"), CAIRN_EMEMLIMIT);
    assert_int_equal(client_status_to_error(12, NULL), CAIRN_EUNSUPPORTED);
    assert_int_equal(client_status_to_error(14, "Connection refused"), CAIRN_EUNAVAILABLE);
    assert_int_equal(client_status_to_error(7, "etcdserver: permission denied"), CAIRN_EIO);
    for (int code = 1; code <= 16; code++)
        assert_true(cairn_is_error(client_status_to_error(code, NULL)));
}

static void test_status_set_truncates(void **state)
{
    (void)state;
    struct cairn_client_status st;
    char big[CAIRN_CLIENT_MESSAGE_MAX * 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    client_status_set(&st, 14, big, "127.0.0.1:2379");
    assert_int_equal(st.code, 14);
    assert_int_equal(strlen(st.message), CAIRN_CLIENT_MESSAGE_MAX - 1);
    assert_string_equal(st.endpoint, "127.0.0.1:2379");
    client_status_set(&st, 0, NULL, NULL);
    assert_string_equal(st.message, "");
    assert_string_equal(st.endpoint, "127.0.0.1:2379"); /* kept when not given */
    client_status_set(NULL, 3, "ignored", NULL);        /* NULL status is allowed */
}

static void test_idempotent_methods(void **state)
{
    (void)state;
    assert_true(client_method_is_idempotent("/etcdserverpb.KV/Range"));
    assert_true(client_method_is_idempotent("/etcdserverpb.Maintenance/Status"));
    assert_true(client_method_is_idempotent("/etcdserverpb.Cluster/MemberList"));
    assert_false(client_method_is_idempotent("/etcdserverpb.KV/Put"));
    assert_false(client_method_is_idempotent("/etcdserverpb.KV/Txn"));
    assert_false(client_method_is_idempotent("/etcdserverpb.Lease/LeaseGrant"));
    assert_false(client_method_is_idempotent("/etcdserverpb.KV/Range2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etcd_strings_win_over_codes),
        cmocka_unit_test(test_code_classes),
        cmocka_unit_test(test_status_set_truncates),
        cmocka_unit_test(test_idempotent_methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
