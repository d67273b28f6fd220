//! `sealrun run`: create + start; in the foreground, wait for the container
//! and exit with its status, then delete it (unless `--keep`).

use anyhow::{Context, Result};
use libcontainer::container::Container;

use super::console::{ConsoleSocket, Relay};
use super::create::{build_init_container, InitOptions};
use super::{foreground, Runtime};
use crate::config::load_spec;
use crate::executor::SealExecutor;

pub fn run(runtime: &Runtime, args: liboci_cli::Run, executor: SealExecutor) -> Result<u8> {
    let id = args.container_id.as_str();
    if !args.detach && !args.no_subreaper {
        // Orphans of the container (without a pid namespace) get reparented
        // to us and are reaped in the foreground loop.
        nix::sys::prctl::set_child_subreaper(true).context("failed to become a child subreaper")?;
    }

    // A foreground container with a terminal: sealrun is its console socket.
    let console = if !args.detach && args.console_socket.is_none() && wants_terminal(&args) {
        Some(ConsoleSocket::new(&runtime.ensure_root()?)?)
    } else {
        None
    };

    let mut container = build_init_container(
        runtime,
        &InitOptions {
            id,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_deref(),
            console_socket: console
                .as_ref()
                .map(ConsoleSocket::path)
                .or(args.console_socket.as_deref()),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            // libcontainer accepts a console socket only for detached
            // containers; we wait for this one ourselves.
            detach: args.detach || console.is_some(),
        },
        executor,
    )?;

    let master = match console
        .as_ref()
        .map(ConsoleSocket::receive_master)
        .transpose()
    {
        Ok(master) => master,
        Err(err) => {
            force_delete(&mut container);
            return Err(err)
                .with_context(|| format!("failed to set up the terminal of container {id}"));
        }
    };
    drop(console);

    // Block signals before the workload can run (and exit), after its
    // process was cloned so it does not inherit the mask.
    let blocked = if args.detach {
        None
    } else {
        Some(foreground::block_signals()?)
    };
    let relay = match master.map(Relay::start).transpose() {
        Ok(relay) => relay,
        Err(err) => {
            force_delete(&mut container);
            return Err(err)
                .with_context(|| format!("failed to attach to the terminal of container {id}"));
        }
    };

    if let Err(err) = container.start() {
        force_delete(&mut container);
        return Err(err).with_context(|| format!("failed to start container {id}"));
    }
    let Some(blocked) = blocked else {
        return Ok(0);
    };

    let pid = container
        .pid()
        .with_context(|| format!("container {id} has no init pid after start"))?;
    let status = foreground::wait_forwarding_signals(pid, &blocked, || {
        if let Some(relay) = &relay {
            relay.resize();
        }
    });
    if let Some(relay) = relay {
        relay.finish();
    }

    if !args.keep {
        // A cleanup failure must not hide the workload's exit status.
        if let Err(err) = super::delete::destroy(&mut container, true) {
            tracing::error!(id, %err, "failed to delete container after it exited");
            eprintln!("sealrun: warning: failed to delete container {id}: {err}");
        }
    }
    status.with_context(|| format!("failed to wait for container {id}"))
}

/// Whether the bundle's process asks for a terminal (a broken bundle is
/// reported by the build).
fn wants_terminal(args: &liboci_cli::Run) -> bool {
    load_spec(&args.bundle.join("config.json"))
        .ok()
        .and_then(|spec| spec.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false)
}

fn force_delete(container: &mut Container) {
    if let Err(err) = super::delete::destroy(container, true) {
        tracing::warn!(id = container.id(), %err, "failed to delete container after a failed run");
    }
}
