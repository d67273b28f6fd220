#!/usr/bin/env bash
# `make syscalls`: the syscalls of one `sealrun --seal none run` of a busybox
# `true`, attributed to the code that made them (bench/syscalls.py): sealrun's
# own, libcontainer's (with libcgroups and the pathrs/procfs crates it
# calls), and process start-up. Needs a sealrun whose stacks strace can
# walk: built once more with symbols and frame pointers into
# target/syscalls (the release build is stripped). Writes bench/syscalls.md
# and bench/syscalls.json. Needs root and strace (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "syscalls: run as root" >&2; exit 1; }
command -v strace >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
. scripts/build-env.sh
repo=$PWD
flags_var="CARGO_TARGET_$(printf %s "$host" | tr 'a-z.-' 'A-Z__')_RUSTFLAGS"
export "$flags_var=${!flags_var:-} -C force-frame-pointers=yes -C force-unwind-tables=yes"
CARGO_TARGET_DIR=$repo/target/syscalls cargo build --release -p sealrun --locked \
  --config 'profile.release.strip=false' >&2
bin_built=$repo/target/syscalls/$host/release/sealrun

work=$(mktemp -d /tmp/sealrun-syscalls.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$bin_built" "$work/sealrun"
. bench/bundle.sh
bench_bundle "$work/bundle" "$work/sealrun" '["true"]'
# One untraced run first: the page cache, not the first call, is measured.
(cd "$work/bundle" && "$work/sealrun" --root "$work/root" --seal none run warm >/dev/null)
(cd "$work/bundle" && strace -k -ff -o "$work/trace" "$work/sealrun" --root "$work/root" --seal none run traced >/dev/null 2>&1)
{
  echo "# Syscalls per \`sealrun --seal none run\` (busybox \`true\`)"
  echo
  echo "\`make syscalls\` ($(date -u +%Y-%m-%d), $(uname -r)): one traced call after an untraced one;"
  echo "each syscall owned by the innermost frame of sealrun (crates sealrun, exeseal) or"
  echo "libcontainer (libcontainer, libcgroups, pathrs, procfs) on its stack, else start-up"
  echo "(execve, glibc's and Rust's runtime start-up, thread start). \`other\` is a thread of"
  echo "sealrun's main process (the work in the created container's mount namespace)."
  echo
  python3 bench/syscalls.py "$work/trace" "$work/sealrun" --json bench/syscalls.json
} >bench/syscalls.md
cat bench/syscalls.md
