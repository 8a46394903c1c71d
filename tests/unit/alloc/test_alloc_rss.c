/* RSS sampling: it must move when we touch memory, in the units we claim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void test_rss_grows_when_pages_are_touched(void **state)
{
    (void)state;
    uint64_t before = 0, after = 0;
    assert_int_equal(alloc_rss_bytes(&before), 0);
    assert_true(before > 0);
    size_t len = 64u << 20; /* mmap directly: independent of any allocator's caching */
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 1, len);
    assert_int_equal(alloc_rss_bytes(&after), 0);
    assert_true(after >= before + len - (4u << 20));
    munmap(p, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rss_grows_when_pages_are_touched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
