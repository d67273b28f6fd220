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
host=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$host" ] || { echo "build-env: cannot tell the host target from 'rustc -vV'" >&2; return 1; }
export CARGO_BUILD_TARGET="$host"
export "CARGO_TARGET_$(printf %s "$host" | tr 'a-z.-' 'A-Z__')_RUSTFLAGS=-C target-feature=+crt-static"
BIN_DIR="target/$host/release"
