#!/usr/bin/env bash
# Check contrib/memfd-bind@.service with `systemd-analyze verify`, without
# installing anything: a temp copy of the template points ExecStart/ExecStop
# at BINARY (the built memfd-bind) instead of /usr/bin/memfd-bind, and an
# instance of it is verified through SYSTEMD_UNIT_PATH. Any diagnostic fails
# the check (systemd-analyze exits 0 on mere parse warnings such as an unknown
# Type=).
#
# usage: verify-unit.sh BINARY [PATH-TO-SERVE]
set -euo pipefail
bin=${1:?usage: verify-unit.sh BINARY [PATH-TO-SERVE]}
serve=${2:-/usr/bin/sealrun}
unit="$(dirname "$0")/memfd-bind@.service"
[[ -x $bin ]] || { echo "verify-unit: $bin is not an executable" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#/usr/bin/memfd-bind#${bin}#g" "$unit" > "$tmp/memfd-bind@.service"
instance="memfd-bind@$(systemd-escape -p "$serve").service"
out=$(SYSTEMD_UNIT_PATH="$tmp:" systemd-analyze verify --man=no "$instance" 2>&1) || {
    echo "$out" >&2
    echo "verify-unit: systemd-analyze verify failed for $instance" >&2
    exit 1
}
if [[ -n $out ]]; then
    echo "$out" >&2
    echo "verify-unit: systemd-analyze verify printed diagnostics for $instance" >&2
    exit 1
fi
echo "verify-unit: $instance OK (ExecStart=$bin \"%f\")"
