#!/usr/bin/env bash
# --memory-limit as a user meets it: malformed values stop cairnd at startup with a one-line
# error and exit 2 (flag and CAIRN_MEMORY_LIMIT alike); past a small limit, memory-growing
# requests get RESOURCE_EXHAUSTED naming the limit while the server keeps serving.
# Usage: test_memlimit.sh SERVER_BINARY
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/server.sh"
compat_init "${1:-}"
bin=$1

err=$("$bin" --memory-limit=12XB 2>&1 >/dev/null); rc=$?
compat_check "bad --memory-limit exits 2 ($rc)" [ "$rc" -eq 2 ]
compat_check "bad --memory-limit names the flag: $err" grep -q -- "--memory-limit" <<<"$err"
err=$(CAIRN_MEMORY_LIMIT=lots "$bin" 2>&1 >/dev/null); rc=$?
compat_check "bad CAIRN_MEMORY_LIMIT exits 2 ($rc)" [ "$rc" -eq 2 ]
compat_check "bad CAIRN_MEMORY_LIMIT names the variable: $err" grep -q CAIRN_MEMORY_LIMIT <<<"$err"
err=$("$bin" --heap-percent=lots 2>&1 >/dev/null); rc=$?
compat_check "bad --heap-percent exits 2 ($rc)" [ "$rc" -eq 2 ]

compat_server_start --memory-limit=24MiB --heap-percent=50
compat_check "memory pressure: refusals, then service" timeout 180 \
  "$COMPAT_PYTHON" "$here/memlimit.py" 127.0.0.1 "$COMPAT_CLIENT_PORT"
compat_check "server alive after the pressure" kill -0 "$COMPAT_PID"
compat_check "stop" compat_server_stop
compat_finish
