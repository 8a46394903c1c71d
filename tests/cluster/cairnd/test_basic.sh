#!/usr/bin/env bash
# Must-show 1 of issue 7, with etcdctl through all three endpoints: a write on one member
# is seen by a linearizable get on another; member list / add a learner / promote (refused
# while the learner is behind) / remove; move-leader; `endpoint status --cluster` shows
# exactly one leader. Also: a member of another cluster is refused with etcd's error.
# Usage: test_basic.sh SERVER_BINARY
# shellcheck disable=SC2317 # helper functions are called through cl_wait_for / cl_check
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cluster/cairnd/lib.sh
. "$here/lib.sh"
cl_init "${1:-}"
cl_start_cluster 3

# ---- writes and linearizable reads across members
for i in 1 2 3; do
  cl_check "put through member $i" cl_ctl_ep "$i" put "k$i" "v$i"
  for j in 1 2 3; do
    got=$(cl_ctl_ep "$j" get "k$i" --print-value-only 2>&1)
    cl_eq "write on $i seen by a linearizable get on $j" "v$i" "$got"
  done
done
got=$(cl_ctl_ep 2 txn <<<$'value("k1") = "v1"\n\nput k1 v1b\n\nput k1 none\n' 2>&1 | head -n 1)
cl_eq "txn through a follower" "SUCCESS" "$got"
cl_eq "the txn's write seen on member 3" "v1b" "$(cl_ctl_ep 3 get k1 --print-value-only)"

# ---- leases through a follower: keep-alives and TimeToLive are answered by the leader
lead=$(cl_leader) || cl_fail "no agreed leader"
fol=$((lead % 3 + 1))
lid=$(cl_ctl_ep "$fol" lease grant 30 | awk '{print $2}')
cl_check "lease grant through a follower" test -n "$lid"
cl_check "put with the lease" cl_ctl_ep "$fol" put leased yes --lease="$lid"
out=$(cl_ctl_ep "$fol" lease keep-alive --once "$lid" 2>&1)
cl_eq "keep-alive through a follower" "lease $lid keepalived with TTL(30)" "$out"
out=$(cl_ctl_ep "$fol" lease timetolive "$lid" --keys 2>&1)
cl_check "timetolive through a follower: $out" \
  grep -qE "^lease $lid granted with TTL\(30s\), remaining\([0-9]+s\), attached keys\(\[leased\]\)$" <<<"$out"
cl_check "lease revoke through another member" cl_ctl_ep "$((fol % 3 + 1))" lease revoke "$lid"
cl_eq "the leased key went with it" "" "$(cl_ctl_ep "$fol" get leased --print-value-only)"

# ---- member list (members publish their name and client URLs through the log once up)
member_summary() {
  cl_ctl member list -w json | "$CL_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
print(len(d["members"]), sum(1 for m in d["members"] if m.get("clientURLs")),
      sum(1 for m in d["members"] if m.get("isLearner")))'
}
all_started() { [ "$(member_summary)" = "3 3 0" ]; }
cl_wait_for "members published" 50 all_started
cl_eq "member list: 3 members, 3 started, no learner" "3 3 0" "$(member_summary)"
lists=$(for i in 1 2 3; do cl_ctl_ep "$i" member list | sort | md5sum; done | sort -u | wc -l)
cl_eq "every member lists the same members" 1 "$lists"

# ---- a learner: added, refused promotion while behind (not even started), then promoted
cl_check "member add --learner" cl_add_member 4 --learner
cl_check "member add printed etcd's environment" \
  grep -q "ETCD_INITIAL_CLUSTER_STATE=\"existing\"" "$CL_TMP/add.4.out"
id4=$(cl_id 4)
cl_check "the learner is listed as a learner" \
  bash -c "'$CL_ETCDCTL' --endpoints='$(cl_eps 1 2 3)' member list | grep -q '^$id4, unstarted, .*, true$'"
out=$(cl_ctl member promote "$id4" 2>&1)
cl_check "promote refused while the learner is behind" \
  grep -q "etcdserver: can only promote a learner member which is in sync with leader" <<<"$out"
for i in 1 2 3; do cl_ctl_ep "$i" put "before-join-$i" x >/dev/null; done
cl_start_joiner 4
cl_check "the learner joins and serves reads" \
  cl_wait_for "learner serving" 300 cl_member_serving 4
has_data() { [ "$(cl_ctl_ep 4 get before-join-3 --print-value-only --consistency=s)" = x ]; }
cl_check "the learner catches up (its own copy has the data)" cl_wait_for "learner data" 100 has_data
promote_ok() { cl_ctl member promote "$id4" >"$CL_TMP/promote.out" 2>&1; }
cl_check "member promote once caught up" cl_wait_for "promote" 100 promote_ok
cl_check "promote printed etcd's message" grep -qE "^Member +$id4 promoted in cluster" "$CL_TMP/promote.out"
learners=$(cl_ctl member list | awk -F', ' '$6 == "true"' | wc -l)
cl_eq "no learner left" 0 "$learners"
cl_check "a linearizable get through the promoted member" \
  bash -c "[ \"\$('$CL_ETCDCTL' --endpoints='$(cl_ep 4)' get k2 --print-value-only)\" = v2 ]"

# ---- remove: the removed member stops itself, the others keep serving
remove_out=$(cl_ctl member remove "$id4" 2>&1)
cl_check "member remove: $remove_out" grep -qE "^Member +$id4 removed from cluster" <<<"$remove_out"
cl_check "the removed member shuts itself down" \
  cl_wait_for "removed member exit" 150 cl_exited "${CL_PID[4]}"
cl_check "the removed member logged why" grep -q "permanently removed" "$CL_TMP/m4.log"
unset 'CL_CPORT[4]'
CL_PID[4]=
cl_eq "member list after remove" 3 "$(cl_ctl member list | wc -l)"
cl_check "writes go on after the remove" cl_ctl put after-remove ok

# ---- move-leader, and exactly one leader in endpoint status --cluster
lead=$(cl_leader) || cl_fail "no agreed leader"
target=$((lead % 3 + 1))
tid=$(cl_id "$target")
out=$(cl_ctl move-leader "$tid" 2>&1)
cl_check "move-leader reports the transfer" grep -q "Leadership transferred from .* to $tid" <<<"$out"
cl_eq "the new leader is the target" "$target" "$(cl_leader)"
leaders=$(cl_ctl_ep 1 endpoint status --cluster -w json | "$CL_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
print(len(d), sum(1 for e in d if e["Status"]["leader"] == e["Status"]["header"]["member_id"]))')
cl_eq "endpoint status --cluster: 3 members, exactly one leader" "3 1" "$leaders"
out=$(cl_ctl_ep "$target" move-leader 1234 2>&1)
cl_check "move-leader to a non-member: etcd's error" \
  grep -q "etcdserver: bad leader transferee" <<<"$out"

# ---- a member of another cluster is refused with etcd's error
read -r -a ports <<<"$(cl_pick_ports 2)"
other=http://127.0.0.1:${ports[1]}
"$CL_SERVER" --name intruder --data-dir "$CL_TMP/intruder.data" \
  --listen-client-urls "http://127.0.0.1:${ports[0]}" \
  --advertise-client-urls "http://127.0.0.1:${ports[0]}" \
  --listen-peer-urls "$other" --initial-advertise-peer-urls "$other" \
  --initial-cluster "intruder=$other,m1=$(cl_url_p 1)" \
  --initial-cluster-token another-cluster >"$CL_TMP/intruder.log" 2>&1 &
intruder=$!
cl_track_pid "$intruder"
refused() { grep -q "refused our stream: etcdserver: cluster ID mismatch" "$CL_TMP/intruder.log"; }
cl_check "the intruder is refused with etcd's cluster ID mismatch" \
  cl_wait_for "refusal" 100 refused
cl_check "member 1 logged the rejection" grep -q "cluster ID mismatch" "$CL_TMP/m1.log"
kill -9 "$intruder" 2>/dev/null
wait "$intruder" 2>/dev/null
cl_check "the cluster is undisturbed" cl_ctl put after-intruder ok

# ---- a leader stopped gracefully hands leadership over first
cl_wait_for "an agreed leader" 100 cl_has_leader
lead=$(cl_leader) || cl_fail "no agreed leader before the stop"
cl_check "the leader (m$lead) stops cleanly on SIGTERM" cl_stop "$lead"
to=$(sed -n 's/.*stopping: handing leadership to \([0-9a-f]*\)$/\1/p' "$CL_TMP/m$lead.log" | tail -n 1)
cl_check "it handed leadership over before stopping" test -n "$to"
successor() { [ "$(cl_id "$(cl_leader)")" = "$to" ]; }
cl_check "the member it chose leads the other two" cl_wait_for "successor" 50 successor
cl_check "writes go on" cl_ctl put after-handoff ok
for i in 1 2 3; do cl_check "member $i stops cleanly on SIGTERM" cl_stop "$i"; done
cl_finish
