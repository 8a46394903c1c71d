/*
 * cairnctl — the command-line client for cairn (and any etcd v3 server), built on client/.
 * It takes etcdctl 3.4's commands and flags and prints what etcdctl prints (simple and json
 * byte for byte), so scripts written for etcdctl keep working.
 *
 * Files: main.c (global flags, dispatch, exit codes), args.c (flag parsing), commands.c
 * (the command table and its help text: --help and `help --markdown` for docs/cli.md),
 * out_text.c / out_json.c (formatting shared by commands), cmd_*.c (one per command group).
 *
 * Exit codes: 0 success, 1 an error (one line "Error: <message>" on stderr, the server's
 * message when the server refused), 2 a usage error (the message, then the usage).
 */
#ifndef CAIRNCTL_CTL_H
#define CAIRNCTL_CTL_H

#include "cairn.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ProtobufCBinaryData;

#define CTL_EXIT_OK    0
#define CTL_EXIT_ERROR 1
#define CTL_EXIT_USAGE 2

#define CTL_ARGS_MAX  64 /* positional arguments of one command */
#define CTL_FLAGS_MAX 24 /* flags of one command (global ones counted separately) */

/* ---- flags (args.c) ------------------------------------------------------------------ */

enum ctl_flag_type { CTL_BOOL, CTL_STRING, CTL_INT, CTL_DURATION };

struct ctl_flag_spec {
    const char *name; /* long name without "--" */
    char shorthand;   /* 0 = none */
    enum ctl_flag_type type;
    const char *def; /* default as text ("false", "0", "5s", "") */
    const char *usage;
};

struct ctl_flag_value {
    const struct ctl_flag_spec *spec;
    int set;         /* given on the command line */
    const char *str; /* the text (default when not set) */
    int64_t num;     /* CTL_BOOL: 0/1, CTL_INT: value, CTL_DURATION: milliseconds */
};

struct ctl_command;

/* What one invocation parsed into. */
struct ctl_parsed {
    const struct ctl_command *cmd; /* NULL: no command given */
    const char *group;             /* a group word alone ("lease"): its help is shown */
    const char *args[CTL_ARGS_MAX];
    size_t n_args;
    const char *exec_args[CTL_ARGS_MAX]; /* after a "--" (watch's command to run) */
    size_t n_exec_args;
    int dashdash; /* a "--" was given */
    struct ctl_flag_value global[CTL_FLAGS_MAX];
    size_t n_global;
    struct ctl_flag_value local[CTL_FLAGS_MAX];
    size_t n_local;
    int help; /* -h / --help */
};

/*
 * ctl_parse — split argv (without argv[0]) into the command, its flags and arguments, the
 * pflag way: "--name=value", "--name value", "-x value", "-xvalue", bool flags take no
 * separate value ("--prefix" or "--prefix=false"), "--" ends the flags. Flags may come
 * before or after the command words.
 * Returns 0, or CTL_EXIT_USAGE with a message in err (p->cmd set when the command was known).
 */
int ctl_parse(int argc, const char *const *argv, struct ctl_parsed *p, char *err, size_t err_len);

/* Looks a flag up by long name among the command's and the global flags (asserts it is a
 * declared flag: a typo in the code is a bug, not a user error). */
const struct ctl_flag_value *ctl_flag(const struct ctl_parsed *p, const char *name);
int ctl_flag_bool(const struct ctl_parsed *p, const char *name);
const char *ctl_flag_str(const struct ctl_parsed *p, const char *name);
int64_t ctl_flag_int(const struct ctl_parsed *p, const char *name);

/* ctl_parse_duration_ms — Go duration text ("5s", "500ms", "1m30s", "2") into ms. 0/-1. */
int ctl_parse_duration_ms(const char *s, int64_t *ms);
/* ctl_parse_int64 / ctl_parse_hex_u64 — whole-string parses; 0 or -1. */
int ctl_parse_int64(const char *s, int64_t *out);
int ctl_parse_hex_u64(const char *s, uint64_t *out);

/* ---- commands (commands.c) ------------------------------------------------------------ */

struct ctl;
typedef int (*ctl_run_fn)(struct ctl *c);

struct ctl_command {
    const char *name;  /* "get", "lease grant" */
    const char *usage; /* "get [options] <key> [range_end]" */
    const char *brief;
    const char *description; /* may be NULL */
    const struct ctl_flag_spec *flags;
    size_t n_flags;
    ctl_run_fn run;
};

extern const struct ctl_command ctl_commands[];
extern const size_t ctl_n_commands;
extern const struct ctl_flag_spec ctl_global_flags[];
extern const size_t ctl_n_global_flags;

/* Command by its words ("lease grant"); NULL if none. */
const struct ctl_command *ctl_command_find(const char *name);
/* Is name the first word of a command group ("lease", "member")? */
int ctl_command_is_group(const char *word);

void ctl_help_root(FILE *out);
void ctl_help_command(FILE *out, const struct ctl_command *cmd);
void ctl_help_group(FILE *out, const char *group);
/* The whole reference as Markdown (docs/cli.md). */
void ctl_help_markdown(FILE *out);

/* The run functions (cmd_*.c). */
int cmd_get(struct ctl *c);
int cmd_put(struct ctl *c);
int cmd_del(struct ctl *c);
int cmd_txn(struct ctl *c);
int cmd_watch(struct ctl *c);
int cmd_compaction(struct ctl *c);
int cmd_lease_grant(struct ctl *c);
int cmd_lease_revoke(struct ctl *c);
int cmd_lease_timetolive(struct ctl *c);
int cmd_lease_list(struct ctl *c);
int cmd_lease_keep_alive(struct ctl *c);
int cmd_member_add(struct ctl *c);
int cmd_member_remove(struct ctl *c);
int cmd_member_update(struct ctl *c);
int cmd_member_list(struct ctl *c);
int cmd_member_promote(struct ctl *c);
int cmd_endpoint_health(struct ctl *c);
int cmd_endpoint_status(struct ctl *c);
int cmd_endpoint_hashkv(struct ctl *c);
int cmd_defrag(struct ctl *c);
int cmd_alarm_list(struct ctl *c);
int cmd_alarm_disarm(struct ctl *c);
int cmd_snapshot_save(struct ctl *c);
int cmd_snapshot_status(struct ctl *c);
int cmd_snapshot_restore(struct ctl *c);
int cmd_move_leader(struct ctl *c);
int cmd_memory_status(struct ctl *c);
int cmd_memory_set(struct ctl *c);
int cmd_version(struct ctl *c);
int cmd_help(struct ctl *c);

/* ---- the running invocation (main.c) ------------------------------------------------- */

enum ctl_format { CTL_SIMPLE, CTL_JSON, CTL_TABLE, CTL_FIELDS };

struct ctl {
    struct ctl_parsed p;
    enum ctl_format format;
    int hex;
    const char *endpoints; /* NULL = environment / default */
    int64_t dial_timeout_ms;
    int64_t command_timeout_ms;
    int64_t keepalive_time_ms;
    int64_t keepalive_timeout_ms;
    cairn_client *client; /* opened on first use by ctl_client */
};

/* ctl_setup — apply the environment to unset global flags and read them into c (timeouts,
 * format, endpoints). Returns CTL_EXIT_OK or a usage error (printed). */
int ctl_setup(struct ctl *c);

/* The client for --endpoints (opened once). Exits with an error when it cannot be. */
cairn_client *ctl_client(struct ctl *c);
/* A separate client for one endpoint (endpoint status/health/hashkv, defrag). Caller closes. */
int ctl_client_for(struct ctl *c, const char *endpoint, cairn_client **out);

/* Endpoints for per-endpoint commands: --endpoints (or env/default) split on commas, or
 * with cluster=1 every member's client URLs (from MemberList). Strings are malloc'd into
 * eps[0..*n) (free with ctl_endpoints_free). Returns CTL_EXIT_OK or prints the error. */
int ctl_endpoints(struct ctl *c, int cluster, char **eps, size_t max, size_t *n);
void ctl_endpoints_free(char **eps, size_t n);

/* Error reporting: one line "Error: ..." on stderr; returns CTL_EXIT_ERROR. */
int ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The call's failure: the server's message (st), else cairn_strerror(rc). */
int ctl_error_status(int rc, const struct cairn_client_status *st);
/* The text of that failure (for messages that wrap it). */
const char *ctl_status_text(int rc, const struct cairn_client_status *st);
/* Usage error: "Error: <msg>" then the command's usage; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const struct ctl *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The output format is not available for this command: etcdctl's wording. */
int ctl_format_unsupported(const struct ctl *c);

/* Set by SIGINT/SIGTERM once ctl_catch_interrupts() ran (watch and lease keep-alive do;
 * they poll it between bounded waits and end cleanly). */
extern volatile int ctl_interrupted;
void ctl_catch_interrupts(void);

/* ---- formatting (out_text.c) ----------------------------------------------------------- */

/* Go's %q of bytes (strconv.Quote) into out; returns out. */
char *ctl_go_quote(const uint8_t *p, size_t n, char *out, size_t out_len);
/* Prints a key or value line as etcdctl's simple printer: raw bytes, or "\x61\x62" with --hex. */
void ctl_print_bytes_line(FILE *out, const uint8_t *p, size_t n, int hex);
/* go-humanize Bytes: "20 kB", "1.5 MB", "999 B". */
char *ctl_humanize_bytes(uint64_t n, char *out, size_t out_len);
/* Go time.Duration.String() of ns: "2.277251ms", "1.5s", "0s". */
char *ctl_go_duration(int64_t ns, char *out, size_t out_len);

/* A table as olekukonko/tablewriter renders etcdctl's: upper-case centred header, cells
 * right-aligned, "+---+" borders. */
struct ctl_table;
struct ctl_table *ctl_table_new(const char *const *header, size_t n_cols);
void ctl_table_add(struct ctl_table *t, const char *const *row); /* copies */
void ctl_table_print(struct ctl_table *t, FILE *out);
void ctl_table_free(struct ctl_table *t);

#endif /* CAIRNCTL_CTL_H */
