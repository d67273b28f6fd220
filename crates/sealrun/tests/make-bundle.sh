#!/bin/sh
# Usage: make-bundle.sh ROOTFS_DIR
#
# Fills ROOTFS_DIR with a minimal busybox root filesystem: /bin/busybox (a
# static build, from Debian's busybox-static, installed with apt-get when
# missing), one symlink per applet in /bin, and the empty directories the
# runtime mounts over. config.json is written separately (`sealrun spec`).
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 ROOTFS_DIR" >&2
    exit 2
fi
rootfs=$1

find_busybox() {
    for candidate in /bin/busybox /usr/bin/busybox; do
        # Only a static busybox works inside an empty rootfs.
        if [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if ! busybox=$(find_busybox); then
    echo "make-bundle: installing busybox-static" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q busybox-static >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q busybox-static >/dev/null; }
    busybox=$(find_busybox) || { echo "make-bundle: no static busybox after installing busybox-static" >&2; exit 1; }
fi

mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" "$rootfs/etc" "$rootfs/root"
cp "$busybox" "$rootfs/bin/busybox"
chmod 0755 "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$rootfs/etc/passwd"
echo "root:x:0:" > "$rootfs/etc/group"
