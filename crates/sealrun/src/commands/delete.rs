//! `sealrun delete [--force] ID`, and the removal every path that ends a
//! container shares.

use anyhow::{Context, Result};
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::signal::Signal;

use super::Runtime;
use crate::{cgroupfs, record};

pub fn delete(runtime: &Runtime, args: liboci_cli::Delete) -> Result<()> {
    let id = args.container_id.as_str();
    // As runc: forcing the delete of a container that does not exist (an
    // engine cleaning up after a create that failed) succeeds quietly.
    let dir = runtime.container_dir(id)?;
    if args.force && !dir.join("state.json").exists() {
        tracing::debug!(id, "delete --force: no such container");
        crate::prepare::remove(&dir);
        return Ok(());
    }
    let mut container = runtime.load(id)?;
    destroy(&mut container, args.force).with_context(|| {
        let hint = if args.force {
            ""
        } else {
            " (use --force to kill it first)"
        };
        format!("failed to delete container {id}{hint}")
    })
}

/// libcontainer's delete, then the cgroups sealrun recorded for the
/// container. libcontainer 0.7.0 removes only the cgroup directories it
/// made itself, and its `Container::delete` fails half-way (some
/// hierarchies removed, state left behind) when the container made cgroups
/// below them, because libcgroups' `remove` rmdirs the container's cgroup
/// alone. So a running container is killed first (with --force) and, once
/// it is stopped, the cgroups below its own are removed before
/// libcontainer's delete runs.
pub fn destroy(container: &mut Container, force: bool) -> Result<()> {
    // Read first: libcontainer's delete removes the state directory.
    let record = record::read(&container.root).unwrap_or_else(|err| {
        tracing::warn!(id = container.id(), "{err:#}");
        record::Record::default()
    });
    // The status in memory may be stale (a foreground `run` loaded it
    // before its container exited): killing a stopped container goes
    // through the freezer for nothing (~2 ms, measured).
    container.refresh_status()?;
    if !record.cgroups.is_empty() {
        if force
            && matches!(
                container.status(),
                ContainerStatus::Running | ContainerStatus::Created | ContainerStatus::Paused
            )
        {
            container.kill(Signal::try_from("KILL")?, true)?;
        }
        if matches!(container.status(), ContainerStatus::Stopped) {
            // Best effort: a cgroup still holding a dying process stays,
            // and libcontainer's delete then reports it.
            if let Err(err) = cgroupfs::remove_below(&record.cgroups) {
                tracing::debug!(id = container.id(), "{err:#}");
            }
            if delete_stopped(container, &record)? {
                return Ok(());
            }
        }
    }
    container.delete(force)?;
    crate::prepare::remove(&container.root);
    cgroupfs::remove(&record.cgroups)
}

/// The delete of a stopped container whose cgroups sealrun recorded,
/// without libcontainer's: its `Container::delete` builds a libcgroups
/// manager only to remove the cgroups, and libcgroups' v1 `Manager::new`
/// reads /proc/self/mountinfo once per controller through libpathrs (13
/// reads, ~500 system calls: half of a `run`'s main process, measured with
/// strace). Does what libcontainer does for a stopped container, in its
/// order: remove the cgroups, run the poststop hooks, remove the state
/// directory. `Ok(false)` (nothing done) where libcontainer's delete must
/// decide instead: systemd-managed cgroups, Intel RDT, or a cgroup that
/// will not go (libcgroups retries and reports it).
fn delete_stopped(container: &Container, record: &record::Record) -> Result<bool> {
    if container.systemd() || container.intel_rdt_dir().is_some() {
        return Ok(false);
    }
    if let Err(err) = cgroupfs::remove(&record.cgroups) {
        tracing::debug!(
            id = container.id(),
            "{err:#}; leaving the delete to libcontainer"
        );
        return Ok(false);
    }
    match libcontainer::config::YoukiConfig::load(&container.root) {
        Ok(config) => {
            if let Some(hooks) = config.hooks.as_ref() {
                libcontainer::hooks::run_hooks(
                    hooks.poststop().as_ref(),
                    Some(&container.state),
                    None,
                    None,
                    None,
                )
                .with_context(|| {
                    format!("failed to run the poststop hooks of {}", container.id())
                })?;
            }
        }
        // As libcontainer: a create that died before writing the config.
        Err(err) => tracing::warn!(
            id = container.id(),
            "no container config ({err}), deleting without poststop hooks"
        ),
    }
    std::fs::remove_dir_all(&container.root)
        .with_context(|| format!("failed to remove {}", container.root.display()))?;
    crate::prepare::remove(&container.root);
    Ok(true)
}
