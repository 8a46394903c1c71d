/* cairnd — the cairn server: a thin main over server/. Flags are etcd's (see --help). */
#include "cairn.h"
#include "server.h"

#include <stdio.h>
#include <string.h>

#include <grpc/grpc.h>
#include <lmdb.h>

int main(int argc, char **argv)
{
    struct srv_config cfg;
    char err[512];
    srv_config_defaults(&cfg);
    if (srv_config_parse_args(&cfg, argc, (const char *const *)argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "cairnd: %s (see cairnd --help)\n", err);
        return 2;
    }
    if (cfg.show_help) {
        srv_config_usage(stdout, "cairnd");
        return 0;
    }
    if (cfg.show_version) {
        printf("cairnd Version: %s\n", cairn_version_string());
        printf("API version: 3.4\n");
        printf("gRPC core: %s, LMDB: %s\n", grpc_version_string(), mdb_version(NULL, NULL, NULL));
        return 0;
    }
    fprintf(stderr, "cairnd: the server is not built yet; try --version or --help\n");
    return 1;
}
