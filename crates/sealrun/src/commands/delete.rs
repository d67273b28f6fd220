//! `sealrun delete [--force] ID`

use anyhow::{Context, Result};

use super::Runtime;

pub fn delete(runtime: &Runtime, args: liboci_cli::Delete) -> Result<()> {
    let id = args.container_id.as_str();
    let mut container = runtime.load(id)?;
    container.delete(args.force).with_context(|| {
        let hint = if args.force {
            ""
        } else {
            " (use --force to kill it first)"
        };
        format!("failed to delete container {id}{hint}")
    })
}
