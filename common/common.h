/*
 * common/ — what every cairn module shares.
 *
 * Promises: the error-code table behind cairn_strerror(), the version string, and
 * always-on assertions (CAIRN_ASSERT): an invariant that fails stops the process with
 * file, line and expression, in release builds too ("far better to stop operating than to
 * continue in an incorrect state").
 * Owns: nothing at run time; no allocation, no global mutable state.
 * Never: does I/O except writing the assertion message to stderr before abort().
 */
#ifndef CAIRN_COMMON_H
#define CAIRN_COMMON_H

#include "cairn.h"

#include <stddef.h>
#include <time.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define CAIRN_LIKELY(x)   __builtin_expect(!!(x), 1)
#define CAIRN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CAIRN_NORETURN    __attribute__((noreturn))
#else
#define CAIRN_LIKELY(x)   (x)
#define CAIRN_UNLIKELY(x) (x)
#define CAIRN_NORETURN
#endif

CAIRN_NORETURN void cairn_assert_fail(const char *expr, const char *file, int line);

/* Invariant check that stays on in every build type. */
#define CAIRN_ASSERT(expr)                                                                         \
    do {                                                                                           \
        if (CAIRN_UNLIKELY(!(expr)))                                                               \
            cairn_assert_fail(#expr, __FILE__, __LINE__);                                          \
    } while (0)

#define CAIRN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The struct that embeds `member` at address ptr (the void* step keeps -Wcast-align quiet:
 * the result is as aligned as the original object). */
#define CAIRN_CONTAINER_OF(ptr, type, member)                                                      \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* The CLOCK_MONOTONIC time ms milliseconds from now, as pthread_cond_timedwait takes it
 * (for condition variables created with pthread_condattr_setclock(CLOCK_MONOTONIC)). */
struct timespec cairn_deadline_after_ms(uint64_t ms);

#endif /* CAIRN_COMMON_H */
