# shellcheck shell=bash
# Sourced by scripts/e2e.sh: the docker checks. Each function takes the
# runtime (runc or sealrun; the daemon knows their copies as e2e-runc and
# e2e-sealrun) and prints what it observed, normalised so that the same
# behaviour prints the same line (no container ids, pts numbers or sizes
# that differ between two runs of the same runtime).

# dr RUNTIME ARGS...: docker run with that runtime, no network, the
# runtime's own cgroup parent (so that what it leaves is its own).
dr() {
  local rt=$1
  shift
  dk run --runtime "e2e-$rt" --network none --cgroup-parent "$CGROUP_PARENT/docker-$rt" "$@"
}
# d_up RUNTIME NAME [RUN ARGS...] IMAGE CMD...: a detached container.
d_up() {
  local rt=$1
  shift
  dr "$rt" -d --name "$@" >/dev/null
}
d_rm() { dk rm -f "$1" >/dev/null 2>&1 || true; }
d_id() { dk_quiet inspect -f '{{.Id}}' "$1"; }
d_state() { dk_quiet inspect -f "{{$2}}" "$1"; }
# d_logs_have NAME TEXT: TEXT is in the container's output.
d_logs_have() { dk_quiet logs "$1" 2>&1 | grep -qF -- "$2"; }

d_run_exit() {
  local rc=0
  dr "$1" --rm e2e-busybox sh -c 'exit 3' || rc=$?
  echo "exit=$rc"
}

d_run_output() {
  local out rc=0
  out=$(dr "$1" --rm e2e-busybox echo hello from busybox) || rc=$?
  echo "exit=$rc out=$out"
}

d_detached_logs() {
  local c=e2e-$1-logs out err
  d_up "$1" "$c" e2e-busybox sh -c 'echo to-stdout; echo to-stderr >&2; exec sleep 600'
  wait_for 10 d_logs_have "$c" to-stderr
  out=$(dk logs "$c" 2>/dev/null)
  err=$(dk logs "$c" 2>&1 >/dev/null)
  echo "status=$(d_state "$c" .State.Status) stdout=$out stderr=$err"
  d_rm "$c"
}

d_exec() {
  local c=e2e-$1-exec out rc=0
  d_up "$1" "$c" e2e-busybox sleep 600
  out=$(dk exec "$c" sh -c 'echo $((6 * 7))')
  dk exec "$c" sh -c 'exit 5' || rc=$?
  echo "out=$out exit=$rc"
  d_rm "$c"
}

d_exec_tty() {
  local c=e2e-$1-exect out
  d_up "$1" "$c" e2e-busybox sleep 600
  out=$(dk exec -t "$c" sh -c 'tty; [ -t 1 ] && echo stdout-is-a-tty')
  echo "$out" | sed 's|/dev/pts/[0-9]*|/dev/pts/N|'
  d_rm "$c"
}

d_exec_user() {
  local c=e2e-$1-execu
  d_up "$1" "$c" e2e-busybox sleep 600
  dk exec -u 1000:1000 "$c" id
  d_rm "$c"
}

# An exec'd process is not a child of the container's init: it must load
# docker's default seccomp profile itself, and end with the init's
# capabilities (libcontainer 0.7.0 loaded no profile for it).
d_exec_seccomp() {
  local c=e2e-$1-execsc init own
  d_up "$1" "$c" e2e-busybox sleep 600
  init=$(dk exec "$c" grep -E '^(Seccomp|Cap(Eff|Prm|Bnd)|NoNewPrivs):' /proc/1/status | tr -s ' \t' ' ')
  own=$(dk exec "$c" grep -E '^(Seccomp|Cap(Eff|Prm|Bnd)|NoNewPrivs):' /proc/self/status | tr -s ' \t' ' ')
  echo "$own" | grep '^Seccomp:' | tr '\n' ' '
  [ "$init" = "$own" ] && echo "as-init" || echo "init=[$init] exec=[$own]"
  d_rm "$c"
}

d_top() {
  local c=e2e-$1-top
  d_up "$1" "$c" e2e-busybox sleep 600
  dk top "$c" -o pid,args | awk 'NR == 1 { print $2; next } { $1 = ""; print }'
  d_rm "$c"
}

# Paused: the freezer cgroup says FROZEN and docker refuses exec; after
# unpause, THAWED and exec works.
d_pause() {
  local c=e2e-$1-pause id fz rc=0 out
  d_up "$1" "$c" e2e-busybox sleep 600
  id=$(d_id "$c")
  fz=/sys/fs/cgroup/freezer$CGROUP_PARENT/docker-$1/$id/freezer.state
  dk pause "$c" >/dev/null
  echo "$(d_state "$c" .State.Status) $(cat "$fz" 2>/dev/null || echo no-freezer-cgroup)"
  dk exec "$c" true 2>/dev/null || rc=$?
  echo "exec-while-paused=$rc"
  dk unpause "$c" >/dev/null
  out=$(dk exec "$c" echo exec-ok)
  echo "$(d_state "$c" .State.Status) $(cat "$fz" 2>/dev/null || echo no-freezer-cgroup) $out"
  d_rm "$c"
}

# stats reads the cgroups through containerd's shim: pids and a memory
# limit it must see, usage above zero.
d_stats() {
  local c=e2e-$1-stats line
  d_up "$1" "$c" -m 64m e2e-busybox sleep 600
  line=$(dk stats --no-stream --format '{{.PIDs}}|{{.MemUsage}}' "$c")
  echo "$line" | awk -F'|' '{ split($2, m, " / "); u = m[1]; sub(/[A-Za-z]+$/, "", u)
    printf "pids=%s mem-used=%s limit=%s\n", $1, (u + 0 > 0 ? "nonzero" : "zero:" m[1]), m[2] }'
  d_rm "$c"
}

# kill -s: a handled signal reaches the workload, KILL ends it with 137.
d_kill() {
  local c=e2e-$1-kill handled=no
  d_up "$1" "$c" e2e-busybox sh -c 'trap "echo got-USR1" USR1; echo ready; while :; do sleep 0.1; done'
  wait_for 10 d_logs_have "$c" ready
  dk kill -s USR1 "$c" >/dev/null
  wait_for 10 d_logs_have "$c" got-USR1 && handled=yes
  dk kill -s KILL "$c" >/dev/null
  echo "USR1-handled=$handled exit=$(TMO=30 dk wait "$c")"
  d_rm "$c"
}

d_restart() {
  local c=e2e-$1-restart p1 p2
  d_up "$1" "$c" e2e-busybox sleep 600
  p1=$(d_state "$c" .State.Pid)
  dk restart -t 1 "$c" >/dev/null
  p2=$(d_state "$c" .State.Pid)
  [ "$p1" != "$p2" ] && [ "$p2" -gt 0 ] && echo "new-pid" || echo "same-pid:$p1:$p2"
  echo "$(d_state "$c" .State.Status) $(dk exec "$c" echo exec-ok)"
  d_rm "$c"
}

# stop: SIGTERM reaches the workload's trap, which exits 7.
d_stop() {
  local c=e2e-$1-stop
  d_up "$1" "$c" e2e-busybox sh -c 'trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done'
  wait_for 10 d_logs_have "$c" ready
  dk stop -t 20 "$c" >/dev/null
  echo "$(d_state "$c" .State.Status) exit=$(d_state "$c" .State.ExitCode)"
  d_rm "$c"
}

# rm -f of a running container: gone for docker, and its runtime state dir
# and cgroup gone with it.
d_rm_force() {
  local c=e2e-$1-rm id rc=0 irc=0 state=gone cg=gone
  d_up "$1" "$c" e2e-busybox sleep 600
  id=$(d_id "$c")
  dk rm -f "$c" >/dev/null || rc=$?
  dk_quiet inspect "$c" >/dev/null 2>&1 || irc=$?
  ls -d "$T"/docker/exec/runtime-*/moby/"$id" >/dev/null 2>&1 && state=left
  [ -d "/sys/fs/cgroup/memory$CGROUP_PARENT/docker-$1/$id" ] && cg=left
  echo "rm=$rc inspect=$irc state=$state cgroup=$cg"
}

d_run_tty() {
  dr "$1" --rm -t e2e-busybox sh -c 'tty; [ -t 0 ] && echo stdin-is-a-tty' | sed 's|/dev/pts/[0-9]*|/dev/pts/N|'
}

# The limit as the container reads it (cgroup v1 or v2).
MEMLIMIT='cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
d_memory() { dr "$1" --rm -m 64m e2e-busybox sh -c "$MEMLIMIT"; }
d_pids() { dr "$1" --rm --pids-limit 42 e2e-busybox sh -c 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max'; }
d_user() { dr "$1" --rm -u 1234:5678 e2e-busybox id; }
d_read_only() {
  dr "$1" --rm --read-only e2e-busybox sh -c 'touch /file 2>&1; echo "rc=$?"; [ -w /proc/self/fd/1 ] && echo stdout-writable'
}
d_caps() { dr "$1" --rm "${@:2}" e2e-busybox grep -E '^Cap(Eff|Bnd)' /proc/self/status; }
d_env_workdir() { dr "$1" --rm -e FOO=bar -e 'SPACED=a b' -w /tmp e2e-busybox sh -c 'echo "$FOO|$SPACED|$PWD"'; }
d_init() {
  local rc=0 out
  out=$(dr "$1" --rm --init e2e-busybox sh -c 'cat /proc/1/comm; exit 4') || rc=$?
  echo "pid1=$out exit=$rc"
}

# docker update --memory: the new limit, read back inside and from docker.
d_update() {
  local c=e2e-$1-update rc=0
  d_up "$1" "$c" -m 64m --memory-swap 256m e2e-busybox sleep 600
  dk update --memory 96m "$c" >/dev/null || rc=$?
  echo "update=$rc inside=$(dk exec "$c" sh -c "$MEMLIMIT") docker=$(d_state "$c" .HostConfig.Memory)"
  d_rm "$c"
}

d_parallel() {
  local i ok=0 dir
  dir=$(mktemp -d "$T/par.XXXX")
  for i in $(seq 10); do
    (dr "$1" --rm e2e-busybox sh -c "echo n$i" >"$dir/$i.out" 2>"$dir/$i.err"; echo $? >"$dir/$i.rc") &
  done
  wait
  for i in $(seq 10); do
    [ "$(cat "$dir/$i.rc")" = 0 ] && [ "$(cat "$dir/$i.out")" = "n$i" ] && ok=$((ok + 1))
    [ ! -s "$dir/$i.err" ] || sed "s/^/[$i] /" "$dir/$i.err" >&2
  done
  echo "$ok/10 exited 0 with their own output"
}

# A failing container's error reaches the user: the exit code docker
# derives from the runtime's message, and the message names the culprit.
d_err_missing() {
  local rc=0 err
  err=$(dr "$1" --rm e2e-busybox /nonexistent 2>&1) || rc=$?
  echo "$err" >&2
  grep -qF '/nonexistent' <<<"$err" && echo "exit=$rc names=/nonexistent" || echo "exit=$rc message-lacks-the-path"
}
d_err_mount() {
  local rc=0 err
  : >"$T/not-a-dir"
  err=$(dr "$1" --rm --mount "type=bind,source=$T/not-a-dir,target=/etc" e2e-busybox true 2>&1) || rc=$?
  echo "$err" >&2
  echo "exit=$rc"
  grep -qF '/etc' <<<"$err" && echo "names=/etc" || echo "message-lacks-the-target"
  grep -qi 'not a directory' <<<"$err" && echo "says=not-a-directory" || echo "message-lacks-the-cause"
}

# Every create and exec sealrun ran for docker logged its seal decision
# (runtimeArgs ["--debug"]; the shim's --log <bundle>/log.json). The shim
# deletes the bundle with the task, so the log is read before each
# restart and before rm.
d_sealed() {
  local c=e2e-$1-sealed id logs=$T/docker-sealed.json
  : >"$logs"
  d_up "$1" "$c" e2e-busybox sleep 600
  id=$(d_id "$c")
  dk exec "$c" true >/dev/null
  dk exec -t "$c" true >/dev/null
  dk exec -u 1000 "$c" true >/dev/null
  cat "$T/containerd/state/io.containerd.runtime.v2.task/moby/$id/log.json" >>"$logs"
  dk restart -t 1 "$c" >/dev/null
  dk exec "$c" true >/dev/null
  cat "$T/containerd/state/io.containerd.runtime.v2.task/moby/$id/log.json" >>"$logs"
  d_rm "$c"
  seal_evidence "$logs" --debug
}

# The CVE-2019-5736 attack through docker: the attacker runs in the
# container and watches /proc; each `docker exec <c> /exploit.sh` makes the
# runtime exec a `#!/proc/self/exe` script, so the runtime's own binary
# runs inside the container, where the attacker opens /proc/<pid>/exe and
# writes through it once the runtime has exited. VICTIM is the runtime's
# copy (its own directory, its own docker runtime name). The container
# outlives the attacker (sleep), so that its runtime is put back before the
# shim next runs it (an overwritten runtime could not delete the container).
# Prints "binary=intact|overwritten, attacker: <its verdict>".
d_attack() { # RUNTIME-NAME VICTIM PRISTINE
  local rtname=$1 victim=$2 pristine=$3 c=e2e-attack-$1 report=$T/report-$1 end result binary
  rm -rf "$report"
  mkdir -p "$report"
  dk run -d --name "$c" --runtime "$rtname" --network none --cgroup-parent "$CGROUP_PARENT/docker-attack" \
    -v "$report:/report" e2e-attack sh -c '/attacker /report 5000; exec sleep 600' >/dev/null
  wait_for 15 test -e "$report/ready" || echo "attacker-not-ready"
  # sealrun's runtime is caught at the first exec; runc 1.1.5's never is
  # (the script's exec fails with ENOENT), so this bounds runc's row.
  end=$(($(date +%s) + 20))
  local n=0
  while [ ! -e "$report/caught" ] && [ "$(date +%s)" -lt $end ]; do
    n=$((n + 1))
    # What the runtime says the first time goes to the log.
    if [ $n = 1 ]; then TMO=20 dk exec "$c" /exploit.sh >&2 2>&1 || true; else TMO=20 dk_quiet exec "$c" /exploit.sh >/dev/null 2>&1 || true; fi
  done
  echo "docker exec runs: $n" >&2
  : >"$report/host-done"
  wait_for 20 test -e "$report/result" || echo "no-result"
  result=$(sed -n 's/^result=//p' "$report/result" 2>/dev/null)
  sed 's/^/attacker: /' "$report/result" >&2 2>/dev/null || true
  if cmp -s "$victim" "$pristine"; then binary=intact; else binary=overwritten; fi
  echo "sha256 $(sha256sum <"$victim" | cut -c1-16) vs pristine $(sha256sum <"$pristine" | cut -c1-16)" >&2
  # Put the runtime back so docker can remove the container with it.
  cmp -s "$victim" "$pristine" || cp "$pristine" "$victim"
  d_rm "$c"
  echo "binary=$binary, attacker: ${result:-no result}"
}
d_attack_runtime() {
  case $1 in
  runc) d_attack e2e-victim-runc "$T/victim/runc/runc" "$T/pristine/runc" ;;
  sealrun) d_attack e2e-victim-sealrun "$T/victim/sealrun/sealrun" "$T/pristine/sealrun" ;;
  esac
}
d_attack_none() { d_attack e2e-victim-none "$T/victim/none/sealrun" "$T/pristine/sealrun"; }

docker_checks() {
  check "docker: run, exit code" "exit=3" d_run_exit
  check "docker: run, output" "exit=0 out=hello from busybox" d_run_output
  check "docker: run -d, logs" "status=running stdout=to-stdout stderr=to-stderr" d_detached_logs
  check "docker: exec, output and exit code" "out=42 exit=5" d_exec
  check "docker: exec -t" "/dev/pts/N stdout-is-a-tty" d_exec_tty
  check "docker: exec -u 1000:1000" "uid=1000 gid=1000*" d_exec_user
  check "docker: exec under the container's seccomp profile" "Seccomp: 2 as-init" d_exec_seccomp
  check "docker: top" "COMMAND sleep 600" d_top
  check "docker: pause, unpause" "paused FROZEN exec-while-paused=1 running THAWED exec-ok" d_pause
  check "docker: stats --no-stream" "pids=1 mem-used=nonzero limit=64MiB" d_stats
  check "docker: kill -s USR1, kill -s KILL" "USR1-handled=yes exit=137" d_kill
  check "docker: restart" "new-pid running exec-ok" d_restart
  check "docker: stop (SIGTERM trap exits 7)" "exited exit=7" d_stop
  check "docker: rm -f of a running container" "rm=0 inspect=1 state=gone cgroup=gone" d_rm_force
  check "docker: run -t" "/dev/pts/N stdin-is-a-tty" d_run_tty
  check "docker: run --memory 64m (limit read inside)" "67108864" d_memory
  check "docker: run --pids-limit 42" "42" d_pids
  check "docker: run -u 1234:5678" "uid=1234 gid=5678*" d_user
  check "docker: run --read-only" "touch: /file: Read-only file system rc=1 stdout-writable" d_read_only
  check "docker: default capabilities" "CapEff: 00000000a80425fb CapBnd: 00000000a80425fb" d_caps
  check "docker: run --cap-drop ALL" "CapEff: 0000000000000000 CapBnd: 0000000000000000" d_caps --cap-drop ALL
  check "docker: run -e, -w" "bar|a b|/tmp" d_env_workdir
  if [ -x /usr/bin/docker-init ] || [ -x /usr/libexec/docker/docker-init ]; then
    check "docker: run --init" "pid1=docker-init exit=4" d_init
  else
    skip "docker: run --init" "the daemon has no docker-init binary"
  fi
  check "docker: update --memory 96m (read back)" "update=0 inside=100663296 docker=100663296" d_update
  check "docker: 10 parallel containers" "10/10 exited 0 with their own output" d_parallel
  check "docker: error text, missing executable" "exit=127 names=/nonexistent" d_err_missing
  check "docker: error text, file bound onto a directory" "exit=125 names=/etc says=not-a-directory" d_err_mount
  check_sealrun "docker: every create and exec sealed (runtime's log)" "sealed 6/6 (*) via --debug" d_sealed
  # runc 1.1.5 stops this attack before anything can be caught (the
  # script's exec fails with ENOENT); sealrun's sealed binary must be
  # caught and resist the write.
  check_each "docker: CVE-2019-5736 via exec, binary intact" "binary=intact, attacker: *" \
    "binary=intact, attacker: FAILED *" d_attack_runtime
  check_sealrun "docker: CVE-2019-5736 control, --seal none overwritten" "binary=overwritten, attacker: OVERWRITTEN" d_attack_none
}
