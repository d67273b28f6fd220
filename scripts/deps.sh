#!/usr/bin/env bash
# Install what building, testing and the demo need on a fresh Debian machine
# (run as root). Idempotent: installs only what is missing.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have busybox || [ -x /bin/busybox ] || need+=(busybox-static)
have setpriv || need+=(util-linux)
have unshare || need+=(util-linux)
have gcc || need+=(gcc)
have systemd-analyze || need+=(systemd)
have jq || need+=(jq)
if [ "${1:-}" = "--bench" ]; then
  have hyperfine || need+=(hyperfine)
fi
# make conformance: what runc's bats suite and its kit's runner call.
if [ "${1:-}" = "--conformance" ]; then
  have bats || need+=(bats)
  have gawk || need+=(gawk)
  have script || need+=(bsdutils)
  have xz || need+=(xz-utils)
  have losetup || need+=(mount)
  have lsblk || need+=(util-linux)
fi
# busybox-static, specifically: the demo rootfs needs a static busybox.
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# sealrun applies OCI seccomp profiles through libcontainer's libseccomp
# binding, linked statically (libseccomp.a, pkg-config file).
dpkg -s libseccomp-dev >/dev/null 2>&1 || need+=(libseccomp-dev)
have pkg-config || need+=(pkg-config)

if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
