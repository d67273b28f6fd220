#!/usr/bin/env bash
# Usage: e2e-check.sh RESULTS_TSV EXPECTED_FAILURES "ENGINE..."
#
# Judges one run of scripts/e2e.sh: RESULTS_TSV has one line per check,
# "name<TAB>runc result<TAB>sealrun result<TAB>pass|fail|skip", names like
# "docker: run, exit code" (the engine before the colon). EXPECTED_FAILURES
# lists the checks sealrun is known to fail, one "name | reason" per line
# ('#' comments), as conformance/expected-failures.txt does for runc's
# suite. Prints the table (check, runc, sealrun, verdict) and fails (exit 1)
# on any failure not on the list, on any listed check that passed (remove
# it then) and on an entry naming no check of an engine that ran. Ends with
# "e2e: N passed, N failed, N skipped", where failed counts what fails the
# run and skipped includes the expected failures.
set -euo pipefail
. "$(dirname "$0")/expected-failures.sh"
[ $# -eq 3 ] || { echo "usage: $0 RESULTS_TSV EXPECTED_FAILURES \"ENGINE...\"" >&2; exit 2; }
results=$1 expected=$2 engines=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expected_names "$expected" >"$tmp/expected"
cut -f1 "$results" | sort -u >"$tmp/ran"

# The verdict of each check: PASS, FAIL, SKIP; XFAIL (listed, failed: known),
# XPASS (listed, passed: the entry must go).
awk -F'\t' -v OFS='\t' 'FILENAME == ARGV[1] { listed[$0] = 1; next }
  { v = toupper($4)
    if ($1 in listed) v = ($4 == "fail") ? "XFAIL" : ($4 == "pass") ? "XPASS" : v
    print $1, $2, $3, v }' "$tmp/expected" "$results" >"$tmp/judged"

# The table, columns as wide as their longest cell (results cut at 44).
awk -F'\t' '
  function cut(s) { return length(s) > 44 ? substr(s, 1, 41) "..." : s }
  { for (i = 1; i <= 4; i++) { c[NR, i] = (i == 2 || i == 3) ? cut($i) : $i; if (length(c[NR, i]) > w[i]) w[i] = length(c[NR, i]) } }
  END {
    h[1] = "check"; h[2] = "runc"; h[3] = "sealrun"; h[4] = "verdict"
    for (i = 1; i <= 4; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
    fmt = "| %-" w[1] "s | %-" w[2] "s | %-" w[3] "s | %-" w[4] "s |\n"
    printf fmt, h[1], h[2], h[3], h[4]
    printf "|%s|%s|%s|%s|\n", dash(w[1] + 2), dash(w[2] + 2), dash(w[3] + 2), dash(w[4] + 2)
    for (r = 1; r <= NR; r++) printf fmt, c[r, 1], c[r, 2], c[r, 3], c[r, 4]
  }
  function dash(n,  s) { s = ""; while (n-- > 0) s = s "-"; return s }' "$tmp/judged"

unexpected_fail=$(awk -F'\t' '$4 == "FAIL" {print $1}' "$tmp/judged")
unexpected_pass=$(awk -F'\t' '$4 == "XPASS" {print $1}' "$tmp/judged")
stale=$(comm -13 "$tmp/ran" "$tmp/expected" | while IFS= read -r t; do
  for e in $engines; do [ "${t%%:*}" = "$e" ] && echo "$t"; done
done || true)

count() { awk -F'\t' -v v="$1" '$4 == v' "$tmp/judged" | wc -l; }
pass=$(count PASS) xfail=$(count XFAIL) skip=$(count SKIP)
status=0
judge_verdicts "$unexpected_fail" "$unexpected_pass" "$stale" \
  "fix them, or list them in $expected with the reason" "remove them from $expected" \
  "no such check of an engine that ran" || status=1
if [ "$xfail" -gt 0 ]; then
  echo "expected failures ($expected):"
  awk -F'\t' '$4 == "XFAIL" {print $1}' "$tmp/judged" | while IFS= read -r t; do
    echo "  $t | $(grep -F "$t |" "$expected" | head -1 | sed 's/^[^|]*|[[:space:]]*//')"
  done
fi
echo "e2e: $pass passed, $JUDGED_BAD failed, $((skip + xfail)) skipped"
exit $status
