#!/bin/sh
# Runs a peer runtime's `run` under a timeout: youki 0.7.0 hangs now and then
# waiting on its init, and a killed run leaves its container behind, which
# made every later `run ... ctr` fail with "already exists" (200 of 200 in
# one bench run). After a failed run the container is force-deleted, so only
# failed runs pay for the clean-up.
# usage: timeout-run.sh RUNTIME --root DIR run -b BUNDLE ID
rt=$1 root=$3
for id; do :; done
timeout -k 1 10 "$@" && exit 0
rc=$?
"$rt" --root "$root" delete --force "$id" >/dev/null 2>&1
exit $rc
