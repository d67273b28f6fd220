#!/usr/bin/env bash
# fork+exec of a ~10 MiB binary: directly, and sealed by each exeseal strategy.
# One hyperfine run, all commands side by side, so only the ratios matter.
# Output: bench/exec-cost.md and bench/exec-cost.json.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-env.sh
RUNS=${RUNS:-200}
probe=${PROBE:-$BIN_DIR/exeseal-probe}
[ -x "$probe" ] || { echo "exec-cost: build first ($probe missing)" >&2; exit 1; }

work=$(mktemp -d /tmp/exeseal-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Pad a copy of the probe to ~10 MiB (trailing bytes are ignored by the ELF
# loader but copied by every copying strategy, like a real runtime binary).
bin=$work/probe
cp "$probe" "$bin"
size=$(stat -c %s "$bin")
target=$((10 * 1024 * 1024))
[ "$size" -lt "$target" ] && head -c $((target - size)) /dev/urandom >>"$bin"
chmod 0755 "$bin"
size=$(stat -c %s "$bin")

hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$work/h.json" \
  -n direct "$bin exit" \
  -n overlayfs "$bin ensure --only overlayfs" \
  -n userns-overlayfs "$bin ensure --only userns-overlayfs" \
  -n hugetmpfs "$bin ensure --only hugetmpfs" \
  -n memfd "$bin ensure --only memfd" \
  -n tmpfile "$bin ensure --only tmpfile" \
  -n unlinked-temp "$bin ensure --only unlinked-temp" >&2

cp "$work/h.json" bench/exec-cost.json
{
  echo "# fork+exec cost of a $((size / 1024)) KiB binary, sealed by each strategy"
  echo
  echo "$(date -u +%F) · kernel $(uname -r) · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') · $RUNS runs each, one hyperfine run"
  echo
  echo "| mode | median ms | mean ± σ ms | min ms | median ratio to direct |"
  echo "|---|---|---|---|---|"
  jq -r '(.results[] | select(.command=="direct") | .median) as $base
    | .results[] | "| \(.command) | \(.median*1000|.*100|round/100) | \(.mean*1000|.*100|round/100) ± \(.stddev*1000|.*100|round/100) | \(.min*1000|.*100|round/100) | \(.median/$base|.*100|round/100)x |"' "$work/h.json"
} >bench/exec-cost.md
cat bench/exec-cost.md
