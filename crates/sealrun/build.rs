//! Makes `sealrun_entry` (src/sys/entry.rs) the ELF entry point of the
//! sealrun binary on x86_64 Linux: a plain sealed call re-executes from
//! there, before libc starts, and every other call falls through to glibc's
//! `_start` unchanged. Test binaries keep the normal entry.
fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch == "x86_64" && os == "linux" {
        println!("cargo:rustc-link-arg-bin=sealrun=-Wl,-e,sealrun_entry");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
