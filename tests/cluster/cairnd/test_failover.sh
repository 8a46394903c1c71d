#!/usr/bin/env bash
# Must-show 2 of issue 7: kill -9 the leader under a steady write load (one writer per
# member). A new leader accepts writes within 3 x election timeout (a put *started* after
# the kill is acknowledged by then); no acknowledged write is lost; the killed member
# restarts and converges (equal HashKV on all members, every acknowledged put on each).
# Two rounds. Usage: test_failover.sh SERVER_BINARY [ELECTION_TIMEOUT_MS]
# shellcheck disable=SC2317 # helper functions are called through cl_wait_for / cl_check
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cluster/cairnd/lib.sh
. "$here/lib.sh"
cl_init "${1:-}"
election_ms=${2:-1000}
cl_start_cluster 3 --heartbeat-interval=100 --election-timeout="$election_ms"

acks=$CL_TMP/acks
stopfile=$CL_TMP/stop
ack_count() { if [ -f "$acks" ]; then wc -l <"$acks"; else echo 0; fi; }
acks_above() { [ "$(ack_count)" -ge "$1" ]; }
now_ns() { "$CL_PYTHON" -c 'import time; print(time.monotonic_ns())'; }

"$CL_PYTHON" "$here/cluster_load.py" write "$(cl_eps)" load/ "$acks" "$stopfile" \
  2>"$CL_TMP/writer.err" &
writer=$!
cl_track_pid "$writer"
cl_check "the load runs (300 acknowledged puts)" cl_wait_for "acks" 300 acks_above 300

for round in 1 2; do
  lead=$(cl_leader) || cl_die "no agreed leader before round $round"
  before=$(ack_count)
  kill_ns=$(now_ns)
  cl_kill9 "$lead"
  cl_log "round $round: killed leader m$lead after $before acks"
  failed_over() { [ "$("$CL_PYTHON" "$here/cluster_load.py" failover "$acks" "$kill_ns")" -ge 0 ]; }
  cl_wait_for "a write after the kill" 150 failed_over
  gap=$("$CL_PYTHON" "$here/cluster_load.py" failover "$acks" "$kill_ns")
  cl_log "round $round: first write started after the kill acknowledged after $gap ms"
  printf 'failover round %d: %d ms (bound %d ms)\n' "$round" "$gap" $((3 * election_ms)) \
    >>"$CL_TMP/figures"
  cl_check "round $round: a new leader accepts writes within 3 x election timeout ($gap ms)" \
    test "$gap" -ge 0 -a "$gap" -le $((3 * election_ms))
  more=$(($(ack_count) + 200))
  cl_check "round $round: the load goes on with two members" cl_wait_for "acks" 300 acks_above "$more"
  cl_start "$lead"
  cl_check "round $round: the restarted member agrees on the leader" \
    cl_wait_for "leader agreement" 100 cl_has_leader
  more=$(($(ack_count) + 200))
  cl_check "round $round: the load goes on with three members" cl_wait_for "acks" 300 acks_above "$more"
done

touch "$stopfile"
cl_wait_for "writer exit" 100 cl_exited "$writer" || cl_fail "the writer did not stop"
wait "$writer" 2>/dev/null
cl_check "all members converge (equal HashKV)" cl_wait_for "equal hashes" 150 cl_hashes_equal
cl_check "no acknowledged write is lost, on any member" \
  "$CL_PYTHON" "$here/cluster_load.py" verify "$(cl_eps)" load/ "$acks"
cl_log "$(ack_count) acknowledged puts; $(tr '\n' ';' <"$CL_TMP/figures")"
cat "$CL_TMP/figures" >&2
for i in 1 2 3; do cl_check "member $i stops cleanly on SIGTERM" cl_stop "$i"; done
cl_finish
