//! Whether dmz may protect a start: judged for the whole container, not
//! for the one process a request starts.
//!
//! With dmz only the 1 KiB shim is sealed. libcontainer's own stages (the
//! intermediate and init processes of a create or an exec) run inside the
//! container's pid namespace from the unsealed host binary until the
//! workload's exec, kept out of reach only by being non-dumpable, which
//! CAP_SYS_PTRACE over the host's user namespace overrides. Any process of
//! the container holding that capability can open `/proc/<stage>/exe` and
//! write the host's runtime: one started by an earlier `exec --cap
//! CAP_SYS_PTRACE` in another mode, or by one racing this exec.
//!
//! So dmz is used only when no process of the container has or can get
//! CAP_SYS_PTRACE (without a user namespace of its own):
//! - create/run: the config's process (no other process exists yet);
//! - exec: this request's process, the container's config, every grant an
//!   earlier exec recorded, and every live process in the container's
//!   cgroups.
//!
//! Races are closed with the record's lock (`record`): a dmz exec judges
//! holding it shared and hands the locked descriptor to its stages, which
//! inherit it (close-on-exec) and so hold the lock until each has exec'd
//! the workload or died; an exec that grants CAP_SYS_PTRACE, in any mode,
//! records the grant holding the lock exclusively *before* its process
//! starts. Either the grant comes first and the dmz exec sees it, or the
//! grant waits until no dmz stage is left in the container. A container
//! created with dmz keeps its init stage (the host binary) inside until
//! `start`; a grant is refused until that init has exec'd its workload.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::oci_spec::runtime::{Capability, Spec};

use crate::cli::Command;
use crate::commands::Runtime;
use crate::config::load_spec;
use crate::seal::{dmz_unsafe_reason, ptrace_reason};
use crate::{cgroupfs, record};

/// The verdict on dmz for one start.
pub enum Gate {
    /// dmz protects it. For an exec, the record lock held shared, to be
    /// inherited by the runtime's stages (see the module docs).
    Open(Option<OwnedFd>),
    /// dmz would not protect it, and why.
    Closed(String),
}

/// CAP_SYS_PTRACE's bit in /proc/<pid>/status capability masks.
const CAP_SYS_PTRACE_BIT: u32 = 19;

/// How long a grant waits for a dmz container's init to exec its workload
/// after `start` (it is a few syscalls away from it; generous for a loaded
/// machine).
const INIT_EXEC_WAIT: Duration = Duration::from_secs(10);

/// Judges dmz for `command`, which starts a container process.
pub fn judge(runtime: &Runtime, command: &Command) -> Result<Gate> {
    let closed = |why: String| Ok(Gate::Closed(why));
    match command {
        Command::Create(a) => judge_config(&load_spec(&a.bundle.join("config.json"))?),
        Command::Run(a) => judge_config(&load_spec(&a.bundle.join("config.json"))?),
        Command::Exec(a) => {
            let container = runtime.load(&a.container_id)?;
            let lock = record::lock(&container.root, false)?;
            if let Some(why) = dmz_unsafe_reason(&exec_spec(&container, a)?) {
                return closed(format!("this exec: {why}"));
            }
            if let Some(why) = ptrace_reason(&container_spec(&container)?) {
                return closed(format!("the container's config: {why}"));
            }
            let record = lock.read()?;
            if let Some(grant) = record.ptrace_grants.first() {
                return closed(format!(
                    "an earlier exec into container {} could give its process CAP_SYS_PTRACE: {grant}",
                    a.container_id
                ));
            }
            if let Some(why) = ptrace_process(&container_cgroups(&container, &record)?)? {
                return closed(why);
            }
            Ok(Gate::Open(Some(lock.into_fd())))
        }
        _ => bail!("this command starts no container process"),
    }
}

fn judge_config(spec: &Spec) -> Result<Gate> {
    Ok(match dmz_unsafe_reason(spec) {
        Some(why) => Gate::Closed(why),
        None => Gate::Open(None),
    })
}

/// For an exec in a mode other than dmz: if its process could get
/// CAP_SYS_PTRACE, records that in the container's record before the
/// process starts, waiting until no dmz stage is inside the container.
pub fn record_grant(container: &Container, args: &crate::cli::Exec) -> Result<()> {
    let Some(why) = ptrace_reason(&exec_spec(container, args)?) else {
        return Ok(());
    };
    let lock = record::lock(&container.root, true)?;
    if lock.read()?.dmz_init {
        wait_for_init_exec(container, &why)?;
    }
    let what = match &args.process {
        Some(file) => format!("exec --process {}", file.display()),
        None => format!("exec {}", args.command.join(" ")),
    };
    lock.update(|r| r.ptrace_grants.push(format!("{what} ({why})")))?;
    tracing::debug!(
        id = container.id(),
        "recorded CAP_SYS_PTRACE grant: {what} ({why})"
    );
    Ok(())
}

/// A container created with dmz has the runtime binary as its init until
/// that init execs the workload (libcontainer names its stages `youki:[…]`
/// until then).
fn wait_for_init_exec(container: &Container, why: &str) -> Result<()> {
    let id = container.id();
    let Some(pid) = container.pid() else {
        return Ok(());
    };
    let comm_path = format!("/proc/{pid}/comm");
    let deadline = Instant::now() + INIT_EXEC_WAIT;
    loop {
        let comm = std::fs::read_to_string(&comm_path).unwrap_or_default();
        if !comm.starts_with("youki:[") {
            return Ok(());
        }
        if container.status() == ContainerStatus::Created {
            bail!(
                "container {id} was created with --seal dmz and its init (pid {pid}) runs the runtime binary until `start`; refusing an exec whose process could reach it ({why}) before the container has started"
            );
        }
        if Instant::now() > deadline {
            bail!(
                "container {id} was created with --seal dmz and its init (pid {pid}) still runs the runtime binary {INIT_EXEC_WAIT:?} after start; refusing an exec whose process could reach it ({why})"
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The container's config (its init process).
fn container_spec(container: &Container) -> Result<Spec> {
    load_spec(&container.bundle().join("config.json"))
}

/// The spec of the process an exec starts: the container's, with the
/// process from `--process` and the capabilities `--cap` adds.
pub fn exec_spec(container: &Container, args: &crate::cli::Exec) -> Result<Spec> {
    let mut spec = container_spec(container)?;
    if let Some(file) = &args.process {
        spec.set_process(Some(crate::commands::exec::read_process(file)?.0));
    }
    if args.cap.iter().any(|c| {
        c.trim_start_matches("CAP_")
            .eq_ignore_ascii_case("SYS_PTRACE")
    }) {
        let mut process = spec.process().clone().unwrap_or_default();
        let mut caps = process.capabilities().clone().unwrap_or_default();
        let mut bounding = caps.bounding().clone().unwrap_or_default();
        bounding.insert(Capability::SysPtrace);
        caps.set_bounding(Some(bounding));
        process.set_capabilities(Some(caps));
        spec.set_process(Some(process));
    }
    Ok(spec)
}

/// The container's cgroup directories: recorded at create, else laid out
/// from its init (containers created before sealrun kept a record).
fn container_cgroups(container: &Container, record: &record::Record) -> Result<Vec<PathBuf>> {
    if !record.cgroups.is_empty() {
        return Ok(record.cgroups.clone());
    }
    let pid = container
        .pid()
        .with_context(|| format!("container {} has no init pid", container.id()))?;
    Ok(cgroupfs::plan(pid.as_raw())?.dirs())
}

/// The first live process in `dirs` (or below) that holds CAP_SYS_PTRACE
/// in its bounding set in the host's user namespace, described.
fn ptrace_process(dirs: &[PathBuf]) -> Result<Option<String>> {
    let own_userns = std::fs::metadata("/proc/self/ns/user")
        .context("failed to stat /proc/self/ns/user")?
        .ino();
    let mut pids = std::collections::BTreeSet::new();
    for dir in dirs {
        collect_pids(dir, &mut pids);
    }
    for pid in pids {
        // A process that exits meanwhile holds nothing any more.
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let Some(bounding) = status
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        else {
            continue;
        };
        if bounding & (1 << CAP_SYS_PTRACE_BIT) == 0 {
            continue;
        }
        let Ok(userns) = std::fs::metadata(format!("/proc/{pid}/ns/user")) else {
            continue;
        };
        if userns.ino() != own_userns {
            continue;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        return Ok(Some(format!(
            "process {pid} ({}) in the container has CAP_SYS_PTRACE in its bounding set and no user namespace of its own",
            comm.trim()
        )));
    }
    Ok(None)
}

/// Every pid in `dir`'s cgroup.procs and those of the cgroups below it.
fn collect_pids(dir: &std::path::Path, pids: &mut std::collections::BTreeSet<i32>) {
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&entry.path(), pids);
            }
        }
    }
}
