#!/usr/bin/env bash
# `make adopt-youki` (issue 16): youki 0.7.0 on exeseal instead of pentacle.
#
# youki calls `pentacle::ensure_sealed()` first thing in main and so copies its
# whole binary into a memfd on every call. This script, as root on a fresh
# Debian machine:
#   1. fetches youki 0.7.0's source from crates.io (checked against the
#      index's sha256; nothing of youki is kept in this repository) and builds
#      three variants of it into target/adopt-youki/bin/:
#        youki-pentacle  as published
#        youki-exeseal   bench/adopt-youki/exeseal.patch: exeseal::ensure_sealed()
#        youki-none      bench/adopt-youki/none.patch: no sealing (control)
#      all with the same features (v1,v2,systemd,seccomp: sealrun's) and the
#      project's build settings (scripts/build-env.sh: static PIE; the
#      workspace's release profile: opt-level s, fat LTO, one codegen unit,
#      stripped, panic=abort);
#   2. times `run` of a /bin/true busybox bundle with the three youki
#      variants and sealrun --seal none / auto in ONE interleaved run
#      (bench/interleave.py, ROUNDS, default 200) and shows what each call
#      runs from and copies; writes bench/adopt-youki.md;
#   3. runs the CVE-2019-5736 attack (bench/adopt-youki-attack.sh) against a
#      copy of each variant and prints a verdict table; exits non-zero on any
#      unexpected verdict.
# Builds are cached: a variant is rebuilt only when its patch (for
# youki-exeseal also crates/exeseal) is newer than its binary.
# Env: ROUNDS (default 200), SKIP_BENCH=1, SKIP_ATTACK=1.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
YOUKI_VERSION=0.7.0
# sha256 of youki-0.7.0.crate, as the crates.io index lists it (cksum).
YOUKI_SHA256=0db9124bcfe24842d30a69c6aad82f5b90d7c6a3ee92275179e3a6e86f6929a4
FEATURES=v1,v2,systemd,seccomp
AY=$repo/target/adopt-youki
ROUNDS=${ROUNDS:-200}

if [ "${_ADOPT_YOUKI_IN_NS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "adopt-youki: run as root" >&2; exit 1; }
  t_start=$(date +%s)
  scripts/deps.sh
  # What this script needs beyond deps.sh: curl and patch for the source,
  # a static libc for the attacker (gcc -static), python3 for interleave.py.
  need=()
  command -v curl >/dev/null || need+=(curl ca-certificates)
  command -v patch >/dev/null || need+=(patch)
  command -v python3 >/dev/null || need+=(python3)
  command -v timeout >/dev/null || need+=(coreutils)
  dpkg -s libc6-dev >/dev/null 2>&1 || need+=(libc6-dev)
  if [ ${#need[@]} -gt 0 ]; then
    echo "adopt-youki: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
  fi

  . scripts/build-env.sh
  # The project's binaries: sealrun for the comparison, memfd-bind and
  # sealmount for the "already sealed" attacks.
  echo "adopt-youki: building sealrun, memfd-bind, sealmount" >&2
  cargo build --release --locked -p sealrun -p memfd-bind -p sealmount >&2

  mkdir -p "$AY/bin" "$AY/src"
  crate=$AY/youki-$YOUKI_VERSION.crate
  if [ ! -f "$crate" ] || ! echo "$YOUKI_SHA256  $crate" | sha256sum -c --status; then
    echo "adopt-youki: fetching youki $YOUKI_VERSION from crates.io" >&2
    curl -sSfL "https://static.crates.io/crates/youki/youki-$YOUKI_VERSION.crate" -o "$crate.part"
    echo "$YOUKI_SHA256  $crate.part" | sha256sum -c --status \
      || { echo "adopt-youki: youki-$YOUKI_VERSION.crate does not match its crates.io checksum" >&2; exit 1; }
    mv "$crate.part" "$crate"
  fi

  # The workspace's release profile, for a crate outside the workspace.
  export CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=fat \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_PROFILE_RELEASE_PANIC=abort
  # One target dir: the second and third variants reuse the dependencies.
  export CARGO_TARGET_DIR=$AY/cargo
  # youki's build.rs asks git for a commit: not this repository's.
  export GIT_CEILING_DIRECTORIES=$AY/src

  # build_variant NAME PATCH|"" : target/adopt-youki/bin/youki-NAME
  build_variant() {
    local name=$1 patchf=$2 src=$AY/src/youki-$1 bin=$AY/bin/youki-$1 stamp
    stamp=${patchf:-$crate}
    if [ -x "$bin" ] && [ "$bin" -nt "$stamp" ] && [ "$bin" -nt "$crate" ] \
      && { [ "$name" != exeseal ] || [ -z "$(find crates/exeseal Cargo.toml Cargo.lock -newer "$bin" -print -quit)" ]; }; then
      echo "adopt-youki: youki-$name is up to date" >&2
      return
    fi
    echo "adopt-youki: building youki-$name (features $FEATURES)" >&2
    rm -rf "$src"
    mkdir -p "$src"
    tar xzf "$crate" -C "$src" --strip-components=1
    [ -z "$patchf" ] || (cd "$src" && patch -p1 --quiet --no-backup-if-mismatch <"$patchf")
    # The crate's (normalized) Cargo.toml: swap or drop the pentacle
    # dependency; an empty [workspace] keeps it out of this repository's.
    python3 - "$src/Cargo.toml" "$name" "$repo/crates/exeseal" <<'PY'
import sys
path, name, exeseal = sys.argv[1:4]
s = open(path).read()
dep = '[dependencies.pentacle]\nversion = "1.1.0"\n'
assert s.count(dep) == 1, "youki's Cargo.toml no longer has the pentacle dependency"
if name == "exeseal":
    s = s.replace(dep, f'[dependencies.exeseal]\npath = "{exeseal}"\n')
elif name == "none":
    s = s.replace(dep, "")
open(path, "w").write(s + "\n[workspace]\n")
PY
    local locked=()
    # As published: with youki's own Cargo.lock. The others add exeseal or
    # drop pentacle; every other dependency keeps its locked version.
    [ "$name" = pentacle ] && locked=(--locked)
    (cd "$src" && cargo build --release "${locked[@]}" --no-default-features --features "$FEATURES") >&2
    cp "$CARGO_TARGET_DIR/$CARGO_BUILD_TARGET/release/youki" "$bin.new"
    mv "$bin.new" "$bin"
  }
  build_variant pentacle ""
  build_variant exeseal "$repo/bench/adopt-youki/exeseal.patch"
  build_variant none "$repo/bench/adopt-youki/none.patch"
  [ "${BUILD_ONLY:-}" = 1 ] && exit 0

  # Everything else in a private mount namespace: memfd-bind's bind mount
  # and sealmount's overlay vanish with it whatever happens.
  export _ADOPT_YOUKI_IN_NS=1 BIN_DIR_ABS="$repo/$BIN_DIR" T_START=$t_start
  exec unshare -m --propagation private -- bash "$0" "$@"
fi

echo "adopt-youki: (in a private mount namespace)" >&2
BIN_DIR=$BIN_DIR_ABS
work=$(mktemp -d /tmp/adopt-youki.XXXXXX)
cleanup() {
  # Containers of a run that failed or timed out (bench/timeout-run.sh
  # deletes its own; this catches the rest), then the temp dir.
  local root c del
  for root in "$work"/state/*; do
    [ -d "$root" ] || continue
    for c in "$root"/*; do
      case ${root##*/} in
      sealrun* | obs-sr*) del=$work/sealrun/sealrun ;;
      *) del=$work/cleaner/youki ;;
      esac
      [ -e "$c" ] && "$del" --root "$root" delete --force "${c##*/}" >/dev/null 2>&1 || true
    done
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Each runtime alone in a directory of its own (exeseal's overlay seals the
# binary's directory); state dirs elsewhere. Copies only: the build output
# is never run by the benchmark or attacked.
declare -A rt=(
  [pentacle]="$work/pentacle/youki" [exeseal]="$work/exeseal/youki" [none]="$work/none/youki"
  [sealrun]="$work/sealrun/sealrun"
)
for v in pentacle exeseal none; do
  mkdir -p "$work/$v"
  cp "$AY/bin/youki-$v" "${rt[$v]}"
done
mkdir -p "$work/sealrun" "$work/cleaner" "$work/state"
cp "$BIN_DIR/sealrun" "${rt[sealrun]}"
cp "$AY/bin/youki-none" "$work/cleaner/youki"
. bench/bundle.sh
bench_bundle "$work/bundle" "${rt[sealrun]}" '["/bin/true"]'
mkdir -p "$work/bundle-sleep"
jq '.process.args = ["/bin/sleep", "1"] | .root.path = $r' --arg r "$work/bundle/rootfs" \
  "$work/bundle/config.json" >"$work/bundle-sleep/config.json"

names=("youki unprotected (none.patch)" "youki + pentacle (as published)" "youki + exeseal (exeseal.patch)"
  "sealrun --seal none" "sealrun --seal auto")
cmds=(
  "${rt[none]} --root $work/state/none run -b $work/bundle ctr"
  "${rt[pentacle]} --root $work/state/pentacle run -b $work/bundle ctr"
  "${rt[exeseal]} --root $work/state/exeseal run -b $work/bundle ctr"
  "${rt[sealrun]} --root $work/state/sealrun-none --seal none run -b $work/bundle ctr"
  "${rt[sealrun]} --root $work/state/sealrun-auto --seal auto run -b $work/bundle ctr"
)

md=$work/adopt-youki.md
size() { stat -c %s "$1"; }

if [ "${SKIP_BENCH:-}" != 1 ]; then
  # What each call runs from and copies, observed: /proc/<pid>/exe of a
  # running `run` (its link and filesystem; a memfd's size is the copy), and
  # what the sealing library itself reports (youki + exeseal: the `sealed`
  # debug line exeseal.patch logs; sealrun: its `seal: using` line).
  observe() { # KEY CMD... (a `run -b bundle-sleep ID` command line)
    local key=$1 pid exe fs bytes
    shift
    local id=${*: -1} root=$3
    "$@" >"$work/observe-$key.out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
      [ -e "$root/$id" ] && break
      sleep 0.05
    done
    sleep 0.2
    exe=$(readlink "/proc/$pid/exe" || echo '?')
    fs=$(stat -L -f -c %T "/proc/$pid/exe" 2>/dev/null || echo '?')
    bytes=$(stat -L -c %s "/proc/$pid/exe" 2>/dev/null || echo '?')
    wait "$pid" || { echo "adopt-youki: observing $key failed:" >&2; cat "$work/observe-$key.out" >&2; exit 1; }
    printf '%s\t%s\t%s\n' "${exe/$work/\$TMP}" "$fs" "$bytes" >"$work/observe-$key"
  }
  observe none "${rt[none]}" --root "$work/state/obs-none" run -b "$work/bundle-sleep" obs
  observe pentacle "${rt[pentacle]}" --root "$work/state/obs-pentacle" run -b "$work/bundle-sleep" obs
  observe exeseal "${rt[exeseal]}" --root "$work/state/obs-exeseal" --debug --log "$work/exeseal.log" --log-format json run -b "$work/bundle-sleep" obs
  observe sealrun-none "${rt[sealrun]}" --root "$work/state/obs-sr-none" --seal none --debug --log "$work/sealrun-none.log" run -b "$work/bundle-sleep" obs
  observe sealrun-auto "${rt[sealrun]}" --root "$work/state/obs-sr-auto" --seal auto --debug --log "$work/sealrun-auto.log" run -b "$work/bundle-sleep" obs
  exeseal_line=$(jq -r 'select(.message == "sealed") | "sealed mode=\(.mode) bytes_copied=\(.bytes_copied)"' \
    "$work/exeseal.log" | grep -m1 .) \
    || { echo "adopt-youki: no 'sealed' line in youki + exeseal's debug log" >&2; cat "$work/exeseal.log" >&2; exit 1; }
  seal_line() { grep -m1 -o 'seal: using [^"]*)' "$1" || echo '?'; }

  echo "adopt-youki: timing ($ROUNDS interleaved rounds of ${#cmds[@]} commands)" >&2
  specs=()
  # Every command under bench/timeout-run.sh (a hang must not stall the
  # run; youki 0.7.0 hangs now and then): the same two extra execs for all.
  for i in "${!cmds[@]}"; do specs+=("${names[i]}=bench/timeout-run.sh ${cmds[i]}"); done
  python3 bench/interleave.py "$ROUNDS" "$work/interleaved.json" "${specs[@]}" >"$work/interleaved.md"

  copied_row() { # NAME KEY BYTES HOW
    local exe fs b
    IFS=$'\t' read -r exe fs b <"$work/observe-$2"
    echo "| $1 | \`$exe\` | $fs | $3 | $4 |"
  }
  ysize=$(size "${rt[pentacle]}")
  {
    echo "| runtime | /proc/<pid>/exe of a running \`run\` | its fs | bytes copied per call | how known |"
    echo "|---|---|---|---|---|"
    copied_row "${names[0]}" none 0 "runs the file itself"
    IFS=$'\t' read -r _ _ b <"$work/observe-pentacle"
    copied_row "${names[1]}" pentacle "$b" "size of the memfd it runs from (= binary, $ysize bytes)"
    copied_row "${names[2]}" exeseal "${exeseal_line##*bytes_copied=}" "its \`--debug\` log: \`$exeseal_line\`"
    copied_row "${names[3]}" sealrun-none 0 "\`$(seal_line "$work/sealrun-none.log")\`"
    copied_row "${names[4]}" sealrun-auto "$("${rt[sealrun]}" --seal auto seal-probe --format json | jq .bytes_copied)" \
      "\`$(seal_line "$work/sealrun-auto.log")\`"
  } >"$work/copied.md"
fi

if [ "${SKIP_ATTACK:-}" != 1 ]; then
  echo "adopt-youki: CVE-2019-5736 against a copy of each variant" >&2
  attack_rc=0
  bash bench/adopt-youki-attack.sh "$AY/bin" "$BIN_DIR" >"$work/attack.md" || attack_rc=$?
fi

{
  echo "# youki 0.7.0 on exeseal instead of pentacle (\`make adopt-youki\`)"
  echo
  echo "Latest run: $(date -u '+%F %H:%M UTC') · kernel $(uname -r) · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') · $(nproc) CPUs"
  echo
  echo "youki $YOUKI_VERSION from crates.io, features \`$FEATURES\`, built like sealrun (scripts/build-env.sh: static PIE;"
  echo "opt-level s, fat LTO, 1 codegen unit, stripped, panic=abort). Sizes: youki + pentacle $(size "${rt[pentacle]}") B,"
  echo "youki + exeseal $(size "${rt[exeseal]}") B, youki unprotected $(size "${rt[none]}") B, sealrun $(size "${rt[sealrun]}") B."
  if [ -f "$work/interleaved.md" ]; then
    echo
    echo "## \`<runtime> run -b bundle ctr\` (busybox, /bin/true), $ROUNDS interleaved rounds"
    echo
    cat "$work/interleaved.md"
    echo
    echo "Every command runs under bench/timeout-run.sh (sh + timeout: the same two extra execs for all)."
    echo "Paired ratio: each round's time over the same round's \`${names[0]}\` time; CPU: user+sys of the whole"
    echo "process tree (wait4), which load on a shared machine disturbs far less than wall time."
    echo
    echo "## What each call runs from and copies"
    echo
    cat "$work/copied.md"
  fi
  if [ -f "$work/attack.md" ]; then
    echo
    echo "## CVE-2019-5736 (bench/adopt-youki-attack.sh)"
    echo
    cat "$work/attack.md"
  fi
} >"$md"
# The committed result file only from a complete run with every verdict as expected.
if [ "${SKIP_BENCH:-}" != 1 ] && [ "${SKIP_ATTACK:-}" != 1 ] && [ "${attack_rc:-0}" = 0 ]; then
  cp "$md" bench/adopt-youki.md
elif [ "${attack_rc:-0}" != 0 ]; then
  echo "adopt-youki: the attack gave an unexpected result (exit $attack_rc); bench/adopt-youki.md not updated" >&2
fi
cat "$md"
echo
echo "adopt-youki: done in $(($(date +%s) - T_START)) s" >&2
exit "${attack_rc:-0}"
