#!/usr/bin/env bash
# Checks make install / make uninstall (scripts/install.sh) into a temp
# DESTDIR with the binaries the build made: every file lands with its mode,
# the units start the installed binaries, the installed sealrun runs, and
# uninstall leaves nothing. Run by `make test`.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/build-env.sh
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
failed=0 passed=0
ok() { passed=$((passed + 1)); }
bad() { echo "install-test: $*"; failed=$((failed + 1)); }
PREFIX=/opt/sealed DESTDIR=$dest UNITDIR=/lib/systemd/system BIN_DIR=$BIN_DIR bash scripts/install.sh install >/dev/null || bad "install failed"
for b in sealrun memfd-bind sealmount exeseal-probe; do
  [ "$(stat -c %a "$dest/opt/sealed/bin/$b" 2>/dev/null)" = 755 ] && ok || bad "$b not installed 0755"
done
grep -q '^ExecStart=/opt/sealed/bin/memfd-bind "%f"$' "$dest/lib/systemd/system/memfd-bind@.service" && ok || bad "memfd-bind unit does not start the installed binary"
grep -q '^ExecStart=/opt/sealed/bin/sealmount "%f"$' "$dest/lib/systemd/system/sealmount@.service" && ok || bad "sealmount unit does not start the installed binary"
grep -rq '/usr/bin/memfd-bind\|/usr/local/bin/sealmount' "$dest/lib/systemd/system" && bad "a unit still names the source path" || ok
"$dest/opt/sealed/bin/sealrun" --version | grep -q "runc version" && ok || bad "installed sealrun does not run"
PREFIX=/opt/sealed DESTDIR=$dest UNITDIR=/lib/systemd/system bash scripts/install.sh uninstall >/dev/null || bad "uninstall failed"
left=$(find "$dest" -type f)
[ -z "$left" ] && ok || bad "uninstall left: $left"
echo "install-test: $passed passed, $failed failed"
[ $failed = 0 ]
