//! `sealrun ps [--format table|json] ID [PS_OPTIONS...]`: the container's
//! processes from its cgroup; `table` filters the output of ps(1).

use std::process::Command;

use anyhow::{bail, Context, Result};
use libcgroups::common::CgroupManager;

use super::Runtime;

pub fn ps(runtime: &Runtime, args: liboci_cli::Ps) -> Result<()> {
    let id = args.container_id.as_str();
    let container = runtime.load(id)?;
    let manager = super::cgroup_manager(&container)?;
    let pids: Vec<i32> = manager
        .get_all_pids()
        .with_context(|| format!("failed to list the processes of container {id}"))?
        .into_iter()
        .map(|p| p.as_raw())
        .collect();

    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => print_ps_table(&pids, &args.ps_options)?,
        other => bail!("invalid --format '{other}' (expected 'table' or 'json')"),
    }
    Ok(())
}

fn print_ps_table(pids: &[i32], ps_options: &[String]) -> Result<()> {
    let options: Vec<&str> = if ps_options.is_empty() {
        vec!["-ef"]
    } else {
        ps_options.iter().map(String::as_str).collect()
    };
    let output = Command::new("ps")
        .args(&options)
        .output()
        .context("failed to run ps")?;
    if !output.status.success() {
        bail!(
            "ps {} failed: {}",
            options.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let header = lines.next().context("ps printed nothing")?;
    let pid_column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}
