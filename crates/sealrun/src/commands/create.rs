//! `sealrun create`, and the container construction `run` shares with it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::error::LibcontainerError;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;

use super::{remove_leftover_dir, validate_id, Runtime};
use crate::executor::SealExecutor;
use crate::{cgroupfs, prepare, record, tmpcopyup};

/// Everything needed to build an init container (create and run).
pub struct InitOptions<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: i32,
    pub no_pivot: bool,
    pub detach: bool,
}

pub fn create(runtime: &Runtime, args: liboci_cli::Create, executor: SealExecutor) -> Result<()> {
    build_init_container(
        runtime,
        &InitOptions {
            id: &args.container_id,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_deref(),
            console_socket: args.console_socket.as_deref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            // create always leaves the container running in the background
            detach: true,
        },
        executor,
    )?;
    Ok(())
}

/// Builds the container up to the `created` state. On failure nothing is left
/// under `--root` (libcontainer removes cgroups and state of containers whose
/// processes it started; this also covers its earlier failure points).
pub fn build_init_container(
    runtime: &Runtime,
    opts: &InitOptions<'_>,
    executor: SealExecutor,
) -> Result<Container> {
    let id = opts.id;
    validate_id(id)?;
    let (bundle, spec, config_bytes) = check_bundle(opts.bundle)?;
    crate::validate::check(&spec, &bundle).with_context(|| {
        format!(
            "invalid configuration in {}",
            bundle.join("config.json").display()
        )
    })?;
    let executor = match crate::start_hooks::StartHooks::of(&spec, id, &bundle) {
        Some(hooks) => executor.with_start_hooks(hooks),
        None => executor,
    };
    if let Some(pid_file) = opts.pid_file {
        check_pid_file(pid_file)?;
    }
    if opts.preserve_fds < 0 {
        bail!(
            "--preserve-fds must not be negative (got {})",
            opts.preserve_fds
        );
    }

    let root = runtime.ensure_root()?;
    let container_dir = root.join(id);
    if container_dir.exists() {
        bail!(
            "container {id} already exists (state in {})",
            container_dir.display()
        );
    }

    let copy_up = tmpcopyup::targets(&spec);
    // What libcontainer reads: the bundle's config, or a corrected copy.
    let prepared = prepare::prepare(
        &root,
        id,
        &bundle,
        (&spec, &config_bytes),
        runtime.systemd_cgroup,
        opts.no_pivot,
    )?;
    let spec = match &prepared {
        Some(p) => p.spec().clone(),
        None => spec,
    };
    if !runtime.systemd_cgroup {
        // The path libcontainer's cgroupfs manager will use.
        let configured = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
        cgroupfs::check_existing(&libcontainer::utils::get_cgroup_path(&configured, id))
            .with_context(|| format!("cannot create container {id}"))?;
    }
    let read_from = prepared.as_ref().map_or(bundle.as_path(), |p| p.dir());
    let stub = prepare::seccomp_stub(read_from, &spec);
    let executor = executor.with_init_lent(prepared.as_ref().and_then(|p| p.lent().cloned()));
    let executor = match stub {
        Some(stub) => executor.with_seccomp_stub(stub),
        None => executor,
    };
    let dmz = executor.uses_dmz();
    let staged = match &prepared {
        Some(p) => p
            .stage_binds()
            .with_context(|| format!("cannot create container {id}"))?,
        None => None,
    };
    // runc's words for the start of container setup (its users grep them).
    tracing::debug!("nsexec container setup");
    let built = ContainerBuilder::new(id.to_owned(), SyscallType::default())
        .with_executor(executor)
        .with_root_path(&root)
        .and_then(|b| b.with_pid_file(opts.pid_file))
        .map(|b| {
            b.with_console_socket(opts.console_socket)
                .with_preserved_fds(opts.preserve_fds)
                .as_init(&bundle)
                .with_bundle(prepared.as_ref().map_or(bundle.as_path(), |p| p.dir()))
                .with_systemd(runtime.systemd_cgroup)
                .with_detach(opts.detach)
                .with_no_pivot(opts.no_pivot)
        })
        .and_then(|b| b.build());
    // Back in the host's mount namespace before anything else: the init has
    // its own, copied from the staging one.
    let left = staged.map_or(Ok(()), crate::bindstage::Stage::leave);
    let user_bundle = prepared.as_ref().map(|_| bundle.as_path());

    match built {
        // libcontainer only warns when it cannot write the pid file; runc
        // fails, and so do we.
        Ok(mut container) if opts.pid_file.is_some_and(|p| !p.exists()) => {
            discard(&mut container);
            bail!(
                "failed to write pid file {} for container {id}",
                opts.pid_file.unwrap_or(Path::new("")).display()
            )
        }
        Ok(mut container) if left.is_err() => {
            discard(&mut container);
            Err(left.unwrap_err()).with_context(|| format!("failed to create container {id}"))
        }
        Ok(mut container) => {
            let persisted = prepared.map_or(Ok(()), prepare::PreparedBundle::persist);
            if let Err(err) =
                persisted.and_then(|()| settle(&container, &spec, dmz, user_bundle, &copy_up))
            {
                discard(&mut container);
                return Err(err.context(format!("failed to create container {id}")));
            }
            tracing::debug!(id, pid = ?container.pid(), "container created");
            Ok(container)
        }
        Err(err) => {
            if let Err(left) = left {
                tracing::warn!("{left:#}");
            }
            // `Exist`: someone else created this id since our check; not ours to remove.
            remove_leftover_dir(&container_dir, matches!(err, LibcontainerError::Exist));
            let cwd = spec
                .process()
                .as_ref()
                .map(|p| p.cwd().to_string_lossy().into_owned());
            let err = crate::init_errors::with_cause(err, cwd.as_deref());
            let err = match &prepared {
                Some(p) => p.name_sources(err),
                None => err,
            };
            Err(err).with_context(|| {
                format!(
                    "failed to create container {id} from bundle {}",
                    bundle.display()
                )
            })
        }
    }
}

/// What sealrun adds once libcontainer has built the container and its init
/// waits for `start` (no code of the container has run yet): its record
/// (cgroups to remove on delete, whether its init runs through dmz), on
/// cgroup v2 its device rules (see `devcgroup`), then the cgroup mount as
/// the spec asks for it (see `cgroupfs`) and the files of `tmpcopyup`
/// tmpfs mounts (see `tmpcopyup`).
fn settle(
    container: &Container,
    spec: &Spec,
    dmz: bool,
    user_bundle: Option<&Path>,
    copy_up: &[PathBuf],
) -> Result<()> {
    let pid = container
        .pid()
        .context("libcontainer reported no init pid")?
        .as_raw();
    let plan = cgroupfs::plan(pid)?;
    record::lock(&container.root, true)?.update(|r| {
        r.cgroups = plan.dirs();
        r.dmz_init = dmz;
        r.bundle = user_bundle.map(Path::to_path_buf);
    })?;
    if let Some(dir) = plan.unified_dir() {
        crate::devcgroup::confine(dir, spec)?;
    }
    plan.apply(pid, spec)?;
    tmpcopyup::copy_up(pid, copy_up)?;
    crate::mountns::finish_mounts(pid, spec)?;
    give_terminal_to_user(pid, spec)
}

/// The container's terminal belongs to its process's user, as runc makes
/// it: libcontainer 0.7.0 (`tty::setup_console`) leaves the pty slave it
/// creates in the init owned by root, and the init has dropped the
/// capability to chown it by the time sealrun's executor runs. So it is
/// chowned from outside, through the init's stdin, while the init waits
/// for `start`. The group stays the one devpts gave it (`gid=5`, tty).
fn give_terminal_to_user(pid: i32, spec: &Spec) -> Result<()> {
    let Some(process) = spec.process().as_ref() else {
        return Ok(());
    };
    let uid = process.user().uid();
    if !process.terminal().unwrap_or(false) || uid == 0 {
        return Ok(());
    }
    let stdin = PathBuf::from(format!("/proc/{pid}/fd/0"));
    match std::fs::read_link(&stdin) {
        Ok(target) if target.starts_with("/dev/pts/") => {
            std::os::unix::fs::chown(&stdin, Some(uid), None).with_context(|| {
                format!(
                    "failed to give the terminal {} to uid {uid}",
                    target.display()
                )
            })
        }
        _ => Ok(()),
    }
}

/// Removes a container this create could not finish.
fn discard(container: &mut Container) {
    if let Err(err) = super::delete::destroy(container, true) {
        tracing::warn!(
            id = container.id(),
            "failed to delete container after a failed create: {err:#}"
        );
    }
}

/// Checks the bundle up front so that a bad bundle gives a precise error
/// before libcontainer touches anything. Returns the canonical bundle path
/// and its spec.
fn check_bundle(bundle: &Path) -> Result<(PathBuf, Spec, Vec<u8>)> {
    let bundle = std::fs::canonicalize(bundle)
        .with_context(|| format!("bundle {} is not accessible", bundle.display()))?;
    if !bundle.is_dir() {
        bail!("bundle {} is not a directory", bundle.display());
    }
    let config = bundle.join("config.json");
    if !config.exists() {
        bail!("bundle {} has no config.json", bundle.display());
    }
    let (spec, bytes) = crate::config::load_spec_and_bytes(&config)?;
    let root = spec
        .root()
        .as_ref()
        .with_context(|| format!("{} has no root.path", config.display()))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        bail!(
            "rootfs {} (root.path in {}) is not a directory",
            rootfs.display(),
            config.display()
        );
    }
    if spec.process().is_none() {
        bail!("{} has no process section", config.display());
    }
    let unified = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.unified().as_ref())
        .is_some_and(|u| !u.is_empty());
    if unified && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        bail!(
            "invalid configuration in {}: linux.resources.unified needs cgroup v2; this host has cgroup v1",
            config.display()
        );
    }
    Ok((bundle, spec, bytes))
}

/// The pid file must be creatable: its directory has to exist.
pub fn check_pid_file(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot write pid file {}: {} is not a directory",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(config: Option<&str>, rootfs: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(config) = config {
            std::fs::write(dir.path().join("config.json"), config).unwrap();
        }
        if rootfs {
            std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        }
        dir
    }

    fn err_of(bundle: &Path) -> String {
        format!("{:#}", check_bundle(bundle).unwrap_err())
    }

    #[test]
    fn bundle_errors_name_the_problem() {
        assert!(err_of(Path::new("/nonexistent/bundle"))
            .contains("/nonexistent/bundle is not accessible"));

        let no_config = bundle_with(None, true);
        assert!(err_of(no_config.path()).contains("has no config.json"));

        let malformed = bundle_with(Some("{ not json"), true);
        assert!(err_of(malformed.path()).contains("failed to parse"));

        let spec = serde_json::to_string(&Spec::default()).unwrap();
        let no_rootfs = bundle_with(Some(&spec), false);
        let msg = err_of(no_rootfs.path());
        assert!(
            msg.contains("rootfs") && msg.contains("is not a directory"),
            "{msg}"
        );

        let ok = bundle_with(Some(&spec), true);
        assert_eq!(
            check_bundle(ok.path()).unwrap().0,
            std::fs::canonicalize(ok.path()).unwrap()
        );
    }
}
