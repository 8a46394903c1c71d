#!/usr/bin/env bash
# Must-show 4 of issue 7: a network partition with network namespaces and iptables. Each
# member runs in its own namespace on its own address (10.213.N.1-3, ports 2379/2380 as on
# real hosts), joined by a bridge in a fifth namespace; clients run from a fourth. The
# leader is cut off from the other members with iptables DROP rules (no tc netem): it
# stops serving writes and linearizable reads (check-quorum steps it down), the majority
# elects a leader and goes on; after healing, every member converges.
# Needs root and `ip netns` (exits 77, skipped, otherwise). Everything is created here and
# removed by the exit trap. Usage: test_partition.sh SERVER_BINARY
# shellcheck disable=SC2317 # helper functions are called through cl_wait_for / cl_check
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cluster/cairnd/lib.sh
. "$here/lib.sh"
cl_init "${1:-}"

tag=$$
net=10.213.$((tag % 200 + 20))
nsbr=clbr$tag
nsc=clc$tag
ns=("" "cl1n$tag" "cl2n$tag" "cl3n$tag")
ip_of() { echo "$net.$1"; }
client_ip=$net.10

cleanup_netns() {
  local n
  for n in "${ns[@]:1}" "$nsc" "$nsbr"; do ip netns del "$n" 2>/dev/null; done
}
CL_EXTRA_CLEANUP=cleanup_netns

if [ "$(id -u)" -ne 0 ] || ! ip netns add "$nsbr" 2>/dev/null; then
  echo "SKIP: needs root and ip netns" >&2
  exit 77
fi
command -v iptables >/dev/null || { echo "SKIP: no iptables" >&2; exit 77; }

# ---- the network: a bridge namespace, one namespace per member and one for clients
set -e
ip -n "$nsbr" link set lo up
ip -n "$nsbr" link add br0 type bridge
ip -n "$nsbr" link set br0 up
attach() { # attach NS ADDR IFINDEX
  ip netns add "$1"
  ip link add eth0 netns "$1" type veth peer name "vb$3" netns "$nsbr"
  ip -n "$nsbr" link set "vb$3" master br0
  ip -n "$nsbr" link set "vb$3" up
  ip -n "$1" link set lo up
  ip -n "$1" addr add "$2/24" dev eth0
  ip -n "$1" link set eth0 up
}
for i in 1 2 3; do attach "${ns[$i]}" "$(ip_of "$i")" "$i"; done
attach "$nsc" "$client_ip" c
set +e
cl_log "namespaces ${ns[*]:1} $nsc on $net.0/24, bridge in $nsbr"

ep() { echo "$(ip_of "$1"):2379"; }
all_eps() { echo "$(ep 1),$(ep 2),$(ep 3)"; }
ctl() { # ctl EPS ARGS...: etcdctl from the client namespace
  local eps=$1
  shift
  ip netns exec "$nsc" "$CL_ETCDCTL" --endpoints="$eps" --dial-timeout=2s \
    --command-timeout=3s "$@"
}

ic="p1=http://$(ip_of 1):2380,p2=http://$(ip_of 2):2380,p3=http://$(ip_of 3):2380"
declare -A PID
launch() {
  local i=$1 a
  a=$(ip_of "$i")
  ip netns exec "${ns[$i]}" "$CL_SERVER" --name "p$i" --data-dir "$CL_TMP/p$i.data" \
    --listen-client-urls "http://$a:2379" --advertise-client-urls "http://$a:2379" \
    --listen-peer-urls "http://$a:2380" --initial-advertise-peer-urls "http://$a:2380" \
    --initial-cluster "$ic" --initial-cluster-token partition-test \
    --heartbeat-interval=100 --election-timeout=1000 >>"$CL_TMP/m$i.log" 2>&1 &
  PID[$i]=$!
  cl_track_pid "${PID[$i]}"
}
for i in 1 2 3; do launch "$i"; done
healthy() { ctl "$(all_eps)" endpoint health >/dev/null 2>&1; }
cl_wait_for "cluster health" 300 healthy || cl_die "the namespaced cluster did not come up"

# "id leader" of member i as it sees itself, from the client namespace
status_of() {
  ctl "$(ep "$1")" endpoint status -w json 2>/dev/null | "$CL_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)[0]["Status"]
print("%x %x" % (s["header"]["member_id"], s["leader"]))' 2>/dev/null
}
leader_among() { # leader_among I... : index of the leader all of them agree on
  local i id l lead="" who=""
  for i in "$@"; do
    read -r id l <<<"$(status_of "$i")"
    [ -n "${l:-}" ] && [ "$l" != 0 ] || return 1
    if [ -z "$lead" ]; then lead=$l; elif [ "$lead" != "$l" ]; then return 1; fi
  done
  for i in 1 2 3; do
    read -r id l <<<"$(status_of "$i")"
    if [ "${id:-}" = "$lead" ]; then who=$i; fi
  done
  [ -n "$who" ] && echo "$who"
}
cl_wait_for "an agreed leader" 100 leader_among 1 2 3 >/dev/null
old=$(leader_among 1 2 3) || cl_die "no leader"
others=()
for i in 1 2 3; do if [ "$i" != "$old" ]; then others+=("$i"); fi; done
cl_check "writes before the partition" ctl "$(all_eps)" put before partition
cl_log "leader is p$old; isolating it from p${others[0]} and p${others[1]}"

# ---- partition: the leader's namespace drops everything to and from the other members
for j in "${others[@]}"; do
  ip netns exec "${ns[$old]}" iptables -I INPUT -s "$(ip_of "$j")" -j DROP
  ip netns exec "${ns[$old]}" iptables -I OUTPUT -d "$(ip_of "$j")" -j DROP
done
t0=$(date +%s%N)
# the majority agrees on a leader that is one of them (at first they still follow the old)
new_leader() {
  local who
  who=$(leader_among "${others[@]}") && [ "$who" != "$old" ]
}
cl_check "the majority elects a leader" cl_wait_for "majority leader" 150 new_leader
new=$(leader_among "${others[@]}")
cl_log "majority leader p$new after $((($(date +%s%N) - t0) / 1000000)) ms"
cl_check "the new leader is on the majority side" test "$new" != "$old"
cl_check "the majority accepts writes" ctl "$(ep "${others[0]}"),$(ep "${others[1]}")" put during partition
for k in 1 2 3 4 5; do ctl "$(ep "${others[1]}")" put "during/$k" "$k" >/dev/null; done
cl_eq "a linearizable read on the majority" partition \
  "$(ctl "$(ep "${others[0]}")" get during --print-value-only 2>/dev/null)"
stepped_down() { read -r id l <<<"$(status_of "$old")"; [ "${l:-x}" != "${id:-y}" ]; }
cl_check "the isolated leader steps down (check-quorum)" cl_wait_for "step down" 50 stepped_down
cl_check "the isolated member refuses writes" bash -c "! ip netns exec $nsc $CL_ETCDCTL \
  --endpoints=$(ep "$old") --command-timeout=3s put isolated x >/dev/null 2>&1"
cl_check "the isolated member refuses linearizable reads" bash -c "! ip netns exec $nsc \
  $CL_ETCDCTL --endpoints=$(ep "$old") --command-timeout=3s get before >/dev/null 2>&1"
cl_eq "the isolated member still serves serializable reads (its own, stale copy)" partition \
  "$(ctl "$(ep "$old")" get before --print-value-only --consistency=s 2>/dev/null)"
cl_eq "the isolated member does not have the majority's writes" "" \
  "$(ctl "$(ep "$old")" get during --print-value-only --consistency=s 2>/dev/null)"

# ---- heal
ip netns exec "${ns[$old]}" iptables -F INPUT
ip netns exec "${ns[$old]}" iptables -F OUTPUT
t0=$(date +%s%N)
caught_up() {
  [ "$(ctl "$(ep "$old")" get during/5 --print-value-only --consistency=s 2>/dev/null)" = 5 ]
}
cl_check "after healing, the old leader catches up" cl_wait_for "catch up" 300 caught_up
cl_log "healed: p$old caught up after $((($(date +%s%N) - t0) / 1000000)) ms"
all_agree() { leader_among 1 2 3 >/dev/null; }
cl_check "one leader for all three" cl_wait_for "agreed leader" 100 all_agree
hashes() {
  local i h first=""
  for i in 1 2 3; do
    h=$(ctl "$(ep "$i")" endpoint hashkv -w json 2>/dev/null | "$CL_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)[0]["HashKV"]
print(d["hash"], d["header"]["revision"])' 2>/dev/null) || return 1
    [ -n "$h" ] || return 1
    if [ -z "$first" ]; then first=$h; elif [ "$h" != "$first" ]; then return 1; fi
  done
}
cl_check "all members converge (equal HashKV)" cl_wait_for "equal hashes" 150 hashes
cl_check "the old leader serves linearizable reads again" \
  bash -c "[ \"\$(ip netns exec $nsc $CL_ETCDCTL --endpoints=$(ep "$old") get during \
    --print-value-only)\" = partition ]"
cl_check "writes through the old leader work again" ctl "$(ep "$old")" put after healed
for i in 1 2 3; do
  kill -TERM "${PID[$i]}" 2>/dev/null
done
for i in 1 2 3; do
  cl_check "member p$i stops cleanly" cl_wait_for "exit" 150 cl_exited "${PID[$i]}"
  wait "${PID[$i]}" 2>/dev/null
done
cl_finish
