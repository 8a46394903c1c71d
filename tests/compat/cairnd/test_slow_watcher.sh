#!/usr/bin/env bash
# A watcher that stops reading never makes cairnd buffer without bound, and loses nothing.
# Usage: test_slow_watcher.sh SERVER_BINARY
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/server.sh"
compat_init "${1:-}"
compat_server_start
compat_check "slow watcher gets every event once, in order, with bounded memory" timeout 280 \
  "$COMPAT_PYTHON" "$here/slow_watcher.py" 127.0.0.1 "$COMPAT_CLIENT_PORT" "$COMPAT_PID"
compat_check "stop" compat_server_stop
compat_finish
