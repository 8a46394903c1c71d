/* cairnd flags: etcd's names and defaults, both --f v and --f=v, clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(struct srv_config *c, char *err, int argc, const char **argv)
{
    srv_config_defaults(c);
    return srv_config_parse_args(c, argc, argv, err, 256);
}

static void test_defaults(void **state)
{
    (void)state;
    struct srv_config c;
    char err[256];
    const char *argv[] = {"cairnd"};
    assert_int_equal(parse(&c, err, 1, argv), 0);
    assert_string_equal(c.name, "default");
    assert_string_equal(c.data_dir, "default.cairn");
    assert_string_equal(c.listen_client_urls, "http://127.0.0.1:2379");
    assert_int_equal(c.quota_backend_bytes, 2147483648ULL);
    assert_int_equal(c.max_request_bytes, 1572864);
    assert_int_equal(c.max_txn_ops, 128);
    assert_int_equal(c.election_timeout_ms, 1000);
}

static void test_flag_forms(void **state)
{
    (void)state;
    struct srv_config c;
    char err[256];
    const char *argv[] = {"cairnd",
                          "--name",
                          "n1",
                          "--election-timeout=500",
                          "-heartbeat-interval",
                          "50",
                          "--initial-cluster-state=existing",
                          "--version"};
    assert_int_equal(parse(&c, err, 8, argv), 0);
    assert_string_equal(c.name, "n1");
    assert_string_equal(c.data_dir, "n1.cairn");
    assert_int_equal(c.election_timeout_ms, 500);
    assert_int_equal(c.heartbeat_interval_ms, 50);
    assert_string_equal(c.initial_cluster_state, "existing");
    assert_true(c.show_version);
}

static void test_errors(void **state)
{
    (void)state;
    struct srv_config c;
    char err[256];
    const char *a1[] = {"cairnd", "--no-such-flag=1"};
    assert_int_equal(parse(&c, err, 2, a1), CAIRN_EINVAL);
    assert_string_equal(err, "unknown flag: --no-such-flag");
    const char *a2[] = {"cairnd", "--max-txn-ops", "lots"};
    assert_int_equal(parse(&c, err, 3, a2), CAIRN_EINVAL);
    assert_non_null(strstr(err, "--max-txn-ops"));
    const char *a3[] = {"cairnd", "--name"};
    assert_int_equal(parse(&c, err, 2, a3), CAIRN_EINVAL);
    assert_string_equal(err, "flag needs an argument: --name");
    const char *a4[] = {"cairnd", "stray"};
    assert_int_equal(parse(&c, err, 2, a4), CAIRN_EINVAL);
    const char *a5[] = {"cairnd", "--snapshot-count=-5"};
    assert_int_equal(parse(&c, err, 2, a5), CAIRN_EINVAL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_yaml_config_file(void **state)
{
    (void)state;
    char path[] = "/tmp/cairn-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "# etcd-style config\n"
                     "name: 'infra1'\n"
                     "data-dir: /tmp/infra1\n"
                     "listen-client-urls: http://127.0.0.1:12379\n"
                     "heartbeat-interval: 50\n"
                     "election-timeout: 500\n"
                     "quota-backend-bytes: 1048576\n"
                     "log-outputs: [stderr, /tmp/x.log]\n"
                     "enable-v2: false\n"
                     "client-transport-security:\n"
                     "  cert-file:\n"
                     "  auto-tls: false\n"
                     "initial-cluster-state: existing\n");
    struct srv_config c;
    char err[256];
    const char *argv[] = {"cairnd", "--name=ignored", "--config-file", path};
    assert_int_equal(parse(&c, err, 4, argv), 0);
    assert_string_equal(c.name, "infra1");
    assert_string_equal(c.data_dir, "/tmp/infra1");
    assert_string_equal(c.listen_client_urls, "http://127.0.0.1:12379");
    assert_int_equal(c.heartbeat_interval_ms, 50);
    assert_int_equal(c.election_timeout_ms, 500);
    assert_int_equal(c.quota_backend_bytes, 1048576);
    assert_string_equal(c.log_outputs, "stderr,/tmp/x.log");
    assert_string_equal(c.initial_cluster_state, "existing");

    write_file(path, "name: a\nmax-txn-ops: many\n");
    assert_int_equal(parse(&c, err, 4, argv), CAIRN_EINVAL);
    assert_non_null(strstr(err, "line 2"));
    write_file(path, "name: [unclosed\n");
    assert_int_equal(parse(&c, err, 4, argv), CAIRN_EINVAL);
    unlink(path);
    assert_int_equal(parse(&c, err, 4, argv), CAIRN_EINVAL);
    assert_non_null(strstr(err, "cannot open config file"));
}

static void test_cross_checks(void **state)
{
    (void)state;
    struct srv_config c;
    char err[256];
    const char *a1[] = {"cairnd", "--heartbeat-interval=100", "--election-timeout=200"};
    assert_int_equal(parse(&c, err, 3, a1), CAIRN_EINVAL);
    const char *a2[] = {"cairnd", "--initial-cluster-state=maybe"};
    assert_int_equal(parse(&c, err, 2, a2), CAIRN_EINVAL);
    const char *a3[] = {"cairnd", "--name=n2",
                        "--initial-advertise-peer-urls=http://127.0.0.1:22380"};
    assert_int_equal(parse(&c, err, 3, a3), 0);
    assert_string_equal(c.initial_cluster, "n2=http://127.0.0.1:22380");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_flag_forms),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_yaml_config_file),
        cmocka_unit_test(test_cross_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
