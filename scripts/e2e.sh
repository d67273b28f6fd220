#!/usr/bin/env bash
# make e2e: docker, podman and containerd drive sealrun exactly as they drive
# runc. Every check runs once with a copy of runc and once with a copy of
# sealrun as the engine's runtime, in the same run, and must observe the same
# result (exit code, output, values read back), which must also be the
# concrete value the check names. Judged by e2e/expected-failures.txt
# (scripts/e2e-check.sh): any other failure, any listed check that passes
# and any stale entry fail the target.
#
#   scripts/e2e.sh                    every engine
#   E2E_ENGINES="docker ctr" ...      only these (docker, podman, ctr)
#   E2E_ONLY=REGEX ...                only the checks whose name matches
#
# Isolation (nothing of the host's container set-up is used or touched):
# - the whole suite runs in a private mount namespace (slave propagation:
#   nothing mounted here reaches the host) with a tmpfs over /run, so
#   containerd's shim sockets (/run/containerd/s, a path containerd 1.6
#   hard-codes) and sealrun's /run/exeseal land in a throwaway tmpfs, and
#   /var/lib behind an overlay whose writes land in the temp dir;
# - dockerd and containerd are private daemons: sockets, data roots, exec
#   roots, runtime state roots, pid files, all under one temp dir, stopped
#   by pid; podman runs with its own root, runroot, tmpdir and
#   containers.conf;
# - the runtimes are copies (runc from Debian, sealrun from $BIN_DIR), each
#   attacked binary a copy of its own; the machine's binaries are never run
#   as a container runtime;
# - every container's cgroup lies under /sealrun-e2e-<run>/ and must be gone
#   at the end; the host's default paths (/var/lib/docker, /run/containerd,
#   ...) that did not exist before must not exist after.
# Results: target/e2e/results.tsv, target/e2e/summary.txt, logs per check in
# target/e2e/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
OUT=$repo/target/e2e

# Default locations of the engines on the host: those missing now must still
# be missing after the run (a daemon that fell back to a default path would
# have created them).
HOST_DEFAULTS=(/var/lib/docker /var/lib/containerd /var/lib/containers /run/docker /run/docker.sock
  /run/containerd /run/libpod /run/containers /opt/containerd /etc/docker/key.json
  /root/.docker /root/.config/containers /root/.local/share/containers /run/runc /run/sealrun)

# remove_cgroups RUN_ID: the run's cgroup trees, /sys/fs/cgroup/*/sealrun-e2e-RUN_ID.
# On a cgroup filesystem a cgroup goes with rmdir (empty ones only); where a
# controller is not mounted (hugetlb, net_cls, ... here: plain directories
# on /sys/fs/cgroup's tmpfs), podman's cgroupfs manager still creates its
# directories and a "tasks" file, which only rm removes.
remove_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/sealrun-e2e-"$1"; do
    [ -d "$d" ] || continue
    case $(stat -f -c %T "$d") in
    tmpfs) rm -rf "$d" ;;
    *) find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true ;;
    esac
  done
}

# ---------------------------------------------------------------- outer part
if [ -z "${E2E_INNER:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "e2e: needs root (daemons, containers)" >&2; exit 1; }
  . scripts/build-env.sh
  [ -x "$BIN_DIR/sealrun" ] || { echo "e2e: no $BIN_DIR/sealrun (run make build)" >&2; exit 1; }
  for b in /usr/bin/docker /usr/sbin/dockerd /usr/bin/containerd /usr/bin/ctr /usr/bin/podman /usr/bin/conmon; do
    [ -x "$b" ] || { echo "e2e: no $b (scripts/deps.sh --e2e installs it)" >&2; exit 1; }
  done
  missing_before=()
  for p in "${HOST_DEFAULTS[@]}"; do [ -e "$p" ] || missing_before+=("$p"); done
  T=$(mktemp -d /tmp/sealrun-e2e.XXXXXX)
  # Kills what is left of this run, by pid: every process whose command line
  # or executable names the run's temp dir is ours (the dir name is unique).
  ours() {
    local p
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      [ "$p" = $$ ] && continue
      if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF "$T/" ||
        readlink "/proc/$p/exe" 2>/dev/null | grep -qF "$T/"; then
        echo "$p"
      fi
    done
  }
  outer_cleanup() {
    local left
    left=$(ours)
    if [ -n "$left" ]; then
      echo "e2e: killing leftover processes of this run: $(echo $left)" >&2
      kill -9 $left 2>/dev/null || true
      sleep 1
    fi
    # After a run that was cut short: the containers' processes (thawed
    # first: a frozen process cannot die), then their cgroups.
    if [ -d "/sys/fs/cgroup/freezer/sealrun-e2e-${T##*.}" ]; then
      find "/sys/fs/cgroup/freezer/sealrun-e2e-${T##*.}" -name freezer.state -exec sh -c 'echo THAWED >"$1"' _ {} \; 2>/dev/null || true
    fi
    cat /sys/fs/cgroup/*/sealrun-e2e-"${T##*.}"/cgroup.procs /sys/fs/cgroup/*/sealrun-e2e-"${T##*.}"/*/*/cgroup.procs 2>/dev/null |
      sort -u | xargs -r kill -9 2>/dev/null || true
    sleep 0.5
    remove_cgroups "${T##*.}"
    # Nothing should be mounted in the host's namespace; a mount that is
    # must not stop the removal of the temp dir silently.
    { grep -F " $T/" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf "$T"
  }
  trap outer_cleanup EXIT
  rc=0
  # The inner part in the background so that an interrupt can be passed on
  # to it: it tears its daemons and containers down before it exits.
  E2E_INNER=1 E2E_T=$T BIN_DIR=$BIN_DIR unshare --mount --propagation slave -- bash "$0" "$@" &
  inner=$!
  trap 'kill -TERM "$inner" 2>/dev/null || true' INT TERM
  while kill -0 "$inner" 2>/dev/null; do wait "$inner" || rc=$?; done
  # What the inner part cannot see from its own namespace.
  leaks=()
  left=$(ours)
  [ -z "$left" ] || leaks+=("processes of this run still alive after the suite: $(echo $left)")
  if grep -qF " $T/" /proc/self/mountinfo; then
    leaks+=("mounts of this run in the host's namespace: $(grep -F " $T/" /proc/self/mountinfo | awk '{print $5}' | tr '\n' ' ')")
  fi
  for p in "${missing_before[@]}"; do
    if [ -e "$p" ]; then leaks+=("$p did not exist before the suite and does now: a daemon used a default path"); fi
  done
  if ls -d /sys/fs/cgroup/*/sealrun-e2e-"${T##*.}" >/dev/null 2>&1; then
    leaks+=("cgroups of this run left: $(ls -d /sys/fs/cgroup/*/sealrun-e2e-"${T##*.}" | tr '\n' ' ')")
  fi
  if [ ${#leaks[@]} -gt 0 ]; then
    printf 'e2e: LEAK (host side): %s\n' "${leaks[@]}"
    rc=1
  fi
  exit $rc
fi

# ---------------------------------------------------------------- inner part
# From here on: a private mount namespace, root, $T the run's temp dir. An
# interrupt ends the run through the EXIT trap (teardown).
trap 'exit 130' INT
trap 'exit 143' TERM
T=$E2E_T
RUN_ID=${T##*.}
CGROUP_PARENT=/sealrun-e2e-$RUN_ID
ENGINES=${E2E_ENGINES:-docker podman ctr}
ONLY=${E2E_ONLY:-}
LOGS=$OUT/logs
rm -rf "$OUT"
mkdir -p "$LOGS"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
START=$(date +%s)
say() { echo "e2e: $*"; }
elapsed() { echo "$(($(date +%s) - START))s"; }

# A private /run: shim sockets, sealrun's /run/exeseal, podman's defaults.
mount -t tmpfs -o mode=0755,nosuid,nodev e2e-run /run
# /var/lib seen through an overlay whose upper layer is ours: podman 4.3
# (containers/image) writes its blob-info cache to /var/lib/containers/cache
# whatever --root says, and no option moves it. Anything an engine writes
# under /var/lib lands in $T/varlib/upper instead of on the host, and is
# judged at the end (only that cache is expected).
mkdir -p "$T/varlib/upper" "$T/varlib/work"
mount -t overlay -o "lowerdir=/var/lib,upperdir=$T/varlib/upper,workdir=$T/varlib/work" e2e-varlib /var/lib

# The runtimes under test, as copies. RUNC_SRC: Debian's runc.
RUNC_SRC=$(command -v runc || true)
[ -n "$RUNC_SRC" ] || RUNC_SRC=/usr/sbin/runc
mkdir -p "$T/bin" "$T/victim/runc" "$T/victim/sealrun" "$T/victim/none" "$T/pristine"
cp "$RUNC_SRC" "$T/bin/runc"
cp "$BIN_DIR/sealrun" "$T/bin/sealrun"
# Each CVE-2019-5736 target is a copy of its own in a directory of its own;
# the pristine copies are what they are compared with (and restored from).
cp "$RUNC_SRC" "$T/victim/runc/runc"
cp "$BIN_DIR/sealrun" "$T/victim/sealrun/sealrun"
cp "$BIN_DIR/sealrun" "$T/victim/none/sealrun"
cp "$RUNC_SRC" "$T/pristine/runc"
cp "$BIN_DIR/sealrun" "$T/pristine/sealrun"
say "runc $("$T/bin/runc" --version | head -1 | awk '{print $3}') ($RUNC_SRC), sealrun $("$T/bin/sealrun" --version | head -1 | awk '{print $3}') ($BIN_DIR/sealrun), copies in $T"

# ---------------------------------------------------------------- framework
# One line from whatever a check printed: no CRs, one space between words.
norm() { tr -d '\r' | tr '\n\t' '  ' | sed 's/  */ /g; s/^ //; s/ $//'; }
# The engines' commands, each bounded in time and echoed into the check's log.
# The trace goes to fd 9 (the check's log), so that a check can capture a
# command's stderr without it.
run_logged() { echo "+ $*" >&9; timeout -k 5 "${TMO:-90}" "$@"; }
exec 9>>"$OUT/setup.log"

NCHECK=0
selected() { [ -z "$ONLY" ] || [[ $1 =~ $ONLY ]]; }
slug() { printf '%03d-%s' "$NCHECK" "$(tr -c 'a-zA-Z0-9\n' '-' <<<"$1" | tr -s - | cut -c1-60)"; }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }
# observe RUNTIME FN ARGS...: FN's stdout as one line; its stderr (the
# commands it ran and what they said) into the check's log.
observe() {
  local rt=$1 fn=$2 log
  shift 2
  log="$LOGS/$SLUG.$rt.log"
  # A check's own status is not its verdict (it prints what it saw).
  ("$fn" "$rt" "$@" || true) 2>>"$log" 9>>"$log" </dev/null | norm
}
progress() { printf 'e2e: %-5s %4ss %-62s runc: %-28s sealrun: %s\n' "$1" "$(($(date +%s) - CHECK_START))" "$2" "${3:0:28}" "$4"; }

# judge NAME RUNC_WANT SEALRUN_WANT SAME FN [ARGS...]: the one place a check
# runs and is recorded. FN runc (not run when RUNC_WANT is "-"), then FN
# sealrun; each observation must match its WANT (a bash pattern), and with
# SAME=1 the two must also be equal.
judge() {
  local name=$1 rwant=$2 swant=$3 same=$4 fn=$5 r=- s v=pass
  shift 5
  selected "$name" || return 0
  NCHECK=$((NCHECK + 1))
  CHECK_START=$(date +%s)
  SLUG=$(slug "$name")
  [ "$rwant" = - ] || r=$(observe runc "$fn" "$@")
  s=$(observe sealrun "$fn" "$@")
  # shellcheck disable=SC2053 # the WANTs are patterns
  if [ "$rwant" != - ] && [[ $r != $rwant ]]; then v=fail; fi
  # shellcheck disable=SC2053
  [[ $s == $swant ]] || v=fail
  if [ "$same" = 1 ] && [ "$r" != "$s" ]; then v=fail; fi
  if [ $v = fail ]; then echo "want: runc $rwant, sealrun $swant" >>"$LOGS/$SLUG.sealrun.log"; fi
  record "$name" "$r" "$s" $v
  progress $v "$name" "$r" "$s"
}
# check NAME WANT FN [ARGS...]: both runtimes give the same result as each
# other, and it is the concrete value the check asks for.
check() { judge "$1" "$2" "$2" 1 "${@:3}"; }
# check_each NAME RUNC_WANT SEALRUN_WANT FN [ARGS...]: where the runtimes
# reach the same outcome in different ways, each against its own pattern.
check_each() { judge "$1" "$2" "$3" 0 "${@:4}"; }
# check_sealrun NAME WANT FN [ARGS...]: for what only sealrun has (its seal
# evidence, the --seal none control): FN sealrun must match WANT.
check_sealrun() { judge "$1" - "$2" 0 "${@:3}"; }
# skip NAME REASON: a check that cannot run here, with the reason.
skip() {
  selected "$1" || return 0
  CHECK_START=$(date +%s)
  record "$1" "-" "skipped: $2" skip
  progress skip "$1" "-" "skipped: $2"
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds (0) or time is up (1).
wait_for() {
  local end=$(($(date +%s) + $1))
  shift
  local rc
  until rc=0 && "$@" >/dev/null 2>&1 || { rc=$?; false; }; do
    [ $rc != 97 ] && [ "$(date +%s)" -lt $end ] || return 1
    sleep 0.2
  done
}
# stop_pid NAME PIDFILE: TERM, up to 20 s, then KILL; the pid file's process only.
stop_pid() {
  local name=$1 pidfile=$2 pid
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) ignored SIGTERM for 20 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
}

# ---------------------------------------------------------------- daemons
# daemon_up NAME PIDFILE COMMAND...: COMMAND answers; gives up at once (exit
# 97, which ends wait_for's loop too) when the daemon has died.
daemon_up() {
  local name=$1 pidfile=$2
  shift 2
  kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "$name died" >&2; return 97; }
  "$@"
}
# One private containerd serves dockerd (namespace moby) and ctr (e2e).
# SEALRUN_LOG=sealrun=debug reaches every sealrun its shims start (the shim
# passes its environment on): ctr has no way to hand runtime arguments to
# the shim, and sealrun's own debug lines are the evidence that each
# create/exec was sealed. (runc ignores the variable; docker's runtimes get
# --debug through runtimeArgs as well, as the README tells users.)
start_containerd() {
  mkdir -p "$T/containerd"
  cat >"$T/containerd/config.toml" <<EOF
version = 2
root = "$T/containerd/root"
state = "$T/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$T/containerd.sock"
[ttrpc]
  address = "$T/containerd.sock.ttrpc"
[debug]
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/containerd/opt"
EOF
  SEALRUN_LOG=sealrun=debug setsid containerd --config "$T/containerd/config.toml" \
    >>"$OUT/containerd.log" 2>&1 </dev/null &
  echo $! >"$T/containerd.pid"
  wait_for 30 daemon_up containerd "$T/containerd.pid" ctr --address "$T/containerd.sock" version ||
    { tail -20 "$OUT/containerd.log" >&2; say "containerd did not start"; return 1; }
}

start_dockerd() {
  mkdir -p "$T/docker/cli"
  cat >"$T/docker/daemon.json" <<EOF
{
  "runtimes": {
    "e2e-runc": { "path": "$T/bin/runc" },
    "e2e-sealrun": { "path": "$T/bin/sealrun", "runtimeArgs": ["--debug"] },
    "e2e-victim-runc": { "path": "$T/victim/runc/runc" },
    "e2e-victim-sealrun": { "path": "$T/victim/sealrun/sealrun", "runtimeArgs": ["--debug"] },
    "e2e-victim-none": { "path": "$T/victim/none/sealrun", "runtimeArgs": ["--debug", "--seal", "none"] }
  },
  "default-runtime": "e2e-runc",
  "deprecated-key-path": "$T/docker/key.json"
}
EOF
  setsid /usr/sbin/dockerd --config-file "$T/docker/daemon.json" \
    --host "unix://$T/docker.sock" --data-root "$T/docker/data" --exec-root "$T/docker/exec" \
    --pidfile "$T/docker.pid" --containerd "$T/containerd.sock" \
    --cgroup-parent "$CGROUP_PARENT/docker" \
    --bridge none --iptables=false --ip-masq=false --ip-forward=false \
    --storage-driver vfs --log-level warn >>"$OUT/dockerd.log" 2>&1 </dev/null &
  echo $! >"$T/dockerd.launched"
  wait_for 60 daemon_up dockerd "$T/dockerd.launched" dk_quiet version ||
    { tail -20 "$OUT/dockerd.log" >&2; say "dockerd did not start"; return 1; }
}
# The packaged client (a newer one may be first in PATH), its config in $T.
dk_quiet() { DOCKER_CONFIG=$T/docker/cli /usr/bin/docker -H "unix://$T/docker.sock" "$@"; }
dk() { DOCKER_CONFIG=$T/docker/cli run_logged /usr/bin/docker -H "unix://$T/docker.sock" "$@"; }

# The busybox rootfs (the project's own recipe) and the attack image: the
# static CVE-2019-5736 attacker of crates/sealrun/tests/exploit/ and a
# `#!/proc/self/exe` script for the runtime to exec.
build_rootfs() {
  bash crates/sealrun/tests/make-bundle.sh "$T/image/rootfs" >/dev/null
  cp -a "$T/image/rootfs" "$T/image/attack"
  gcc -static -O2 -Wall -o "$T/image/attack/attacker" crates/sealrun/tests/exploit/attacker.c
  printf '#!/proc/self/exe\n' >"$T/image/attack/exploit.sh"
  chmod 0755 "$T/image/attack/exploit.sh"
  mkdir -p "$T/image/attack/report"
}

# podman with the run's own storage, run dir, tmp dir and containers.conf
# (the runtimes by name: podman hands the name on to conmon's exit
# commands, which must find the same copies).
podman_setup() {
  mkdir -p "$T/podman"
  cat >"$T/podman/containers.conf" <<EOF
[containers]
# podman 4.3's defaults exceed this machine's hard limits (RLIMIT_NPROC):
# every runtime, runc included, fails to set them.
default_ulimits = ["nofile=1024:1024", "nproc=512:512"]
[engine]
events_logger = "file"
events_logfile_path = "$T/podman/events.log"
cgroup_manager = "cgroupfs"
runtime = "e2e-runc"
volume_path = "$T/podman/volumes"
[engine.runtimes]
e2e-runc = ["$T/bin/runc"]
e2e-sealrun = ["$T/bin/sealrun"]
[network]
network_config_dir = "$T/podman/networks"
EOF
}
PODMAN_BASE=(--root "$T/podman/storage" --runroot "$T/podman/run" --tmpdir "$T/podman/tmp"
  --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
pm_quiet() { CONTAINERS_CONF=$T/podman/containers.conf /usr/bin/podman "${PODMAN_BASE[@]}" "$@"; }
pm() { CONTAINERS_CONF=$T/podman/containers.conf run_logged /usr/bin/podman "${PODMAN_BASE[@]}" "$@"; }
cr_quiet() { ctr --address "$T/containerd.sock" -n e2e "$@"; }
cr() { run_logged ctr --address "$T/containerd.sock" -n e2e "$@"; }

# ctr imports image archives: the rootfs as a one-layer docker archive
# (docker save of the imported image when docker ran, else made here).
ctr_import() {
  if [ -S "$T/docker.sock" ]; then
    dk_quiet save e2e-busybox:latest >"$T/image/busybox.docker.tar"
  else
    docker_archive "$T/image/rootfs" "$T/image/busybox.docker.tar"
  fi
  cr_quiet images import "$T/image/busybox.docker.tar" >/dev/null
}
# docker_archive ROOTFS OUT: what `docker save` writes for a one-layer image
# imported from ROOTFS (manifest.json, config, layer.tar).
docker_archive() {
  local d
  d=$(mktemp -d "$T/archive.XXXX")
  tar -C "$1" -cf "$d/layer.tar" .
  local diff
  diff=sha256:$(sha256sum <"$d/layer.tar" | cut -d' ' -f1)
  jq -n --arg diff "$diff" '{architecture: "amd64", os: "linux", config: {Cmd: ["sh"]},
    rootfs: {type: "layers", diff_ids: [$diff]}}' >"$d/config.json"
  local cfg
  cfg=$(sha256sum <"$d/config.json" | cut -d' ' -f1)
  mv "$d/config.json" "$d/$cfg.json"
  jq -n --arg cfg "$cfg.json" '[{Config: $cfg, RepoTags: ["e2e-busybox:latest"], Layers: ["layer.tar"]}]' >"$d/manifest.json"
  tar -C "$d" -cf "$2" manifest.json "$cfg.json" layer.tar
  rm -rf "$d"
}

# seal_evidence LOG [ARG]: from a runtime log (JSON lines, appended by every
# runtime call): "sealed S/N (modes)" where N counts the sealrun calls that
# start container processes (create, run, exec; "sealrun started" names
# its argv) and S those preceded by a `seal: using <mode>` line of their
# own, mode not none. With ARG, " via ARG" when every such call had ARG
# on its command line (e.g. --debug, from the engine's runtime arguments).
seal_evidence() {
  jq -rs --arg need "${2:-}" '
    def cmd: . as $a | reduce range(1; $a | length) as $i ({skip: false, cmd: null};
      if .cmd != null then .
      elif .skip then .skip = false
      elif ($a[$i] | IN("--root", "--log", "--log-format", "--seal", "-r", "-l")) then .skip = true
      elif ($a[$i] | startswith("-")) then .
      else .cmd = $a[$i] end) | .cmd;
    [ .[] | if .msg == "sealrun started" then {k: "start", a: (.args | fromjson)}
            elif (.msg | startswith("seal: using ")) then {k: "seal", m: (.msg | split(" ")[2] | rtrimstr(":"))}
            else empty end ]
    | reduce .[] as $e ({pending: null, total: 0, sealed: 0, modes: [], with: 0};
        if $e.k == "seal" then .pending = $e.m
        else (if ($e.a | cmd | IN("create", "run", "exec")) then
                .total += 1
                | (if .pending != null and .pending != "none" then .sealed += 1 | .modes += [.pending] else . end)
                | (if $need != "" and ($e.a | index([$need])) != null then .with += 1 else . end)
              else . end) | .pending = null end)
    | "sealed \(.sealed)/\(.total) (\(.modes | unique | join(",")))"
      + (if $need != "" and .with == .total and .total > 0 then " via \($need)" else "" end)' "$1"
}

# ---------------------------------------------------------------- teardown
# Restores any attacked copy (docker needs a working runtime to remove the
# attacker's container), removes every container of every engine (each
# engine's own command, so its runtime cleans up), stops the daemons by pid,
# then unmounts what is left under $T in this namespace and removes the
# run's cgroups.
restore_victims() {
  cmp -s "$T/victim/runc/runc" "$T/pristine/runc" || cp "$T/pristine/runc" "$T/victim/runc/runc"
  local v
  for v in sealrun none; do
    cmp -s "$T/victim/$v/sealrun" "$T/pristine/sealrun" || cp "$T/pristine/sealrun" "$T/victim/$v/sealrun"
  done
}
docker_clean() {
  local ids
  [ -S "$T/docker.sock" ] || return 0
  ids=$(dk_quiet ps -aq 2>/dev/null) || return 0
  [ -z "$ids" ] || TMO=120 dk rm -f $ids >/dev/null 2>&1 || true
}
podman_clean() {
  [ -e "$T/podman/containers.conf" ] || return 0
  TMO=120 pm rm -af -t 0 >/dev/null 2>&1 || true
  # podman's exit commands (`podman container cleanup`) run after a
  # container ends; let them finish before anything is checked or removed.
  wait_for 20 no_process_matching "$T/podman/storage.*cleanup" || true
}
ctr_clean() {
  local id
  [ -S "$T/containerd.sock" ] || return 0
  for id in $(cr_quiet containers ls -q 2>/dev/null); do c_gone "$id"; done
}
no_process_matching() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$1" && return 1
  done
  return 0
}
teardown() {
  set +e
  exec 9>>"$OUT/setup.log"
  restore_victims
  docker_clean
  stop_pid dockerd "$T/docker.pid"
  ctr_clean
  stop_pid containerd "$T/containerd.pid"
  podman_clean
  # Shims outlive containerd by design; ours name our socket.
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q "containerd-shim.*$T/containerd.sock"; then
      say "stopping leftover shim $p"
      kill -KILL "$p"
    fi
  done
  { grep -F " $T/" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  remove_cgroups "$RUN_ID"
  set -e
}
trap teardown EXIT

# leftovers RUNTIME ENGINE: what that runtime left behind for that engine
# once every container is removed: "none", or what is left. Runtime state
# dirs, cgroups below the runtime's parent (podman's shared "conmon"
# cgroup is no container's), mounts of containers, processes of the copy.
leftovers() {
  local rt=$1 engine=$2 out="" d e cg m p cmd
  case $engine in
  docker) d="$T/docker/exec/runtime-*/moby" ;;
  podman) d="/run/$rt" ;;
  ctr) d="$T/ctr-root/$rt/e2e" ;;
  esac
  for d in $d; do
    [ -d "$d" ] || continue
    for e in "$d"/*; do
      [ -e "$e" ] || continue
      # docker keeps every runtime's state in one dir: sealrun's records
      # carry sealrun.json.
      if [ "$engine" = docker ]; then
        if [ -e "$e/sealrun.json" ]; then [ "$rt" = sealrun ] || continue; else [ "$rt" = runc ] || continue; fi
      fi
      out+="state:$e "
    done
  done
  cg=$(find /sys/fs/cgroup -mindepth 2 -type d -path "*$CGROUP_PARENT/$engine-$rt/*" ! -name conmon 2>/dev/null | sed 's|^/sys/fs/cgroup/||' | head -3)
  [ -z "$cg" ] || out+="cgroup:$(echo $cg) "
  m=$(grep -F " $T/" /proc/self/mountinfo | awk '{print $5}' | grep -E "/(rootfs|merged|shm|mounts)(/|$)" || true)
  [ -z "$m" ] || out+="mount:$(echo $m | cut -c1-200) "
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    case $cmd in "$T/bin/$rt "* | "$T/victim/"*) out+="process:${p#/proc/}:${cmd:0:80} " ;; esac
  done
  echo "${out:-none}"
}

. scripts/e2e-docker.sh
. scripts/e2e-podman.sh
. scripts/e2e-ctr.sh

# ---------------------------------------------------------------- main
say "building the images (busybox from busybox-static, the attacker with gcc -static)"
build_rootfs
for engine in $ENGINES; do
  engine_start=$(date +%s)
  case $engine in
  docker)
    [ -S "$T/containerd.sock" ] || start_containerd
    start_dockerd
    tar -C "$T/image/rootfs" -c . | dk_quiet import - e2e-busybox:latest >/dev/null
    tar -C "$T/image/attack" -c . | dk_quiet import - e2e-attack:latest >/dev/null
    say "docker $(dk_quiet version -f '{{.Server.Version}}') ready ($(elapsed))"
    docker_checks
    ;;
  podman)
    podman_setup
    tar -C "$T/image/rootfs" -c . | pm_quiet import - e2e-busybox >/dev/null 2>&1
    say "podman $(pm_quiet version -f '{{.Client.Version}}') ready ($(elapsed))"
    podman_checks
    ;;
  ctr)
    [ -S "$T/containerd.sock" ] || start_containerd
    ctr_import
    say "containerd $(containerd --version | awk '{print $3}') ready ($(elapsed))"
    ctr_checks
    ;;
  *) say "unknown engine $engine (docker, podman, ctr)"; exit 2 ;;
  esac
  # Every container removed with the engine's own command: nothing of
  # either runtime may be left.
  "${engine}_clean"
  check "$engine: nothing left behind (state, cgroups, mounts, processes)" none leftovers "$engine"
  say "$engine done in $(($(date +%s) - engine_start))s"
done

# Daemons down and everything removed before judging: the table comes last.
teardown
trap - EXIT
# What reached /var/lib (the overlay's upper layer, see above): nothing but
# podman's blob-info cache.
host_varlib() {
  local w
  w=$(cd "$T/varlib/upper" && find . -mindepth 1 ! -type d | sed 's|^\./||' |
    grep -vx 'containers/cache/blob-info-cache-v1.boltdb' | head -5 | tr '\n' ' ') || true
  echo "${w:-none}"
}
check_sealrun "host: nothing written under /var/lib (but podman's blob cache)" none host_varlib
say "suite done in $(elapsed); results in $RESULTS, logs in $LOGS"
# With E2E_ONLY, entries of checks that were left out are not stale.
bash scripts/e2e-check.sh "$RESULTS" e2e/expected-failures.txt "$([ -n "$ONLY" ] || echo "$ENGINES")" | tee "$OUT/summary.txt"
