#!/usr/bin/env bash
# Usage: conformance-check.sh RESULTS_DIR EXPECTED_FAILURES [PEER_RESULTS_DIR]
#
# Judges one run of runc's suite (RESULTS_DIR/*.tap) against the list of
# expected failures, one "file: test name | reason" per line ('#' comments).
# Fails (exit 1) on any failure not on the list, on any listed test that
# passed (an entry must be removed once it passes) and on a listed test that
# does not exist in a file that ran. With a peer's results (runc), also
# prints the tests the peer passes and sealrun does not. Ends with the
# judged line "conformance: N passed, N failed, N skipped", where failed
# counts what makes the check fail and skipped includes the expected
# failures (the raw counts are on the line that starts with "sealrun:").
set -euo pipefail
. "$(dirname "$0")/expected-failures.sh"
[ $# -ge 2 ] || { echo "usage: $0 RESULTS_DIR EXPECTED_FAILURES [PEER_RESULTS_DIR]" >&2; exit 2; }
results=$1 expected=$2 peer=${3:-}

# "file: name<TAB>pass|fail|skip" for every test of every TAP file in $1.
verdicts() {
  local f
  for f in "$1"/*.tap; do
    [ -e "$f" ] || continue
    awk -v file="$(basename "$f" .tap)" '
      /^(not )?ok [0-9]+ / {
        v = ($1 == "not") ? "fail" : "pass"
        line = $0
        sub(/^(not )?ok [0-9]+ /, "", line)
        if (line ~ / # skip/) { v = "skip"; sub(/ # skip.*$/, "", line) }
        sub(/ in [0-9]+ms$/, "", line)
        print file ": " line "\t" v
      }' "$f"
  done
}

verdicts "$results" | sort >"$results/verdicts.tsv"
expected_names "$expected" >"$results/expected.txt"
ran_files=$(cut -d: -f1 "$results/verdicts.tsv" | sort -u)

unexpected_fail=$(awk -F'\t' '$2 == "fail" {print $1}' "$results/verdicts.tsv" | comm -23 - "$results/expected.txt")
unexpected_pass=$(awk -F'\t' '$2 == "pass" {print $1}' "$results/verdicts.tsv" | comm -12 - "$results/expected.txt")
stale=$(cut -f1 "$results/verdicts.tsv" | sort -u | comm -13 - "$results/expected.txt" \
  | while IFS= read -r t; do grep -qxF "${t%%:*}" <<<"$ran_files" && echo "$t"; done || true)

count() { awk -F'\t' -v v="$2" '$2 == v' "$1" | wc -l; }
pass=$(count "$results/verdicts.tsv" pass) fail=$(count "$results/verdicts.tsv" fail) skip=$(count "$results/verdicts.tsv" skip)
known=$(awk -F'\t' '$2 == "fail" {print $1}' "$results/verdicts.tsv" | comm -12 - "$results/expected.txt" | wc -l)
echo "sealrun: $pass passed, $fail failed ($known expected), $skip skipped"
if [ -n "$peer" ]; then
  verdicts "$peer" | sort >"$peer/verdicts.tsv"
  echo "runc:    $(count "$peer/verdicts.tsv" pass) passed, $(count "$peer/verdicts.tsv" fail) failed, $(count "$peer/verdicts.tsv" skip) skipped"
  behind=$(join -t$'\t' "$peer/verdicts.tsv" "$results/verdicts.tsv" | awk -F'\t' '$2 == "pass" && $3 != "pass" {print $1}')
  echo "runc passes, sealrun does not: $(grep -c . <<<"$behind" || true)"
  [ -z "$behind" ] || sed 's/^/  /' <<<"$behind"
fi
status=0
judge_verdicts "$unexpected_fail" "$unexpected_pass" "$stale" \
  "fix them, or list them with the reason" "remove them from $expected" \
  "no such test in a file that ran" || status=1
echo "conformance: $pass passed, $JUDGED_BAD failed, $((skip + known)) skipped"
exit $status
