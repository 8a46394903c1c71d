#!/usr/bin/env bash
# etcdctl 3.4 against one server (must-show 1 of issue 6): put/get with --prefix
# --from-key --rev --limit --keys-only and -w json fields; del --prefix --prev-kv; txn
# (stdin, --interactive, -w json, ops with flags) comparing value, version, create and mod
# revision; watch a key, a prefix, from a past revision, with --prev-kv; leases (grant,
# keep-alive --once, timetolive --keys, list, revoke, expiry); compaction and its errors;
# defrag; endpoint status/health; alarm list; snapshot save + snapshot status.
#
# Usage: test_etcdctl.sh SERVER_BINARY     (e.g. /usr/bin/etcd or build/release/tools/cairnd)
# Expected values are derived from the revisions the server reports, never hard-coded.
. "$(dirname "$0")/../lib/server.sh"
compat_init "${1:-}"
compat_server_start

T=$COMPAT_TMP

# put_rev KEY VALUE [flags]: puts and prints the header revision of the response.
put_rev() {
  compat_ctl put "$@" -w json >"$T/put.json" || {
    compat_fail "put $*"
    echo 0
    return
  }
  compat_json "$T/put.json" 'd["header"]["revision"]'
}

# get_value KEY [flags]: the value alone (empty if the key is absent).
get_value() { compat_ctl get --print-value-only "$@"; }

# ---------------------------------------------------------------- put / get
section_put_get() {
  compat_log "== put/get"
  local out r1 r2 r3 r4 r5
  out=$(compat_ctl put a/first v0)
  compat_eq "put prints OK" "OK" "$out"
  r1=$(put_rev k/a v1)
  r2=$(put_rev k/b v2)
  r3=$(put_rev k/c v3)
  r4=$(put_rev k/a v1b)
  r5=$(put_rev other x)
  compat_check "put revisions strictly increase ($r1<$r2<$r3<$r4<$r5)" \
    test "$r1" -lt "$r2" -a "$r2" -lt "$r3" -a "$r3" -lt "$r4" -a "$r4" -lt "$r5"
  compat_eq "each put adds one revision" $((r1 + 4)) "$r5"

  out=$(compat_ctl get k/a)
  compat_eq "get key prints key and value" $'k/a\nv1b' "$out"

  compat_ctl get k/a -w json >"$T/get.json"
  local j=$T/get.json
  compat_eq "json header has cluster_id, member_id, revision, raft_term" "true" \
    "$(compat_json "$j" 'all(f in d["header"] for f in ("cluster_id","member_id","revision","raft_term"))')"
  compat_eq "json header.revision is the store revision" "$r5" "$(compat_json "$j" 'd["header"]["revision"]')"
  compat_eq "json header.cluster_id non-zero" "true" "$(compat_json "$j" 'd["header"]["cluster_id"] > 0')"
  compat_eq "json header.member_id non-zero" "true" "$(compat_json "$j" 'd["header"]["member_id"] > 0')"
  compat_eq "json header.raft_term >= 1" "true" "$(compat_json "$j" 'd["header"]["raft_term"] >= 1')"
  compat_eq "json kvs[0].key is base64 of k/a" "k/a" "$(compat_json "$j" 'b64(d["kvs"][0]["key"])')"
  compat_eq "json kvs[0].value is base64 of v1b" "v1b" "$(compat_json "$j" 'b64(d["kvs"][0]["value"])')"
  compat_eq "json kvs[0].create_revision" "$r1" "$(compat_json "$j" 'd["kvs"][0]["create_revision"]')"
  compat_eq "json kvs[0].mod_revision" "$r4" "$(compat_json "$j" 'd["kvs"][0]["mod_revision"]')"
  compat_eq "json kvs[0].version" "2" "$(compat_json "$j" 'd["kvs"][0]["version"]')"
  compat_eq "json count" "1" "$(compat_json "$j" 'd["count"]')"
  compat_eq "json: no lease field for a key without lease" "0" \
    "$(compat_json "$j" 'd["kvs"][0].get("lease", 0)')"

  out=$(compat_ctl get k/ --prefix)
  compat_eq "get --prefix" $'k/a\nv1b\nk/b\nv2\nk/c\nv3' "$out"

  compat_ctl get k/ --prefix --limit 2 -w json >"$j"
  compat_eq "get --prefix --limit 2: two kvs" "k/a k/b" \
    "$(compat_json "$j" '" ".join(b64(kv["key"]) for kv in d["kvs"])')"
  compat_eq "get --limit: more=true" "true" "$(compat_json "$j" 'd.get("more", False)')"
  compat_eq "get --limit: count is the whole range" "3" "$(compat_json "$j" 'd["count"]')"
  out=$(compat_ctl get k/ --prefix --limit 2)
  compat_eq "get --prefix --limit 2 (simple)" $'k/a\nv1b\nk/b\nv2' "$out"

  out=$(compat_ctl get k/b --from-key)
  compat_eq "get --from-key" $'k/b\nv2\nk/c\nv3\nother\nx' "$out"
  out=$(compat_ctl get k/b --from-key --keys-only)
  compat_eq "get --from-key --keys-only" $'k/b\n\nk/c\n\nother' "$out"
  compat_ctl get k/ --prefix --keys-only -w json >"$j"
  compat_eq "--keys-only json: keys present" "k/a k/b k/c" \
    "$(compat_json "$j" '" ".join(b64(kv["key"]) for kv in d["kvs"])')"
  compat_eq "--keys-only json: no value field" "false" \
    "$(compat_json "$j" 'any("value" in kv for kv in d["kvs"])')"
  compat_eq "--keys-only json: revisions still present" "$r1 $r4 2" \
    "$(compat_json "$j" '"%d %d %d" % (d["kvs"][0]["create_revision"], d["kvs"][0]["mod_revision"], d["kvs"][0]["version"])')"

  compat_eq "get --rev=<first put>: old value" "v1" "$(get_value k/a --rev="$r1")"
  compat_eq "get --rev=<between>: old value" "v1" "$(get_value k/a --rev="$r3")"
  compat_eq "get --rev=<second put>: new value" "v1b" "$(get_value k/a --rev="$r4")"
  out=$(compat_ctl get k/ --prefix --rev="$r2" --keys-only)
  compat_eq "get --prefix --rev: keys that existed then" $'k/a\n\nk/b' "$out"
  compat_ctl get k/a --rev="$r1" -w json >"$j"
  compat_eq "get --rev json: header.revision is current, kv is historical" "$r5 $r1 1" \
    "$(compat_json "$j" '"%d %d %d" % (d["header"]["revision"], d["kvs"][0]["mod_revision"], d["kvs"][0]["version"])')"
  compat_eq "get --rev before the key existed: nothing" "" "$(compat_ctl get k/c --rev="$r2")"

  compat_ctl get nosuchkey -w json >"$j"
  compat_eq "get missing key: no kvs, count 0" "0 0" \
    "$(compat_json "$j" '"%d %d" % (len(d.get("kvs", [])), d.get("count", 0))')"
  compat_eq "get missing key (simple): empty" "" "$(compat_ctl get nosuchkey)"
}

# ---------------------------------------------------------------- del
section_del() {
  compat_log "== del"
  local r1 r2 r3 out j=$T/del.json
  r1=$(put_rev d/1 one)
  r2=$(put_rev d/2 two)
  r3=$(put_rev d/3 three)
  put_rev e/keep kept >/dev/null
  compat_ctl del d/ --prefix --prev-kv -w json >"$j"
  compat_eq "del --prefix --prev-kv: deleted=3" "3" "$(compat_json "$j" 'd["deleted"]')"
  compat_eq "del --prev-kv: prev_kvs keys" "d/1 d/2 d/3" \
    "$(compat_json "$j" '" ".join(b64(kv["key"]) for kv in d["prev_kvs"])')"
  compat_eq "del --prev-kv: prev_kvs values" "one two three" \
    "$(compat_json "$j" '" ".join(b64(kv["value"]) for kv in d["prev_kvs"])')"
  compat_eq "del --prev-kv: prev_kvs mod revisions" "$r1 $r2 $r3" \
    "$(compat_json "$j" '" ".join(str(kv["mod_revision"]) for kv in d["prev_kvs"])')"
  local rdel
  rdel=$(compat_json "$j" 'd["header"]["revision"]')
  compat_eq "one delete of many keys is one revision" $((r3 + 2)) "$rdel"
  compat_eq "deleted prefix is gone" "" "$(compat_ctl get d/ --prefix)"
  compat_eq "other keys survive" "kept" "$(get_value e/keep)"

  put_rev d/x 1 >/dev/null
  put_rev d/y 2 >/dev/null
  out=$(compat_ctl del d/ --prefix --prev-kv)
  compat_eq "del --prefix --prev-kv (simple)" $'2\nd/x\n1\nd/y\n2' "$out"
  out=$(compat_ctl del d/ --prefix)
  compat_eq "del of nothing prints 0" "0" "$out"
  local rs
  rs=$(put_rev d/single s)
  out=$(compat_ctl del d/single)
  compat_eq "del one key prints 1" "1" "$out"
  compat_eq "get --rev before the delete still sees it" "s" "$(get_value d/single --rev="$rs")"
  compat_eq "a delete of nothing adds no revision" "$((rs + 1))" \
    "$(compat_ctl del d/ --prefix -w json >"$j"; compat_json "$j" 'd["header"]["revision"]')"
}

# ---------------------------------------------------------------- txn
# txn_in LINES...: the stdin etcdctl txn reads: compares, blank, success ops, blank,
# failure ops, blank.
txn_in() { printf '%s\n' "$@"; }

section_txn() {
  compat_log "== txn"
  local rx out j=$T/txn.json
  rx=$(put_rev t/x one)

  # One compare per target that holds, then the same target failing.
  local c
  for c in 'value("t/x") = "one"' 'version("t/x") = "1"' "create(\"t/x\") = \"$rx\"" \
    "mod(\"t/x\") = \"$rx\"" 'value("t/x") > "a"' 'version("t/x") < "2"' \
    "create(\"t/x\") > \"$((rx - 1))\"" "mod(\"t/x\") < \"$((rx + 1))\"" \
    'value("t/x") != "two"'; do
    out=$(txn_in "$c" "" "get t/x" "" "" | compat_ctl txn)
    compat_eq "txn compare true: $c" $'SUCCESS\n\nt/x\none' "$out"
  done
  for c in 'value("t/x") = "two"' 'version("t/x") = "2"' "create(\"t/x\") = \"$((rx + 1))\"" \
    "mod(\"t/x\") > \"$rx\"" 'value("t/x") != "one"' 'version("t/x") > "1"' \
    "create(\"t/x\") < \"$rx\"" "mod(\"t/x\") != \"$rx\""; do
    out=$(txn_in "$c" "" "" "get t/x" "" | compat_ctl txn)
    compat_eq "txn compare false: $c" $'FAILURE\n\nt/x\none' "$out"
  done

  # Several compares (all must hold) with puts in both branches.
  out=$(txn_in 'value("t/x") = "one"' "mod(\"t/x\") = \"$rx\"" 'version("t/x") = "1"' \
    "create(\"t/x\") = \"$rx\"" "" "put t/y yes" "put t/x uno" "" "put t/z no" "" | compat_ctl txn)
  compat_eq "txn all compares hold: success branch" $'SUCCESS\n\nOK\n\nOK' "$out"
  compat_eq "txn success put applied" "yes" "$(get_value t/y)"
  compat_eq "txn success second put applied" "uno" "$(get_value t/x)"
  compat_eq "txn failure branch not applied" "" "$(get_value t/z)"
  compat_ctl get t/x -w json >"$j"
  local rtx
  rtx=$(compat_json "$j" 'd["header"]["revision"]')
  compat_eq "txn with two puts is one revision" $((rx + 1)) "$rtx"
  compat_ctl get t/ --prefix -w json >"$j"
  compat_eq "both puts carry the txn revision" "t/x=$rtx t/y=$rtx" \
    "$(compat_json "$j" '" ".join("%s=%d" % (b64(kv["key"]), kv["mod_revision"]) for kv in d["kvs"])')"

  out=$(txn_in 'value("t/x") = "uno"' 'version("t/x") = "1"' "" "put t/y wrong" "" \
    "put t/z no" "del t/y" "" | compat_ctl txn)
  compat_eq "txn one compare fails: failure branch" $'FAILURE\n\nOK\n\n1' "$out"
  compat_eq "txn failure put applied" "no" "$(get_value t/z)"
  compat_eq "txn failure del applied" "" "$(get_value t/y)"

  # Interactive form: same stdin, prompts on stdout, with -i and --interactive.
  out=$(txn_in 'value("t/z") = "no"' "" "put t/i interactive" "" "" | compat_ctl txn -i)
  compat_eq "txn -i prints prompts then result" \
    $'compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nSUCCESS\n\nOK' "$out"
  compat_eq "txn -i put applied" "interactive" "$(get_value t/i)"
  out=$(txn_in "mod(\"t/z\") < \"$rx\"" "" "" "put t/i other" "" | compat_ctl txn --interactive)
  compat_eq "txn --interactive failure" \
    $'compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nFAILURE\n\nOK' "$out"
  compat_eq "txn --interactive failure put applied" "other" "$(get_value t/i)"

  # Ops with flags, and the json form.
  out=$(txn_in 'version("t/x") > "0"' "" "get t/ --prefix --keys-only" "" "" | compat_ctl txn)
  compat_eq "txn op with flags: get --prefix --keys-only" $'SUCCESS\n\nt/i\n\nt/x\n\nt/z' "$out"
  txn_in 'create("t/x") = "'"$rx"'"' "" "put t/x tres --prev-kv" "get t/ --prefix --limit 1" "" \
    "" | compat_ctl txn -w json >"$j"
  compat_eq "txn -w json: succeeded" "true" "$(compat_json "$j" 'd["succeeded"]')"
  compat_eq "txn -w json: two responses" "2" "$(compat_json "$j" 'len(d["responses"])')"
  compat_eq "txn -w json: put --prev-kv returns the old value" "uno" \
    "$(compat_json "$j" 'b64(d["responses"][0]["Response"]["ResponsePut"]["prev_kv"]["value"])')"
  compat_eq "txn -w json: range in txn sees the txn's own put (limit 1)" "t/i 1" \
    "$(compat_json "$j" 'b64(d["responses"][1]["Response"]["ResponseRange"]["kvs"][0]["key"]) + " " + str(len(d["responses"][1]["Response"]["ResponseRange"]["kvs"]))')"
  compat_eq "txn -w json: header fields" "true" \
    "$(compat_json "$j" 'all(f in d["header"] for f in ("cluster_id","member_id","revision","raft_term"))')"
  out=$(txn_in 'value("t/x") = "tres"' "" "del t/ --prefix --prev-kv" "" "" | compat_ctl txn)
  compat_eq "txn op with flags: del --prefix --prev-kv" \
    $'SUCCESS\n\n3\nt/i\nother\nt/x\ntres\nt/z\nno' "$out"
  out=$(txn_in 'value("t/x") = "tres"' "" "" "" | compat_ctl txn)
  compat_eq "txn compare on a missing key fails, empty failure branch" "FAILURE" "$out"
  out=$(txn_in 'version("t/missing") = "0"' "" "put t/missing now" "" "" | compat_ctl txn)
  compat_eq "txn version = 0 holds for a missing key" $'SUCCESS\n\nOK' "$out"
}

# ---------------------------------------------------------------- watch
WATCH_PID=

# watch_start OUTFILE ARGS...: etcdctl watch in the background. Started directly (not via
# the compat_ctl function) so that $! is etcdctl itself and killing it stops the watch.
watch_start() {
  local out=$1
  shift
  "$COMPAT_ETCDCTL" --endpoints="$COMPAT_ENDPOINT" --dial-timeout=2s watch "$@" \
    >"$out" 2>"$out.err" &
  WATCH_PID=$!
  compat_track_pid "$WATCH_PID"
}

watch_stop() {
  kill "$WATCH_PID" 2>/dev/null
  wait "$WATCH_PID" 2>/dev/null
  WATCH_PID=
}

# lines_at_least FILE N
lines_at_least() { [ "$(wc -l <"$1")" -ge "$2" ]; }

# A watch without --rev only sees events after it is registered, and etcdctl prints nothing
# when that happens: put probe values until one shows up (bounded), then the real events.
watch_sync() {
  local file=$1 key=$2 i
  for ((i = 0; i < 100; i++)); do
    compat_ctl put "$key" "probe$i" >/dev/null
    if compat_wait_for "probe $i in $file" 10 grep -q "^probe$i\$" "$file"; then
      # Later probes may still arrive; make the file start after the last one.
      PROBE_LINES=$(grep -n "^probe$i\$" "$file" | tail -n 1 | cut -d: -f1)
      return 0
    fi
  done
  compat_fail "watch on $key never delivered a probe"
  PROBE_LINES=0
  return 1
}

section_watch() {
  compat_log "== watch"
  local f=$T/watch.out out r1 r2 r3

  # A single key: sees its puts and deletes, nothing for other keys.
  watch_start "$f" w/key
  watch_sync "$f" w/key
  compat_ctl put w/other ignored >/dev/null
  compat_ctl put w/key v1 >/dev/null
  compat_ctl del w/key >/dev/null
  compat_wait_for "key watch events" 100 lines_at_least "$f" $((PROBE_LINES + 5))
  watch_stop
  out=$(tail -n +$((PROBE_LINES + 1)) "$f")
  compat_eq "watch key: PUT then DELETE, other keys filtered" $'PUT\nw/key\nv1\nDELETE\nw/key' "$out"

  # A prefix.
  watch_start "$f" --prefix w/p/
  watch_sync "$f" w/p/probe
  compat_ctl put w/p/a 1 >/dev/null
  compat_ctl put w/q nope >/dev/null
  compat_ctl put w/p/b 2 >/dev/null
  compat_ctl del w/p/ --prefix >/dev/null
  compat_wait_for "prefix watch events" 100 lines_at_least "$f" $((PROBE_LINES + 15))
  watch_stop
  out=$(tail -n +$((PROBE_LINES + 1)) "$f")
  compat_eq "watch --prefix: puts and the prefix delete" \
    $'PUT\nw/p/a\n1\nPUT\nw/p/b\n2\nDELETE\nw/p/a\n\nDELETE\nw/p/b\n\nDELETE\nw/p/probe' "$out"

  # From a past revision: the history is replayed, then live events follow.
  r1=$(put_rev w/h one)
  r2=$(put_rev w/h two)
  compat_ctl put w/other x >/dev/null
  r3=$(put_rev w/h three)
  watch_start "$f" w/h --rev="$r2"
  compat_wait_for "history replay" 100 lines_at_least "$f" 6
  compat_ctl put w/h four >/dev/null
  compat_wait_for "live event after replay" 100 lines_at_least "$f" 9
  watch_stop
  compat_eq "watch --rev replays from that revision, then live" \
    $'PUT\nw/h\ntwo\nPUT\nw/h\nthree\nPUT\nw/h\nfour' "$(cat "$f")"

  # With --prev-kv (and from a past revision, so the run is deterministic).
  watch_start "$f" w/h --rev="$r3" --prev-kv
  compat_wait_for "prev-kv replay" 100 lines_at_least "$f" 5
  compat_ctl del w/h >/dev/null
  compat_wait_for "prev-kv delete" 100 lines_at_least "$f" 15
  watch_stop
  compat_eq "watch --prev-kv: each event preceded by the previous key-value" \
    $'PUT\nw/h\ntwo\nw/h\nthree\nPUT\nw/h\nthree\nw/h\nfour\nDELETE\nw/h\nfour\nw/h' "$(cat "$f")"
  compat_check "r1 < r2 ($r1 < $r2)" test "$r1" -lt "$r2"

  # --prefix with --rev and --prev-kv together, live.
  watch_start "$f" --prefix w/l/ --prev-kv
  watch_sync "$f" w/l/k
  compat_ctl put w/l/k after >/dev/null
  compat_wait_for "live prev-kv" 100 lines_at_least "$f" $((PROBE_LINES + 5))
  watch_stop
  local probe
  probe=$(sed -n "${PROBE_LINES}p" "$f")
  out=$(tail -n +$((PROBE_LINES + 1)) "$f")
  compat_eq "live watch --prefix --prev-kv" "PUT"$'\n'"w/l/k"$'\n'"$probe"$'\n'"w/l/k"$'\n'"after" "$out"
}

# ---------------------------------------------------------------- lease
# lease_grant TTL: prints the hex ID from "lease <id> granted with TTL(<ttl>s)".
lease_grant() {
  local out
  out=$(compat_ctl lease grant "$1")
  local re='^lease ([0-9a-f]+) granted with TTL\(([0-9]+)s\)$'
  if [[ "$out" =~ $re ]]; then
    compat_eq "lease grant $1: granted TTL" "$1" "${BASH_REMATCH[2]}"
    echo "${BASH_REMATCH[1]}"
  else
    compat_fail "lease grant output: [$out]"
    echo 0
  fi
}

key_absent() { [ -z "$(compat_ctl get "$1")" ]; }

section_lease() {
  compat_log "== lease"
  local id out j=$T/lease.json
  id=$(lease_grant 60)
  compat_ctl put l/a va --lease="$id" >/dev/null
  compat_ctl put l/b vb --lease="$id" >/dev/null
  compat_ctl get l/a -w json >"$j"
  compat_eq "key carries the lease id" "$((16#$id))" "$(compat_json "$j" 'd["kvs"][0]["lease"]')"

  out=$(compat_ctl lease keep-alive --once "$id")
  compat_eq "lease keep-alive --once" "lease $id keepalived with TTL(60)" "$out"

  out=$(compat_ctl lease timetolive "$id" --keys)
  local re="^lease $id granted with TTL\\(60s\\), remaining\\(([0-9]+)s\\), attached keys\\(\\[(.*)\\]\\)\$"
  if [[ "$out" =~ $re ]]; then
    compat_check "timetolive remaining in (0,60]: ${BASH_REMATCH[1]}" \
      test "${BASH_REMATCH[1]}" -gt 0 -a "${BASH_REMATCH[1]}" -le 60
    # The key order is the server's (etcd: map order), so compare as a set.
    compat_eq "timetolive --keys lists the attached keys" "l/a l/b" \
      "$(tr ' ' '\n' <<<"${BASH_REMATCH[2]}" | sort | tr '\n' ' ' | sed 's/ $//')"
  else
    compat_fail "timetolive --keys output: [$out]"
  fi
  compat_ctl lease timetolive "$id" --keys -w json >"$j"
  compat_eq "timetolive json: id, granted-ttl, keys" "$((16#$id)) 60 l/a,l/b" \
    "$(compat_json "$j" '"%d %d %s" % (d["id"], d["granted-ttl"], ",".join(sorted(b64(k) for k in d["keys"])))')"
  compat_eq "timetolive json: header fields" "true" \
    "$(compat_json "$j" 'all(f in d for f in ("cluster_id","member_id","revision","raft_term"))')"
  out=$(compat_ctl lease timetolive "$id")
  compat_check "timetolive without --keys has no key list" \
    test "${out#*attached keys}" = "$out"

  out=$(compat_ctl lease list)
  compat_check "lease list shows the lease" grep -qx "$id" <<<"$out"
  compat_check "lease list header line" grep -qE '^found [0-9]+ leases$' <<<"$out"

  out=$(compat_ctl lease revoke "$id")
  compat_eq "lease revoke" "lease $id revoked" "$out"
  compat_check "revoked lease deleted l/a" key_absent l/a
  compat_check "revoked lease deleted l/b" key_absent l/b
  out=$(compat_ctl lease timetolive "$id")
  compat_eq "timetolive of a revoked lease" "lease $id already expired" "$out"
  out=$(compat_ctl lease revoke "$id" 2>&1)
  compat_eq "revoking twice" "Error: failed to revoke lease (etcdserver: requested lease not found)" \
    "$(grep -v '"level"' <<<"$out")"
  out=$(compat_ctl put l/c v --lease="$id" 2>&1)
  compat_eq "put with a revoked lease" "Error: etcdserver: requested lease not found" \
    "$(grep -v '"level"' <<<"$out")"

  # Expiry: a short TTL, no keep-alive; the key must disappear on its own.
  local short
  short=$(lease_grant 2)
  compat_ctl put l/exp v --lease="$short" >/dev/null
  compat_eq "leased key present before expiry" "v" "$(get_value l/exp)"
  compat_check "leased key disappears when the lease expires (bounded 30 s)" \
    compat_wait_for "lease expiry" 300 key_absent l/exp
  out=$(compat_ctl lease timetolive "$short")
  compat_eq "timetolive of an expired lease" "lease $short already expired" "$out"
}

# ---------------------------------------------------------------- compaction
section_compact() {
  compat_log "== compaction"
  local r1 r2 r3 out
  r1=$(put_rev c/k c1)
  r2=$(put_rev c/k c2)
  r3=$(put_rev c/k c3)
  out=$(compat_ctl compact "$r2")
  compat_eq "compact prints the revision" "compacted revision $r2" "$out"
  out=$(compat_ctl get c/k --rev="$r1" 2>"$T/err")
  compat_check "get at a compacted revision fails" test $? -ne 0
  compat_eq "get at a compacted revision: etcd's error" \
    "Error: etcdserver: mvcc: required revision has been compacted" "$(grep -v '"level"' "$T/err")"
  compat_eq "the compaction revision itself is still readable" "c2" "$(get_value c/k --rev="$r2")"
  compat_eq "latest value after compaction" "c3" "$(get_value c/k)"
  compat_ctl compact "$r2" >/dev/null 2>"$T/err"
  compat_eq "compacting the same revision again" \
    "Error: etcdserver: mvcc: required revision has been compacted" "$(grep -v '"level"' "$T/err")"
  compat_ctl get c/k --rev=$((r3 + 1000)) >/dev/null 2>"$T/err"
  compat_eq "get at a future revision" \
    "Error: etcdserver: mvcc: required revision is a future revision" "$(grep -v '"level"' "$T/err")"
  # Bounded: a server that never cancels would otherwise hang the test.
  timeout 20 "$COMPAT_ETCDCTL" --endpoints="$COMPAT_ENDPOINT" watch c/k --rev="$r1" >"$T/cw" 2>&1
  compat_check "watch from a compacted revision is cancelled" \
    grep -qxF "watch was canceled (etcdserver: mvcc: required revision has been compacted)" "$T/cw"
  out=$(compat_ctl compact "$r3" --physical)
  compat_eq "compact --physical" "compacted revision $r3" "$out"
  compat_eq "value survives physical compaction" "c3" "$(get_value c/k)"
}

# ---------------------------------------------------------------- maintenance
section_maintenance() {
  compat_log "== defrag, endpoint, alarm, snapshot"
  local out j=$T/m.json ep=$COMPAT_ENDPOINT
  out=$(compat_ctl defrag)
  compat_eq "defrag" "Finished defragmenting etcd member[$ep]" "$out"
  compat_eq "data readable after defrag" "c3" "$(get_value c/k)"

  out=$(compat_ctl endpoint health 2>&1)
  compat_check "endpoint health: [$out]" \
    grep -qE "^$ep is healthy: successfully committed proposal: took = " <<<"$out"
  compat_ctl endpoint health -w json >"$j"
  compat_eq "endpoint health -w json" "$ep true" \
    "$(compat_json "$j" 'd[0]["endpoint"] + " " + str(d[0]["health"]).lower()')"

  local rev
  rev=$(put_rev m/k v)
  compat_ctl endpoint status -w json >"$j"
  local s='d[0]["Status"]'
  compat_eq "endpoint status json: endpoint" "$ep" "$(compat_json "$j" 'd[0]["Endpoint"]')"
  compat_eq "endpoint status json: header fields" "true" \
    "$(compat_json "$j" "all(f in ${s}[\"header\"] for f in (\"cluster_id\",\"member_id\",\"revision\",\"raft_term\"))")"
  compat_eq "endpoint status json: header.revision" "$rev" "$(compat_json "$j" "${s}[\"header\"][\"revision\"]")"
  compat_eq "endpoint status json: single member is the leader" "true" \
    "$(compat_json "$j" "${s}[\"leader\"] == ${s}[\"header\"][\"member_id\"] != 0")"
  compat_eq "endpoint status json: version, dbSize, raft fields" "true" \
    "$(compat_json "$j" "len(${s}[\"version\"]) > 0 and ${s}[\"dbSize\"] > 0 and ${s}[\"raftTerm\"] >= 1 and ${s}[\"raftIndex\"] >= 1 and ${s}[\"raftAppliedIndex\"] >= 1 and ${s}[\"raftTerm\"] == ${s}[\"header\"][\"raft_term\"]")"
  local id ver
  id=$(compat_json "$j" "'%x' % ${s}[\"header\"][\"member_id\"]")
  ver=$(compat_json "$j" "${s}[\"version\"]")
  out=$(compat_ctl endpoint status)
  compat_check "endpoint status table line: [$out]" \
    grep -qE "^$ep, $id, $ver, [0-9.]+ [kMG]?B, true, false, [0-9]+, [0-9]+, [0-9]+, \$" <<<"$out"

  out=$(compat_ctl alarm list)
  compat_check "alarm list succeeds" test $? -eq 0
  compat_eq "alarm list: no alarms" "" "$out"

  local snap=$T/snap.db
  rev=$(put_rev m/last v)
  out=$(compat_ctl snapshot save "$snap" 2>/dev/null)
  compat_eq "snapshot save" "Snapshot saved at $snap" "$out"
  compat_check "snapshot file is non-empty" test -s "$snap"
  compat_ctl snapshot status "$snap" -w json >"$j"
  compat_eq "snapshot status: revision is the store revision" "$rev" "$(compat_json "$j" 'd["revision"]')"
  compat_eq "snapshot status: totalKey > 0, totalSize > 0, hash set" "true" \
    "$(compat_json "$j" 'd["totalKey"] > 0 and d["totalSize"] > 0 and "hash" in d')"
  out=$(compat_ctl snapshot status "$snap" -w table)
  compat_check "snapshot status table" grep -qE "^\| +[0-9a-f]+ \| +$rev \| +[0-9]+ \| " <<<"$out"
}

section_put_get
section_del
section_txn
section_watch
section_lease
section_compact
section_maintenance
compat_check "server stops cleanly on SIGTERM" compat_server_stop
compat_finish
