/* cairnctl's pieces that must match etcdctl (Go) exactly: %q quoting, go-humanize sizes,
 * Duration strings, encoding/json text, tablewriter tables, and pflag-style parsing. The
 * expected strings are what Go / etcdctl 3.4.23 print for the same input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl.h"
#include "ctl_json.h"
#include "ctl_kv.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_go_quote(void **state)
{
    (void)state;
    char out[128];
    assert_string_equal(ctl_go_quote((const uint8_t *)"foo", 3, out, sizeof(out)), "\"foo\"");
    assert_string_equal(ctl_go_quote((const uint8_t *)"a\"b\\c", 5, out, sizeof(out)),
                        "\"a\\\"b\\\\c\"");
    assert_string_equal(ctl_go_quote((const uint8_t *)"\n\t\x01\x7f", 4, out, sizeof(out)),
                        "\"\\n\\t\\x01\\x7f\"");
    assert_string_equal(ctl_go_quote((const uint8_t *)"\xff"
                                                      "a",
                                     2, out, sizeof(out)),
                        "\"\\xffa\"");
    assert_string_equal(ctl_go_quote((const uint8_t *)"\xc3\xa9", 2, out, sizeof(out)),
                        "\"\xc3\xa9\""); /* é is printable: kept */
    assert_string_equal(ctl_go_quote((const uint8_t *)"\xe2\x80\xa8", 3, out, sizeof(out)),
                        "\"\\u2028\"");
    assert_string_equal(ctl_go_quote(NULL, 0, out, sizeof(out)), "\"\"");
    char tiny[6]; /* truncation keeps a terminated string */
    ctl_go_quote((const uint8_t *)"abcdefgh", 8, tiny, sizeof(tiny));
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

static void test_humanize_bytes(void **state)
{
    (void)state;
    static const struct {
        uint64_t n;
        const char *want;
    } cases[] = {{0, "0 B"},          {9, "9 B"},
                 {10, "10 B"},        {999, "999 B"},
                 {1000, "1.0 kB"},    {20480, "20 kB"},
                 {16384, "16 kB"},    {999999, "1000 kB"},
                 {1500000, "1.5 MB"}, {2147483648ull, "2.1 GB"}};
    char out[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(ctl_humanize_bytes(cases[i].n, out, sizeof(out)), cases[i].want);
}

static void test_go_duration(void **state)
{
    (void)state;
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "0s"},           {999, "999ns"},     {1500, "1.5\xc2\xb5s"},  {2277251, "2.277251ms"},
        {1000000, "1ms"},    {1000000000, "1s"}, {61500000000, "1m1.5s"}, {3723000000000, "1h2m3s"},
        {-1500000, "-1.5ms"}};
    char out[40];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(ctl_go_duration(cases[i].ns, out, sizeof(out)), cases[i].want);
}

static void test_json_go_text(void **state)
{
    (void)state;
    json_t *o = json_object();
    cj_set(o, "big", cj_u64(14436112720411727741ull));
    cj_set(o, "small", cj_u64(7));
    cj_set(o, "neg", cj_i64(-1));
    cj_set(o, "html", cj_str("<a&b>"));
    cj_set(o, "ctl", cj_str("\b\f\x1b\n"));
    cj_set(o, "sep", cj_str("\xe2\x80\xa8"));
    cj_set(o, "bad", cj_str("a\xff"));
    cj_set_i64(o, "zero_omitted", 0);
    cj_set_str(o, "empty_omitted", "");
    ProtobufCBinaryData b = {3, (uint8_t *)"foo"};
    cj_set(o, "b64", cj_b64(&b));
    ProtobufCBinaryData b2 = {4, (uint8_t *)"yb\xff\x00"};
    cj_set(o, "b64pad", cj_b64(&b2));
    char *s = cj_dumps(o);
    assert_string_equal(s, "{\"big\":14436112720411727741,\"small\":7,\"neg\":-1,"
                           "\"html\":\"\\u003ca\\u0026b\\u003e\","
                           "\"ctl\":\"\\u0008\\u000c\\u001b\\n\",\"sep\":\"\\u2028\","
                           "\"bad\":\"a\xef\xbf\xbd\",\"b64\":\"Zm9v\",\"b64pad\":\"eWL/AA==\"}");
    free(s);
    json_decref(o);
}

static void test_json_range_response(void **state)
{
    (void)state;
    /* etcdctl 3.4.23 `get foo -w json` on a fresh server, field for field */
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    h.cluster_id = 324952591200643719ull;
    h.member_id = 3319814642761637952ull;
    h.revision = 2;
    h.raft_term = 2;
    Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
    kv.key = (ProtobufCBinaryData){3, (uint8_t *)"foo"};
    kv.value = (ProtobufCBinaryData){3, (uint8_t *)"bar"};
    kv.create_revision = kv.mod_revision = 2;
    kv.version = 1;
    Mvccpb__KeyValue *kvs[] = {&kv};
    Etcdserverpb__RangeResponse r = ETCDSERVERPB__RANGE_RESPONSE__INIT;
    r.header = &h;
    r.kvs = kvs;
    r.n_kvs = 1;
    r.count = 1;
    json_t *j = cj_range(&r);
    char *s = cj_dumps(j);
    assert_string_equal(
        s, "{\"header\":{\"cluster_id\":324952591200643719,\"member_id\":3319814642761637952,"
           "\"revision\":2,\"raft_term\":2},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":2,"
           "\"mod_revision\":2,\"version\":1,\"value\":\"YmFy\"}],\"count\":1}");
    free(s);
    json_decref(j);
}

static void test_table_like_tablewriter(void **state)
{
    (void)state;
    /* etcdctl 3.4.23 `member list -w table` */
    static const char *const hdr[] = {"ID",         "Status",       "Name",
                                      "Peer Addrs", "Client Addrs", "Is Learner"};
    static const char *const row[] = {
        "2e1259d415f2a040",       "started", "t1", "http://127.0.0.1:23800",
        "http://127.0.0.1:23790", "false"};
    static const char want[] =
        "+------------------+---------+------+------------------------+------------------------+"
        "------------+\n"
        "|        ID        | STATUS  | NAME |       PEER ADDRS       |      CLIENT ADDRS      |"
        " IS LEARNER |\n"
        "+------------------+---------+------+------------------------+------------------------+"
        "------------+\n"
        "| 2e1259d415f2a040 | started |   t1 | http://127.0.0.1:23800 | http://127.0.0.1:23790 |"
        "      false |\n"
        "+------------------+---------+------+------------------------+------------------------+"
        "------------+\n";
    struct ctl_table *t = ctl_table_new(hdr, 6);
    ctl_table_add(t, row);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    ctl_table_print(t, f);
    fclose(f);
    assert_string_equal(buf, want);
    free(buf);
    ctl_table_free(t);
}

static void test_parse_flags_anywhere(void **state)
{
    (void)state;
    struct ctl_parsed p;
    char err[256];
    const char *a1[] = {
        "--endpoints=127.0.0.1:1", "get", "foo", "-w", "json", "--limit", "3", "--prefix",
        "--keys-only=false"};
    assert_int_equal(ctl_parse(9, a1, &p, err, sizeof(err)), 0);
    assert_string_equal(p.cmd->name, "get");
    assert_int_equal(p.n_args, 1);
    assert_string_equal(p.args[0], "foo");
    assert_string_equal(ctl_flag_str(&p, "write-out"), "json");
    assert_string_equal(ctl_flag_str(&p, "endpoints"), "127.0.0.1:1");
    assert_int_equal(ctl_flag_int(&p, "limit"), 3);
    assert_true(ctl_flag_bool(&p, "prefix"));
    assert_false(ctl_flag_bool(&p, "keys-only"));
    assert_int_equal(ctl_flag_int(&p, "command-timeout"), 5000); /* default */

    const char *a2[] = {"lease", "grant", "-wfields", "10"};
    assert_int_equal(ctl_parse(4, a2, &p, err, sizeof(err)), 0);
    assert_string_equal(p.cmd->name, "lease grant");
    assert_string_equal(ctl_flag_str(&p, "write-out"), "fields");
    assert_string_equal(p.args[0], "10");

    const char *a3[] = {"watch", "k", "--", "echo", "--prefix"}; /* after --: the command to run */
    assert_int_equal(ctl_parse(5, a3, &p, err, sizeof(err)), 0);
    assert_int_equal(p.n_args, 1);
    assert_int_equal(p.n_exec_args, 2);
    assert_false(ctl_flag_bool(&p, "prefix"));
    const char *a4[] = {"get", "--", "-dashkey"}; /* elsewhere: plain arguments */
    assert_int_equal(ctl_parse(3, a4, &p, err, sizeof(err)), 0);
    assert_string_equal(p.args[0], "-dashkey");

    const char *a5[] = {"get", "k", "--bogus"};
    assert_int_equal(ctl_parse(3, a5, &p, err, sizeof(err)), CTL_EXIT_USAGE);
    assert_string_equal(err, "unknown flag: --bogus");
    assert_non_null(p.cmd); /* known, so the usage shown is get's */
    const char *a6[] = {"get", "k", "--limit"};
    assert_int_equal(ctl_parse(3, a6, &p, err, sizeof(err)), CTL_EXIT_USAGE);
    assert_non_null(strstr(err, "needs an argument"));
    const char *a7[] = {"get", "k", "--limit=x"};
    assert_int_equal(ctl_parse(3, a7, &p, err, sizeof(err)), CTL_EXIT_USAGE);
    const char *a8[] = {"put", "k", "v", "--lease=1", "--prefix"}; /* --prefix is not put's */
    assert_int_equal(ctl_parse(5, a8, &p, err, sizeof(err)), CTL_EXIT_USAGE);
    const char *a9[] = {"member"};
    assert_int_equal(ctl_parse(1, a9, &p, err, sizeof(err)), 0);
    assert_null(p.cmd);
    assert_string_equal(p.group, "member");
    const char *a10[] = {"nosuch"};
    assert_int_equal(ctl_parse(1, a10, &p, err, sizeof(err)), CTL_EXIT_USAGE);
}

static void test_parse_values(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(ctl_parse_duration_ms("5s", &ms), 0);
    assert_int_equal(ms, 5000);
    assert_int_equal(ctl_parse_duration_ms("1m30s", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(ctl_parse_duration_ms("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(ctl_parse_duration_ms("2", &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(ctl_parse_duration_ms("5x", &ms), -1);
    assert_int_equal(ctl_parse_duration_ms("", &ms), -1);
    uint64_t u;
    assert_int_equal(ctl_parse_hex_u64("2e1259d415f2a040", &u), 0);
    assert_true(u == 0x2e1259d415f2a040ull);
    assert_int_equal(ctl_parse_hex_u64("-1", &u), -1);
    assert_int_equal(ctl_parse_hex_u64("xyz", &u), -1);
}

static void test_prefix_end(void **state)
{
    (void)state;
    struct kv_bytes b = {0};
    static const struct {
        const char *key;
        size_t len;
        const char *end;
        size_t end_len;
    } cases[] = {
        {"a", 1, "b", 1}, {"a\xff", 2, "b", 1}, {"\xff\xff", 2, "\0", 1}, {"ab", 2, "ac", 2}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b.key = malloc(cases[i].len);
        memcpy(b.key, cases[i].key, cases[i].len);
        b.key_len = cases[i].len;
        kv_prefix_end(&b);
        assert_int_equal(b.end_len, cases[i].end_len);
        assert_memory_equal(b.end, cases[i].end, b.end_len);
        kv_bytes_free(&b);
    }
}

static void test_build_range_like_etcdctl(void **state)
{
    (void)state;
    struct ctl_parsed p;
    char err[256];
    Etcdserverpb__RangeRequest req;
    struct kv_bytes b;
    const char *a1[] = {
        "get", "", "--prefix", "--sort-by=KEY", "--order=ASCEND", "--consistency=s"};
    assert_int_equal(ctl_parse(6, a1, &p, err, sizeof(err)), 0);
    assert_int_equal(kv_build_range(&p, &req, &b, err, sizeof(err)), CTL_EXIT_OK);
    assert_int_equal(req.key.len, 1); /* "" with --prefix: every key, "\0" .. "\0" */
    assert_int_equal(req.key.data[0], 0);
    assert_int_equal(req.range_end.len, 1);
    assert_int_equal(req.sort_order, ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE);
    assert_true(req.serializable);
    kv_bytes_free(&b);
    const char *a2[] = {"get", "a", "b", "--prefix"};
    assert_int_equal(ctl_parse(4, a2, &p, err, sizeof(err)), 0);
    assert_int_equal(kv_build_range(&p, &req, &b, err, sizeof(err)), CTL_EXIT_USAGE);
    kv_bytes_free(&b);
    const char *a3[] = {"get", "a", "--sort-by=bogus"};
    assert_int_equal(ctl_parse(3, a3, &p, err, sizeof(err)), 0);
    assert_int_equal(kv_build_range(&p, &req, &b, err, sizeof(err)), CTL_EXIT_USAGE);
    assert_string_equal(err, "bad sort target bogus");
    kv_bytes_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_quote),
        cmocka_unit_test(test_humanize_bytes),
        cmocka_unit_test(test_go_duration),
        cmocka_unit_test(test_json_go_text),
        cmocka_unit_test(test_json_range_response),
        cmocka_unit_test(test_table_like_tablewriter),
        cmocka_unit_test(test_parse_flags_anywhere),
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_prefix_end),
        cmocka_unit_test(test_build_range_like_etcdctl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
