#!/usr/bin/env bash
# `sealrun run` on a host with many mounts (busy container hosts have
# thousands): every mode's cost must not grow with the mount count. Runs in a
# private mount namespace with MOUNTS (default 2000) extra tmpfs mounts, all
# gone with it. Output: bench/mounts.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-env.sh
MOUNTS=${MOUNTS:-2000}
ROUNDS=${ROUNDS:-100}

if [ "${_MOUNTS_IN_NS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "mounts bench: run as root" >&2; exit 1; }
  [ -x "$BIN_DIR"/sealrun ] || { echo "mounts bench: build first ($BIN_DIR/sealrun missing)" >&2; exit 1; }
  exec env _MOUNTS_IN_NS=1 unshare -m --propagation private -- bash "$0" "$@"
fi

work=$(mktemp -d /tmp/sealrun-mounts.XXXXXX)
cleanup() {
  [ -x "$BIN_DIR"/sealmount ] && "$BIN_DIR"/sealmount --cleanup --lazy "$work/sealed" >/dev/null 2>&1 || true
  umount -R "$work/many" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin" "$work/sealed" "$work/state" "$work/many"
cp "$BIN_DIR"/sealrun "$work/bin/sealrun"
cp "$BIN_DIR"/sealrun "$work/sealed/sealrun"
. bench/bundle.sh
bench_bundle "$work/bundle" "$work/bin/sealrun" '["/bin/true"]'

mount -t tmpfs many "$work/many"
for i in $(seq "$MOUNTS"); do
  mkdir "$work/many/$i"
  mount -t tmpfs "m$i" "$work/many/$i"
done
"$BIN_DIR"/sealmount "$work/sealed" >&2
lines=$(wc -l </proc/self/mountinfo)
read_ms=$(python3 -c '
import time
t = time.perf_counter()
for _ in range(50):
    open("/proc/self/mountinfo").read()
print(f"{(time.perf_counter() - t) * 20:.2f}")')

sr=$work/bin/sealrun
specs=()
for mode in none overlayfs auto memfd; do
  specs+=("sealrun --seal $mode=$sr --root $work/state/$mode --seal $mode run -b $work/bundle ctr")
done
specs+=("sealrun under sealmount=$work/sealed/sealrun --root $work/state/sealmount run -b $work/bundle ctr")
python3 bench/interleave.py "$ROUNDS" "$work/il.json" "${specs[@]}" >"$work/table.md"

{
  echo "# \`sealrun run\` with $MOUNTS extra mounts"
  echo
  echo "$(date -u '+%F %H:%M UTC') · kernel $(uname -r) · $(nproc) CPUs · $lines lines in /proc/self/mountinfo, one read of it: $read_ms ms · $ROUNDS interleaved rounds"
  echo
  cat "$work/table.md"
  echo
  echo "Every runtime pays for the mounts in \`none\` too (the container's mount namespace"
  echo "copies them). Sealing must add nothing that grows with them: it asks statmount(2)"
  echo "about the one mount it judges instead of reading mountinfo (before that change,"
  echo "overlayfs was 1.07x here, +7 ms)."
} >bench/mounts.md
cat bench/mounts.md
