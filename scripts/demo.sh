#!/usr/bin/env bash
# The main job: a demo container under sealrun, with the runtime binary sealed.
# Builds nothing itself (make demo builds first); needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-env.sh
[ "$(id -u)" = 0 ] || { echo "demo: run as root (containers need it)" >&2; exit 1; }

demo=${DEMO_DIR:-$PWD/demo}
rm -rf "$demo"
mkdir -p "$demo/bin" "$demo/root"
# Run a copy from its own directory: the overlay seals that directory only.
cp "$BIN_DIR"/sealrun "$demo/bin/sealrun"
sealrun="$demo/bin/sealrun"
bash crates/sealrun/tests/make-bundle.sh "$demo/bundle/rootfs" >/dev/null
(cd "$demo/bundle" && "$sealrun" spec)
jq '.process.terminal = false
  | .hostname = "sealed-demo"
  | .process.args = ["sh", "-c",
      "echo \"hello from $(hostname), pid $$ in the container\"; echo \"/proc/1/exe -> $(readlink /proc/1/exe)\"; echo \"kernel $(uname -r)\""]' \
  "$demo/bundle/config.json" >"$demo/bundle/config.json.new"
mv "$demo/bundle/config.json.new" "$demo/bundle/config.json"

echo "== what --seal auto would pick on this host"
"$sealrun" seal-probe
echo
echo "== sealrun --seal ${SEALRUN_SEAL:-auto} run demo"
"$sealrun" --root "$demo/root" --debug --log "$demo/sealrun.log" run -b "$demo/bundle" "demo-$$"
echo
echo "== protection chosen (from the debug log)"
grep -o 'seal: sealed at the ELF entry point[^"]*' "$demo/sealrun.log" | head -1 || true
grep -o 'seal: using [a-z-]* ([0-9]* bytes copied)' "$demo/sealrun.log" | head -1
rm -rf "$demo"
