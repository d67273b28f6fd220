//! `sealrun run`: create + start; in the foreground, wait for the container
//! and exit with its status, then delete it (unless `--keep`).

use anyhow::{Context, Result};

use super::create::{build_init_container, InitOptions};
use super::{foreground, Runtime};
use crate::executor::SealExecutor;

pub fn run(runtime: &Runtime, args: liboci_cli::Run, executor: SealExecutor) -> Result<u8> {
    let id = args.container_id.as_str();
    if !args.detach && !args.no_subreaper {
        // Orphans of the container (without a pid namespace) get reparented
        // to us and are reaped in the foreground loop.
        nix::sys::prctl::set_child_subreaper(true).context("failed to become a child subreaper")?;
    }

    let mut container = build_init_container(
        runtime,
        &InitOptions {
            id,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_deref(),
            console_socket: args.console_socket.as_deref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            detach: args.detach,
        },
        executor,
    )?;

    // Block signals before the workload can run (and exit), after its
    // process was cloned so it does not inherit the mask.
    let blocked = if args.detach {
        None
    } else {
        Some(foreground::block_signals()?)
    };

    if let Err(err) = container.start() {
        if let Err(cleanup) = container.delete(true) {
            tracing::warn!(id, err = %cleanup, "failed to delete container after failed start");
        }
        return Err(err).with_context(|| format!("failed to start container {id}"));
    }
    let Some(blocked) = blocked else {
        return Ok(0);
    };

    let pid = container
        .pid()
        .with_context(|| format!("container {id} has no init pid after start"))?;
    let status = foreground::wait_forwarding_signals(pid, &blocked);

    if !args.keep {
        // A cleanup failure must not hide the workload's exit status.
        if let Err(err) = container.delete(true) {
            tracing::error!(id, %err, "failed to delete container after it exited");
            eprintln!("sealrun: warning: failed to delete container {id}: {err}");
        }
    }
    status.with_context(|| format!("failed to wait for container {id}"))
}
