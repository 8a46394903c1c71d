# shellcheck shell=bash
# Helpers for the cluster tests: three (or more) real cairnd processes on free 127.0.0.1
# ports in a private temp dir, etcdctl against them, and bounded polls.
#
#   cl_init SERVER                 temp dir, traps, client env (call first)
#   cl_start_cluster N [flags]     N founding members m1..mN on free ports; waits healthy
#   cl_start I [flags]             (re)start member I with its ports and data dir
#   cl_add_member I [--learner]    `member add` for a new member I (prints nothing)
#   cl_start_joiner I [flags]      start member I with --initial-cluster-state existing
#   cl_stop I / cl_kill9 I         SIGTERM (bounded, then SIGKILL) / SIGKILL
#   cl_ctl ARGS / cl_ctl_ep I ARGS etcdctl against all endpoints / member I only
#   cl_leader                      index of the member every live member calls leader
#   cl_id I                        member I's id (hex) from member list
#   cl_wait_for DESC TRIES CMD     poll CMD every 0.1 s, at most TRIES times
#   cl_check DESC CMD / cl_eq DESC EXPECTED ACTUAL / cl_fail MSG / cl_finish
#
# Promises: only 127.0.0.1 (namespaced tests bring their own addresses), never ports
# 2379/2380, only processes started here are signalled (by PID), the temp dir goes at
# exit unless CL_KEEP=1. Never: a fixed sleep as synchronisation.

set -u
# shellcheck disable=SC2119 # cl_eps without arguments means every member

CL_ETCDCTL=${CL_ETCDCTL:-/usr/bin/etcdctl}
CL_PYTHON=${CL_PYTHON:-/usr/bin/python3}
CL_START_TRIES=${CL_START_TRIES:-300} # x 0.1 s
CL_STOP_TRIES=${CL_STOP_TRIES:-150}   # x 0.1 s before SIGKILL
CL_TOKEN=${CL_TOKEN:-cairn-cluster-test}
CL_PIDS=()
declare -A CL_PID CL_CPORT CL_PPORT CL_NAME

cl_log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }

cl_fail() {
  printf 'FAIL: %s\n' "$*" >&2
  printf '%s\n' "$*" >>"$CL_TMP/failures"
}
cl_pass() { printf 'ok: %s\n' "$*" >&2; }
cl_check() {
  local desc=$1
  shift
  if "$@"; then cl_pass "$desc"; else cl_fail "$desc"; fi
}
cl_eq() {
  if [ "$2" == "$3" ]; then cl_pass "$1"; else cl_fail "$1: expected [$2] got [$3]"; fi
}

cl_log_tails() {
  local f
  for f in "$CL_TMP"/m*.log; do
    [ -f "$f" ] || continue
    echo "--- $(basename "$f") (last 15 lines)" >&2
    tail -n 15 "$f" >&2
  done
}

cl_finish() {
  if [ -s "$CL_TMP/failures" ]; then
    cl_log "$(wc -l <"$CL_TMP/failures") check(s) failed:"
    cat "$CL_TMP/failures" >&2
    cl_log_tails
    exit 1
  fi
  cl_log "all checks passed"
  exit 0
}

cl_die() {
  printf 'FATAL: %s\n' "$*" >&2
  cl_log_tails
  exit 1
}

cl_track_pid() { CL_PIDS+=("$1"); }

cl_cleanup() {
  local pid
  for pid in "${CL_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; fi
  done
  for pid in "${CL_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "${CL_EXTRA_CLEANUP:-}" ]; then "$CL_EXTRA_CLEANUP"; fi
  if [ -n "${CL_TMP:-}" ] && [ -d "$CL_TMP" ]; then
    if [ "${CL_KEEP:-0}" = 1 ]; then cl_log "kept $CL_TMP"; else rm -rf "$CL_TMP"; fi
  fi
}

cl_init() {
  CL_SERVER=${1:?usage: $0 SERVER_BINARY}
  [ -x "$CL_SERVER" ] || cl_die "server binary not executable: $CL_SERVER"
  [ -x "$CL_ETCDCTL" ] || cl_die "etcdctl not found: $CL_ETCDCTL"
  CL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-cluster.XXXXXX") || cl_die "mktemp"
  : >"$CL_TMP/failures"
  trap cl_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY grpc_proxy all_proxy ALL_PROXY
  export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
  unset ETCDCTL_ENDPOINTS ETCDCTL_WRITE_OUT ETCDCTL_DIAL_TIMEOUT ETCDCTL_COMMAND_TIMEOUT
  export ETCDCTL_API=3
  CL_HOST=${CL_HOST:-127.0.0.1}
}

# N*2 free ports (never 2379/2380): printed space-separated.
cl_pick_ports() {
  "$CL_PYTHON" - "$1" <<'EOF'
import socket, sys
n = int(sys.argv[1])
socks, ports = [], []
while len(ports) < n:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    socks.append(s)
    if p not in (2379, 2380) and p not in ports:
        ports.append(p)
print(*ports)
EOF
}

cl_wait_for() {
  local desc=$1 tries=$2 i
  shift 2
  for ((i = 0; i < tries; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  cl_log "timed out waiting for: $desc"
  return 1
}

cl_url_c() { echo "http://$CL_HOST:${CL_CPORT[$1]}"; }
cl_url_p() { echo "http://$CL_HOST:${CL_PPORT[$1]}"; }
cl_ep() { echo "$CL_HOST:${CL_CPORT[$1]}"; }

# Endpoints of the members given (default: all known members), comma-separated.
# shellcheck disable=SC2120
cl_eps() {
  local out="" i
  local ids=("$@")
  if [ ${#ids[@]} -eq 0 ]; then mapfile -t ids < <(printf '%s\n' "${!CL_CPORT[@]}" | sort -n); fi
  for i in "${ids[@]}"; do out+="${out:+,}$(cl_ep "$i")"; done
  echo "$out"
}

cl_ctl() {
  "$CL_ETCDCTL" --endpoints="$(cl_eps)" --dial-timeout=2s --command-timeout=10s "$@"
}

cl_ctl_ep() {
  local i=$1
  shift
  "$CL_ETCDCTL" --endpoints="$(cl_ep "$i")" --dial-timeout=1s --command-timeout=5s "$@"
}

cl_alive() { [ -n "${CL_PID[$1]:-}" ] && kill -0 "${CL_PID[$1]}" 2>/dev/null; }

# cl_launch I STATE INITIAL_CLUSTER [flags...]
cl_launch() {
  local i=$1 state=$2 ic=$3
  shift 3
  "$CL_SERVER" --name "${CL_NAME[$i]}" --data-dir "$CL_TMP/m$i.data" \
    --listen-client-urls "$(cl_url_c "$i")" --advertise-client-urls "$(cl_url_c "$i")" \
    --listen-peer-urls "$(cl_url_p "$i")" --initial-advertise-peer-urls "$(cl_url_p "$i")" \
    --initial-cluster "$ic" --initial-cluster-state "$state" \
    --initial-cluster-token "$CL_TOKEN" "$@" >>"$CL_TMP/m$i.log" 2>&1 &
  CL_PID[$i]=$!
  cl_track_pid "${CL_PID[$i]}"
  printf '%s\n' "$*" >"$CL_TMP/m$i.flags"
  printf '%s %s\n' "$state" "$ic" >"$CL_TMP/m$i.boot"
}

cl_member_healthy() { cl_alive "$1" && cl_ctl_ep "$1" endpoint health >/dev/null 2>&1; }
cl_member_serving() { cl_alive "$1" && cl_ctl_ep "$1" get cl-probe --consistency=s >/dev/null 2>&1; }

cl_initial_cluster() {
  local out="" i
  for i in "$@"; do out+="${out:+,}${CL_NAME[$i]}=$(cl_url_p "$i")"; done
  echo "$out"
}

# cl_start_cluster N [flags...]
cl_start_cluster() {
  local n=$1 i ports
  shift
  read -r -a ports <<<"$(cl_pick_ports $((2 * n)))" || cl_die "picking ports"
  for ((i = 1; i <= n; i++)); do
    CL_NAME[$i]=m$i
    CL_CPORT[$i]=${ports[$((2 * i - 2))]}
    CL_PPORT[$i]=${ports[$((2 * i - 1))]}
  done
  local ic
  ic=$(cl_initial_cluster $(seq 1 "$n"))
  cl_log "starting $n members: $ic"
  for ((i = 1; i <= n; i++)); do cl_launch "$i" new "$ic" "$@"; done
  for ((i = 1; i <= n; i++)); do
    cl_wait_for "member $i healthy" "$CL_START_TRIES" cl_member_healthy "$i" ||
      cl_die "member $i did not become healthy"
  done
  cl_log "cluster up: $(cl_eps)"
}

# Restart member I with the flags and bootstrap it was last started with.
cl_start() {
  local i=$1 state ic
  read -r state ic <"$CL_TMP/m$i.boot"
  local flags=()
  read -r -a flags <"$CL_TMP/m$i.flags" || true
  cl_launch "$i" "$state" "$ic" "${flags[@]}"
  cl_wait_for "member $i serving" "$CL_START_TRIES" cl_member_serving "$i" ||
    cl_die "member $i did not come back"
}

# cl_add_member I [--learner]: ports for a new member I and `member add` on the cluster.
cl_add_member() {
  local i=$1 ports
  shift
  read -r -a ports <<<"$(cl_pick_ports 2)" || cl_die "picking ports"
  CL_NAME[$i]=m$i
  CL_CPORT[$i]=${ports[0]}
  CL_PPORT[$i]=${ports[1]}
  cl_ctl member add "m$i" --peer-urls="$(cl_url_p "$i")" "$@" >"$CL_TMP/add.$i.out" 2>&1
}

# cl_start_joiner I [flags...]: --initial-cluster-state existing with the current members.
cl_start_joiner() {
  local i=$1 ids
  shift
  mapfile -t ids < <(printf '%s\n' "${!CL_CPORT[@]}" | sort -n)
  cl_launch "$i" existing "$(cl_initial_cluster "${ids[@]}")" "$@"
}

cl_kill9() {
  local i=$1
  kill -9 "${CL_PID[$i]}" 2>/dev/null
  wait "${CL_PID[$i]}" 2>/dev/null
  CL_PID[$i]=
}

cl_exited() {
  local state
  [ -r "/proc/$1/stat" ] || return 0
  state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 0
  [ "$state" = Z ] || [ -z "$state" ]
}

# SIGTERM and wait; SIGKILL past the bound (returns 1 then).
cl_stop() {
  local i=$1 pid=${CL_PID[$1]} rc=0
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  if ! cl_wait_for "member $i exit" "$CL_STOP_TRIES" cl_exited "$pid"; then
    kill -9 "$pid" 2>/dev/null
    rc=1
  fi
  wait "$pid" 2>/dev/null
  CL_PID[$i]=
  return $rc
}

# The status of member I as "id leader raft_index" (empty when it does not answer).
cl_status() {
  cl_ctl_ep "$1" endpoint status -w json 2>/dev/null | "$CL_PYTHON" -c '
import json, sys
try:
    s = json.load(sys.stdin)[0]["Status"]
    print("%x %x %d" % (s["header"]["member_id"], s["leader"], s.get("raftIndex", 0)))
except Exception:
    pass'
}

# Index of the leader every live member agrees on; empty if they do not agree yet.
cl_leader() {
  local i lead="" id l who=""
  for i in "${!CL_PID[@]}"; do
    cl_alive "$i" || continue
    read -r id l _ <<<"$(cl_status "$i")"
    [ -n "${l:-}" ] && [ "$l" != 0 ] || return 1
    if [ -z "$lead" ]; then lead=$l; elif [ "$lead" != "$l" ]; then return 1; fi
  done
  for i in "${!CL_PID[@]}"; do
    cl_alive "$i" || continue
    read -r id l _ <<<"$(cl_status "$i")"
    if [ "$id" = "$lead" ]; then who=$i; fi
  done
  [ -n "$who" ] || return 1
  echo "$who"
}

cl_has_leader() { cl_leader >/dev/null; }

cl_id() {
  cl_ctl member list 2>/dev/null | awk -F', ' -v n="${CL_NAME[$1]}" -v u="$(cl_url_p "$1")" \
    '$3 == n || $4 == u { print $1 }' | head -n 1
}

# HashKV of every live member at the current revision; true when all are equal and the
# revisions agree.
cl_hashes_equal() {
  local i out first=""
  for i in "${!CL_PID[@]}"; do
    cl_alive "$i" || continue
    out=$(cl_ctl_ep "$i" endpoint hashkv -w json 2>/dev/null | "$CL_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)[0]["HashKV"]
print(d["hash"], d["header"]["revision"])') || return 1
    [ -n "$out" ] || return 1
    if [ -z "$first" ]; then first=$out; elif [ "$first" != "$out" ]; then return 1; fi
  done
  [ -n "$first" ]
}
