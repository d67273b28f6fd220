# Sourced by the bench scripts: a busybox bundle for every runtime to run.
# usage: bench_bundle DIR SEALRUN ARGS_JSON
#   DIR/rootfs from crates/sealrun/tests/make-bundle.sh, DIR/config.json from
#   `SEALRUN spec` with no terminal and process.args = ARGS_JSON.
bench_bundle() {
  local sealrun
  sealrun=$(realpath "$2")
  bash crates/sealrun/tests/make-bundle.sh "$1/rootfs" >/dev/null
  (cd "$1" && "$sealrun" spec)
  jq --argjson args "$3" '.process.terminal = false | .process.args = $args' "$1/config.json" >"$1/config.json.new"
  mv "$1/config.json.new" "$1/config.json"
}
