#!/usr/bin/env bash
# `make bench`: `<runtime> run -b bundle ctr` for every sealrun mode (and, with
# --peers, Debian's runc and crun and youki 0.7.0) in ONE hyperfine run, so the
# ratios are comparable. Writes bench/RESULTS.md and bench/results.json.
#
# Runs inside a private mount namespace so memfd-bind's mount (and anything
# else) disappears with it. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-env.sh
repo=$PWD
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-10}
peers=0
[ "${1:-}" = "--peers" ] && peers=1

if [ "${_BENCH_IN_NS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
  scripts/deps.sh --bench
  cargo build --release --workspace --locked >&2
  if [ $peers = 1 ]; then
    command -v runc >/dev/null || apt-get install -y -qq runc >/dev/null
    command -v crun >/dev/null || apt-get install -y -qq crun >/dev/null
    if [ ! -x bench/cache/bin/youki ]; then
      echo "bench: building youki 0.7.0 into bench/cache (one-off, several minutes)" >&2
      # youki as its project builds it: not with our static-PIE settings.
      env -u CARGO_BUILD_TARGET -u "CARGO_TARGET_$(printf %s "$host" | tr 'a-z.-' 'A-Z__')_RUSTFLAGS" \
        -u LIBSECCOMP_LINK_TYPE -u LIBSECCOMP_LIB_PATH \
        cargo install --quiet --locked --root bench/cache youki --version 0.7.0 \
        --no-default-features --features v1,v2,systemd >&2 || echo "bench: youki did not build; skipped" >&2
    fi
  fi
  exec env _BENCH_IN_NS=1 unshare -m --propagation private -- bash "$0" "$@"
fi

# crun 1.8 refuses hybrid cgroup hosts (v1 plus an empty cgroup2 at
# /sys/fs/cgroup/unified): with --peers every runtime runs in this private
# namespace with the unified mount hidden, i.e. a pure v1 view, so all see
# the same host.
if [ $peers = 1 ] && mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
  umount /sys/fs/cgroup/unified
fi

work=$(mktemp -d /tmp/sealrun-bench.XXXXXX)
daemons=
cleanup() {
  for d in $daemons; do kill "$d" 2>/dev/null && wait "$d" 2>/dev/null || true; done
  [ -x "$BIN_DIR"/sealmount ] && "$BIN_DIR"/sealmount --cleanup --lazy "$work/sealed" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Each runtime in a directory of its own (the overlay seals that directory),
# state dirs never under a runtime binary's directory.
mkdir -p "$work/bin" "$work/served-auto" "$work/served-memfd" "$work/sealed" "$work/state"
cp "$BIN_DIR"/sealrun "$work/bin/sealrun"
cp "$BIN_DIR"/sealrun "$work/served-auto/sealrun"
cp "$BIN_DIR"/sealrun "$work/served-memfd/sealrun"
cp "$BIN_DIR"/sealrun "$work/sealed/sealrun"
. bench/bundle.sh
. bench/serve.sh
bench_bundle "$work/bundle" "$work/bin/sealrun" '["/bin/true"]'

cmds=()
add() { cmds+=(-n "$1" "$2"); }
sr="$work/bin/sealrun"
for mode in none overlayfs hugetmpfs memfd tmpfile dmz hardened auto; do
  add "sealrun --seal $mode" "$sr --root $work/state/$mode --seal $mode run -b $work/bundle ctr"
done
if [ -x "$BIN_DIR"/memfd-bind ]; then
  # Both copies memfd-bind serves, side by side: its default (a huge-page
  # tmpfs copy where the kernel offers one) and runc's sealed memfd.
  for copy in auto memfd; do
    serve_with_memfd_bind "$work" $copy
    add "sealrun under memfd-bind ($served_kind)" "$work/served-$copy/sealrun --root $work/state/memfd-bind-$copy run -b $work/bundle ctr"
  done
fi
if [ -x "$BIN_DIR"/sealmount ]; then
  # Private namespace: the mount disappears with it.
  "$BIN_DIR"/sealmount "$work/sealed" >&2
  add "sealrun under sealmount" "$work/sealed/sealrun --root $work/state/sealmount run -b $work/bundle ctr"
fi
if [ $peers = 1 ]; then
  command -v runc >/dev/null && add "runc $(runc --version | head -1 | awk '{print $3}')" "runc --root $work/state/runc run -b $work/bundle ctr"
  command -v crun >/dev/null && add "crun $(crun --version | head -1 | awk '{print $3}')" "crun --root $work/state/crun run -b $work/bundle ctr"
  # youki 0.7.0 hung once in a few hundred runs here (waiting on its init);
  # bench/timeout-run.sh (a dash script plus timeout: two more execs, ~1.5 ms)
  # keeps one hang from stalling the whole run and clears the container a
  # killed run leaves; -i below lets a killed run count as an outlier.
  [ -x bench/cache/bin/youki ] && add "youki 0.7.0 (under timeout)" "bench/timeout-run.sh bench/cache/bin/youki --root $work/state/youki run -b $work/bundle ctr"
fi

hyperfine -N -i --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/h.json" "${cmds[@]}" >&2

# The same commands interleaved round by round (see interleave.py): on a
# shared VM this is the table to read.
specs=()
for ((i = 0; i < ${#cmds[@]}; i += 3)); do specs+=("${cmds[i+1]}=${cmds[i+2]}"); done
python3 bench/interleave.py "${ROUNDS:-200}" "$work/interleaved.json" "${specs[@]}" >"$work/interleaved.md"

# Memory: bytes each mode copies per invocation (seal-probe) and the peak RSS
# of one `run` (max RSS over the runtime's processes).
mem_json="$work/mem.json"
echo '{}' >"$mem_json"
for mode in none overlayfs hugetmpfs memfd tmpfile dmz hardened auto; do
  copied=$("$sr" --seal "$mode" seal-probe --format json | jq '.bytes_copied')
  rss=$(python3 - "$sr" "$work" "$mode" <<'PY'
import resource, subprocess, sys
sr, work, mode = sys.argv[1:4]
subprocess.run([sr, "--root", f"{work}/state/rss-{mode}", "--seal", mode, "run", "-b", f"{work}/bundle", "rss"], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
)
  jq --arg m "sealrun --seal $mode" --argjson c "$copied" --argjson r "$rss" '.[$m] = {bytes_copied: $c, peak_rss_kib: $r}' "$mem_json" >"$mem_json.n"
  mv "$mem_json.n" "$mem_json"
done

jq -s '{hyperfine: .[0], memory: .[1], interleaved: .[2]}' "$work/h.json" "$mem_json" "$work/interleaved.json" >bench/results.json
dmz_size=$(stat -c %s "$BIN_DIR"/dmz)
{
  echo "# sealrun benchmark: \`<runtime> run -b bundle ctr\` (busybox, /bin/true)"
  echo
  echo "Latest run: $(date -u '+%F %H:%M UTC') · kernel $(uname -r) · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') · $(nproc) CPUs · one hyperfine run, $RUNS runs each after $WARMUP warm-up"
  echo
  echo "sealrun binary: $(stat -c %s "$sr") bytes · dmz shim: $dmz_size bytes"
  echo
  echo "## Interleaved (${ROUNDS:-200} rounds, each command once per round in random order) — read this one"
  echo
  cat "$work/interleaved.md"
  echo
  echo "Paired ratio: each round's time divided by the same round's \`--seal none\` time, so load"
  echo "that drifts between rounds cancels; median and quartiles over all rounds."
  echo
  echo "## hyperfine (all runs of one command, then the next)"
  echo
  echo "| runtime | median ms | mean ± σ ms | min ms | ratio of medians to \`--seal none\` | ratio of means | bytes copied per call | peak RSS KiB |"
  echo "|---|---|---|---|---|---|---|---|"
  jq -r --slurpfile mem "$mem_json" '
    (.results[] | select(.command == "sealrun --seal none")) as $base
    | .results[]
    | ($mem[0][.command] // {}) as $m
    | "| \(.command) | \(.median*1000*100|round/100) | \(.mean*1000*100|round/100) ± \(.stddev*1000*100|round/100) | \(.min*1000*100|round/100) | \(.median/$base.median*100|round/100)x | \(.mean/$base.mean*100|round/100)x | \($m.bytes_copied // "—") | \($m.peak_rss_kib // "—") |"' "$work/h.json"
  echo
  echo "Absolute times are noisy on shared machines (σ is ~30% of the mean here); compare only"
  echo "ratios from one run, medians first. hyperfine runs the commands one after another, so"
  echo "load drifting during the run shows up as spread between neighbouring rows."
} >bench/RESULTS.md
# The README shows the latest interleaved table between its bench markers.
python3 - bench/RESULTS.md README.md <<'PY'
import re, sys
results, readme = (open(p).read() for p in sys.argv[1:3])
latest = re.search(r"^Latest run:.*$", results, re.M).group(0)
table = re.search(r"^\| runtime \|.*?(?=\n\n)", results, re.M | re.S).group(0)
block = f"<!-- bench:begin -->\n{latest}\n\n{table}\n<!-- bench:end -->"
new, n = re.subn(r"<!-- bench:begin -->.*?<!-- bench:end -->", lambda _: block, readme, flags=re.S)
if n != 1:
    sys.exit("bench: README.md has no bench:begin/bench:end block")
open(sys.argv[2], "w").write(new)
PY
cat bench/RESULTS.md
