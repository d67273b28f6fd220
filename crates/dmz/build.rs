//! Links the dmz binary as a tiny freestanding static executable; see
//! build_flags.rs (shared with crates/exeseal/build.rs).

include!("build_flags.rs");

fn main() {
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    for arg in dmz_link_args(&dir) {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build_flags.rs");
    println!("cargo:rerun-if-changed=dmz.ld");
}
