/*
 * cairn.h — the public C API of cairn, an embedded, replicated key-value store that
 * speaks etcd's v3 API.
 *
 * Conventions (hold for every function in this header):
 *  - Functions return int: 0 on success, or a negative cairn error code on failure.
 *    cairn's codes live in the reserved range [CAIRN_ERR_FIRST, CAIRN_ERR_LAST]
 *    (-42000 .. -42999). That range can never collide with errno values (positive, or
 *    -1..-4095 as the kernel returns them) nor with LMDB's codes (-30799 .. -30780), so a
 *    caller may pass an errno-style or cairn code through one int without ambiguity.
 *  - cairn_strerror() maps every code, in or out of that range, to a static string.
 *  - A function that fails leaves no partial state behind.
 *  - Names: public symbols are cairn_* / CAIRN_*; units are part of names (timeout_ms).
 *
 * Later sections of this header (opening a node, key-value calls, watches, leases,
 * memory settings and the remote client) are added as those modules land.
 */
#ifndef CAIRN_H
#define CAIRN_H

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. XX(name, value, message). The list is append-only: values are ABI. */
#define CAIRN_ERRNO_MAP(XX)                                                                        \
    XX(NOMEM, -42001, "out of memory")                                                             \
    XX(INVAL, -42002, "invalid argument")                                                          \
    XX(IO, -42003, "input/output error")                                                           \
    XX(CORRUPT, -42004, "data is corrupt")                                                         \
    XX(NOTFOUND, -42005, "not found")                                                              \
    XX(EXIST, -42006, "already exists")                                                            \
    XX(BUSY, -42007, "resource busy, try again")                                                   \
    XX(TIMEOUT, -42008, "timed out")                                                               \
    XX(CANCELED, -42009, "canceled")                                                               \
    XX(STOPPED, -42010, "stopped")                                                                 \
    XX(UNSUPPORTED, -42011, "operation not supported")                                             \
    XX(LIMIT, -42012, "a configured limit was exceeded")                                           \
    XX(MEMLIMIT, -42013, "refused: the memory limit would be exceeded")                            \
    XX(NOSPACE, -42014, "database space exceeded")                                                 \
    XX(COMPACTED, -42015, "required revision has been compacted")                                  \
    XX(FUTUREREV, -42016, "required revision is a future revision")                                \
    XX(NOTLEADER, -42017, "not leader")                                                            \
    XX(NOLEADER, -42018, "no leader")                                                              \
    XX(DROPPED, -42019, "proposal dropped")                                                        \
    XX(TOOMANYOPS, -42020, "too many operations in txn request")                                   \
    XX(DUPKEY, -42021, "duplicate key given in txn request")                                       \
    XX(EMPTYKEY, -42022, "key is not provided")                                                    \
    XX(TOOLARGE, -42023, "request is too large")                                                   \
    XX(LEASENOTFOUND, -42024, "requested lease not found")                                         \
    XX(LEASEEXISTS, -42025, "lease already exists")                                                \
    XX(UNAVAILABLE, -42026, "unavailable")                                                         \
    XX(SYSTEM, -42027, "system call failed")                                                       \
    XX(KEYNOTFOUND, -42028, "key not found")                                                       \
    XX(VALUEPROVIDED, -42029, "value is provided")                                                 \
    XX(LEASEPROVIDED, -42030, "lease is provided")                                                 \
    XX(LEASETTLTOOLARGE, -42031, "too large lease TTL")

enum cairn_error {
    CAIRN_OK = 0,
#define CAIRN_XX_ENUM(name, value, msg) CAIRN_E##name = (value),
    CAIRN_ERRNO_MAP(CAIRN_XX_ENUM)
#undef CAIRN_XX_ENUM
};

#define CAIRN_ERR_FIRST (-42999)
#define CAIRN_ERR_LAST  (-42000)

/*
 * cairn_strerror — a human-readable message for an error code.
 * Returns a static string, never NULL. Codes outside cairn's range are treated as
 * negated errno values (strerror(-code)); unknown codes give "unknown error".
 * Thread-safe.
 */
const char *cairn_strerror(int code);

/* cairn_is_error — 1 if code lies in cairn's reserved range, else 0. */
int cairn_is_error(int code);

/* cairn_version_string — the library version, e.g. "0.1.0". Static string. */
const char *cairn_version_string(void);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
