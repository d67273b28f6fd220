//! `sealrun exec`: run a new process in a running container, from
//! `--process FILE` or from the command line arguments.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::{Capability, LinuxCapabilities, Process};
use libcontainer::syscall::syscall::SyscallType;

use super::console::{ConsoleSocket, Relay};
use super::{foreground, Runtime};
use crate::executor::SealExecutor;

pub fn exec(runtime: &Runtime, args: liboci_cli::Exec, executor: SealExecutor) -> Result<u8> {
    let id = args.container_id.clone();
    let container = runtime.load(&id)?;
    if args.process.is_none() && args.command.is_empty() {
        bail!("exec needs a command or --process FILE");
    }
    if let Some(pid_file) = &args.pid_file {
        super::create::check_pid_file(pid_file)?;
    }
    if args.preserve_fds < 0 {
        bail!(
            "--preserve-fds must not be negative (got {})",
            args.preserve_fds
        );
    }

    // libcontainer builds a process from the command line without a terminal;
    // with --tty, build the process file ourselves (runc style: the
    // container's own process is the template).
    let generated = match (&args.process, args.tty) {
        (None, true) => {
            let path = container
                .root
                .join(format!("exec-process-{}.json", std::process::id()));
            let process = tty_process(&container.state.bundle, &args)?;
            std::fs::write(&path, serde_json::to_vec(&process)?)
                .with_context(|| format!("failed to write {}", path.display()))?;
            Some(TempFile(path))
        }
        _ => None,
    };
    let process_file: Option<&Path> = generated
        .as_ref()
        .map(|f| f.0.as_path())
        .or(args.process.as_deref());

    // A foreground process with a terminal: sealrun is its console socket
    // (libcontainer 0.7 hands a terminal out only through one).
    let console = if !args.detach && args.console_socket.is_none() && wants_terminal(&args)? {
        Some(ConsoleSocket::new(&runtime.root)?)
    } else {
        None
    };
    let console_socket: Option<&Path> = console
        .as_ref()
        .map(ConsoleSocket::path)
        .or(args.console_socket.as_deref());

    // Before the process exists: a dmz exec into this container must learn
    // that a process in it can reach the runtime's stages (see dmz_gate).
    if !executor.uses_dmz() {
        crate::dmz_gate::record_grant(&container, &args)?;
    }

    let (user, group) = match args.user {
        Some((uid, gid)) => (Some(uid), gid),
        None => (None, None),
    };
    tracing::debug!("nsexec container setup");
    let pid = ContainerBuilder::new(id.clone(), SyscallType::default())
        .with_executor(executor)
        .with_root_path(&runtime.root)
        .and_then(|b| b.with_pid_file(args.pid_file.as_ref()))
        .map(|b| {
            b.with_console_socket(console_socket)
                .with_preserved_fds(args.preserve_fds)
                .as_tenant()
                .with_detach(args.detach || console.is_some())
                .with_cwd(args.cwd.as_ref())
                .with_env(args.env.iter().cloned().collect())
                .with_process(process_file)
                .with_no_new_privs(args.no_new_privs)
                .with_container_args(args.command.clone())
                .with_additional_gids(args.additional_gids.clone())
                .with_user(user)
                .with_group(group)
                .with_capabilities(args.cap.clone())
                .with_ignore_paused(args.ignore_paused)
                .with_sub_cgroup(args.cgroup.clone())
                .with_process_label(args.process_label.clone())
                .with_apparmor(args.apparmor.clone())
        })
        .and_then(|b| b.build())
        .with_context(|| format!("failed to exec in container {id}"))?;
    drop(generated);

    if args.detach {
        return Ok(0);
    }
    let master = console
        .as_ref()
        .map(ConsoleSocket::receive_master)
        .transpose()
        .with_context(|| format!("failed to set up the terminal of the exec'd process {pid}"))?;
    drop(console);
    let blocked = foreground::block_signals()?;
    let relay = master.map(Relay::start).transpose()?;
    let status = foreground::wait_forwarding_signals(pid, &blocked, || {
        if let Some(relay) = &relay {
            relay.resize();
        }
    });
    if let Some(relay) = relay {
        relay.finish();
    }
    status.with_context(|| format!("failed to wait for the exec'd process {pid} in container {id}"))
}

/// Whether the process to exec asks for a terminal.
fn wants_terminal(args: &liboci_cli::Exec) -> Result<bool> {
    let Some(file) = &args.process else {
        return Ok(args.tty);
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("failed to read {}", file.display()))?;
    let process: Process = serde_json::from_str(&text)
        .with_context(|| format!("failed to parse {}", file.display()))?;
    Ok(process.terminal().unwrap_or(false))
}

/// Removes the file when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The process for `exec --tty CMD...`: the container's own process with the
/// command line options applied and a terminal.
fn tty_process(bundle: &Path, args: &liboci_cli::Exec) -> Result<Process> {
    let config = bundle.join("config.json");
    let spec = super::create::load_spec(&config)?;
    let mut process = spec.process().clone().unwrap_or_default();

    process.set_args(Some(args.command.clone()));
    process.set_terminal(Some(true));
    let mut env: Vec<String> = process
        .env()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|kv| {
            let key = kv.split('=').next().unwrap_or_default();
            !args.env.iter().any(|(k, _)| k == key)
        })
        .collect();
    env.extend(args.env.iter().map(|(k, v)| format!("{k}={v}")));
    process.set_env(Some(env));
    if let Some(cwd) = &args.cwd {
        if cwd.is_relative() {
            bail!("--cwd must be an absolute path (got {})", cwd.display());
        }
        process.set_cwd(cwd.clone());
    }
    let mut user = process.user().clone();
    if let Some((uid, gid)) = args.user {
        user.set_uid(uid);
        if let Some(gid) = gid {
            user.set_gid(gid);
        }
    }
    if !args.additional_gids.is_empty() {
        user.set_additional_gids(Some(args.additional_gids.clone()));
    }
    process.set_user(user);
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &args.apparmor {
        process.set_apparmor_profile(Some(profile.clone()));
    }
    if !args.cap.is_empty() {
        let added = args
            .cap
            .iter()
            .map(|c| {
                let name = if c.starts_with("CAP_") {
                    c.clone()
                } else {
                    format!("CAP_{c}")
                };
                name.parse::<Capability>()
                    .map_err(|err| anyhow::anyhow!("invalid capability '{c}': {err}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut caps = process
            .capabilities()
            .clone()
            .unwrap_or_else(LinuxCapabilities::default);
        let add = |set: Option<&std::collections::HashSet<Capability>>| {
            let mut set = set.cloned().unwrap_or_default();
            set.extend(added.iter().copied());
            Some(set)
        };
        let (bounding, effective, permitted) = (
            add(caps.bounding().as_ref()),
            add(caps.effective().as_ref()),
            add(caps.permitted().as_ref()),
        );
        caps.set_bounding(bounding)
            .set_effective(effective)
            .set_permitted(permitted);
        process.set_capabilities(Some(caps));
    }
    Ok(process)
}
