//! `sealrun update [OPTIONS] ID` and `update -r FILE|- ID`: changes the
//! cgroup limits of a created, running or paused container, as `runc
//! update` does (docker update, podman update and kubelet resizing call it).
//!
//! As in runc, only what is given changes: the options (or the JSON
//! `LinuxResources` read with `-r`, which then replaces the options) are
//! applied on top of the container's cgroups through libcgroups; a paused
//! container stays paused.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use libcgroups::common::{CgroupManager, ControllerOpt};
use libcontainer::container::ContainerStatus;
use libcontainer::oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources,
};

use super::Runtime;
use crate::record;

/// Update the resource limits of a container
#[derive(Args, Debug)]
pub struct Update {
    /// Read the new limits from a JSON file (LinuxResources), or - for stdin;
    /// the other options are then ignored
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// I/O weight (10-1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period, in microseconds
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota, in microseconds (-1: none)
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU realtime period, in microseconds
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime, in microseconds
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long)]
    pub cpu_share: Option<u64>,
    /// CPUs to use (0-3,7)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use (0-3,7)
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit in bytes, with an optional unit (k, m, g; -1: none)
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub memory: Option<i64>,
    /// Memory soft limit in bytes, with an optional unit
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap limit in bytes, with an optional unit (-1: unlimited swap)
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub memory_swap: Option<i64>,
    /// Kernel memory limit (ignored, as by runc 1.1: deprecated by the kernel)
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub kernel_memory: Option<i64>,
    /// Kernel TCP memory limit (ignored, as by runc 1.1)
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bytes)]
    pub kernel_memory_tcp: Option<i64>,
    /// Maximum number of processes (-1: none)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    /// Container identifier
    #[arg(required = true)]
    pub container_id: String,
}

pub fn update(runtime: &Runtime, args: Update) -> Result<()> {
    let id = args.container_id.clone();
    let mut container = runtime.load(&id)?;
    container.refresh_status()?;
    if !matches!(
        container.status(),
        ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused
    ) {
        bail!("cannot update container {id}: it is {}", container.status());
    }
    if args.l3_cache_schema.is_some() || args.mem_bw_schema.is_some() {
        bail!("cannot update container {id}: Intel RDT is not supported by sealrun");
    }
    if args.kernel_memory.is_some() || args.kernel_memory_tcp.is_some() {
        tracing::warn!(
            "--kernel-memory and --kernel-memory-tcp are ignored (deprecated by the kernel)"
        );
    }
    let resources = match &args.resources {
        Some(path) => read_resources(path)?,
        None => from_options(&args)?,
    };
    let manager = super::cgroup_manager(&container)?;
    // libcgroups rewrites cgroup v1's memory.oom_control with every memory
    // update: keep what the spec asked for (create applied it, cgroupfs).
    let disable_oom_killer = crate::config::load_spec(&container.bundle().join("config.json"))
        .ok()
        .and_then(|spec| {
            spec.linux()
                .as_ref()?
                .resources()
                .as_ref()?
                .memory()
                .as_ref()?
                .disable_oom_killer()
        })
        .unwrap_or(false);
    let apply = |resources: &LinuxResources| {
        manager
            .apply(&ControllerOpt {
                resources,
                disable_oom_killer,
                oom_score_adj: None,
                // Leave a paused container paused.
                freezer_state: None,
            })
            .with_context(|| format!("failed to update the resources of container {id}"))
    };
    if let Some(first) = quota_first(&resources, &record::read(&container.root)?.cgroups) {
        apply(&first)?;
    }
    apply(&resources)?;
    tracing::debug!(id, ?resources, "resources updated");
    Ok(())
}

/// On cgroup v1 the kernel checks each of cpu.cfs_quota_us and
/// cpu.cfs_period_us against the parent's limit as it is written, and
/// libcgroups' `Cpu::apply` writes the period first. Lowering the period
/// with the old quota in place can exceed the parent's limit (EINVAL) where
/// the new pair would not, so then the quota goes first, alone, as runc
/// orders it. Returns that first step, if one is needed.
fn quota_first(resources: &LinuxResources, cgroups: &[PathBuf]) -> Option<LinuxResources> {
    let cpu = resources.cpu().as_ref()?;
    let (quota, period) = (cpu.quota()?, cpu.period()?);
    let current: u64 = cgroups.iter().find_map(|d| {
        std::fs::read_to_string(d.join("cpu.cfs_period_us"))
            .ok()
            .and_then(|v| v.trim().parse().ok())
    })?;
    if period >= current {
        return None;
    }
    let mut only_quota = LinuxCpu::default();
    only_quota.set_quota(Some(quota));
    let mut first = LinuxResources::default();
    first.set_cpu(Some(only_quota));
    Some(first)
}

/// `-r FILE` or `-r -`: runc's JSON, an OCI LinuxResources.
///
/// Read through a `BufReader<File>` (stdin as a duplicate of fd 0): the
/// reader type libcontainer parses config.json with, so the binary carries
/// one LinuxResources deserializer, not a second one for a `&str` (~40 KB).
fn read_resources(path: &std::path::Path) -> Result<LinuxResources> {
    use std::os::fd::AsFd;
    let file = if path == std::path::Path::new("-") {
        std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .context("failed to read resources from stdin")?
    } else {
        std::fs::File::open(path).with_context(|| format!("failed to read {}", path.display()))?
    };
    serde_json::from_reader(std::io::BufReader::new(file)).with_context(|| {
        format!(
            "failed to parse the resources in {} (a JSON LinuxResources object)",
            path.display()
        )
    })
}

/// The resources the options name, nothing else.
fn from_options(args: &Update) -> Result<LinuxResources> {
    let mut resources = LinuxResources::default();
    if let Some(weight) = args.blkio_weight {
        let mut io = LinuxBlockIo::default();
        io.set_weight(Some(weight));
        resources.set_block_io(Some(io));
    }
    let mut cpu = LinuxCpu::default();
    let mut cpu_set = false;
    macro_rules! cpu_field {
        ($value:expr, $setter:ident) => {
            if let Some(v) = $value.clone() {
                cpu.$setter(Some(v));
                cpu_set = true;
            }
        };
    }
    cpu_field!(args.cpu_period, set_period);
    cpu_field!(args.cpu_quota, set_quota);
    cpu_field!(args.cpu_rt_period, set_realtime_period);
    cpu_field!(args.cpu_rt_runtime, set_realtime_runtime);
    cpu_field!(args.cpu_share, set_shares);
    cpu_field!(args.cpuset_cpus, set_cpus);
    cpu_field!(args.cpuset_mems, set_mems);
    if cpu_set {
        resources.set_cpu(Some(cpu));
    }
    if args.memory.is_some() || args.memory_reservation.is_some() || args.memory_swap.is_some() {
        let mut memory = LinuxMemory::default();
        memory.set_limit(args.memory);
        memory.set_reservation(args.memory_reservation);
        memory.set_swap(args.memory_swap);
        resources.set_memory(Some(memory));
    }
    if let Some(limit) = args.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        resources.set_pids(Some(pids));
    }
    Ok(resources)
}

/// Bytes as runc (docker's units) reads them: `67108864`, `50M`, `1.5g`,
/// `512k`, `-1` (no limit). Units are binary (k = 1024).
pub fn parse_bytes(value: &str) -> std::result::Result<i64, String> {
    let v = value.trim();
    if v == "-1" {
        return Ok(-1);
    }
    let lower = v.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b').trim_end_matches('i');
    let (number, multiplier) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1i64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 1 << 40),
        Some('p') => (&trimmed[..trimmed.len() - 1], 1 << 50),
        _ => (trimmed, 1),
    };
    let number: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid size '{value}' (bytes, optionally with k, m, g, t or p)"))?;
    if number < 0.0 {
        return Err(format!("invalid size '{value}': only -1 may be negative"));
    }
    Ok((number * multiplier as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        update: Update,
    }

    #[test]
    fn a_lower_period_sends_the_quota_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cpu.cfs_period_us"), "1000000\n").unwrap();
        let dirs = [PathBuf::from("/nonexistent"), dir.path().to_owned()];
        let with = |quota, period| {
            let w = Wrap::try_parse_from([
                "x".to_owned(),
                "--cpu-quota".into(),
                format!("{quota}"),
                "--cpu-period".into(),
                format!("{period}"),
                "c1".into(),
            ])
            .unwrap();
            from_options(&w.update).unwrap()
        };
        let first = quota_first(&with(3000, 10000), &dirs).expect("quota first");
        let cpu = first.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(3000), None));
        // Raising the period: libcgroups' own order is the right one.
        assert!(quota_first(&with(3_000_000, 2_000_000), &dirs).is_none());
        // No v1 period file (v2, cpu.max is written at once): nothing to stage.
        assert!(quota_first(&with(3000, 10000), &dirs[..1]).is_none());
    }

    #[test]
    fn sizes_parse_as_runc_reads_them() {
        assert_eq!(parse_bytes("67108864"), Ok(67_108_864));
        assert_eq!(parse_bytes("50M"), Ok(50 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("512kb"), Ok(512 << 10));
        assert_eq!(parse_bytes("1.5m"), Ok(3 << 19));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("-5").is_err());
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn only_given_options_become_resources() {
        let w = Wrap::try_parse_from([
            "x",
            "--memory",
            "50M",
            "--memory-swap",
            "-1",
            "--cpu-quota",
            "-1",
            "--pids-limit",
            "10",
            "c1",
        ])
        .unwrap();
        let r = from_options(&w.update).unwrap();
        let memory = r.memory().as_ref().unwrap();
        assert_eq!(memory.limit(), Some(50 << 20));
        assert_eq!(memory.swap(), Some(-1));
        assert_eq!(memory.reservation(), None);
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(-1));
        assert_eq!(r.cpu().as_ref().unwrap().period(), None);
        assert_eq!(r.pids().as_ref().unwrap().limit(), 10);
        assert!(r.block_io().is_none());

        let none = Wrap::try_parse_from(["x", "c1"]).unwrap();
        let r = from_options(&none.update).unwrap();
        assert!(r.memory().is_none() && r.cpu().is_none() && r.pids().is_none());
    }
}
