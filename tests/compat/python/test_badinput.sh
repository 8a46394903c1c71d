#!/usr/bin/env bash
# Bad input gets etcd's gRPC status and the server keeps serving (must-show 4 of issue 6):
# malformed protobuf, oversized requests (over --max-request-bytes and over the gRPC
# limit), unknown method/service, too many txn ops, empty key, duplicate key in a txn,
# unknown lease. Phase 1 runs with --max-request-bytes=65536; phase 2 restarts the same
# member with --max-txn-ops=4 and the default request limit (1.5 MiB).
# Usage: test_badinput.sh SERVER_BINARY     (COMPAT_STRICT=1: also match grpc-go's texts)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/server.sh"
compat_init "${1:-}"

run_phase() {
  compat_check "bad input, phase $1" timeout 240 "$COMPAT_PYTHON" "$here/badinput.py" \
    "127.0.0.1:$COMPAT_CLIENT_PORT" "$COMPAT_PID" "$1"
}

compat_server_start --max-request-bytes=65536
run_phase small
compat_check "server alive after phase 1" kill -0 "$COMPAT_PID"
compat_check "server stops cleanly on SIGTERM" compat_server_stop

compat_server_flags --max-txn-ops=4
compat_server_restart
run_phase txnops
compat_check "server alive after phase 2" kill -0 "$COMPAT_PID"
compat_check "server stops cleanly on SIGTERM" compat_server_stop
compat_finish
