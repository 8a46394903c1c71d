#!/usr/bin/env bash
# cairnctl as a user runs it, without a server: --help for every command, usage errors exit 2
# with the usage, a server error is one "Error:" line with exit 1, docs/cli.md is current.
# usage: test_cairnctl_cli.sh path/to/cairnctl path/to/docs/cli.md
set -u
bin=$1
doc=$2
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
unset CAIRNCTL_ENDPOINTS ETCDCTL_ENDPOINTS ETCDCTL_WRITE_OUT CAIRNCTL_WRITE_OUT

out=$("$bin" --help); rc=$?
check "--help exits 0" '[ $rc -eq 0 ] && [[ "$out" == *"COMMANDS:"* ]]'
mapfile -t cmds < <(printf '%s\n' "$out" | sed -n '/^COMMANDS:/,/^$/p' | sed -n 's/^\t\([a-z-]*\( [a-z-]*\)\?\) .*/\1/p' | sed 's/ *$//')
check "help lists the commands" '[ ${#cmds[@]} -ge 25 ]'
for c in "${cmds[@]}"; do
  # shellcheck disable=SC2086
  h=$("$bin" $c --help 2>&1); rc=$?
  check "$c --help" '[ $rc -eq 0 ] && [[ "$h" == *"USAGE:"* ]] && [[ "$h" == *"cairnctl $c"* ]]'
  # shellcheck disable=SC2086
  h2=$("$bin" help $c 2>&1)
  check "help $c is the same text" '[ "$h" == "$h2" ]'
done

out=$("$bin" version); rc=$?
check "version" '[ $rc -eq 0 ] && [[ "$out" == "cairnctl version: "*"API version: 3.4" ]]'

err=$("$bin" get 2>&1 >/dev/null); rc=$?
check "get without key: exit 2" '[ $rc -eq 2 ]'
check "get without key: message then usage" '[[ "$(printf "%s\n" "$err" | head -1)" == "Error: get command needs one argument"* ]] && [[ "$err" == *"cairnctl get [options] <key> [range_end]"* ]]'
err=$("$bin" get k --no-such-flag 2>&1 >/dev/null); rc=$?
check "unknown flag: exit 2" '[ $rc -eq 2 ] && [[ "$err" == "Error: unknown flag: --no-such-flag"* ]]'
err=$("$bin" nosuchcommand 2>&1 >/dev/null); rc=$?
check "unknown command: exit 2" '[ $rc -eq 2 ]'
err=$("$bin" -w xml get k 2>&1 >/dev/null); rc=$?
check "bad -w: exit 2" '[ $rc -eq 2 ]'
err=$("$bin" lease grant notanumber 2>&1 >/dev/null); rc=$?
check "bad TTL: exit 2" '[ $rc -eq 2 ]'

# a closed port: the error is one line, exit 1
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
err=$("$bin" --endpoints "127.0.0.1:$port" --dial-timeout 1s get k 2>&1 >/dev/null); rc=$?
check "unreachable server: exit 1" '[ $rc -eq 1 ]'
check "unreachable server: one Error line" '[ "$(printf "%s\n" "$err" | wc -l)" -eq 1 ] && [[ "$err" == "Error: no connection to 127.0.0.1:$port"* ]]'
err=$("$bin" --endpoints "bad endpoint" get k 2>&1 >/dev/null); rc=$?
check "malformed endpoint: exit 1, one line" '[ $rc -eq 1 ] && [ "$(printf "%s\n" "$err" | wc -l)" -eq 1 ]'

# docs/cli.md is generated from the same text
tmp=$(mktemp)
"$bin" help --markdown >"$tmp"
if cmp -s "$tmp" "$doc"; then
  echo "ok: docs/cli.md is up to date"
else
  echo "FAIL: docs/cli.md is stale; regenerate: cairnctl help --markdown > docs/cli.md"
  diff "$doc" "$tmp" | head -20
  fail=1
fi
rm -f "$tmp"
[ $fail -eq 0 ] && echo "all cairnctl cli checks passed"
exit $fail
