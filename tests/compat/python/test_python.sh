#!/usr/bin/env bash
# python3-etcd3 round trips (must-show 2 of issue 6): starts the server, runs
# etcd3_suite.py with Debian's /usr/bin/python3 (which has python3-etcd3 and grpc).
# Usage: test_python.sh SERVER_BINARY
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/server.sh"
compat_init "${1:-}"
"$COMPAT_PYTHON" -c 'import etcd3' || compat_die "$COMPAT_PYTHON cannot import etcd3 (apt install python3-etcd3)"
compat_server_start

# The suite's own bound is far below the CTest timeout; timeout(1) guards against a hang.
timeout 240 "$COMPAT_PYTHON" "$here/etcd3_suite.py" 127.0.0.1 "$COMPAT_CLIENT_PORT" \
  "$COMPAT_NAME" "http://127.0.0.1:$COMPAT_PEER_PORT"
rc=$?
compat_eq "etcd3_suite.py exit status" 0 "$rc"
compat_check "server stops cleanly on SIGTERM" compat_server_stop
compat_finish
