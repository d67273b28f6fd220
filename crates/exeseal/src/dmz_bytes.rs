//! The embedded dmz shim.

/// The dmz exec shim (dmz/main.rs) as a static ELF executable for the target
/// being built, around 1 KiB. build.rs compiles it into `$OUT_DIR/dmz` with
/// the size-critical flags from dmz/build_flags.rs, independent of the
/// profile exeseal is built in, and fails the build if that goes wrong, so
/// this is never empty.
///
/// Exec it with argv = `[program, args...]`: it execve()s its own argv[0].
pub(crate) static DMZ_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dmz"));
