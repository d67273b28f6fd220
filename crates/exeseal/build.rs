//! Builds the dmz exec shim from `dmz/` (its source lives in this crate, so
//! exeseal packages and builds on its own; crates/dmz only builds the same
//! source as a standalone binary for its tests) into `$OUT_DIR/dmz`, which
//! src/dmz_bytes.rs embeds.
//!
//! rustc is invoked directly instead of through a nested cargo: a nested cargo
//! would contend for the target-dir lock, and the shim must get its
//! size-critical flags (panic=abort, opt-level=z, static, ...) whatever
//! profile exeseal itself is built in. The flags live in
//! dmz/build_flags.rs, shared with crates/dmz's build script.

use std::env;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

include!("dmz/build_flags.rs");

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dmz_dir = manifest_dir.join("dmz");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("dmz");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("cargo sets TARGET");

    println!("cargo:rerun-if-changed=build.rs");
    for input in DMZ_INPUTS {
        println!("cargo:rerun-if-changed={}", dmz_dir.join(input).display());
    }

    let mut cmd = Command::new(&rustc);
    cmd.args(DMZ_RUSTC_FLAGS).arg("--target").arg(&target);
    // Honour a linker configured for the target (e.g. when cross-compiling).
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut arg = OsString::from("-Clinker=");
        arg.push(linker);
        cmd.arg(arg);
    }
    for arg in dmz_link_args(&dmz_dir) {
        cmd.arg(format!("-Clink-arg={arg}"));
    }
    cmd.arg("-o").arg(&out).arg(dmz_dir.join("main.rs"));

    let output = cmd.output().unwrap_or_else(|e| {
        panic!("building the dmz shim: could not run {rustc:?}: {e}\ncommand: {cmd:?}")
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        panic!(
            "building the dmz shim for {target} failed ({status}); exeseal cannot be built without it.\n\
             command: {cmd:?}\n{stderr}",
            status = output.status
        );
    }
    // Warnings would otherwise vanish with the captured output.
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        println!("cargo:warning=dmz: {line}");
    }

    let mut elf = std::fs::read(&out)
        .unwrap_or_else(|e| panic!("dmz shim missing at {}: {e}", out.display()));
    assert!(
        elf.starts_with(b"\x7fELF"),
        "dmz shim at {} is not an ELF file ({} bytes)",
        out.display(),
        elf.len()
    );
    strip_section_headers(&mut elf);
    std::fs::write(&out, &elf)
        .unwrap_or_else(|e| panic!("writing the stripped dmz shim to {}: {e}", out.display()));
}
