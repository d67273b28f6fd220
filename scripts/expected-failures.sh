# shellcheck shell=bash
# Sourced by scripts/conformance-check.sh and scripts/e2e-check.sh: what both
# judges of an expected-failures list share. The list has one
# "name | reason" per line, '#' comments and blank lines ignored.

# expected_names FILE: the listed names, sorted, one per line.
expected_names() {
  { grep -v '^[[:space:]]*\(#\|$\)' "$1" || true; } | sed 's/[[:space:]]*|.*$//' | sort -u
}

# judge_verdicts UNEXPECTED_FAIL UNEXPECTED_PASS STALE FAIL_HINT PASS_HINT
# STALE_HINT: prints each non-empty list under its heading, sets JUDGED_BAD
# to how many entries they hold together, and returns 1 when there are any.
judge_verdicts() {
  local status=0
  JUDGED_BAD=0
  _judged_list() {
    [ -n "$2" ] || return 0
    echo "$1:"
    sed 's/^/  /' <<<"$2"
    JUDGED_BAD=$((JUDGED_BAD + $(grep -c . <<<"$2")))
    status=1
  }
  _judged_list "UNEXPECTED FAILURES ($4)" "$1"
  _judged_list "UNEXPECTED PASSES ($5)" "$2"
  _judged_list "STALE ENTRIES ($6)" "$3"
  return $status
}
