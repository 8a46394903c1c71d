/* Log lines on stderr, filtered by level. */
#include "srv_log.h"

#include "cairn.h"
#include "common.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PREFIX_MAX 32

static atomic_int min_level = SRV_LOG_INFO;
static pthread_mutex_t prefix_mu = PTHREAD_MUTEX_INITIALIZER;
static char prefix[PREFIX_MAX] = "cairnd";

int srv_log_parse_level(const char *s, enum srv_log_level *out)
{
    static const struct {
        const char *name;
        enum srv_log_level level;
    } names[] = {{"debug", SRV_LOG_DEBUG},
                 {"info", SRV_LOG_INFO},
                 {"warn", SRV_LOG_WARN},
                 {"warning", SRV_LOG_WARN},
                 {"error", SRV_LOG_ERROR},
                 /* zap's higher levels, which etcd accepts: cairn has nothing above error */
                 {"dpanic", SRV_LOG_ERROR},
                 {"panic", SRV_LOG_ERROR},
                 {"fatal", SRV_LOG_ERROR}};
    for (size_t i = 0; s && i < CAIRN_ARRAY_LEN(names); i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    return CAIRN_EINVAL;
}

void srv_log_configure(enum srv_log_level min, const char *p)
{
    CAIRN_ASSERT(min >= SRV_LOG_DEBUG && min <= SRV_LOG_ERROR);
    atomic_store(&min_level, (int)min);
    if (p) {
        pthread_mutex_lock(&prefix_mu);
        snprintf(prefix, sizeof(prefix), "%s", p);
        pthread_mutex_unlock(&prefix_mu);
    }
}

void srv_log(enum srv_log_level level, const char *fmt, ...)
{
    CAIRN_ASSERT(fmt != NULL);
    if ((int)level < atomic_load(&min_level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    pthread_mutex_lock(&prefix_mu);
    fprintf(stderr, "%s: %s", prefix, line); /* one call: one line */
    pthread_mutex_unlock(&prefix_mu);
}
