//! `sealrun list [--format table|json] [--quiet]`

use std::io::Write;

use anyhow::{bail, Context, Result};
use libcontainer::container::Container;

use super::state::OciState;
use super::Runtime;

pub fn list(runtime: &Runtime, args: liboci_cli::List) -> Result<()> {
    let states = load_all(runtime)?;
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for state in &states {
            writeln!(out, "{}", state.id)?;
        }
        return Ok(());
    }
    match args.format.as_str() {
        "json" => writeln!(out, "{}", serde_json::to_string(&states)?)?,
        "table" => write_table(&mut out, &states)?,
        other => bail!("invalid --format '{other}' (expected 'table' or 'json')"),
    }
    Ok(())
}

fn load_all(runtime: &Runtime) -> Result<Vec<OciState>> {
    let entries = match std::fs::read_dir(&runtime.root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("failed to read state root {}", runtime.root.display()))
        }
    };
    let mut states = Vec::new();
    for entry in entries {
        let dir = entry
            .with_context(|| format!("failed to read state root {}", runtime.root.display()))?
            .path();
        if !dir.join("state.json").exists() {
            continue;
        }
        match Container::load(dir.clone()) {
            Ok(container) => states.push(OciState::of(&container)),
            // A container being deleted concurrently, or a broken state file:
            // skip it like runc does, but say so.
            Err(err) => {
                tracing::warn!(dir = %dir.display(), %err, "skipping unreadable container state")
            }
        }
    }
    states.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(states)
}

fn write_table(out: &mut impl Write, states: &[OciState]) -> Result<()> {
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let rows: Vec<[String; 6]> = states
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.pid.to_string(),
                serde_json::to_value(s.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                s.bundle.display().to_string(),
                s.created.clone(),
                s.owner.clone(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("   ").trim_end())?;
    }
    Ok(())
}
