//! `sealrun spec [--bundle DIR] [--rootless]`: writes a default config.json
//! (like `runc spec`; the process runs `sh` without a terminal).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use libcontainer::oci_spec::runtime::Spec;

pub fn spec(args: liboci_cli::Spec) -> Result<()> {
    let bundle = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("{} already exists; remove it first", path.display());
    }
    let mut spec = if args.rootless {
        Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        Spec::default()
    };
    spec.set_hostname(Some("sealrun".to_owned()));
    let json =
        serde_json::to_string_pretty(&spec).context("failed to serialize the default spec")?;
    std::fs::write(&path, json + "\n")
        .with_context(|| format!("failed to write {}", path.display()))
}
