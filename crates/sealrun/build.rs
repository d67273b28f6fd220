//! Makes `sealrun_entry` (src/sys/entry.rs) the ELF entry point of the
//! sealrun binary on x86_64 Linux: a plain sealed call re-executes from
//! there, before libc starts, and every other call falls through to glibc's
//! `_start` unchanged. Test binaries keep the normal entry.
//!
//! Optimised builds only: that code must compile to plain instructions (no
//! memcpy call, no overflow-check panic path reading relocated data), which
//! an unoptimised build does not promise.
fn main() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("OPT_LEVEL") != "0"
    {
        println!("cargo:rustc-link-arg-bin=sealrun=-Wl,-e,sealrun_entry");
        // Tells the tests this build has the path.
        println!("cargo:rustc-env=SEALRUN_ENTRY_POINT=1");
    }
    // `sealrun --version` names the commit it was built from, as runc does
    // (tools print it); "unknown" outside a git checkout.
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SEALRUN_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
}
