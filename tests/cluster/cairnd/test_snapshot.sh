#!/usr/bin/env bash
# Must-show 3 of issue 7: a follower stopped while more than --snapshot-count entries are
# written catches up by snapshot after restart (the leader compacted its log past the
# follower's position, streams a copy of its store, the follower installs it atomically),
# then follows by appends again; all members converge.
# Usage: test_snapshot.sh SERVER_BINARY [SNAPSHOT_COUNT]
# shellcheck disable=SC2317 # helper functions are called through cl_wait_for / cl_check
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cluster/cairnd/lib.sh
. "$here/lib.sh"
cl_init "${1:-}"
count=${2:-200}
cl_start_cluster 3 --snapshot-count="$count"

lead=$(cl_leader) || cl_die "no leader"
follower=$((lead % 3 + 1))
cl_ctl put before-stop 1 >/dev/null
cl_check "follower m$follower stops cleanly" cl_stop "$follower"

# more than snapshot-count entries while it is down: the leader's log moves past it
writes=$((count * 4))
"$CL_PYTHON" - "$(cl_ep "$lead")" "$writes" <<'EOF' || cl_fail "bulk writes"
import sys
import etcd3
host, port = sys.argv[1].rsplit(":", 1)
c = etcd3.client(host=host, port=int(port), timeout=10)
for i in range(int(sys.argv[2])):
    c.put("bulk/%06d" % i, "value-%d" % i)
EOF
cl_log "wrote $writes entries with m$follower down"
leader_index=$(cl_status "$lead" | awk '{print $3}')

cl_start "$follower"
installed() { grep -q "installed a snapshot" "$CL_TMP/m$follower.log"; }
cl_check "m$follower catches up by installing a snapshot" cl_wait_for "snapshot" 300 installed
cl_check "the leader streamed it" grep -q "snapshot sent to peer" "$CL_TMP/m$lead.log"
grep -h "snapshot" "$CL_TMP/m$lead.log" "$CL_TMP/m$follower.log" >&2
snap_index=$(sed -n 's/.*installed a snapshot at index \([0-9]*\).*/\1/p' \
  "$CL_TMP/m$follower.log" | head -n 1)
cl_check "the snapshot covers the writes (index $snap_index >= $leader_index - $count)" \
  test "${snap_index:-0}" -ge $((leader_index - count))
cl_eq "the follower has the last bulk write" "value-$((writes - 1))" \
  "$(cl_ctl_ep "$follower" get "bulk/$(printf %06d $((writes - 1)))" --print-value-only \
    --consistency=s)"
cl_check "writes after the catch-up reach it by appends" cl_ctl put after-catch-up yes
seen() { [ "$(cl_ctl_ep "$follower" get after-catch-up --print-value-only --consistency=s)" = yes ]; }
cl_check "the follower applies new entries" cl_wait_for "new entry" 100 seen
cl_check "all members converge (equal HashKV)" cl_wait_for "equal hashes" 150 cl_hashes_equal
n_keys=$(cl_ctl_ep "$follower" get bulk/ --prefix --keys-only --consistency=s | grep -c '^bulk/')
cl_eq "the follower holds every bulk key" "$writes" "$n_keys"
# restarting it again starts from the installed snapshot (its log begins there)
cl_check "the follower restarts cleanly" cl_stop "$follower"
cl_start "$follower"
cl_check "and converges again" cl_wait_for "equal hashes" 150 cl_hashes_equal
# ---- round 2: the follower keeps running but hears nothing (SIGSTOP) while the log moves
# on; a watcher on it sees every event once it installed the snapshot (catch-up from the
# installed history, not only what follows the snapshot)
cl_wait_for "an agreed leader" 100 cl_has_leader
lead=$(cl_leader) || cl_die "no leader for round 2"
follower=$((lead % 3 + 1))
"$CL_ETCDCTL" --endpoints="$(cl_ep "$follower")" watch --prefix round2/ >"$CL_TMP/watch.out" 2>&1 &
watcher=$!
cl_track_pid "$watcher"
cl_ctl put round2/first x >/dev/null
first_seen() { grep -q '^round2/first$' "$CL_TMP/watch.out"; }
cl_check "the watcher on m$follower is live" cl_wait_for "watch" 100 first_seen
kill -STOP "${CL_PID[$follower]}"
"$CL_PYTHON" - "$(cl_ep "$lead")" "$writes" <<'EOF2' || cl_fail "bulk writes, round 2"
import sys
import etcd3
host, port = sys.argv[1].rsplit(":", 1)
c = etcd3.client(host=host, port=int(port), timeout=10)
for i in range(int(sys.argv[2])):
    c.put("round2/%06d" % i, "value-%d" % i)
EOF2
kill -CONT "${CL_PID[$follower]}"
installed_twice() { [ "$(grep -c "installed a snapshot" "$CL_TMP/m$follower.log")" -ge 2 ]; }
cl_check "the paused follower catches up by snapshot" cl_wait_for "snapshot 2" 300 installed_twice
all_events() { [ "$(grep -c '^round2/0' "$CL_TMP/watch.out")" -ge "$writes" ]; }
cl_check "its watcher received every event ($writes puts)" cl_wait_for "events" 300 all_events
cl_eq "events arrived once each, in order" "$(seq -f 'round2/%06g' 0 $((writes - 1)))" \
  "$(grep '^round2/0' "$CL_TMP/watch.out")"
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
cl_check "all members converge after round 2" cl_wait_for "equal hashes" 150 cl_hashes_equal

for i in 1 2 3; do cl_check "member $i stops cleanly on SIGTERM" cl_stop "$i"; done
cl_finish
