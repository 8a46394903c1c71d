#!/usr/bin/env bash
# Must-show 2 of issue 8: a snapshot saved with cairnctl restores into a new cluster that
# serves the same data, and the same file works with `etcdctl snapshot status`.
#  1. a three-member cluster gets several hundred keys with history (txns with many ops,
#     overwrites, deletes, a compaction, leases); `cairnctl snapshot save`;
#  2. `etcdctl snapshot status` and `cairnctl snapshot status` agree on the file;
#  3. `cairnctl snapshot restore` into a new one-member cluster: every key, value and
#     revision field equal through etcdctl and cairnctl, same revision, same HashKV, the
#     old compaction kept, leases there, a new cluster id; a member added to it later
#     receives the data by snapshot;
#  4. the same file restored into a new three-member cluster: equal HashKV on all three, a
#     write replicates;
#  5. --bump-revision 1000 --mark-compacted: revision moved up, old revisions compacted;
#  6. refusals: existing data dir (untouched), damaged file (nothing left behind), missing
#     hash trailer, --bump-revision without --mark-compacted (usage, exit 2);
#  7. a snapshot from a real etcd 3.4 restores into cairnd (skipped without /usr/bin/etcd).
# Usage: test_restore.sh SERVER_BINARY CAIRNCTL_BINARY [ETCD_BINARY]
# shellcheck disable=SC2317 # helper functions are called through cl_wait_for / cl_check
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cluster/cairnd/lib.sh
. "$here/lib.sh"
cl_init "${1:-}"
CTL=${2:?usage: $0 SERVER_BINARY CAIRNCTL_BINARY [ETCD_BINARY]}
ETCD=${3:-/usr/bin/etcd}
[ -x "$CTL" ] || cl_die "cairnctl not executable: $CTL"
T=$CL_TMP

ctl_ep() { # cairnctl against member I
  local i=$1
  shift
  "$CTL" --endpoints="$(cl_ep "$i")" --dial-timeout=2s --command-timeout=10s "$@"
}

# Every key with value and revision fields, one JSON line (from `get "" --prefix -w json`).
kvs_of() {
  "$CL_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
kvs = [(k["key"], k.get("value", ""), k.get("create_revision", 0), k.get("mod_revision", 0),
        k.get("version", 0), k.get("lease", 0)) for k in d.get("kvs", [])]
print(len(kvs), json.dumps(kvs))'
}
dump_etcdctl() { cl_ctl_ep "$1" get "" --prefix -w json --consistency=s | kvs_of; }
dump_cairnctl() { ctl_ep "$1" get "" --prefix -w json --consistency=s | kvs_of; }
header_of() { # FIELD of member I's response header
  cl_ctl_ep "$1" get cl-probe -w json --consistency=s |
    "$CL_PYTHON" -c "import json,sys; print(json.load(sys.stdin)['header']['$2'])"
}
hash_at() { # member I's HashKV at revision R: "hash compact_revision"
  cl_ctl_ep "$1" endpoint hashkv --rev="$2" -w json |
    "$CL_PYTHON" -c 'import json,sys; d=json.load(sys.stdin)[0]["HashKV"]; print(d["hash"], d.get("compact_revision", 0))'
}
leases_of() { cl_ctl_ep "$1" lease list | tail -n +2 | sort | tr '\n' ' '; }

# cl_new_member I NAME: ports for member I, not started
cl_new_member() {
  local ports
  read -r -a ports <<<"$(cl_pick_ports 2)" || cl_die "picking ports"
  CL_NAME[$1]=$2
  CL_CPORT[$1]=${ports[0]}
  CL_PPORT[$1]=${ports[1]}
}

# restore_member I TOKEN IC [flags]: cairnctl snapshot restore into member I's data dir
restore_member() {
  local i=$1 token=$2 ic=$3
  shift 3
  "$CTL" snapshot restore "$T/snap.db" --data-dir "$T/m$i.data" --name "${CL_NAME[$i]}" \
    --initial-cluster "$ic" --initial-advertise-peer-urls "$(cl_url_p "$i")" \
    --initial-cluster-token "$token" "$@" >"$T/restore.$i.out" 2>"$T/restore.$i.err"
}

# start_restored I TOKEN IC: cairnd on the restored dir, with the flags the restore used
start_restored() {
  CL_TOKEN=$2 cl_launch "$1" new "$3"
}

# ---- 1. a cluster with history --------------------------------------------------------
cl_start_cluster 3
txn_puts() { # txn_puts FROM TO PREFIX: one txn putting PREFIX%04d for FROM..TO
  local i ops=$'\n'
  for ((i = $1; i <= $2; i++)); do ops+="put $(printf "$3%04d" "$i") value-$i-$3"$'\n'; done
  cl_ctl_ep 1 txn <<<"$ops"$'\n' >/dev/null
}
for b in 0 1 2 3; do
  cl_check "txn of 100 puts ($b)" txn_puts $((b * 100)) $((b * 100 + 99)) "r/"
done
for i in $(seq 0 7 300); do # overwrites: history for 43 keys
  cl_ctl_ep $((i % 3 + 1)) put "$(printf "r/%04d" "$i")" "second-$i" >/dev/null ||
    cl_fail "overwrite r/$i"
done
compact_at=$(header_of 1 revision)
cl_check "compaction at $compact_at" cl_ctl_ep 1 compaction "$compact_at"
for i in $(seq 1 11 300); do # more history after the compaction
  cl_ctl_ep 2 put "$(printf "r/%04d" "$i")" "third-$i" >/dev/null || cl_fail "overwrite r/$i"
done
dels=$'\n'
for i in $(seq 350 2 398); do dels+="del $(printf "r/%04d" "$i")"$'\n'; done
cl_check "txn of 25 deletes" cl_ctl_ep 1 txn <<<"$dels"$'\n'
cl_ctl_ep 1 del r/0005 >/dev/null || cl_fail "del r/0005"
lease=$(cl_ctl_ep 1 lease grant 3600 | awk '{print $2}')
idle_lease=$(cl_ctl_ep 1 lease grant 900 | awk '{print $2}')
cl_check "leases granted ($lease, $idle_lease)" test -n "$lease" -a -n "$idle_lease"
for i in $(seq 1 12); do
  cl_ctl_ep 1 put --lease="$lease" "leased/$i" "l$i" >/dev/null || cl_fail "put leased/$i"
done
cl_ctl_ep 1 put "bin/\x01" "$(printf 'a\tb c')" >/dev/null || cl_fail "odd bytes"

orig_rev=$(header_of 1 revision)
orig_cluster=$(header_of 1 cluster_id)
orig_dump=$(dump_etcdctl 1)
orig_hash=$(hash_at 1 "$orig_rev")
orig_leases=$(leases_of 1)
cl_log "original: revision $orig_rev, compacted at $compact_at, ${orig_dump%% *} keys"
cl_check "etcdctl and cairnctl dump the original alike" test "$orig_dump" = "$(dump_cairnctl 2)"
cl_check "the dump has 400 - 26 + 13 keys" test "${orig_dump%% *}" = 387

"$CTL" --endpoints="$(cl_eps 1 2 3)" snapshot save "$T/snap.db" >"$T/save.out" 2>"$T/save.err" ||
  cl_fail "cairnctl snapshot save: $(cat "$T/save.err")"
cl_eq "snapshot save says where" "Snapshot saved at $T/snap.db" "$(cat "$T/save.out")"

# ---- 2. the file through etcdctl snapshot status ------------------------------------
status_json() { "$@" -w json 2>/dev/null | "$CL_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
print(s["hash"], s["revision"], s["totalKey"], s["totalSize"])'; }
ctl_status=$(status_json "$CTL" snapshot status "$T/snap.db")
et_status=$(status_json "$CL_ETCDCTL" snapshot status "$T/snap.db")
cl_log "snapshot status: etcdctl [$et_status] cairnctl [$ctl_status]"
cl_check "etcdctl snapshot status reads it" test -n "$et_status"
cl_eq "etcdctl and cairnctl snapshot status agree" "$et_status" "$ctl_status"
read -r _ snap_rev snap_keys _ <<<"$et_status"
cl_eq "the snapshot's revision is the cluster's" "$orig_rev" "$snap_rev"
cl_check "the snapshot holds every revision since the compaction ($snap_keys entries)" \
  test "${snap_keys:-0}" -gt "${orig_dump%% *}"
for i in 1 2 3; do cl_stop "$i"; done # the originals are done: their CPU goes to the rest

# ---- 3. a new one-member cluster ---------------------------------------------------------
cl_new_member 4 solo
ic4="solo=$(cl_url_p 4)"
cl_check "restore into a one-member cluster" restore_member 4 restore-solo "$ic4"
cat "$T/restore.4.err" >&2
cl_check "restore logs restoring/restored" \
  grep -q '"msg":"restored snapshot"' "$T/restore.4.err"
cl_check "restore prints nothing on stdout" test ! -s "$T/restore.4.out"
cl_check "no temporary directory left" test -z "$(find "$T" -maxdepth 1 -name '*.tmp-*')"
start_restored 4 restore-solo "$ic4"
cl_wait_for "restored member healthy" "$CL_START_TRIES" cl_member_healthy 4 ||
  cl_die "cairnd did not start on the restored data dir"
cl_eq "etcdctl: every key and value equal" "$orig_dump" "$(dump_etcdctl 4)"
cl_eq "cairnctl: every key and value equal" "$orig_dump" "$(dump_cairnctl 4)"
cl_eq "revision preserved" "$orig_rev" "$(header_of 4 revision)"
new_cluster=$(header_of 4 cluster_id)
cl_check "a new cluster id ($new_cluster, was $orig_cluster)" test "$new_cluster" != "$orig_cluster"
cl_eq "HashKV at the snapshot's revision equal" "$orig_hash" "$(hash_at 4 "$orig_rev")"
cl_eq "leases there" "$orig_leases" "$(leases_of 4)"
out=$(cl_ctl_ep 4 lease timetolive "$lease" --keys)
cl_check "the lease keeps its 12 keys: $out" grep -q 'leased/12' <<<"$out"
cl_eq "attached keys" 12 "$(grep -o 'leased/' <<<"$out" | wc -l)"
out=$(cl_ctl_ep 4 get r/0000 --rev=$((compact_at - 1)) 2>&1)
cl_check "the old compaction holds: $out" grep -q "required revision has been compacted" <<<"$out"
cl_eq "history after the compaction readable" "value-1-r/" \
  "$(cl_ctl_ep 4 get r/0001 --rev="$compact_at" --print-value-only)"
cl_eq "one member" 1 "$(cl_ctl_ep 4 member list | wc -l)"
cl_check "writes work" cl_ctl_ep 4 put after-restore yes
cl_eq "the write is the next revision" $((orig_rev + 1)) "$(header_of 4 revision)"
cl_check "the restored member restarts" cl_stop 4
cl_start 4
cl_eq "and serves the same after the restart" "yes" \
  "$(cl_ctl_ep 4 get after-restore --print-value-only)"
# a member added later has an empty store: the restored data must reach it as a snapshot
cl_new_member 10 joiner
add_joiner() { cl_ctl_ep 4 member add joiner --peer-urls="$(cl_url_p 10)" >/dev/null; }
cl_check "member add to the restored cluster" add_joiner
CL_TOKEN=restore-solo cl_launch 10 existing "$ic4,joiner=$(cl_url_p 10)"
joined() { [ "$(cl_ctl_ep 10 get after-restore --print-value-only --consistency=s)" = yes ]; }
cl_check "the joiner catches up" cl_wait_for "joiner" "$CL_START_TRIES" joined
cl_check "by a snapshot from the restored member" grep -q "snapshot sent to peer" "$T/m4.log"
cl_check "with all the restored data (equal HashKV)" cl_wait_for "hashes" 100 cl_hashes_equal
cl_stop 10
cl_stop 4

# ---- 4. a new three-member cluster from the same file ---------------------------------
for i in 5 6 7; do cl_new_member "$i" "trio$i"; done
ic3=$(cl_initial_cluster 5 6 7)
for i in 5 6 7; do
  cl_check "restore member trio$i" restore_member "$i" restore-trio "$ic3"
done
cids=$(for i in 5 6 7; do grep -o '"cluster-id":"[0-9a-f]*"' "$T/restore.$i.err"; done | sort -u)
cl_eq "the three restores computed one cluster id" 1 "$(wc -l <<<"$cids")"
for i in 5 6 7; do start_restored "$i" restore-trio "$ic3"; done
for i in 5 6 7; do
  cl_wait_for "trio$i healthy" "$CL_START_TRIES" cl_member_healthy "$i" ||
    cl_die "trio$i did not become healthy"
done
cl_check "one leader for the three" cl_wait_for "leader" 100 cl_has_leader
cl_check "the three hold equal data (HashKV)" cl_wait_for "equal hashes" 100 cl_hashes_equal
cl_eq "and the original's data" "$orig_hash" "$(hash_at 6 "$orig_rev")"
cl_eq "three members listed" 3 "$(cl_ctl_ep 5 member list | wc -l)"
cl_check "a write through trio5" cl_ctl_ep 5 put trio-write replicated
for i in 6 7; do
  seen() { [ "$(cl_ctl_ep "$1" get trio-write --print-value-only --consistency=s)" = replicated ]; }
  cl_check "the write replicates to trio$i" cl_wait_for "replication" 100 seen "$i"
done
cl_check "equal HashKV after the write" cl_wait_for "equal hashes" 100 cl_hashes_equal
trio_dump=$(dump_etcdctl 5)
cl_eq "the original's keys plus the write" $((${orig_dump%% *} + 1)) "${trio_dump%% *}"
for i in 6 7; do cl_eq "trio$i dumps like trio5" "$trio_dump" "$(dump_cairnctl "$i")"; done
for i in 5 6 7; do cl_stop "$i"; done

# ---- 5. --bump-revision --mark-compacted -----------------------------------------------
cl_new_member 8 bumped
ic8="bumped=$(cl_url_p 8)"
cl_check "restore with --bump-revision 1000 --mark-compacted" \
  restore_member 8 restore-bump "$ic8" --bump-revision 1000 --mark-compacted
start_restored 8 restore-bump "$ic8"
cl_wait_for "bumped member healthy" "$CL_START_TRIES" cl_member_healthy 8 ||
  cl_die "cairnd did not start on the bumped data dir"
bumped=$(header_of 8 revision)
cl_check "revision $bumped >= $orig_rev + 1000" test "$bumped" -ge $((orig_rev + 1000))
out=$(cl_ctl_ep 8 get r/0000 --rev="$orig_rev" 2>&1)
cl_check "a read at the old revision is compacted: $out" \
  grep -q "required revision has been compacted" <<<"$out"
cl_eq "the keys are the same" "$orig_dump" "$(dump_etcdctl 8)"
cl_check "writes go on from the bumped revision" cl_ctl_ep 8 put after-bump yes
cl_eq "next revision" $((bumped + 1)) "$(header_of 8 revision)"
cl_stop 8

# ---- 6. refusals ------------------------------------------------------------------------
before=$(ls -l --time-style=+%s.%N "$T/m4.data"; md5sum "$T/m4.data/data.mdb")
"$CTL" snapshot restore "$T/snap.db" --data-dir "$T/m4.data" >"$T/e1.out" 2>&1
rc=$?
cl_check "existing data dir refused (exit $rc)" test "$rc" -eq 1
cl_check "with etcdctl's words: $(tail -n 1 "$T/e1.out")" grep -q "data-dir \"$T/m4.data\" exists" "$T/e1.out"
cl_eq "the existing dir untouched" "$before" \
  "$(ls -l --time-style=+%s.%N "$T/m4.data"; md5sum "$T/m4.data/data.mdb")"

cp "$T/snap.db" "$T/bad.db"
size=$(stat -c %s "$T/bad.db")
"$CL_PYTHON" - "$T/bad.db" $((size / 2)) <<'EOF' || cl_fail "flip a byte"
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0x5a]))
EOF
"$CTL" snapshot restore "$T/bad.db" --data-dir "$T/bad.data" >"$T/e2.out" 2>&1
rc=$?
cl_check "damaged file refused (exit $rc)" test "$rc" -eq 1
cl_check "sha256 mismatch: $(tail -n 1 "$T/e2.out")" grep -q "sha256 mismatch" "$T/e2.out"
cl_check "no data dir left" test ! -e "$T/bad.data"
cl_check "no temporary dir left" test -z "$(find "$T" -maxdepth 1 -name '*.tmp-*')"

head -c $((size - 32)) "$T/snap.db" >"$T/nohash.db"
"$CTL" snapshot restore "$T/nohash.db" --data-dir "$T/nohash.data" >"$T/e3.out" 2>&1
cl_check "no hash trailer refused: $(tail -n 1 "$T/e3.out")" \
  grep -q "snapshot missing hash but --skip-hash-check=false" "$T/e3.out"
cl_check "no data dir left" test ! -e "$T/nohash.data"
cl_check "--skip-hash-check restores it" \
  "$CTL" snapshot restore "$T/nohash.db" --data-dir "$T/nohash.data" --skip-hash-check
"$CTL" snapshot restore "$T/snap.db" --data-dir "$T/x.data" --name nobody >"$T/e4.out" 2>&1
cl_check "a name not in --initial-cluster refused: $(tail -n 1 "$T/e4.out")" \
  grep -q 'couldn.t find local name "nobody"' "$T/e4.out"
cl_check "no data dir left" test ! -e "$T/x.data"
"$CTL" snapshot restore "$T/snap.db" --data-dir "$T/y.data" --bump-revision 5 >"$T/e5.out" 2>&1
rc=$?
cl_eq "--bump-revision without --mark-compacted: usage exit" 2 "$rc"
cl_check "says why" grep -q -- "--mark-compacted required" "$T/e5.out"
cl_check "no data dir" test ! -e "$T/y.data"

# ---- 7. a snapshot taken from etcd 3.4 ---------------------------------------------------
if [ ! -x "$ETCD" ]; then
  cl_log "SKIP etcd part: $ETCD not found"
else
  read -r ec ep <<<"$(cl_pick_ports 2)" || cl_die "picking ports"
  "$ETCD" --name etcd1 --data-dir "$T/etcd.data" --listen-client-urls "http://127.0.0.1:$ec" \
    --advertise-client-urls "http://127.0.0.1:$ec" --listen-peer-urls "http://127.0.0.1:$ep" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ep" \
    --initial-cluster "etcd1=http://127.0.0.1:$ep" >"$T/etcd.log" 2>&1 &
  etcd_pid=$!
  cl_track_pid "$etcd_pid"
  ectl() { "$CL_ETCDCTL" --endpoints="127.0.0.1:$ec" --dial-timeout=2s --command-timeout=10s "$@"; }
  etcd_up() { ectl endpoint health >/dev/null 2>&1; }
  if ! cl_wait_for "etcd healthy" "$CL_START_TRIES" etcd_up; then
    tail -n 20 "$T/etcd.log" >&2
    cl_fail "etcd did not start"
  else
    ops=$'\n'
    for i in $(seq 1 100); do ops+="put e/$i ev$i"$'\n'; done
    ectl txn <<<"$ops"$'\n' >/dev/null || cl_fail "etcd txn"
    for i in 3 5 7; do ectl put "e/$i" "again$i" >/dev/null || cl_fail "etcd put"; done
    ectl del e/9 >/dev/null || cl_fail "etcd del"
    el=$(ectl lease grant 3000 | awk '{print $2}')
    ectl put --lease="$el" e/leased yes >/dev/null || cl_fail "etcd put with lease"
    e_rev=$(ectl get e/1 -w json | "$CL_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
    e_dump=$(ectl get "" --prefix -w json | kvs_of)
    ectl snapshot save "$T/etcd.db" >/dev/null 2>&1 || cl_fail "etcdctl snapshot save"
    kill -TERM "$etcd_pid"
    cl_wait_for "etcd exit" "$CL_STOP_TRIES" cl_exited "$etcd_pid" || kill -9 "$etcd_pid"
    wait "$etcd_pid" 2>/dev/null
    cl_new_member 9 fromEtcd
    ic9="fromEtcd=$(cl_url_p 9)"
    cp "$T/etcd.db" "$T/snap.db"
    cl_check "etcd's snapshot restores into cairnd" restore_member 9 from-etcd "$ic9"
    cat "$T/restore.9.err" >&2
    start_restored 9 from-etcd "$ic9"
    if cl_wait_for "cairnd on etcd's data healthy" "$CL_START_TRIES" cl_member_healthy 9; then
      cl_eq "etcd's keys, values and revision fields" "$e_dump" "$(dump_etcdctl 9)"
      cl_eq "etcd's revision" "$e_rev" "$(header_of 9 revision)"
      cl_check "etcd's lease" grep -q "$el" <<<"$(leases_of 9)"
      cl_check "writes work" cl_ctl_ep 9 put after-etcd yes
    else
      cl_fail "cairnd did not start on the data dir restored from etcd"
    fi
  fi
fi
cl_finish
