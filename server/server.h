/*
 * server/ — the cairn node runtime: configuration, the node loop driving raft/ and
 * store/, the gRPC front end, peer transport, lease timers and the watch hub.
 *
 * Promises: one way to run a node — cairnd is a thin main over the same node object that
 * cairn_open() gives an embedding program; flags named as etcd names them.
 * Owns: the node's threads, its gRPC server and completion queues, and its config.
 * Never: bypasses raft for a write, or holds an LMDB read transaction across a network
 * wait.
 *
 * This first unit is the configuration: etcd-compatible flags and their defaults.
 */
#ifndef CAIRN_SERVER_H
#define CAIRN_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SRV_STR_MAX 1024

struct srv_config {
    char name[SRV_STR_MAX];
    char data_dir[SRV_STR_MAX];
    char listen_client_urls[SRV_STR_MAX];
    char advertise_client_urls[SRV_STR_MAX];
    char listen_peer_urls[SRV_STR_MAX];
    char initial_advertise_peer_urls[SRV_STR_MAX];
    char initial_cluster[SRV_STR_MAX * 4];
    char initial_cluster_state[16]; /* "new" | "existing" */
    char initial_cluster_token[SRV_STR_MAX];
    uint64_t heartbeat_interval_ms;
    uint64_t election_timeout_ms;
    uint64_t snapshot_count;
    uint64_t quota_backend_bytes;
    uint64_t max_request_bytes;
    uint64_t max_txn_ops;
    char auto_compaction_mode[16]; /* "periodic" | "revision" */
    char auto_compaction_retention[64];
    char log_level[16];
    char logger[16];
    char log_outputs[SRV_STR_MAX];
    char config_file[SRV_STR_MAX];
    char heap_percent[32]; /* "" = unset; parsed by alloc/: "100", "off", ... */
    char memory_limit[32]; /* "" = unset; parsed by alloc/: "512MiB", "off", ... */
    int show_version;
    int show_help;
};

/* srv_config_defaults — etcd's defaults (client URL http://127.0.0.1:2379, data dir
 * "<name>.cairn" once the name is known, 2 GiB quota, 1.5 MiB requests, 128 txn ops). */
void srv_config_defaults(struct srv_config *c);

/*
 * srv_config_parse_args — apply "--flag value" and "--flag=value" arguments over c.
 * On a bad flag or value returns CAIRN_EINVAL and writes a one-line message into
 * err[0..err_len). Fills in derived defaults (data dir from name) at the end.
 */
int srv_config_parse_args(struct srv_config *c, int argc, const char *const *argv, char *err,
                          size_t err_len);

/* srv_config_set — set one flag by its etcd name ("max-txn-ops"); CAIRN_ENOTFOUND for an
 * unknown name, CAIRN_EINVAL for a bad value (message in err). */
int srv_config_set(struct srv_config *c, const char *name, size_t name_len, const char *value,
                   char *err, size_t err_len);

/*
 * srv_config_load_yaml — apply an etcd YAML configuration file (keys as etcd's flags:
 * "name", "data-dir", "listen-client-urls", ...; sequences are joined with commas). Keys
 * cairn does not know are reported on stderr and skipped, as etcd ignores unknown keys;
 * a bad value, a YAML syntax error or a missing file is CAIRN_EINVAL with the message.
 */
int srv_config_load_yaml(struct srv_config *c, const char *path, char *err, size_t err_len);

/* srv_config_usage — the --help text: every flag, its default and meaning. */
void srv_config_usage(FILE *out, const char *prog);

#endif /* CAIRN_SERVER_H */
