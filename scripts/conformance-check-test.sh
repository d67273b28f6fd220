#!/usr/bin/env bash
# Checks scripts/conformance-check.sh on made-up TAP results: an expected
# failure passes the check, a listed test that passes, an unlisted failure
# and a stale entry each fail it. Run by `make test`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/r"
printf '1..3\nok 1 a one\nnot ok 2 b two\nok 3 c three in 12ms # skip nope\n' >"$tmp/r/f.tap"
failed=0
check() { # NAME EXPECTED_RC WANT_TEXT EXPECTED_FILE_CONTENT
  printf '%b' "$4" >"$tmp/expected"
  out=$(bash "$here/conformance-check.sh" "$tmp/r" "$tmp/expected" 2>&1)
  rc=$?
  if [ "$rc" != "$2" ] || ! grep -qF -- "$3" <<<"$out"; then
    echo "conformance-check: $1: rc=$rc (want $2), output lacks '$3':"
    echo "$out"
    failed=$((failed + 1))
  fi
}
check "expected failure" 0 "conformance: 1 passed, 0 failed, 2 skipped" 'f: b two | why\n'
check "listed test passes" 1 "UNEXPECTED PASSES" 'f: a one | why\nf: b two | why\n'
check "unlisted failure" 1 "UNEXPECTED FAILURES" '# nothing expected\n'
check "stale entry" 1 "STALE ENTRIES" 'f: b two | why\nf: gone | why\ng: other file | why\n'
echo "conformance-check: $((4 - failed)) passed, $failed failed"
[ $failed = 0 ]
