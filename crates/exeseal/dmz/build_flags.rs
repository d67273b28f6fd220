// Build flags for the dmz shim, shared by crates/dmz/build.rs (cargo's own
// build of target/*/dmz) and crates/exeseal/build.rs (the copy exeseal
// embeds). Both `include!` this file so the two builds cannot drift apart.

/// rustc flags for the embedded copy, which exeseal's build script compiles
/// by invoking rustc directly, whatever profile exeseal is built in. When
/// cargo builds dmz itself, the workspace profile supplies the equivalents
/// (panic=abort, plus opt-level="z" and codegen-units=1 for dmz in release).
#[allow(dead_code)]
const DMZ_RUSTC_FLAGS: &[&str] = &[
    // Must match the workspace's edition (crates/dmz uses edition.workspace).
    "--edition=2021",
    "--crate-type=bin",
    "--crate-name=dmz",
    // No std means no unwinder; abort is the only strategy that links.
    "-Cpanic=abort",
    "-Copt-level=z",
    "-Ccodegen-units=1",
    "-Clto=fat",
    "-Cdebuginfo=0",
    "-Cdebug-assertions=off",
    "-Coverflow-checks=off",
    // Absolute addresses are shorter than RIP-relative ones. Cargo has no
    // per-package way to set this, which is one reason the cargo-built dmz
    // is slightly bigger than the embedded one.
    "-Crelocation-model=static",
    // Nothing unwinds; dmz.ld would discard the tables anyway.
    "-Cforce-unwind-tables=no",
    "-Cstrip=symbols",
];

/// Arguments for the linker driver (`cc`), given the shim's source directory
/// (where the linker script lives).
fn dmz_link_args(dmz_dir: &std::path::Path) -> Vec<String> {
    let script = dmz_dir.join("dmz.ld");
    let mut args: Vec<String> = [
        // dmz brings its own _start and needs no libc, libgcc or crt objects.
        "-nostartfiles",
        "-nostdlib",
        "-static",
        // rustc asks for a PIE by default; a static PIE would need startup
        // code that applies its own relocations, which dmz doesn't have. The
        // last of -pie/-no-pie wins, and these args come after rustc's own.
        "-no-pie",
        // rustc already passes this, but the size budget depends on it.
        "-Wl,--gc-sections",
        // Linker defaults that would each add a section or segment:
        // distro compilers pass --build-id, rustc passes -z relro and
        // --eh-frame-hdr. dmz has no writable data to protect and nothing
        // unwinds.
        "-Wl,--build-id=none",
        "-Wl,-z,norelro",
        "-Wl,--no-eh-frame-hdr",
        // Not `-s`: the driver places that before rustc's own --strip-debug,
        // and the last strip option wins.
        "-Wl,--strip-all",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("-Wl,-T,{}", script.display()));
    args
}

/// Paths (relative to the shim's source directory) whose change must rebuild the shim; cargo
/// watches everything under a directory.
#[allow(dead_code)]
const DMZ_INPUTS: &[&str] = &["build_flags.rs", "dmz.ld", "main.rs", "sys.rs"];

/// Drops the section header table (and whatever follows the last segment,
/// i.e. `.shstrtab`) from the linked shim, in place. The kernel loads an
/// executable from its program headers alone; the section headers are for
/// linkers and debuggers, and `ld` has no option to leave them out. They are
/// ~200 of the shim's bytes, a fifth of its 1 KiB budget.
///
/// Panics (failing the build) on anything but a little-endian ELF64 file
/// whose section headers lie after every segment: anything else is not what
/// dmz.ld produces, and cutting it could cut loaded bytes.
#[allow(dead_code)]
fn strip_section_headers(elf: &mut Vec<u8>) {
    let u16_at = |e: &[u8], at: usize| u16::from_le_bytes([e[at], e[at + 1]]) as usize;
    let u64_at = |e: &[u8], at: usize| {
        let mut b = [0; 8];
        b.copy_from_slice(&e[at..at + 8]);
        u64::from_le_bytes(b) as usize
    };
    assert!(
        elf.len() >= 64 && elf.starts_with(b"\x7fELF\x02\x01"),
        "dmz: not a little-endian ELF64 file"
    );
    let (phoff, phentsize, phnum) = (u64_at(elf, 0x20), u16_at(elf, 0x36), u16_at(elf, 0x38));
    let shoff = u64_at(elf, 0x28);
    // The file must keep the ELF and program headers and every segment's
    // bytes: cut after the last of them.
    let mut end = (phoff + phentsize * phnum).max(64);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        end = end.max(u64_at(elf, ph + 0x08) + u64_at(elf, ph + 0x20));
    }
    assert!(
        shoff == 0 || shoff >= end,
        "dmz: section headers at {shoff} overlap the loaded bytes (up to {end})"
    );
    elf.truncate(end);
    // e_shoff, then e_shentsize, e_shnum and e_shstrndx: no sections.
    elf[0x28..0x30].fill(0);
    elf[0x3a..0x40].fill(0);
}
