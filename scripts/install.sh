#!/usr/bin/env bash
# Usage: install.sh install|uninstall
#
# make install / make uninstall: sealrun, memfd-bind, sealmount and
# exeseal-probe into $DESTDIR$PREFIX/bin (PREFIX default /usr/local), the
# systemd units of memfd-bind and sealmount into $DESTDIR$UNITDIR (default
# /etc/systemd/system) with their ExecStart paths pointing at that bin dir.
# Binaries come from $BIN_DIR (scripts/build-env.sh). Nothing is enabled or
# started: see the README for the engine configuration and the units.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-}
prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
unitdir=${UNITDIR:-/etc/systemd/system}
bindir=$prefix/bin
bins=(sealrun memfd-bind sealmount exeseal-probe)
units=(memfd-bind@.service sealmount@.service)
case $action in
  install)
    : "${BIN_DIR:?BIN_DIR is not set (source scripts/build-env.sh or use make install)}"
    for b in "${bins[@]}"; do
      [ -x "$BIN_DIR/$b" ] || { echo "install: $BIN_DIR/$b missing (make build)" >&2; exit 1; }
    done
    install -d "$destdir$bindir" "$destdir$unitdir"
    for b in "${bins[@]}"; do
      install -m 0755 "$BIN_DIR/$b" "$destdir$bindir/$b"
    done
    # The units name the binaries where this install puts them.
    sed -e "s#/usr/bin/memfd-bind#$bindir/memfd-bind#g" \
      crates/memfd-bind/contrib/memfd-bind@.service >"$destdir$unitdir/memfd-bind@.service"
    sed -e "s#/usr/local/bin/sealmount#$bindir/sealmount#g" \
      crates/sealmount/contrib/sealmount@.service >"$destdir$unitdir/sealmount@.service"
    chmod 0644 "$destdir$unitdir"/memfd-bind@.service "$destdir$unitdir"/sealmount@.service
    echo "installed ${bins[*]} in $destdir$bindir, ${units[*]} in $destdir$unitdir"
    ;;
  uninstall)
    for b in "${bins[@]}"; do rm -f "$destdir$bindir/$b"; done
    for u in "${units[@]}"; do rm -f "$destdir$unitdir/$u"; done
    echo "removed ${bins[*]} from $destdir$bindir, ${units[*]} from $destdir$unitdir"
    ;;
  *)
    echo "usage: $0 install|uninstall (PREFIX, DESTDIR, UNITDIR from the environment)" >&2
    exit 2
    ;;
esac
