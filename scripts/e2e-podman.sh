# shellcheck shell=bash
# Sourced by scripts/e2e.sh: the podman checks (podman 4.3, conmon, the
# runtimes registered by name in the run's containers.conf as e2e-runc and
# e2e-sealrun). Same conventions as scripts/e2e-docker.sh.

# pr RUNTIME ARGS...: podman run with that runtime, no network, the
# runtime's own cgroup parent.
pr() {
  local rt=$1
  shift
  pm --runtime "e2e-$rt" run --network none --cgroup-parent "$CGROUP_PARENT/podman-$rt" "$@"
}
p_up() {
  local rt=$1
  shift
  pr "$rt" -d --name "$@" >/dev/null
}
p_rm() { pm rm -f -t 0 "$1" >/dev/null 2>&1 || true; }
p_state() { pm_quiet inspect -f "{{$2}}" "$1"; }
p_logs_have() { pm_quiet logs "$1" 2>&1 | grep -qF -- "$2"; }

p_run() {
  local out rc=0
  out=$(pr "$1" --rm e2e-busybox sh -c 'echo hello; exit 3') || rc=$?
  echo "out=$out exit=$rc"
}

# The run's containers.conf lowers podman's default ulimits (its defaults
# exceed this machine's hard limits: every runtime fails to set them).
p_ulimits() { pr "$1" --rm e2e-busybox sh -c 'echo "nofile=$(ulimit -n) nproc=$(ulimit -u)"'; }

p_exec() {
  local c=e2e-$1-pexec out rc=0
  p_up "$1" "$c" e2e-busybox sleep 600
  out=$(pm exec "$c" sh -c 'echo $((6 * 7))')
  pm exec "$c" sh -c 'exit 5' || rc=$?
  echo "out=$out exit=$rc"
  p_rm "$c"
}

p_read_only() {
  pr "$1" --rm --read-only --read-only-tmpfs=false e2e-busybox sh -c 'touch /file 2>&1; echo "rc=$?"'
}

# podman's --tmpfs mounts carry the `tmpcopyup` option (copy what the image
# has there into the new tmpfs): /etc has passwd and group in this image.
p_tmpfs() {
  local out rc=0
  out=$(pr "$1" --rm --tmpfs /etc:size=1m e2e-busybox sh -c \
    'grep " /etc " /proc/mounts | cut -d" " -f3; cut -d: -f1 /etc/passwd; echo x >/etc/new && cat /etc/new' 2>&1) || rc=$?
  echo "$out" >&2
  echo "exit=$rc $(tail -c 60 <<<"$out")"
}

p_update() {
  local c=e2e-$1-pupdate rc=0
  p_up "$1" "$c" -m 64m e2e-busybox sleep 600
  pm update --memory 96m "$c" >/dev/null || rc=$?
  # podman 4.3 keeps the old value in its own record (inspect): the host's
  # cgroup file is read instead.
  echo "update=$rc inside=$(pm exec "$c" sh -c "$MEMLIMIT")" \
    "host=$(cat "/sys/fs/cgroup/memory$CGROUP_PARENT/podman-$1/libpod-$(p_state "$c" .Id)/memory.limit_in_bytes" 2>&1)"
  p_rm "$c"
}

p_pause() {
  local c=e2e-$1-ppause
  p_up "$1" "$c" e2e-busybox sleep 600
  pm pause "$c" >/dev/null
  echo "$(p_state "$c" .State.Status)"
  pm unpause "$c" >/dev/null
  echo "$(p_state "$c" .State.Status) $(pm exec "$c" echo exec-ok)"
  p_rm "$c"
}

p_stop() {
  local c=e2e-$1-pstop
  p_up "$1" "$c" e2e-busybox sh -c 'trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done'
  wait_for 10 p_logs_have "$c" ready
  pm stop -t 20 "$c" >/dev/null
  echo "$(p_state "$c" .State.Status) exit=$(p_state "$c" .State.ExitCode)"
  p_rm "$c"
}

# A create that fails: podman reports the runtime's error once, then
# cleans up with `<runtime> delete --force`, which must not add an error
# of its own (podman prints whatever the runtime writes to stderr).
p_failed_create() {
  local rc=0 err
  err=$(pr "$1" --rm e2e-busybox /nonexistent 2>&1) || rc=$?
  echo "$err" >&2
  echo "exit=$rc error-lines=$(grep -ci 'error' <<<"$err")"
  grep -qF '/nonexistent' <<<"$err" && echo "names=/nonexistent" || echo "message-lacks-the-path"
}

# Every create and exec: the runtime's own log (runtime flags --debug and
# --log; podman 4.3's conmon passes no --log of its own to the runtime).
p_sealed() {
  local c=e2e-$1-psealed log=$T/podman-sealed.json
  : >"$log"
  local flags=(--runtime-flag debug --runtime-flag "log=$log" --runtime-flag log-format=json)
  pm "${flags[@]}" --runtime "e2e-$1" run -d --name "$c" --network none \
    --cgroup-parent "$CGROUP_PARENT/podman-$1" e2e-busybox sleep 600 >/dev/null
  pm "${flags[@]}" exec "$c" true
  pm "${flags[@]}" exec -t "$c" true >/dev/null
  pm "${flags[@]}" restart -t 1 "$c" >/dev/null
  pm "${flags[@]}" exec "$c" true
  p_rm "$c"
  seal_evidence "$log" --debug
}

podman_checks() {
  check "podman: run, output and exit code" "out=hello exit=3" p_run
  check "podman: default ulimits from containers.conf" "nofile=1024 nproc=512" p_ulimits
  check "podman: exec, output and exit code" "out=42 exit=5" p_exec
  check "podman: run --read-only" "touch: /file: Read-only file system rc=1" p_read_only
  check "podman: run --tmpfs (tmpcopyup)" "exit=0 tmpfs root x" p_tmpfs
  check "podman: update --memory 96m (read back)" "update=0 inside=100663296 host=100663296" p_update
  check "podman: pause, unpause" "paused running exec-ok" p_pause
  check "podman: stop (SIGTERM trap exits 7)" "exited exit=7" p_stop
  check "podman: failed create, one error naming the executable" "exit=127 error-lines=1 names=/nonexistent" p_failed_create
  check_sealrun "podman: every create and exec sealed (runtime's log)" "sealed 5/5 (*) via --debug" p_sealed
}
