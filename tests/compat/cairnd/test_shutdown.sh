#!/usr/bin/env bash
# cairnd stops cleanly on SIGINT and on SIGTERM while clients are writing: it exits within
# 2 s and loses nothing it acknowledged (issue 6: "clean shutdown within 2 s with nothing
# acknowledged lost"). Each round: 4 writer threads stream puts; after 200 acks the server
# gets the signal; the exit time is measured; the server restarts on the same data dir and
# every acknowledged put must be there with its acknowledged revision.
# Usage: test_shutdown.sh SERVER_BINARY
here=$(cd "$(dirname "$0")" && pwd)
py=$here/../python
. "$here/../lib/server.sh"
compat_init "${1:-}"
compat_server_start

ack_count() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
enough_acks() { [ "$(ack_count "$1")" -ge 200 ]; }

round() {
  local sig=$1 acks=$COMPAT_TMP/acks.$1 writer t0 ms
  "$COMPAT_PYTHON" "$py/crash_writer.py" write 127.0.0.1 "$COMPAT_CLIENT_PORT" "stop/$sig/" \
    "$acks" 4 1000000 2>"$COMPAT_TMP/writer.$sig.err" &
  writer=$!
  compat_track_pid "$writer"
  compat_check "$sig: 200 puts acknowledged" compat_wait_for acks 1200 enough_acks "$acks"
  t0=$(date +%s%N)
  kill -"$sig" "$COMPAT_PID"
  compat_wait_for "server exit" 100 compat_exited "$COMPAT_PID"
  ms=$((($(date +%s%N) - t0) / 1000000))
  wait "$COMPAT_PID" 2>/dev/null
  local status=$?
  compat_log "server exited $ms ms after SIG$sig with status $status"
  compat_check "$sig: exit status 0" [ "$status" -eq 0 ]
  compat_check "$sig: stopped within 2 s ($ms ms)" [ "$ms" -le 2000 ]
  COMPAT_PID=
  compat_wait_for "writer exit" 600 compat_exited "$writer" || kill -9 "$writer" 2>/dev/null
  wait "$writer" 2>/dev/null
  compat_server_restart
  compat_check "$sig: every acknowledged put survived" timeout 120 \
    "$COMPAT_PYTHON" "$py/crash_writer.py" verify 127.0.0.1 "$COMPAT_CLIENT_PORT" "stop/$sig/" "$acks"
}

round INT
round TERM
compat_check "final stop" compat_server_stop
compat_finish
