#!/usr/bin/env bash
# A script of the kind people write to run a local three-member etcd 3.4 cluster (flags as
# in etcd's clustering guide). Nothing in it knows about cairn: must-show 5 of issue 7 runs
# it unchanged with ETCD=/usr/bin/etcd and with ETCD=cairnd, only the binary name differs.
#
#   ETCD=etcd BASE_PORT=12379 DATA=/tmp/x etcd3_cluster.sh start|stop
#
# Member i listens for clients on BASE_PORT + 10*i and for peers on BASE_PORT + 10*i + 1.
set -euo pipefail

ETCD=${ETCD:-etcd}
BASE_PORT=${BASE_PORT:-12379}
DATA=${DATA:-$PWD/etcd-data}
TOKEN=${TOKEN:-etcd-cluster-1}
CLUSTER_STATE=new
HOST=127.0.0.1
NAMES=(infra0 infra1 infra2)

client_port() { echo $((BASE_PORT + 10 * $1)); }
peer_port() { echo $((BASE_PORT + 10 * $1 + 1)); }

CLUSTER=""
for i in 0 1 2; do
  CLUSTER+="${CLUSTER:+,}${NAMES[$i]}=http://$HOST:$(peer_port "$i")"
done

start() {
  mkdir -p "$DATA"
  for i in 0 1 2; do
    local name=${NAMES[$i]}
    "$ETCD" --name "$name" --data-dir "$DATA/$name.etcd" \
      --initial-advertise-peer-urls "http://$HOST:$(peer_port "$i")" \
      --listen-peer-urls "http://$HOST:$(peer_port "$i")" \
      --advertise-client-urls "http://$HOST:$(client_port "$i")" \
      --listen-client-urls "http://$HOST:$(client_port "$i")" \
      --initial-cluster "$CLUSTER" \
      --initial-cluster-state "$CLUSTER_STATE" --initial-cluster-token "$TOKEN" \
      --heartbeat-interval=100 --election-timeout=1000 --snapshot-count=10000 \
      --quota-backend-bytes=$((2 * 1024 * 1024 * 1024)) --auto-compaction-retention=1 \
      --logger=zap --log-outputs=stderr >>"$DATA/$name.log" 2>&1 &
    echo $! >"$DATA/$name.pid"
  done
  echo "endpoints: $HOST:$(client_port 0),$HOST:$(client_port 1),$HOST:$(client_port 2)"
}

stop() {
  local name pid
  for name in "${NAMES[@]}"; do
    if [ -f "$DATA/$name.pid" ]; then
      pid=$(cat "$DATA/$name.pid")
      kill "$pid" 2>/dev/null || true
      rm -f "$DATA/$name.pid"
    fi
  done
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
