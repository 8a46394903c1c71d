/* srv_log: the level filter, the prefix, and --log-level checking in the config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cairn.h"
#include "server.h"
#include "srv_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Run srv_log calls with stderr going to a temporary file; return what was written. */
static void capture(void (*fn)(void), char *out, size_t cap)
{
    char path[] = "/tmp/cairn-srvlog-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    fn();
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    ssize_t n = pread(fd, out, cap - 1, 0);
    assert_true(n >= 0);
    out[n] = '\0';
    close(fd);
    unlink(path);
}

static void write_all_levels(void)
{
    srv_log(SRV_LOG_DEBUG, "d %d\n", 1);
    srv_log(SRV_LOG_INFO, "i %d\n", 2);
    srv_log(SRV_LOG_WARN, "w %d\n", 3);
    srv_log(SRV_LOG_ERROR, "e %d\n", 4);
}

static void test_levels_and_prefix(void **state)
{
    (void)state;
    char buf[512];
    srv_log_configure(SRV_LOG_INFO, "cairnd");
    capture(write_all_levels, buf, sizeof(buf));
    assert_string_equal(buf, "cairnd: i 2\ncairnd: w 3\ncairnd: e 4\n");
    srv_log_configure(SRV_LOG_ERROR, "cairn");
    capture(write_all_levels, buf, sizeof(buf));
    assert_string_equal(buf, "cairn: e 4\n");
    srv_log_configure(SRV_LOG_DEBUG, NULL); /* the prefix stays */
    capture(write_all_levels, buf, sizeof(buf));
    assert_string_equal(buf, "cairn: d 1\ncairn: i 2\ncairn: w 3\ncairn: e 4\n");
    srv_log_configure(SRV_LOG_INFO, "cairnd");
}

static void test_parse(void **state)
{
    (void)state;
    enum srv_log_level l;
    assert_int_equal(srv_log_parse_level("warn", &l), 0);
    assert_int_equal(l, SRV_LOG_WARN);
    assert_int_equal(srv_log_parse_level("ERROR", &l), 0);
    assert_int_equal(l, SRV_LOG_ERROR);
    assert_int_equal(srv_log_parse_level("fatal", &l), 0); /* etcd takes zap's levels */
    assert_int_equal(l, SRV_LOG_ERROR);
    assert_int_equal(srv_log_parse_level("loud", &l), CAIRN_EINVAL);
    assert_int_equal(srv_log_parse_level(NULL, &l), CAIRN_EINVAL);
    /* the config refuses a bad --log-level with a message naming it */
    struct srv_config c;
    srv_config_defaults(&c);
    char err[256] = "";
    const char *argv[] = {"cairnd", "--log-level=loud"};
    assert_int_equal(srv_config_parse_args(&c, 2, argv, err, sizeof(err)), CAIRN_EINVAL);
    assert_non_null(strstr(err, "--log-level"));
    const char *ok[] = {"cairnd", "--log-level", "debug"};
    srv_config_defaults(&c);
    assert_int_equal(srv_config_parse_args(&c, 3, ok, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_and_prefix),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
