/*
 * srv_log.h — the node's log lines: "<prefix>: message" on standard error, filtered by
 * etcd's --log-level (debug, info, warn, error).
 *
 * Promises: one place that decides whether a line is written; a line is one fprintf (lines
 * from different threads do not interleave within a line). Process-wide, as stderr is.
 * Never: allocates; blocks on anything but the write.
 */
#ifndef CAIRN_SRV_LOG_H
#define CAIRN_SRV_LOG_H

enum srv_log_level {
    SRV_LOG_DEBUG = 0,
    SRV_LOG_INFO,
    SRV_LOG_WARN,
    SRV_LOG_ERROR,
};

/* "debug", "info", "warn" (or "warning"), "error" (and zap's "dpanic", "panic", "fatal",
 * which etcd accepts, as error): 0, else CAIRN_EINVAL. */
int srv_log_parse_level(const char *s, enum srv_log_level *out);

/* The least level written (default info) and the prefix ("cairnd" by default; the embedded
 * API uses "cairn"). prefix may be NULL to keep it. Any thread. */
void srv_log_configure(enum srv_log_level min, const char *prefix);

/* Write one line if level >= the configured minimum; fmt ends with "\n". */
void srv_log(enum srv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* CAIRN_SRV_LOG_H */
