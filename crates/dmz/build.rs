//! Links the dmz binary as a tiny freestanding static executable; see
//! crates/exeseal/dmz/build_flags.rs (shared with crates/exeseal/build.rs, which
//! embeds the same source).

include!("../exeseal/dmz/build_flags.rs");

fn main() {
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap())
        .join("../exeseal/dmz");
    for arg in dmz_link_args(&dir) {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    for input in DMZ_INPUTS {
        println!("cargo:rerun-if-changed={}", dir.join(input).display());
    }
}
