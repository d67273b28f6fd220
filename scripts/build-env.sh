# Sourced by every script that builds or runs exeseal's binaries (make build,
# make test, the demo and the benchmarks): one place that says how they are
# built and where they land ($BIN_DIR).
#
# Static PIE (glibc's crt-static): a sealed sealrun call starts the runtime
# twice (the sealing re-exec), and a dynamically linked start costs ~0.6 ms
# more here (ld.so relocating and binding against libc, libgcc_s and libm,
# plus mapping and faulting in each). See bench/RESULTS.md. The target is
# named explicitly so the flag reaches our binaries but not build scripts or
# proc macros, which cannot be static.
#
# Packed relative relocations (DT_RELR) where the linker makes them and the
# static glibc applies them itself (binutils 2.38+, glibc 2.36+; Debian 12
# has both): the relocation table shrinks from 711 KB to 5 KB, which the
# static-PIE start-up code otherwise reads through on every start.
host=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$host" ] || { echo "build-env: cannot tell the host target from 'rustc -vV'" >&2; return 1; }
export CARGO_BUILD_TARGET="$host"
rustflags="-C target-feature=+crt-static"
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
# The linker rustc drives (through cc). Captured, not piped into `grep -q`:
# under pipefail an early grep exit would SIGPIPE the linker at random.
ld_help=$(cc -Wl,--help 2>/dev/null || true)
case $ld_help in
*pack-relative-relocs*)
  if [ -n "$glibc" ] && [ "$(printf '%s\n2.36\n' "$glibc" | sort -V | head -n1)" = 2.36 ]; then
    rustflags="$rustflags -C link-arg=-Wl,-z,pack-relative-relocs"
  fi
  ;;
esac
# cargo ignores per-target flags when RUSTFLAGS is set: say so rather than
# silently build a dynamic binary.
if [ -n "${RUSTFLAGS:-}${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
  echo "build-env: RUSTFLAGS/CARGO_ENCODED_RUSTFLAGS is set, so cargo ignores '$rustflags' (not a static build)" >&2
fi
export "CARGO_TARGET_$(printf %s "$host" | tr 'a-z.-' 'A-Z__')_RUSTFLAGS=$rustflags"
# libseccomp (sealrun's seccomp support) from libseccomp.a: a static binary
# cannot take the shared library.
export LIBSECCOMP_LINK_TYPE=static
LIBSECCOMP_LIB_PATH=$(pkg-config --variable=libdir libseccomp 2>/dev/null) || true
[ -z "$LIBSECCOMP_LIB_PATH" ] || export LIBSECCOMP_LIB_PATH
BIN_DIR="target/$host/release"
