#!/usr/bin/env bash
# Usage: conformance-images.sh TESTDATA_DIR ARCH
#
# Builds, offline, the two root filesystem tarballs runc's integration suite
# expects in its testdata directory (its get-images.sh would download them):
#   busybox-ARCH.tar.xz  a busybox rootfs shaped like Docker's busybox image
#                        (static busybox from Debian's busybox-static, an
#                        applet link per command, /etc/passwd and group with
#                        the usual system users, /tmp 1777, and no /proc or
#                        /sys: the runtime makes them, and runc's tests rely
#                        on their absence, e.g. `ln -s /symlink rootfs/proc`
#                        in mask.bats and `mkdir -p rootfs/{proc,sys,tmp}`
#                        in userns.bats);
#   debian-ARCH.tar.xz   what hooks.bats runs in a "Debian" container: sh,
#                        grep, ldconfig, the host's glibc and ld.so.conf, and
#                        a real /lib directory for ldconfig to scan.
# Existing tarballs are kept.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 TESTDATA_DIR ARCH" >&2; exit 2; }
testdata=$1 arch=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/conformance-images.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

busybox=$testdata/busybox-$arch.tar.xz
if [ ! -e "$busybox" ]; then
  root=$tmp/busybox
  sh "$here/../crates/sealrun/tests/make-bundle.sh" "$root"
  rmdir "$root/proc" "$root/sys"
  mkdir -p "$root/home" "$root/usr/sbin" "$root/var/spool/mail" "$root/var/www"
  chmod 1777 "$root/tmp"
  cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
  cat >"$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
users:x:100:
nogroup:x:65534:
GROUP
  tar -C "$root" --numeric-owner -cJf "$busybox.part" .
  mv "$busybox.part" "$busybox"
fi

debian=$testdata/debian-$arch.tar.xz
if [ ! -e "$debian" ]; then
  root=$tmp/debian
  mkdir -p "$root"/{bin,sbin,lib,etc/ld.so.conf.d,tmp,proc,sys,dev,root}
  chmod 1777 "$root/tmp"
  # Programs and every library they load, at the paths the loader expects.
  for prog in /bin/dash /bin/grep /sbin/ldconfig; do
    real=$(readlink -f "$prog")
    cp "$real" "$root${prog}"
    # (ldconfig is static: ldd lists nothing, grep finds nothing.)
    { ldd "$real" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
  ln -s dash "$root/bin/sh"
  cp /etc/ld.so.conf "$root/etc/"
  cp /etc/ld.so.conf.d/*.conf "$root/etc/ld.so.conf.d/" 2>/dev/null || true
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
  tar -C "$root" --numeric-owner -cJf "$debian.part" .
  mv "$debian.part" "$debian"
fi
