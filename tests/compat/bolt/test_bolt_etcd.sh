#!/usr/bin/env bash
# bolt/ against the real etcd 3.4 tools (label compat):
#  1. a snapshot saved from a real etcd is read by bolt_reader: the keys and the lease are
#     there, and bolt_etcd_status agrees with `etcdctl snapshot status` to the last number;
#  2. a snapshot written by bolt_writer in etcd's layout passes `etcdctl snapshot status`
#     (bbolt's tx.Check inside) with the revision and key count the generator counted;
#  3. `etcdctl snapshot restore` accepts it, and an etcd started on the restored data dir
#     serves its keys and its lease.
# Usage: test_bolt_etcd.sh BOLT_ETCD_TOOL
set -u
TOOL=${1:?usage: $0 BOLT_ETCD_TOOL}
ETCD=${COMPAT_ETCD:-/usr/bin/etcd}
# shellcheck source=../lib/server.sh
. "$(dirname "$0")/../lib/server.sh"
compat_init "$ETCD"

# etcdctl's JSON status -> "hash revision totalKey totalSize", as bolt_etcd_tool status prints.
status_of() {
  "$COMPAT_ETCDCTL" snapshot status -w json "$1" 2>>"$COMPAT_TMP/etcdctl.err" |
    "$COMPAT_PYTHON" -c 'import json,sys; s=json.load(sys.stdin); print(s["hash"], s["revision"], s["totalKey"], s["totalSize"])'
}

# ---- 1. a real etcd's snapshot -----------------------------------------------------------
# shellcheck disable=SC2119 # no extra server flags
compat_server_start || compat_die "etcd did not start"
compat_ctl put foo bar >/dev/null || compat_fail "put foo"
compat_ctl put foo bar2 >/dev/null || compat_fail "put foo again"
compat_ctl put gone x >/dev/null || compat_fail "put gone"
compat_ctl del gone >/dev/null || compat_fail "del gone"
lease_line=$(compat_ctl lease grant 600) || compat_fail "lease grant"
lease_id=$(awk '{print $2}' <<<"$lease_line")
compat_ctl put --lease="$lease_id" leased yes >/dev/null || compat_fail "put with lease"
big=$(head -c 20000 /dev/zero | tr '\0' 'z')
compat_ctl put big "$big" >/dev/null || compat_fail "put big value"
compat_ctl snapshot save "$COMPAT_TMP/real.db" >/dev/null 2>&1 || compat_fail "snapshot save"
compat_server_stop

"$TOOL" dump "$COMPAT_TMP/real.db" >"$COMPAT_TMP/real.dump" 2>&1 || compat_fail "dump real snapshot"
cat "$COMPAT_TMP/real.dump" >&2
compat_check "real snapshot: keys and lease found by bolt_reader" \
  "$TOOL" check "$COMPAT_TMP/real.db" foo=bar2 leased=yes "big=$big"
if "$TOOL" check "$COMPAT_TMP/real.db" gone=x 2>/dev/null; then
  compat_fail "deleted key 'gone' reported as live"
fi
compat_eq "real snapshot: bolt_etcd_status == etcdctl snapshot status" \
  "$(status_of "$COMPAT_TMP/real.db")" "$("$TOOL" status "$COMPAT_TMP/real.db")"

# ---- 2. bolt_writer's snapshot through etcdctl snapshot status --------------------------
nrev=400
read -r want_rev want_keys < <("$TOOL" write "$COMPAT_TMP/gen.db" $nrev) ||
  compat_die "bolt_etcd_tool write failed"
got=$(status_of "$COMPAT_TMP/gen.db")
[ -n "$got" ] || { cat "$COMPAT_TMP/etcdctl.err" >&2; compat_fail "etcdctl snapshot status refused gen.db"; }
read -r _ got_rev got_keys got_size <<<"$got"
compat_eq "gen.db revision" "$want_rev" "${got_rev:-}"
compat_eq "gen.db total keys" "$want_keys" "${got_keys:-}"
compat_eq "gen.db size" "$(($(stat -c %s "$COMPAT_TMP/gen.db") - 32))" "${got_size:-}"
compat_eq "gen.db: bolt_etcd_status == etcdctl snapshot status" "$got" \
  "$("$TOOL" status "$COMPAT_TMP/gen.db")"

# bbolt's own tx.Check on a file that is hard on the format (overflow pages, 1 MiB values,
# 32 KiB keys, fat multi-level branch pages): status fails loudly on any integrity error.
"$TOOL" stress "$COMPAT_TMP/stress.db" || compat_fail "bolt_etcd_tool stress"
got=$(status_of "$COMPAT_TMP/stress.db")
[ -n "$got" ] || { cat "$COMPAT_TMP/etcdctl.err" >&2; compat_fail "etcdctl snapshot status refused stress.db"; }
compat_eq "stress.db: bolt_etcd_status == etcdctl snapshot status" "$got" \
  "$("$TOOL" status "$COMPAT_TMP/stress.db")"
compat_check "stress.db: 5000 revisions" test "$(awk '{print $2}' <<<"$got")" = 5000

# ---- 3. restore it and serve it ----------------------------------------------------------
# The restored member gets the name and peer URL of a fresh start on new ports.
ports=$(compat_pick_ports) || compat_die "picking ports"
read -r COMPAT_CLIENT_PORT COMPAT_PEER_PORT <<<"$ports"
COMPAT_ENDPOINT=http://127.0.0.1:$COMPAT_CLIENT_PORT
COMPAT_NAME=restored$$
COMPAT_DATA_DIR=$COMPAT_TMP/restored
peer=http://127.0.0.1:$COMPAT_PEER_PORT
if ! "$COMPAT_ETCDCTL" snapshot restore "$COMPAT_TMP/gen.db" --data-dir "$COMPAT_DATA_DIR" \
  --name "$COMPAT_NAME" --initial-cluster "$COMPAT_NAME=$peer" \
  --initial-advertise-peer-urls "$peer" --initial-cluster-token restore-test \
  >"$COMPAT_TMP/restore.log" 2>&1; then
  cat "$COMPAT_TMP/restore.log" >&2
  compat_fail "etcdctl snapshot restore gen.db"
else
  compat_pass "etcdctl snapshot restore gen.db"
  # the db etcd wrote while restoring (bbolt read-write: its own inline buckets, no
  # synced freelist) reads back with bolt_reader and the same status
  restored_db=$COMPAT_DATA_DIR/member/snap/db
  compat_eq "restored db: bolt_etcd_status == etcdctl snapshot status" \
    "$(status_of "$restored_db")" "$("$TOOL" status "$restored_db")"
  # read by compat_launch (lib/server.sh)
  # shellcheck disable=SC2034
  COMPAT_SERVER_FLAGS=()
  # shellcheck disable=SC2034
  COMPAT_LOG=$COMPAT_TMP/restored.log
  compat_launch
  if compat_wait_healthy; then
    # bolt_etcd_tool's rule: revision m writes k(m % 50) = v<m>, or deletes it when
    # m % 17 == 0 and it is live
    want_k001=
    for ((m = 2; m < nrev + 2; m++)); do
      if ((m % 50 == 1)); then
        if ((m % 17 == 0)) && [ -n "$want_k001" ]; then want_k001=; else want_k001=v$m; fi
      fi
    done
    compat_eq "restored: k001" "$want_k001" "$(compat_ctl get k001 --print-value-only)"
    compat_eq "restored: revision" "$want_rev" \
      "$(compat_ctl get k001 -w json | "$COMPAT_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')"
    n=$(compat_ctl get k --prefix --keys-only | grep -c '^k')
    compat_check "restored: 40..50 live keys (got $n)" test "$n" -ge 40 -a "$n" -le 50
    compat_check "restored: the lease is listed" \
      bash -c "\"$COMPAT_ETCDCTL\" --endpoints=$COMPAT_ENDPOINT lease list | grep -q 694d7a1b2c3d4e5f"
    compat_server_stop
  else
    compat_fail "etcd did not start on the restored data dir"
  fi
fi

compat_finish
