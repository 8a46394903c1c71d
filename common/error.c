/* cairn_strerror and the assertion hook: one table, generated from CAIRN_ERRNO_MAP. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cairn_is_error(int code)
{
    return code >= CAIRN_ERR_FIRST && code <= CAIRN_ERR_LAST;
}

const char *cairn_strerror(int code)
{
    switch (code) {
    case CAIRN_OK:
        return "success";
#define CAIRN_XX_CASE(name, value, msg)                                                            \
    case (value):                                                                                  \
        return (msg);
        CAIRN_ERRNO_MAP(CAIRN_XX_CASE)
#undef CAIRN_XX_CASE
    default:
        break;
    }
    if (code < 0 && code > -4096) {
        /* glibc >= 2.32: static, untranslated, thread-safe; NULL for unknown values */
        const char *s = strerrordesc_np(-code);
        if (s)
            return s;
    }
    return "unknown error";
}

const char *cairn_version_string(void)
{
    return CAIRN_VERSION_STRING;
}

void cairn_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "cairn: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}
