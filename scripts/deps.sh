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
# make e2e: the engines that drive sealrun and runc side by side, from
# Debian's packages (docker.io brings dockerd and docker-init; containerd
# brings ctr and containerd-shim-runc-v2), runc for the comparison, and a
# static libc for the CVE-2019-5736 attacker (gcc -static).
if [ "${1:-}" = "--e2e" ]; then
  { [ -x /usr/bin/docker ] && [ -x /usr/sbin/dockerd ]; } || need+=(docker.io)
  { [ -x /usr/bin/containerd ] && [ -x /usr/bin/ctr ] && [ -x /usr/bin/containerd-shim-runc-v2 ]; } || need+=(containerd)
  [ -x /usr/bin/podman ] || need+=(podman)
  [ -x /usr/bin/conmon ] || need+=(conmon)
  { [ -x /usr/sbin/runc ] || [ -x /usr/bin/runc ]; } || need+=(runc)
  dpkg -s libc6-dev >/dev/null 2>&1 || need+=(libc6-dev)
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
  # docker.io's and containerd's maintainer scripts start their services
  # where nothing forbids it: the host's dockerd and containerd on
  # /run/docker.sock and /run/containerd, which no test may touch. A
  # policy-rc.d answering 101 (action forbidden) stops that; one the machine
  # already has is left alone.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# deps.sh: no service starts during its install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # The package lists are refreshed only when an install fails with the
  # ones the machine has (missing or stale lists).
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
