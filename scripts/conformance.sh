#!/usr/bin/env bash
# make conformance: runc v1.1.5's own integration suite (the kit in
# ../shared/conformance) against sealrun, judged by conformance/expected-failures.txt.
#
#   scripts/conformance.sh [--peers] [FILE...]     FILE: a .bats name without .bats
#
# The kit is copied to a temp dir and completed there (it is read-only and
# ships neither its test images nor Go): scripts/conformance-images.sh builds
# the busybox and "debian" root filesystems offline, and a `go` stand-in
# answers the one question runc's get-images.sh asks it (the architecture).
# sealrun runs as a copy of the built binary ($BIN_DIR/sealrun, `make build`)
# with its default `--seal auto`. --peers also runs Debian's runc (installed
# from apt when missing) in the same run, for the side-by-side numbers.
# Results (TAP per file) land in target/conformance/<runtime>/.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=0
if [ "${1:-}" = "--peers" ]; then peers=1; shift; fi
kit=${CONFORMANCE_KIT:-../shared/conformance}
[ -x "$kit/run-runc-suite.sh" ] || { echo "conformance: no kit at $kit (expected ../shared/conformance)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "conformance: runc's suite needs root" >&2; exit 1; }
. scripts/build-env.sh
[ -x "$BIN_DIR/sealrun" ] || { echo "conformance: no $BIN_DIR/sealrun (run make build)" >&2; exit 1; }
case $(dpkg --print-architecture) in
  amd64) arch=amd64 ;; arm64) arch=arm64 ;; i386) arch=386 ;;
  ppc64el) arch=ppc64le ;; s390x) arch=s390x ;;
  *) echo "conformance: no busybox image name for $(dpkg --print-architecture)" >&2; exit 1 ;;
esac

work=$(mktemp -d /tmp/sealrun-conformance.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/kit" "$work/bin"
cp -a "$kit/." "$work/kit/"
chmod -R u+w "$work/kit"
bash scripts/conformance-images.sh "$work/kit/runc-v1.1.5/tests/integration/testdata" "$arch"
cat >"$work/bin/go" <<GO
#!/bin/sh
# Stand-in for what runc's get-images.sh asks Go: the architecture.
case "\$*" in
  "env GOARCH") echo $arch ;;
  "env GOARM") echo ;;
  *) echo "go stand-in: only 'go env GOARCH' and 'go env GOARM'" >&2; exit 1 ;;
esac
GO
chmod +x "$work/bin/go"
export PATH="$work/bin:$PATH"
cp "$BIN_DIR/sealrun" "$work/bin/sealrun"

out=target/conformance
suite() { # NAME BINARY [FILE...]
  local name=$1 bin=$2
  shift 2
  echo "conformance: runc's suite against $name"
  RESULTS_DIR="$out/$name" bash "$work/kit/run-runc-suite.sh" "$bin" "$@" >"$out/$name.log" 2>&1 \
    || { tail -5 "$out/$name.log" >&2; echo "conformance: the suite itself failed for $name" >&2; exit 1; }
  cat "$out/$name/summary.txt"
}
mkdir -p "$out"
suite sealrun "$work/bin/sealrun" "$@"
peer=()
if [ $peers = 1 ]; then
  command -v runc >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null; }
  cp "$(command -v runc)" "$work/bin/runc"
  suite runc "$work/bin/runc" "$@"
  peer=("$out/runc")
fi
bash scripts/conformance-check.sh "$out/sealrun" conformance/expected-failures.txt "${peer[@]}"
