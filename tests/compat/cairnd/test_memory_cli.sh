#!/usr/bin/env bash
# `cairnctl memory set` changes a running member's limit: visible in `memory status` and in
# behaviour (a limit below what is in use refuses writes with the limit named; `off` lets
# them through again). Usage: test_memory_cli.sh CAIRND CAIRNCTL
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/server.sh"
compat_init "${1:-}"
ctl=${2:?usage: test_memory_cli.sh CAIRND CAIRNCTL}
compat_server_start
C() { "$ctl" --endpoints="$COMPAT_ENDPOINT" "$@"; }

out=$(C memory status)
compat_check "status shows no limit at start: $(grep 'memory limit' <<<"$out")" grep -q "memory limit: off" <<<"$out"
compat_check "status json parses with the fields" "$COMPAT_PYTHON" -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["limit_bytes"] == -1 and d["heap_percent"] == 100 and len(d["subsystems"]) == 7, d
' <<<"$(C memory status -w json)"
compat_check "put works without a limit" C put mem/a 1
out=$(C memory set --memory-limit=2MiB --heap-percent=50)
compat_check "set prints new and previous: $out" grep -q "memory limit: 2.0 MiB (was off)" <<<"$out"
out=$(C memory status)
compat_check "status shows the new limit" grep -q "memory limit: 2.0 MiB" <<<"$out"
compat_check "status shows the new heap percent" grep -q "heap percent: 50" <<<"$out"
err=$(C put mem/b 2 2>&1); rc=$?
compat_check "a put under a limit below memory in use is refused (rc $rc)" [ "$rc" -ne 0 ]
compat_check "the refusal names the limit: $err" grep -q "memory limit" <<<"$err"
compat_check "reads still work under the limit" C get mem/a
err=$(C memory set --memory-limit=12XB 2>&1); rc=$?
compat_check "a malformed limit is refused: $err" [ "$rc" -ne 0 ]
compat_check "and changes nothing" grep -q "memory limit: 2.0 MiB" <<<"$(C memory status)"
compat_check "set off" C memory set --memory-limit=off
compat_check "puts work again once the limit is off" C put mem/c 3
compat_check "stop" compat_server_stop
compat_finish
