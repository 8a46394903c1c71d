#!/usr/bin/env bash
# usage: test_cairnd_cli.sh path/to/cairnd
set -u
bin=$1
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }

out=$("$bin" --version); rc=$?
check "--version exits 0" '[ $rc -eq 0 ]'
check "--version names cairnd" '[[ "$out" == "cairnd Version: "* ]]'
out=$("$bin" --help); rc=$?
check "--help lists etcd flags" '[ $rc -eq 0 ] && [[ "$out" == *"--listen-client-urls"* ]] && [[ "$out" == *"--memory-limit"* ]]'
err=$("$bin" --bogus 2>&1 >/dev/null); rc=$?
check "unknown flag exits 2" '[ $rc -eq 2 ]'
check "unknown flag is one line" '[ "$(printf "%s\n" "$err" | wc -l)" -eq 1 ] && [[ "$err" == *"unknown flag: --bogus"* ]]'
err=$("$bin" --quota-backend-bytes=x 2>&1 >/dev/null); rc=$?
check "bad value exits 2" '[ $rc -eq 2 ] && [[ "$err" == *"--quota-backend-bytes"* ]]'
[ $fail -eq 0 ] && echo "all cairnd cli checks passed"
exit $fail
