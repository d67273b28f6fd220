#!/usr/bin/env bash
# Memory of N created containers (each `sealrun create` leaves its init
# process alive, running from the runtime's sealed image) per protection mode:
# the growth of Shmem in /proc/meminfo is what private copies (memfd, the
# huge-page tmpfs) cost; once started, the inits have exec'd the workload
# and the copies must be gone. Runs in a
# private mount namespace (memfd-bind's mount dies with it). Root only.
# Output: bench/memory.md
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-env.sh
N=${N:-50}
if [ "${_MEM_IN_NS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "memory: run as root" >&2; exit 1; }
  exec env _MEM_IN_NS=1 unshare -m --propagation private -- bash "$0" "$@"
fi
work=$(mktemp -d /tmp/sealrun-mem.XXXXXX)
daemons=
cleanup() {
  for id in $(seq "$N"); do "$work/bin/sealrun" --root "$work/state" delete --force "m$id" >/dev/null 2>&1 || true; done
  for d in $daemons; do kill "$d" 2>/dev/null && wait "$d" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin" "$work/served-auto" "$work/served-memfd" "$work/state"
cp "$BIN_DIR"/sealrun "$work/bin/sealrun"
cp "$BIN_DIR"/sealrun "$work/served-auto/sealrun"
cp "$BIN_DIR"/sealrun "$work/served-memfd/sealrun"
. bench/bundle.sh
. bench/serve.sh
bench_bundle "$work/bundle" "$work/bin/sealrun" '["sleep", "600"]'

shmem() { awk '/^Shmem:/ {print $2}' /proc/meminfo; }
measure() { # name, sealrun path, extra args
  local name=$1 sr=$2; shift 2
  sync; local before; before=$(shmem)
  for id in $(seq "$N"); do "$sr" --root "$work/state" "$@" create -b "$work/bundle" "m$id" >/dev/null; done
  local after; after=$(shmem)
  for id in $(seq "$N"); do "$sr" --root "$work/state" delete --force "m$id" >/dev/null; done
  # Started (run -d): each init has exec'd the workload, so whatever copy
  # it ran from must be gone.
  sync; local before_run; before_run=$(shmem)
  for id in $(seq "$N"); do "$sr" --root "$work/state" "$@" run -d -b "$work/bundle" "m$id" >/dev/null; done
  local after_run; after_run=$(shmem)
  for id in $(seq "$N"); do "$sr" --root "$work/state" delete --force "m$id" >/dev/null; done
  echo "| $name | $N | $(( (after - before) / 1024 )) | $(( (after - before) / N )) | $(( (after_run - before_run) / 1024 )) |"
}

size=$(stat -c %s "$work/bin/sealrun")
{
  echo "# Memory: $N created containers per mode (Shmem growth, /proc/meminfo)"
  echo
  echo "$(date -u '+%F %H:%M UTC') · kernel $(uname -r) · sealrun binary $size bytes ($((size / 1024)) KiB)"
  echo
  echo "| mode | containers | Shmem growth MiB, created | per created container KiB | Shmem growth MiB, started (run -d) |"
  echo "|---|---|---|---|---|"
  measure "--seal memfd" "$work/bin/sealrun" --seal memfd
  measure "--seal hugetmpfs" "$work/bin/sealrun" --seal hugetmpfs
  measure "--seal hardened" "$work/bin/sealrun" --seal hardened
  measure "--seal overlayfs" "$work/bin/sealrun" --seal overlayfs
  # memfd-bind's default copy (huge-page tmpfs where the kernel offers it:
  # up to one 2 MiB page more than the file) and runc's sealed memfd.
  for copy in auto memfd; do
    before=$(shmem)
    serve_with_memfd_bind "$work" $copy
    echo "| memfd-bind ($served_kind) daemon alone (one copy) | 0 | $(( ($(shmem) - before) / 1024 )) | — | — |"
    measure "served by memfd-bind ($served_kind)" "$work/served-$copy/sealrun"
  done
} >bench/memory.md # not a pipe: daemons must reach cleanup
cat bench/memory.md
