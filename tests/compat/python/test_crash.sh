#!/usr/bin/env bash
# kill -9 during a stream of puts, restart (must-show 3 of issue 6): every acknowledged
# put is present with its acknowledged revision and revisions continue above the last
# acknowledged one. Two crash rounds (the second crashes a recovered store), then a clean
# SIGTERM stop and a last restart; all rounds are verified after every restart.
# Usage: test_crash.sh SERVER_BINARY [ACKS_BEFORE_KILL] [THREADS]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/server.sh"
compat_init "${1:-}"
acks_before_kill=${2:-300}
threads=${3:-4}
compat_server_start

ack_count() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
enough_acks() { [ "$(ack_count "$1")" -ge "$acks_before_kill" ]; }

verify() {
  local round
  for round in "$@"; do
    compat_check "round $round: acknowledged puts survived" timeout 120 \
      "$COMPAT_PYTHON" "$here/crash_writer.py" verify 127.0.0.1 "$COMPAT_CLIENT_PORT" \
      "crash/r$round/" "$COMPAT_TMP/acks.$round"
  done
}

crash_round() {
  local round=$1 acks=$COMPAT_TMP/acks.$1 writer
  compat_log "== round $round: $threads writers, kill -9 after $acks_before_kill acks"
  "$COMPAT_PYTHON" "$here/crash_writer.py" write 127.0.0.1 "$COMPAT_CLIENT_PORT" \
    "crash/r$round/" "$acks" "$threads" 1000000 2>"$COMPAT_TMP/writer.$round.err" &
  writer=$!
  compat_track_pid "$writer"
  compat_check "round $round: $acks_before_kill puts acknowledged (bounded 120 s)" \
    compat_wait_for "acks" 1200 enough_acks "$acks"
  compat_check "round $round: writer still streaming at the kill" compat_is_alive "$writer"
  compat_server_kill9
  compat_log "killed the server after $(ack_count "$acks") acks"
  # The writer's threads stop at their first failed put (5 s client timeout each).
  if ! compat_wait_for "writer exit" 600 compat_exited "$writer"; then
    compat_fail "round $round: writer did not stop after the server died"
    kill -9 "$writer" 2>/dev/null
  fi
  wait "$writer" 2>/dev/null
  compat_log "writer stopped with $(ack_count "$acks") acks: $(sort -u "$COMPAT_TMP/writer.$round.err" | head -n 2 | cut -c1-160)"
  compat_server_restart
}

compat_is_alive() { ! compat_exited "$1"; }

crash_round 1
verify 1
crash_round 2
verify 1 2
compat_check "server stops cleanly on SIGTERM" compat_server_stop
compat_server_restart
verify 1 2
compat_check "server stops cleanly on SIGTERM" compat_server_stop
compat_finish
