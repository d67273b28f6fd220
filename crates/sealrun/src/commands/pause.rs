//! `sealrun pause` / `sealrun resume` (cgroup freezer).

use anyhow::{Context, Result};

use super::Runtime;

pub fn pause(runtime: &Runtime, args: liboci_cli::Pause) -> Result<()> {
    let id = args.container_id.as_str();
    runtime
        .load(id)?
        .pause()
        .with_context(|| format!("failed to pause container {id}"))
}

pub fn resume(runtime: &Runtime, args: liboci_cli::Resume) -> Result<()> {
    let id = args.container_id.as_str();
    runtime
        .load(id)?
        .resume()
        .with_context(|| format!("failed to resume container {id}"))
}
