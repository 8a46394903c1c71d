#!/usr/bin/env bash
# Must-show 5 of issue 7: a script that starts a three-member etcd 3.4 cluster
# (etcd3_cluster.sh) starts a cairn cluster when only the binary name is changed. The same
# checks run against both: three members, one leader, writes and linearizable reads across
# members, a clean stop through the script.
# Usage: test_etcd_script.sh CAIRND [ETCD]   (the etcd run is skipped when ETCD is missing)
# shellcheck disable=SC2317 # helper functions are called through cl_wait_for / cl_check
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cluster/cairnd/lib.sh
. "$here/lib.sh"
cl_init "${1:-}"
etcd_bin=${2:-/usr/bin/etcd}

# Picks a base port whose six ports are free (the script's ports are BASE + 10*i (+1)).
pick_base() {
  local b busy p
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    b=$((20000 + RANDOM % 30000))
    busy=0
    for p in 0 1 10 11 20 21; do
      if (exec 3<>"/dev/tcp/127.0.0.1/$((b + p))") 2>/dev/null; then busy=1; fi
    done
    [ $busy -eq 0 ] && break
  done
  echo "$b"
}

run_with() {
  local label=$1 bin=$2 base=0 eps i attempt up=0
  local data=$CL_TMP/$label
  # Another test may take one of the ports between the check and the bind (a member then
  # exits at once): start again on other ports, at most three times.
  for attempt in 1 2 3; do
    base=$(pick_base)
    cl_log "== $label: ETCD=$bin BASE_PORT=$base (attempt $attempt)"
    rm -rf "$data"
    ETCD=$bin BASE_PORT=$base DATA=$data bash "$here/etcd3_cluster.sh" start >"$CL_TMP/$label.out" ||
      cl_fail "$label: the script did not start"
    for i in 0 1 2; do cl_track_pid "$(cat "$data/infra$i.pid")"; done
    eps="127.0.0.1:$base,127.0.0.1:$((base + 10)),127.0.0.1:$((base + 20))"
    # health within 40 s of wall time, or give up at once when a member has died
    local t_end=$((SECONDS + 40)) dead=0
    while [ $SECONDS -lt $t_end ]; do
      for i in 0 1 2; do cl_exited "$(cat "$data/infra$i.pid")" && dead=1; done
      [ $dead -eq 1 ] && break
      if "$CL_ETCDCTL" --endpoints="$eps" --dial-timeout=1s --command-timeout=2s \
        endpoint health >/dev/null 2>&1; then
        up=1
        break
      fi
      sleep 0.1
    done
    [ $up -eq 1 ] && break
    cl_log "$label: not healthy (a member died: $dead); stopping it and trying other ports"
    ETCD=$bin BASE_PORT=$base DATA=$data bash "$here/etcd3_cluster.sh" stop >/dev/null 2>&1
    for i in 0 1 2; do kill -9 "$(cat "$data/infra$i.pid")" 2>/dev/null; done
  done
  cl_check "$label: the cluster comes up healthy" [ $up -eq 1 ]
  ctl() { "$CL_ETCDCTL" --endpoints="$eps" --dial-timeout=2s --command-timeout=5s "$@"; }
  ctl1() {
    local e=$1
    shift
    "$CL_ETCDCTL" --endpoints="$e" --dial-timeout=2s --command-timeout=5s "$@"
  }
  cl_eq "$label: three members" 3 "$(ctl member list 2>/dev/null | wc -l)"
  started() { [ "$(ctl member list 2>/dev/null | grep -c ', started, infra')" = 3 ]; }
  cl_check "$label: every member started, with its name" cl_wait_for "started" 50 started
  leaders=$(ctl endpoint status 2>/dev/null | awk -F', ' '$5 == "true"' | wc -l)
  cl_eq "$label: exactly one leader" 1 "$leaders"
  cl_check "$label: put on the first member" ctl1 "127.0.0.1:$base" put script-key "$label"
  cl_eq "$label: linearizable get on the third" "$label" \
    "$(ctl1 "127.0.0.1:$((base + 20))" get script-key --print-value-only 2>/dev/null)"
  cl_check "$label: endpoint status --cluster lists three" \
    bash -c "[ \"\$('$CL_ETCDCTL' --endpoints=127.0.0.1:$base endpoint status --cluster | wc -l)\" = 3 ]"
  local pids=()
  for i in 0 1 2; do pids+=("$(cat "$data/infra$i.pid")"); done
  ETCD=$bin BASE_PORT=$base DATA=$data bash "$here/etcd3_cluster.sh" stop
  local pid
  for pid in "${pids[@]}"; do
    cl_check "$label: member $pid stops on the script's kill" cl_wait_for "exit" 150 cl_exited "$pid"
  done
}

if [ -x "$etcd_bin" ]; then run_with etcd "$etcd_bin"; else cl_log "no $etcd_bin: etcd run skipped"; fi
# only the binary name changes: cairnd takes etcd's flags
run_with cairn "$CL_SERVER"
cl_finish
