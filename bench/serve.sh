# Sourced by the bench scripts: serve a copy of sealrun with memfd-bind.
# usage: serve_with_memfd_bind WORK COPY
#   Serves WORK/served-COPY/sealrun with `memfd-bind --copy COPY` (state and
#   log under WORK), waits until `--status` says it is served, appends the
#   daemon's pid to $daemons (the caller's cleanup stops them) and sets
#   $served_kind to the copy the daemon made (hugetmpfs or memfd: `auto`
#   picks the first where the kernel offers huge tmpfs pages). Must run in
#   the caller's shell, not a subshell: $daemons has to reach its cleanup.
serve_with_memfd_bind() {
  local work=$1 copy=$2
  local path="$work/served-$copy/sealrun" state="$work/memfd-bind-$copy" log="$work/memfd-bind-$copy.log"
  "$BIN_DIR"/memfd-bind --state-dir "$state" --copy "$copy" "$path" >"$log" 2>&1 &
  daemons="${daemons:-} $!"
  for _ in $(seq 100); do
    "$BIN_DIR"/memfd-bind --state-dir "$state" --status "$path" >/dev/null 2>&1 && break
    sleep 0.05
  done
  served_kind=$(sed -n 's/.*copy="\([a-z]*\)".*/\1/p' "$log" | head -n1)
  [ -n "$served_kind" ] || { echo "bench: memfd-bind --copy $copy did not serve:" >&2; cat "$log" >&2; return 1; }
}
