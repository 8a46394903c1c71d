/* The command table and every help text: `--help`, `help <command>` and the Markdown
 * reference (`help --markdown` > docs/cli.md) all print from here. */
#include "ctl.h"

#include "common.h"

#include <string.h>

#define FLAGS(a) (a), CAIRN_ARRAY_LEN(a)
#define HELP_FLAG                                                                                  \
    {                                                                                              \
        "help", 'h', CTL_BOOL, "false", "help for this command"                                    \
    }

const struct ctl_flag_spec ctl_global_flags[] = {
    {"endpoints", 0, CTL_STRING, "127.0.0.1:2379",
     "gRPC endpoints, comma-separated (env CAIRNCTL_ENDPOINTS, then ETCDCTL_ENDPOINTS)"},
    {"dial-timeout", 0, CTL_DURATION, "2s", "dial timeout for client connections, per endpoint"},
    {"command-timeout", 0, CTL_DURATION, "5s",
     "timeout for short running command (excluding dial timeout)"},
    {"keepalive-time", 0, CTL_DURATION, "0s",
     "keepalive time for client connections (0s: no keepalive pings)"},
    {"keepalive-timeout", 0, CTL_DURATION, "0s", "keepalive timeout for client connections"},
    {"write-out", 'w', CTL_STRING, "simple", "set the output format (fields, json, simple, table)"},
    {"hex", 0, CTL_BOOL, "false", "print byte strings as hex encoded strings"},
    HELP_FLAG,
};
const size_t ctl_n_global_flags = CAIRN_ARRAY_LEN(ctl_global_flags);

static const struct ctl_flag_spec get_flags[] = {
    {"consistency", 0, CTL_STRING, "l", "Linearizable(l) or Serializable(s)"},
    {"order", 0, CTL_STRING, "", "Order of results; ASCEND or DESCEND (ASCEND by default)"},
    {"sort-by", 0, CTL_STRING, "", "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION"},
    {"limit", 0, CTL_INT, "0", "Maximum number of results"},
    {"prefix", 0, CTL_BOOL, "false", "Get keys with matching prefix"},
    {"from-key", 0, CTL_BOOL, "false",
     "Get keys that are greater than or equal to the given key using byte compare"},
    {"rev", 0, CTL_INT, "0", "Specify the kv revision"},
    {"keys-only", 0, CTL_BOOL, "false", "Get only the keys"},
    {"count-only", 0, CTL_BOOL, "false", "Get only the count"},
    {"print-value-only", 0, CTL_BOOL, "false",
     "Only write values when using the \"simple\" output format"},
};
static const struct ctl_flag_spec put_flags[] = {
    {"prev-kv", 0, CTL_BOOL, "false", "return the previous key-value pair before modification"},
    {"lease", 0, CTL_STRING, "0", "lease ID (in hexadecimal) to attach to the key"},
    {"ignore-value", 0, CTL_BOOL, "false", "updates the key using its current value"},
    {"ignore-lease", 0, CTL_BOOL, "false", "updates the key using its current lease"},
};
static const struct ctl_flag_spec del_flags[] = {
    {"prefix", 0, CTL_BOOL, "false", "delete keys with matching prefix"},
    {"prev-kv", 0, CTL_BOOL, "false", "return deleted key-value pairs"},
    {"from-key", 0, CTL_BOOL, "false",
     "delete keys that are greater than or equal to the given key using byte compare"},
};
static const struct ctl_flag_spec txn_flags[] = {
    {"interactive", 'i', CTL_BOOL, "false", "Input transaction in interactive mode"},
};
static const struct ctl_flag_spec watch_flags[] = {
    {"interactive", 'i', CTL_BOOL, "false", "Interactive mode"},
    {"prefix", 0, CTL_BOOL, "false", "Watch on a prefix if prefix is set"},
    {"rev", 0, CTL_INT, "0", "Revision to start watching"},
    {"prev-kv", 0, CTL_BOOL, "false", "get the previous key-value pair before the event happens"},
    {"progress-notify", 0, CTL_BOOL, "false",
     "get periodic watch progress notification from server"},
};
static const struct ctl_flag_spec compaction_flags[] = {
    {"physical", 0, CTL_BOOL, "false",
     "'true' to wait for compaction to physically remove all old revisions"},
};
static const struct ctl_flag_spec ttl_flags[] = {
    {"keys", 0, CTL_BOOL, "false", "Get keys attached to this lease"},
};
static const struct ctl_flag_spec keepalive_flags[] = {
    {"once", 0, CTL_BOOL, "false", "Resets the keep-alive time to its original value and exits"},
};
static const struct ctl_flag_spec member_add_flags[] = {
    {"peer-urls", 0, CTL_STRING, "", "comma separated peer URLs for the new member."},
    {"learner", 0, CTL_BOOL, "false", "indicates if the new member is raft learner"},
};
static const struct ctl_flag_spec member_update_flags[] = {
    {"peer-urls", 0, CTL_STRING, "", "comma separated peer URLs for the updated member."},
};
static const struct ctl_flag_spec cluster_flags[] = {
    {"cluster", 0, CTL_BOOL, "false", "use all endpoints from the cluster member list"},
};
static const struct ctl_flag_spec hashkv_flags[] = {
    {"cluster", 0, CTL_BOOL, "false", "use all endpoints from the cluster member list"},
    {"rev", 0, CTL_INT, "0", "maximum revision to hash (default: all revisions)"},
};
static const struct ctl_flag_spec restore_flags[] = {
    {"data-dir", 0, CTL_STRING, "", "Path to the data directory (default: <name>.cairn)"},
    {"name", 0, CTL_STRING, "default", "Human-readable name for this member"},
    {"initial-cluster", 0, CTL_STRING, "default=http://localhost:2380",
     "Initial cluster configuration for restore bootstrap"},
    {"initial-cluster-token", 0, CTL_STRING, "etcd-cluster",
     "Initial cluster token for the etcd cluster during restore bootstrap"},
    {"initial-advertise-peer-urls", 0, CTL_STRING, "http://localhost:2380",
     "List of this member's peer URLs to advertise to the rest of the cluster"},
    {"skip-hash-check", 0, CTL_BOOL, "false",
     "Ignore snapshot integrity hash value (required if copied from data directory)"},
    {"bump-revision", 0, CTL_INT, "0", "How much to increase the latest revision after restore"},
    {"mark-compacted", 0, CTL_BOOL, "false",
     "Mark the latest revision after restore as the point of scheduled compaction "
     "(required if --bump-revision > 0)"},
};
static const struct ctl_flag_spec memory_set_flags[] = {
    {"heap-percent", 0, CTL_STRING, "",
     "reclaim when the heap grows by this percent since the last cycle (like GOGC), or off"},
    {"memory-limit", 0, CTL_STRING, "",
     "memory limit with IEC units B, KiB, MiB, GiB, TiB (e.g. 512MiB), or off"},
};
static const struct ctl_flag_spec help_flags[] = {
    {"markdown", 0, CTL_BOOL, "false", "print the whole command reference as Markdown"},
};
static const struct ctl_flag_spec no_flags[1] = {{"", 0, CTL_BOOL, "false", ""}};
#define NO_FLAGS no_flags, 0

const struct ctl_command ctl_commands[] = {
    {"alarm disarm", "alarm disarm", "Disarms all alarms",
     "Deactivates every active alarm (NOSPACE, CORRUPT) and prints the alarms it disarmed.",
     NO_FLAGS, cmd_alarm_disarm},
    {"alarm list", "alarm list", "Lists all alarms", "Prints every active alarm, one a line.",
     NO_FLAGS, cmd_alarm_list},
    {"compaction", "compaction [options] <revision>", "Compacts the event history in etcd",
     "Discards the key-value history up to <revision>: reads and watches at older revisions "
     "then fail with \"required revision has been compacted\".",
     FLAGS(compaction_flags), cmd_compaction},
    {"defrag", "defrag [options]",
     "Defragments the storage of the etcd members with given endpoints",
     "Asks each endpoint (or, with --cluster, every member) to give free space in its "
     "backend back to the file system.",
     FLAGS(cluster_flags), cmd_defrag},
    {"del", "del [options] <key> [range_end]",
     "Removes the specified key or range of keys [key, range_end)",
     "Prints the number of keys deleted, then with --prev-kv the deleted pairs.", FLAGS(del_flags),
     cmd_del},
    {"endpoint hashkv", "endpoint hashkv [options]",
     "Prints the KV history hash for each endpoint in --endpoints",
     "Members that agree on the state at a revision print the same hash.", FLAGS(hashkv_flags),
     cmd_endpoint_hashkv},
    {"endpoint health", "endpoint health [options]",
     "Checks the healthiness of endpoints specified in `--endpoints` flag",
     "An endpoint is healthy when a linearizable read of key \"health\" succeeds within the "
     "command timeout (as etcdctl 3.4: active alarms are not looked at). The report goes to "
     "standard error; the exit status is 1 if any endpoint is unhealthy.",
     FLAGS(cluster_flags), cmd_endpoint_health},
    {"endpoint status", "endpoint status [options]",
     "Prints out the status of endpoints specified in `--endpoints` flag",
     "Columns: endpoint, member ID, version, database size, is leader, is learner, raft term, "
     "raft index, raft applied index, errors.",
     FLAGS(cluster_flags), cmd_endpoint_status},
    {"get", "get [options] <key> [range_end]", "Gets the key or a range of keys",
     "Prints each key and its value on separate lines. A range is [key, range_end); --prefix "
     "takes every key starting with <key>, --from-key every key >= <key>.",
     FLAGS(get_flags), cmd_get},
    {"help", "help [command]", "Help about any command",
     "Prints the help of a command, or with --markdown the whole reference (docs/cli.md).",
     FLAGS(help_flags), cmd_help},
    {"lease grant", "lease grant <ttl>", "Creates leases",
     "Grants a lease with a time-to-live of <ttl> seconds and prints its ID (hexadecimal).",
     NO_FLAGS, cmd_lease_grant},
    {"lease keep-alive", "lease keep-alive [options] <leaseID>", "Keeps leases alive (renew)",
     "Renews the lease every third of its TTL and prints each renewal until the lease expires "
     "or Ctrl-C; --once renews a single time.",
     FLAGS(keepalive_flags), cmd_lease_keep_alive},
    {"lease list", "lease list", "List all active leases", NULL, NO_FLAGS, cmd_lease_list},
    {"lease revoke", "lease revoke <leaseID>", "Revokes leases",
     "Revokes the lease; every key attached to it is deleted.", NO_FLAGS, cmd_lease_revoke},
    {"lease timetolive", "lease timetolive <leaseID> [options]", "Get lease information",
     "Prints the granted and remaining TTL, and with --keys the attached keys.", FLAGS(ttl_flags),
     cmd_lease_timetolive},
    {"member add", "member add <memberName> [options]", "Adds a member into the cluster",
     "Adds a member (with --learner, a non-voting one) and prints the environment the new "
     "member must start with.",
     FLAGS(member_add_flags), cmd_member_add},
    {"member list", "member list", "Lists all members in the cluster",
     "Columns: ID, status, name, peer addrs, client addrs, is learner.", NO_FLAGS, cmd_member_list},
    {"member promote", "member promote <memberID>", "Promotes a non-voting member in the cluster",
     "A learner can be promoted once it has caught up with the leader.", NO_FLAGS,
     cmd_member_promote},
    {"member remove", "member remove <memberID>", "Removes a member from the cluster", NULL,
     NO_FLAGS, cmd_member_remove},
    {"member update", "member update <memberID> [options]", "Updates a member in the cluster",
     "Replaces the member's peer URLs.", FLAGS(member_update_flags), cmd_member_update},
    {"memory set", "memory set [options]",
     "Changes the memory manager's settings of the endpoint at runtime (cairn only)",
     "Sets --heap-percent and/or --memory-limit on the running member and prints the new and "
     "previous values. A malformed value is refused and changes nothing.",
     FLAGS(memory_set_flags), cmd_memory_set},
    {"memory status", "memory status",
     "Prints the memory manager's state of each endpoint (cairn only)",
     "Live heap and reclaim goal, heap percent, memory limit and memory in use, reclaim cycles "
     "per minute and pause percentiles, refused requests, and the heap of each subsystem.",
     NO_FLAGS, cmd_memory_status},
    {"move-leader", "move-leader <transferee-member-id>",
     "Transfers leadership to another etcd cluster member.",
     "Finds the leader among --endpoints and asks it to hand leadership to the member "
     "(hexadecimal ID).",
     NO_FLAGS, cmd_move_leader},
    {"put", "put [options] <key> <value> (<value> can also be given from stdin)",
     "Puts the given key into the store",
     "Writes <value> under <key>. Without <value> the value is read from standard input. "
     "--lease attaches the key to a lease (hexadecimal ID).",
     FLAGS(put_flags), cmd_put},
    {"snapshot restore", "snapshot restore <filename> [options]",
     "Restores an etcd member snapshot to an etcd directory",
     "Checks the snapshot (its SHA-256 trailer unless --skip-hash-check) and builds a cairnd "
     "data directory for a new member of a new cluster: every revision and lease of the "
     "snapshot, the member table from --initial-cluster and a new cluster id from it and "
     "--initial-cluster-token. Restore the same file once per member, with the same "
     "--initial-cluster and token and each member's own --name, then start cairnd on each "
     "directory with the same flags. The directory must not exist; it is built beside it and "
     "renamed into place, so a failed restore leaves nothing behind. --bump-revision N with "
     "--mark-compacted starts the revision N past the snapshot's, compacted there (watchers "
     "and readers of the old cluster see their revisions compacted, never reused). Logs go "
     "to standard error as JSON lines, with a progress line on a terminal.",
     FLAGS(restore_flags), cmd_snapshot_restore},
    {"snapshot save", "snapshot save <filename>",
     "Stores an etcd node backend snapshot to a given file",
     "Streams the backend of the first reachable endpoint into <filename>.part, syncs it and "
     "renames it to <filename>. Progress goes to standard error.",
     NO_FLAGS, cmd_snapshot_save},
    {"snapshot status", "snapshot status <filename>",
     "Gets backend snapshot status of a given file",
     "Prints the hash, revision, total keys and total size of an etcd (bbolt) snapshot file.",
     NO_FLAGS, cmd_snapshot_status},
    {"txn", "txn [options]", "Txn processes all the requests in one transaction",
     "Reads a transaction from standard input: compares, a blank line, the requests for "
     "success, a blank line, the requests for failure, a blank line.\n\n"
     "Compares look like  mod(\"key\") > \"5\"  (targets: ver, create, mod, value, lease; "
     "operators: =, !=, <, >). Requests are put, get and del command lines, e.g.  put key "
     "\"a value\"  or  get key --prefix. With -i each part is prompted for.",
     FLAGS(txn_flags), cmd_txn},
    {"version", "version", "Prints the version of cairnctl", NULL, NO_FLAGS, cmd_version},
    {"watch", "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
     "Watches events stream on keys or prefixes",
     "Prints events as they arrive until Ctrl-C. After \"--\", a command is run for each "
     "event with ETCD_WATCH_REVISION, ETCD_WATCH_KEY, ETCD_WATCH_VALUE and "
     "ETCD_WATCH_EVENT_TYPE in its environment. With -i, lines \"watch <key> [options]\" and "
     "\"progress\" are read from standard input.",
     FLAGS(watch_flags), cmd_watch},
};
const size_t ctl_n_commands = CAIRN_ARRAY_LEN(ctl_commands);

const struct ctl_command *ctl_command_find(const char *name)
{
    CAIRN_ASSERT(name != NULL);
    for (size_t i = 0; i < ctl_n_commands; i++)
        if (strcmp(ctl_commands[i].name, name) == 0)
            return &ctl_commands[i];
    return NULL;
}

int ctl_command_is_group(const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i < ctl_n_commands; i++)
        if (strncmp(ctl_commands[i].name, word, n) == 0 && ctl_commands[i].name[n] == ' ')
            return 1;
    return 0;
}

/* "  -w, --write-out=\"simple\"" as pflag shows it. */
static void flag_lhs(const struct ctl_flag_spec *f, char *out, size_t len)
{
    char sh[8] = "    ";
    if (f->shorthand)
        snprintf(sh, sizeof(sh), "-%c, ", f->shorthand);
    if (f->type == CTL_BOOL)
        snprintf(out, len, "  %s--%s[=%s]", sh, f->name, f->def);
    else if (f->type == CTL_STRING)
        snprintf(out, len, "  %s--%s=\"%s\"", sh, f->name, f->def);
    else
        snprintf(out, len, "  %s--%s=%s", sh, f->name, f->def);
}

static void print_flags(FILE *out, const struct ctl_flag_spec *flags, size_t n)
{
    char lhs[160];
    size_t width = 0;
    for (size_t i = 0; i < n; i++) {
        flag_lhs(&flags[i], lhs, sizeof(lhs));
        width = strlen(lhs) > width ? strlen(lhs) : width;
    }
    for (size_t i = 0; i < n; i++) {
        flag_lhs(&flags[i], lhs, sizeof(lhs));
        fprintf(out, "%-*s  %s\n", (int)width, lhs, flags[i].usage);
    }
}

static void print_indented(FILE *out, const char *text)
{
    fputc('\t', out);
    for (const char *p = text; *p; p++) {
        fputc(*p, out);
        if (*p == '\n' && p[1])
            fputc('\t', out);
    }
    fputc('\n', out);
}

void ctl_help_root(FILE *out)
{
    fprintf(out, "NAME:\n\tcairnctl - A command line client for cairn and etcd v3.\n\n");
    fprintf(out, "USAGE:\n\tcairnctl [flags] <command> [options] [arguments]\n\n");
    fprintf(out, "VERSION:\n\t%s\n\nAPI VERSION:\n\t3.4\n\n", cairn_version_string());
    fprintf(out, "COMMANDS:\n");
    for (size_t i = 0; i < ctl_n_commands; i++)
        fprintf(out, "\t%-18s %s\n", ctl_commands[i].name, ctl_commands[i].brief);
    fprintf(out, "\nOPTIONS:\n");
    print_flags(out, ctl_global_flags, ctl_n_global_flags);
}

void ctl_help_command(FILE *out, const struct ctl_command *cmd)
{
    CAIRN_ASSERT(cmd != NULL);
    fprintf(out, "NAME:\n\t%s - %s\n\n", cmd->name, cmd->brief);
    fprintf(out, "USAGE:\n\tcairnctl %s\n\n", cmd->usage);
    if (cmd->description) {
        fprintf(out, "DESCRIPTION:\n");
        print_indented(out, cmd->description);
        fputc('\n', out);
    }
    if (cmd->n_flags) {
        fprintf(out, "OPTIONS:\n");
        print_flags(out, cmd->flags, cmd->n_flags);
        fputc('\n', out);
    }
    fprintf(out, "GLOBAL OPTIONS:\n");
    print_flags(out, ctl_global_flags, ctl_n_global_flags);
}

void ctl_help_group(FILE *out, const char *group)
{
    size_t n = strlen(group);
    fprintf(out, "NAME:\n\t%s - %s commands\n\nCOMMANDS:\n", group, group);
    for (size_t i = 0; i < ctl_n_commands; i++)
        if (strncmp(ctl_commands[i].name, group, n) == 0 && ctl_commands[i].name[n] == ' ')
            fprintf(out, "\t%-18s %s\n", ctl_commands[i].name, ctl_commands[i].brief);
    fprintf(out, "\nRun 'cairnctl %s <command> --help' for a command's options.\n", group);
}

static void md_flags(FILE *out, const struct ctl_flag_spec *flags, size_t n)
{
    fprintf(out, "| flag | default | meaning |\n|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const struct ctl_flag_spec *f = &flags[i];
        char sh[8] = "";
        if (f->shorthand)
            snprintf(sh, sizeof(sh), "-%c, ", f->shorthand);
        fprintf(out, "| `%s--%s` | `%s` | %s |\n", sh, f->name, f->def[0] ? f->def : "\"\"",
                f->usage);
    }
    fputc('\n', out);
}

void ctl_help_markdown(FILE *out)
{
    fprintf(out, "<!-- Generated by `cairnctl help --markdown`; do not edit by hand. -->\n");
    fprintf(out, "# cairnctl\n\n");
    fprintf(out, "cairnctl is cairn's command line client. It speaks the etcd v3 API, takes "
                 "etcdctl 3.4's commands and flags, and prints what etcdctl prints: the `simple` "
                 "and `json` output formats match etcdctl byte for byte.\n\n");
    fprintf(out, "Usage: `cairnctl [flags] <command> [options] [arguments]`\n\n");
    fprintf(out, "Errors print one line, `Error: <message>` (the server's message when the "
                 "server refused the request), and exit with status 1. Usage errors print the "
                 "message and the command's usage and exit with status 2.\n\n");
    fprintf(out, "Endpoints come from `--endpoints`, else `CAIRNCTL_ENDPOINTS`, else "
                 "`ETCDCTL_ENDPOINTS`, else `127.0.0.1:2379`. A command goes to the first "
                 "endpoint that can be reached; reads also move on when an endpoint answers "
                 "UNAVAILABLE. Every global flag can also come from the environment as "
                 "`CAIRNCTL_<FLAG>` or `ETCDCTL_<FLAG>` (e.g. `ETCDCTL_DIAL_TIMEOUT=3s`).\n\n");
    fprintf(out, "## Differences from etcdctl 3.4\n\n");
    static const char *const diffs[] = {
        "Exit status: 1 for every error, 2 for usage errors (etcdctl uses 1-6 and 128).",
        "An output format a command cannot print is refused before the request is sent "
        "(etcdctl 3.4 adds a member and then fails on `-w fields`).",
        "`get --count-only` (from etcd 3.5) also works with `-w simple`: it prints the count.",
        "`txn` accepts `lease(\"key\") = \"<hex id>\"` compares (etcdctl 3.4 panics) and "
        "input that ends without the final blank lines.",
        "`watch` re-opens a stream that breaks on the next reachable endpoint and resumes "
        "after the last revision it printed; Ctrl-C ends it with status 0.",
        "`snapshot save` accepts several endpoints and uses the first reachable one; it "
        "writes a progress line to standard error.",
        "`snapshot restore` builds a cairnd data directory (not an etcd one: `member/snap/db` "
        "and a WAL); it does not carry the snapshot's alarms or auth data (cairnd has no "
        "auth), and its logs name cairnctl's fields (`cluster-id`, `revision`...) instead of "
        "`wal-dir`/`snap-dir`.",
        "`memory status|set` is not there yet (it needs cairn's admin service).",
        "Not implemented: TLS and authentication flags (`--cacert`, `--cert`, `--key`, "
        "`--user`, `--password`), DNS discovery, and the commands `lock`, `elect`, "
        "`make-mirror`, `auth`, `user`, `role`, `check`, `migrate`.",
        "Keepalive pings are off unless `--keepalive-time` is given (etcdctl: 2s).",
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(diffs); i++)
        fprintf(out, "- %s\n", diffs[i]);
    fprintf(out, "\n## Global options\n\n");
    md_flags(out, ctl_global_flags, ctl_n_global_flags);
    fprintf(out, "## Commands\n\n");
    for (size_t i = 0; i < ctl_n_commands; i++) {
        char anchor[64]; /* GitHub's heading anchor: lower case, spaces to '-' */
        snprintf(anchor, sizeof(anchor), "%s", ctl_commands[i].name);
        for (char *p = anchor; *p; p++)
            *p = *p == ' ' ? '-' : *p;
        fprintf(out, "- [`%s`](#cairnctl-%s): %s\n", ctl_commands[i].name, anchor,
                ctl_commands[i].brief);
    }
    fputc('\n', out);
    for (size_t i = 0; i < ctl_n_commands; i++) {
        const struct ctl_command *c = &ctl_commands[i];
        size_t bl = strlen(c->brief);
        fprintf(out, "### cairnctl %s\n\n%s%s\n\n", c->name, c->brief,
                bl && c->brief[bl - 1] == '.' ? "" : ".");
        fprintf(out, "```\ncairnctl %s\n```\n\n", c->usage);
        if (c->description)
            fprintf(out, "%s\n\n", c->description);
        if (c->n_flags)
            md_flags(out, c->flags, c->n_flags);
    }
}
