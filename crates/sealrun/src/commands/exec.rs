//! `sealrun exec`: run a new process in a created or running container, from
//! `--process FILE` or from the command line arguments.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::{Capability, Process, Spec};
use libcontainer::syscall::syscall::SyscallType;

use super::console::{ConsoleSocket, Relay};
use super::{foreground, Runtime};
use crate::exec_cgroup::SubCgroups;
use crate::executor::SealExecutor;

pub fn exec(runtime: &Runtime, args: crate::cli::Exec, executor: SealExecutor) -> Result<u8> {
    let id = args.container_id.clone();
    let container = runtime.load(&id)?;
    if !args.ignore_paused && container.status() == libcontainer::container::ContainerStatus::Paused
    {
        bail!("cannot exec in a paused container (use --ignore-paused to override)");
    }
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
    let sub_cgroups = crate::exec_cgroup::parse(&args.cgroup)?;

    // sealrun always hands libcontainer a process file of its own, built as
    // runc builds it: the container's process is the template for `exec
    // CMD...` (libcontainer's own command-line process takes no terminal,
    // root's user and oci-spec's defaults, no_new_privs on, where the
    // container's process says otherwise). A --process file has been stashed
    // as a regular, complete file already (`stash_process`). The file also
    // carries capabilities lent to the process (see `lend`): to load the
    // container's seccomp profile (`exec_seccomp`), or to give a terminal to
    // a user other than root.
    let bundle = &container.state.bundle;
    let spec = crate::config::load_spec(&bundle.join("config.json"))?;
    let profile = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    if let Some(profile) = profile {
        crate::exec_seccomp::check_profile(profile)
            .with_context(|| format!("failed to exec in container {id}"))?;
    }
    let mut process = match &args.process {
        Some(file) => read_process(file)?.0,
        None => {
            let mut process = process_from_args(&spec, &args)?;
            // Never what the config lends the init for a moment.
            crate::prepare::take_lent(bundle, &mut process)?;
            process
        }
    };
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    let mut wanted = Vec::new();
    if profile.is_some() && process.no_new_privileges() != Some(true) {
        wanted.push(Capability::SysAdmin);
    }
    let uid = process.user().uid();
    let tty_owner = (process.terminal() == Some(true) && uid != 0).then_some(uid);
    if tty_owner.is_some() {
        wanted.push(Capability::Chown);
    }
    let lent = crate::lend::lend(&mut process, &wanted);
    let mut executor = executor.with_lent(lent, tty_owner);
    let mut seccomp_plan = None;
    if let Some((plan, in_process)) = crate::exec_seccomp::plan(profile, |fd| {
        SealExecutor::place_fd(fd, args.preserve_fds)
            .context("failed to place the seccomp notify channel above the preserved fds")
    })? {
        seccomp_plan = Some(plan);
        executor = executor.with_exec_seccomp(in_process);
    }
    let mut sub_cgroup = None;
    match &sub_cgroups {
        SubCgroups::None => {}
        SubCgroups::All(sub) => {
            crate::exec_cgroup::check_all(&container_cgroups(&container)?, sub)
                .with_context(|| format!("failed to exec in container {id}"))?;
            sub_cgroup = Some(sub.clone());
        }
        SubCgroups::PerController(per) => {
            let dirs = container_cgroups(&container)?;
            let cgroups = crate::exec_cgroup::InProcess::open(
                per,
                |ctrl| crate::cgroupfs::controller_dir_among(&dirs, ctrl),
                |fd| {
                    SealExecutor::place_fd(fd, args.preserve_fds)
                        .context("failed to place a cgroup.procs fd above the preserved fds")
                },
            )
            .with_context(|| format!("failed to exec in container {id}"))?;
            if let Some(cgroups) = cgroups {
                executor = executor.with_exec_cgroups(cgroups);
            }
        }
    }
    if let Some(stub) = crate::prepare::seccomp_stub(bundle, &spec) {
        executor = executor.with_seccomp_stub(stub);
    }
    let process_file = write_process(&container.root, &process)?;

    // A foreground process with a terminal: sealrun is its console socket
    // (libcontainer 0.7 hands a terminal out only through one).
    let terminal = process.terminal() == Some(true);
    let console = if !args.detach && args.console_socket.is_none() && terminal {
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

    // Last before libcontainer forks: the thread that forwards a seccomp
    // notify fd (see `exec_seccomp`).
    let seccomp = match seccomp_plan {
        Some(plan) => plan.serve(&container)?,
        None => None,
    };
    let view = match container.status() {
        libcontainer::container::ContainerStatus::Created => Some(CreatedView::new(&container)?),
        _ => None,
    };
    let root = view
        .as_ref()
        .map_or(runtime.root.as_path(), |v| v.root.as_path());
    tracing::debug!("nsexec container setup");
    let built = ContainerBuilder::new(id.clone(), SyscallType::default())
        .with_executor(executor)
        .with_root_path(root)
        .and_then(|b| b.with_pid_file(args.pid_file.as_ref()))
        .map(|b| {
            b.with_console_socket(console_socket)
                .with_preserved_fds(args.preserve_fds)
                .as_tenant()
                .with_detach(args.detach || console.is_some())
                // Everything about the process is in the file: given one,
                // libcontainer takes no command-line option for it.
                .with_process(Some(process_file.0.as_path()))
                .with_ignore_paused(args.ignore_paused)
                .with_sub_cgroup(sub_cgroup)
                .with_process_label(args.process_label.clone())
        })
        .and_then(|b| b.build());
    // The agent's error, if it got no fd, is the cause of a failed build.
    if let Some(seccomp) = seccomp {
        let served = if built.is_ok() {
            seccomp.finish()
        } else {
            seccomp.abort()
        };
        served.with_context(|| format!("failed to exec in container {id}"))?;
    }
    drop(view);
    let pid = built
        .map_err(|e| crate::init_errors::with_cause(e, process.cwd().to_str()))
        .with_context(|| format!("failed to exec in container {id}"))?;
    drop(process_file);

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

/// Reads an `exec --process` file, and whether it had to be completed:
/// runc's decoder leaves a missing `user` as uid 0, gid 0 (engines send
/// such files), while oci-spec requires the field.
pub fn read_process(file: &Path) -> Result<(Process, bool)> {
    let bytes = crate::config::read_limited(file)?;
    let mut value: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("failed to parse {}", file.display()))?;
    let filled = match value.as_object_mut() {
        Some(obj) if !obj.contains_key("user") => {
            obj.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
            true
        }
        _ => false,
    };
    let process = serde_json::from_value(value)
        .with_context(|| format!("failed to parse {}", file.display()))?;
    Ok((process, filled))
}

/// Carries the stash of [`stash_process`] across a sealing re-exec that
/// happens after parsing (the pipe it came from is drained by then).
const STASH_ENV: &str = "_SEALRUN_EXEC_PROCESS";

/// Reads `exec --process FILE` once (FILE may be a pipe such as /dev/fd/63,
/// and the dmz gate, the terminal check and libcontainer each read it),
/// completes it (`read_process`) and points `args.process` at a regular
/// copy in the container's state directory, removed when the returned guard
/// is dropped. Call [`forget_stash_env`] once sealing is done.
pub fn stash_process(runtime: &Runtime, args: &mut crate::cli::Exec) -> Result<Option<TempFile>> {
    let Some(file) = &args.process else {
        return Ok(None);
    };
    let dir = runtime.container_dir(&args.container_id)?;
    if let Some(earlier) = std::env::var_os(STASH_ENV).map(PathBuf::from) {
        // Only a stash file of this container counts: the variable is an
        // input like any other.
        let ours = earlier.parent() == Some(dir.as_path())
            && earlier
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("exec-process-"))
            && earlier.is_file();
        if ours {
            args.process = Some(earlier.clone());
            return Ok(Some(TempFile(earlier)));
        }
    }
    let (process, _) = read_process(file)?;
    if !dir.is_dir() {
        // Reported by the exec itself ("does not exist").
        return Ok(None);
    }
    let stash = write_process(&dir, &process)?;
    std::env::set_var(STASH_ENV, &stash.0);
    args.process = Some(stash.0.clone());
    Ok(Some(stash))
}

/// Once sealed: the stash variable must not reach the container.
pub fn forget_stash_env() {
    std::env::remove_var(STASH_ENV);
}

/// Writes `process` to a file in the container's state directory, removed
/// again when the returned guard is dropped.
fn write_process(state_dir: &Path, process: &Process) -> Result<TempFile> {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = state_dir.join(format!("exec-process-{}-{n}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(process)?)
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(TempFile(path))
}

/// The container's cgroup directories, one per hierarchy, as `create`
/// recorded them (where its init is now, for containers created before the
/// record kept them).
fn container_cgroups(container: &libcontainer::container::Container) -> Result<Vec<PathBuf>> {
    let recorded = crate::record::read(&container.root)?.cgroups;
    if !recorded.is_empty() {
        return Ok(recorded);
    }
    let init = container
        .pid()
        .with_context(|| format!("container {} has no init process", container.id()))?;
    Ok(crate::cgroupfs::plan(init.as_raw())?.dirs())
}

/// What libcontainer sees of a `created` container that sealrun execs into.
///
/// runc execs into a created container too: its init already waits for
/// `start` inside the container's namespaces and cgroup, so a process can
/// join them (engines and scripts do, to prepare a container before it
/// starts). libcontainer refuses anything but running or paused
/// (`TenantContainerBuilder::load_container_state`). So its builder gets a
/// root of its own, inside the container's state directory: the container's
/// state, copied, with status `running`. Everything the tenant builder reads
/// from it (the bundle, the init's pid whose namespaces it joins, the cgroup
/// driver) is the container's own; its sockets are made there and gone with
/// the view. The container's real state is not touched (it stays `created`),
/// and a view a killed exec left behind goes with the container's directory.
struct CreatedView {
    root: PathBuf,
}

impl CreatedView {
    fn new(container: &libcontainer::container::Container) -> Result<Self> {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = container
            .root
            .join(format!("exec-view-{}-{n}", std::process::id()));
        let view = Self { root };
        let dir = view.root.join(container.id());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let mut state = container.state.clone();
        state.status = libcontainer::container::ContainerStatus::Running;
        state
            .save(&dir)
            .with_context(|| format!("failed to write the state of {}", dir.display()))?;
        Ok(view)
    }
}

impl Drop for CreatedView {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            tracing::warn!("failed to remove {}: {e}", self.root.display());
        }
    }
}

/// Removes the file when dropped.
pub struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The process for `exec CMD...`: the container's own process (of `spec`,
/// its config) with the command line options applied.
fn process_from_args(spec: &Spec, args: &crate::cli::Exec) -> Result<Process> {
    let mut process = spec.process().clone().unwrap_or_default();

    process.set_args(Some(args.command.clone()));
    process.set_terminal(Some(args.tty));
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
                // The spec's spelling (CAP_...), which is serde's; oci-spec's
                // FromStr wants the name without the prefix.
                serde_json::from_value::<Capability>(serde_json::Value::String(name))
                    .map_err(|_| anyhow::anyhow!("invalid capability '{c}'"))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut caps = process.capabilities().clone().unwrap_or_default();
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
        // As runc's exec: ambient only where the spec set inheritable bits
        // (the kernel allows no ambient capability outside inheritable).
        if caps.inheritable().is_some() {
            let ambient = add(caps.ambient().as_ref());
            caps.set_ambient(ambient);
        }
        caps.set_bounding(bounding)
            .set_effective(effective)
            .set_permitted(permitted);
        process.set_capabilities(Some(caps));
    }
    Ok(process)
}
