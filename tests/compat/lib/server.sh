# shellcheck shell=bash
# Shared helpers for the compat suites: run one etcd-compatible server (etcd itself or
# cairnd: same flags) on free 127.0.0.1 ports in a private temp dir, and clean up.
#
# Source it from a test script:   . "$(dirname "$0")/../lib/server.sh"
#   compat_init SERVER_BINARY       temp dir, traps, client env (call once, first)
#   compat_server_start [flag...]   start a new member; extra flags go to the server
#   compat_server_stop              SIGTERM, SIGKILL after a bound; waits for the PID
#   compat_server_kill9             SIGKILL, no grace
#   compat_server_restart           start again on the same ports and data dir
#   compat_server_flags [flag...]   replace the extra flags used by the next restart
#   compat_ctl ARGS...              etcdctl against the running server
#   compat_track_pid PID            kill PID (if still alive) at exit
#   compat_wait_for DESC TRIES CMD  poll CMD (every 0.1 s) until it succeeds, bounded
#   compat_check DESC CMD...        assert CMD succeeds;  compat_eq DESC EXPECTED ACTUAL
#   compat_fail MSG                 record a failure (counts from subshells too)
#   compat_finish                   exit 0 if nothing failed, else 1 with the server log tail
#   compat_json FILE EXPR           evaluate a python EXPR over parsed JSON `d` (b64() helper)
#   compat_healthy / compat_exited PID   conditions for compat_wait_for
#
# Promises: only 127.0.0.1, never ports 2379/2380, only processes started here are
# signalled (by PID), the temp dir is removed at exit unless COMPAT_KEEP=1.
# Never: fixed sleeps as synchronisation (every wait is a bounded poll on a condition).

set -u

COMPAT_ETCDCTL=${COMPAT_ETCDCTL:-/usr/bin/etcdctl}
COMPAT_PYTHON=${COMPAT_PYTHON:-/usr/bin/python3}
COMPAT_START_TRIES=${COMPAT_START_TRIES:-300} # x 0.1 s: how long a start may take
COMPAT_STOP_TRIES=${COMPAT_STOP_TRIES:-100}   # x 0.1 s: SIGTERM grace before SIGKILL
COMPAT_PIDS=()
COMPAT_PID=

compat_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Marks the test failed but keeps going, so one run reports every mismatch. Failures are
# appended to a file so that checks made inside $(...) subshells count too.
compat_fail() {
  printf 'FAIL: %s\n' "$*" >&2
  printf '%s\n' "$*" >>"$COMPAT_TMP/failures"
  printf 'x\n' >>"$COMPAT_TMP/failures.count"
}

compat_pass() { printf 'ok: %s\n' "$*" >&2; }

# compat_check DESC CMD...: runs CMD, a failure is recorded with DESC.
compat_check() {
  local desc=$1
  shift
  if "$@"; then compat_pass "$desc"; else compat_fail "$desc"; fi
}

# compat_eq DESC EXPECTED ACTUAL
compat_eq() {
  if [ "$2" == "$3" ]; then
    compat_pass "$1"
  else
    compat_fail "$1: expected [$2] got [$3]"
  fi
}

# Ends the script: exit 0 only if nothing failed.
compat_finish() {
  local fails=0
  if [ -f "$COMPAT_TMP/failures.count" ]; then fails=$(wc -l <"$COMPAT_TMP/failures.count"); fi
  if [ "$fails" -ne 0 ]; then
    compat_log "$fails check(s) failed:"
    cat "$COMPAT_TMP/failures" >&2
    compat_log "server log tail:"
    compat_log_tail
    exit 1
  fi
  compat_log "all checks passed"
  exit 0
}

compat_log_tail() {
  if [ -n "${COMPAT_LOG:-}" ] && [ -f "$COMPAT_LOG" ]; then
    tail -n 40 "$COMPAT_LOG" >&2
  fi
}

compat_die() {
  printf 'FATAL: %s\n' "$*" >&2
  compat_log_tail
  exit 1
}

compat_track_pid() { COMPAT_PIDS+=("$1"); }

compat_cleanup() {
  local pid
  for pid in "${COMPAT_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; fi
  done
  for pid in "${COMPAT_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "${COMPAT_TMP:-}" ] && [ -d "$COMPAT_TMP" ]; then
    if [ "${COMPAT_KEEP:-0}" = 1 ]; then
      compat_log "kept $COMPAT_TMP"
    else
      rm -rf "$COMPAT_TMP"
    fi
  fi
}

compat_init() {
  COMPAT_SERVER=${1:?usage: $0 SERVER_BINARY}
  [ -x "$COMPAT_SERVER" ] || compat_die "server binary not executable: $COMPAT_SERVER"
  [ -x "$COMPAT_ETCDCTL" ] || compat_die "etcdctl not found: $COMPAT_ETCDCTL"
  COMPAT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cairn-compat.XXXXXX") || compat_die "mktemp"
  trap compat_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # Developer settings must not redirect the clients: no proxies, no default endpoints.
  unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY grpc_proxy all_proxy ALL_PROXY
  export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
  unset ETCDCTL_ENDPOINTS ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY ETCDCTL_USER
  unset ETCDCTL_DIAL_TIMEOUT ETCDCTL_COMMAND_TIMEOUT ETCDCTL_WRITE_OUT
  export ETCDCTL_API=3
}

# Two distinct free ports from the kernel's ephemeral range (never 2379/2380). There is a
# window between closing and the server binding; compat_server_start retries on collision.
compat_pick_ports() {
  "$COMPAT_PYTHON" - <<'EOF'
import socket
socks, ports = [], []
while len(ports) < 2:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    socks.append(s)
    if p not in (2379, 2380):
        ports.append(p)
print(*ports)
EOF
}

# compat_wait_for DESC TRIES CMD...: poll CMD every 0.1 s, at most TRIES times.
compat_wait_for() {
  local desc=$1 tries=$2 i
  shift 2
  for ((i = 0; i < tries; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  compat_log "timed out waiting for: $desc"
  return 1
}

compat_ctl() {
  "$COMPAT_ETCDCTL" --endpoints="$COMPAT_ENDPOINT" --dial-timeout=2s --command-timeout=10s "$@"
}

compat_healthy() {
  "$COMPAT_ETCDCTL" --endpoints="$COMPAT_ENDPOINT" --dial-timeout=1s --command-timeout=2s \
    endpoint health >/dev/null 2>&1
}

# Waits until the server answers a health check. Returns 1 if the process died or the
# bound ran out.
compat_wait_healthy() {
  local i
  for ((i = 0; i < COMPAT_START_TRIES; i++)); do
    if ! kill -0 "$COMPAT_PID" 2>/dev/null; then return 1; fi
    if compat_healthy; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Launches the server with the saved ports/data dir; COMPAT_PID is its PID.
compat_launch() {
  local peer=http://127.0.0.1:$COMPAT_PEER_PORT
  "$COMPAT_SERVER" \
    --name "$COMPAT_NAME" \
    --data-dir "$COMPAT_DATA_DIR" \
    --listen-client-urls "$COMPAT_ENDPOINT" \
    --advertise-client-urls "$COMPAT_ENDPOINT" \
    --listen-peer-urls "$peer" \
    --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$COMPAT_NAME=$peer" \
    --initial-cluster-state new \
    --initial-cluster-token "cairn-compat-$COMPAT_NAME" \
    --logger zap --log-outputs stderr \
    "${COMPAT_SERVER_FLAGS[@]}" >>"$COMPAT_LOG" 2>&1 &
  COMPAT_PID=$!
  compat_track_pid "$COMPAT_PID"
  # $! should be the server itself (not a subshell), or signals would miss it. A wrapper
  # (valgrind, a script that does not exec) is allowed but flagged.
  if ! compat_wait_for "exec of $COMPAT_SERVER" 20 compat_is_server "$COMPAT_PID"; then
    compat_log "warning: pid $COMPAT_PID is not $COMPAT_SERVER itself (a wrapper?);" \
      "signals go to the wrapper"
  fi
}

compat_is_server() {
  [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$(readlink -f "$COMPAT_SERVER")" ]
}

# compat_server_start [extra server flags...]: a fresh member in a fresh data dir.
compat_server_start() {
  local attempt ports
  COMPAT_SERVER_FLAGS=("$@")
  COMPAT_NAME=compat$$
  COMPAT_DATA_DIR=$COMPAT_TMP/data
  COMPAT_LOG=$COMPAT_TMP/server.log
  for attempt in 1 2 3 4 5; do
    rm -rf "$COMPAT_DATA_DIR"
    ports=$(compat_pick_ports) || compat_die "picking ports"
    read -r COMPAT_CLIENT_PORT COMPAT_PEER_PORT <<<"$ports"
    COMPAT_ENDPOINT=http://127.0.0.1:$COMPAT_CLIENT_PORT
    compat_log "starting $COMPAT_SERVER on $COMPAT_ENDPOINT (attempt $attempt)"
    compat_launch
    if compat_wait_healthy; then
      compat_log "server pid $COMPAT_PID healthy"
      return 0
    fi
    # Most likely a port was taken between picking and binding: try other ports.
    compat_log "server did not become healthy; log tail:"
    compat_log_tail
    compat_server_kill9
  done
  compat_die "server never became healthy"
}

compat_server_flags() { COMPAT_SERVER_FLAGS=("$@"); }

# Starts the same member again: same ports, same data dir.
compat_server_restart() {
  compat_log "restarting $COMPAT_SERVER on $COMPAT_ENDPOINT"
  compat_launch
  compat_wait_healthy || compat_die "server did not become healthy after restart"
  compat_log "server pid $COMPAT_PID healthy"
}

compat_server_kill9() {
  [ -n "$COMPAT_PID" ] || return 0
  kill -9 "$COMPAT_PID" 2>/dev/null
  wait "$COMPAT_PID" 2>/dev/null
  COMPAT_PID=
}

# SIGTERM, then SIGKILL if it has not exited within the bound. Returns 1 if SIGKILL
# was needed (a clean shutdown is expected of both servers).
compat_server_stop() {
  local rc=0
  [ -n "$COMPAT_PID" ] || return 0
  local t0
  t0=$(date +%s%N)
  kill -TERM "$COMPAT_PID" 2>/dev/null
  # A reaped child would still answer kill -0 until waited for, so poll /proc state.
  if ! compat_wait_for "server $COMPAT_PID exit" "$COMPAT_STOP_TRIES" compat_exited "$COMPAT_PID"; then
    compat_log "server $COMPAT_PID ignored SIGTERM; sending SIGKILL"
    kill -9 "$COMPAT_PID" 2>/dev/null
    rc=1
  fi
  wait "$COMPAT_PID" 2>/dev/null
  # Logged, not asserted (timing is no correctness check on a shared machine).
  compat_log "server $COMPAT_PID stopped $((($(date +%s%N) - t0) / 1000000)) ms after SIGTERM"
  COMPAT_PID=
  return $rc
}

# True once PID has exited (gone, or a zombie waiting to be reaped).
compat_exited() {
  local state
  [ -r "/proc/$1/stat" ] || return 0
  state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 0
  [ "$state" = Z ] || [ -z "$state" ]
}

# compat_json FILE PYTHON_EXPR: evaluates EXPR with `d` bound to the parsed JSON file.
compat_json() {
  "$COMPAT_PYTHON" -c '
import json, sys, base64
d = json.load(open(sys.argv[1]))
b64 = lambda s: base64.b64decode(s).decode()
r = eval(sys.argv[2])
print(r if not isinstance(r, bool) else str(r).lower())
' "$1" "$2"
}
