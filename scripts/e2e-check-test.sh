#!/usr/bin/env bash
# Checks scripts/e2e-check.sh on made-up results: an expected failure passes
# the judgement, a listed check that passes, an unlisted failure and a
# stale entry of an engine that ran each fail it; an entry of an engine
# that did not run is not stale. Run by `make e2e` before the suite.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'd: one\tok\tok\tpass\nd: two\tok\tbad\tfail\nd: three\t-\tskipped: why\tskip\n' >"$tmp/results"
failed=0
check() { # NAME EXPECTED_RC WANT_TEXT EXPECTED_FILE_CONTENT [ENGINES]
  printf '%b' "$4" >"$tmp/expected"
  out=$(bash "$here/e2e-check.sh" "$tmp/results" "$tmp/expected" "${5-d}" 2>&1)
  rc=$?
  if [ "$rc" != "$2" ] || ! grep -qF -- "$3" <<<"$out"; then
    echo "e2e-check: $1: rc=$rc (want $2), output lacks '$3':"
    echo "$out"
    failed=$((failed + 1))
  fi
}
check "expected failure" 0 "e2e: 1 passed, 0 failed, 2 skipped" 'd: two | why\n'
check "expected failure in the table" 0 "| d: two   | ok   | bad          | XFAIL   |" 'd: two | why\n'
check "listed check passes" 1 "UNEXPECTED PASSES" 'd: one | why\nd: two | why\n'
check "unlisted failure" 1 "UNEXPECTED FAILURES" '# nothing expected\n'
check "stale entry" 1 "STALE ENTRIES" 'd: two | why\nd: gone | why\n'
check "entry of an engine that did not run" 0 "e2e: 1 passed, 0 failed, 2 skipped" 'd: two | why\np: other engine | why\n'
check "no engine judged for staleness" 0 "e2e: 1 passed, 0 failed, 2 skipped" 'd: two | why\nd: gone | why\n' ""
echo "e2e-check: $((7 - failed)) passed, $failed failed"
[ $failed = 0 ]
