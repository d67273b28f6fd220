//! `sealrun start`: let a created container run its process.

use anyhow::{Context, Result};

use super::Runtime;

pub fn start(runtime: &Runtime, args: liboci_cli::Start) -> Result<()> {
    let id = args.container_id.as_str();
    let mut container = runtime.load(id)?;
    container
        .start()
        .with_context(|| format!("failed to start container {id}"))
}
