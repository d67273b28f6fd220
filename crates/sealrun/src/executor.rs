//! The container's final exec.
//!
//! Without a dmz fd this is libcontainer's `DefaultExecutor` (execvp of
//! `process.args`). With one, the workload is started through the sealed dmz
//! shim instead: `execveat(dmz, "", [resolved_program, args[1..]..], envp,
//! AT_EMPTY_PATH)`, and the shim execs its own argv[0]. The runtime binary
//! itself is then never the image of a process inside the container.
//!
//! ## Keeping the dmz fd alive through libcontainer's fd cleanup
//!
//! libcontainer 0.7.0 (`process/init/process.rs`) calls
//! `close_range(3 + preserve_fds + LISTEN_FDS, MAX, CLOSE_RANGE_CLOEXEC)` in
//! the container init process just before it waits for `start`: descriptors
//! are only *marked* close-on-exec, not closed (it falls back to the same in
//! userspace on old kernels). Descriptors are inherited unchanged through the
//! clone()s of the intermediate and init processes, so the dmz fd opened in
//! sealrun's main process is still open at the number we recorded when
//! `Executor::exec` runs. `execveat(AT_EMPTY_PATH)` on a close-on-exec fd
//! works for an ELF image (the kernel maps it before closing the fd) and the
//! fd then disappears with the exec, so the workload never inherits it.
//!
//! To make that hold regardless of where the fd landed, [`SealExecutor::new`]
//! moves it above the preserved range (`>= 3 + preserve_fds + LISTEN_FDS`)
//! and makes sure it is O_CLOEXEC: a dmz fd inside the preserved range would
//! otherwise be handed to the workload.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

use crate::sys;

/// execvp(3)'s search path when `PATH` is unset.
const DEFAULT_EXEC_PATH: &str = "/bin:/usr/bin";

#[derive(Clone)]
pub struct SealExecutor {
    dmz: Option<Arc<OwnedFd>>,
    /// The container record's lock, held shared for a dmz exec: only kept
    /// open here so that the runtime's stages inherit it (`dmz_gate`); like
    /// the dmz fd it is close-on-exec and above the preserved range, so it
    /// is released by each stage's exec of the workload and never reaches it.
    _gate: Option<Arc<OwnedFd>>,
    /// The process joins a running container (`exec`), not its init.
    tenant: bool,
    /// The -ENOSYS stub of the container's seccomp profile (see
    /// `seccomp_stub`), loaded after the profile: by the init before it
    /// waits for `start`, by an exec'd process before its exec.
    stub: Option<crate::seccomp_stub::Stub>,
    /// Capabilities lent to the init to load the stub, taken back right
    /// after it (before `start`).
    init_lent: Option<crate::lend::GiveBack>,
    /// The init's startContainer hooks, run last before its exec (see
    /// `start_hooks`).
    start_hooks: Option<crate::start_hooks::StartHooks>,
    /// Per-controller sub-cgroups an exec'd process moves itself into
    /// first (see `exec_cgroup`).
    cgroups: Option<crate::exec_cgroup::InProcess>,
    /// The container's seccomp profile, for an exec'd process (see
    /// `exec_seccomp`): loaded right before the final exec.
    seccomp: Option<crate::exec_seccomp::InProcess>,
    /// Capabilities `exec` lent the process, taken back before the exec
    /// (see `lend`).
    lent: Option<crate::lend::GiveBack>,
    /// The exec'd process's terminal goes to this user (see `lend`).
    tty_owner: Option<u32>,
    /// The signals sealrun's main process ignores, which its container
    /// processes would inherit (see `sys::default_signals`).
    ignored_signals: u64,
}

impl SealExecutor {
    /// `preserve_fds` is the `--preserve-fds` value given to libcontainer.
    pub fn new(
        dmz: Option<OwnedFd>,
        gate: Option<OwnedFd>,
        preserve_fds: i32,
    ) -> anyhow::Result<Self> {
        let place = |fd: Option<OwnedFd>, what: &str| -> anyhow::Result<Option<Arc<OwnedFd>>> {
            fd.map(|fd| {
                place_above_preserved(fd, first_cleaned_fd(preserve_fds))
                    .map(Arc::new)
                    .with_context(|| {
                        format!("failed to place the {what} fd above the preserved fds")
                    })
            })
            .transpose()
        };
        let dmz = place(dmz, "dmz")?;
        let gate = place(gate, "dmz gate lock")?;
        if let Some(fd) = &dmz {
            tracing::debug!(
                fd = fd.as_raw_fd(),
                "container process will be exec'd through the dmz"
            );
        }
        Ok(Self {
            dmz,
            _gate: gate,
            tenant: false,
            stub: None,
            init_lent: None,
            start_hooks: None,
            cgroups: None,
            seccomp: None,
            lent: None,
            tty_owner: None,
            ignored_signals: sys::ignored_signals(),
        })
    }

    /// The container's seccomp profile, which an exec'd process loads itself.
    pub fn with_exec_seccomp(mut self, seccomp: crate::exec_seccomp::InProcess) -> Self {
        self.seccomp = Some(seccomp);
        self
    }

    /// The -ENOSYS stub of the container's seccomp profile.
    pub fn with_seccomp_stub(mut self, stub: crate::seccomp_stub::Stub) -> Self {
        self.stub = Some(stub);
        self
    }

    /// Capabilities the prepared config lent the init (to load the stub),
    /// taken back before it waits for `start`.
    pub fn with_init_lent(mut self, lent: Option<crate::lend::GiveBack>) -> Self {
        self.init_lent = lent;
        self
    }

    /// The container's startContainer hooks, which its init runs.
    pub fn with_start_hooks(mut self, hooks: crate::start_hooks::StartHooks) -> Self {
        self.start_hooks = Some(hooks);
        self
    }

    /// The sub-cgroups (v1, per controller) an exec'd process joins.
    pub fn with_exec_cgroups(mut self, cgroups: crate::exec_cgroup::InProcess) -> Self {
        self.cgroups = Some(cgroups);
        self
    }

    /// Moves `fd` where the exec'd process can use it until its final exec
    /// (above the preserved range, close-on-exec; see the module docs).
    pub fn place_fd(fd: OwnedFd, preserve_fds: i32) -> std::io::Result<OwnedFd> {
        place_above_preserved(fd, first_cleaned_fd(preserve_fds))
    }

    /// Capabilities lent to an exec'd process, and what it uses them for
    /// (its terminal's owner).
    pub fn with_lent(
        mut self,
        lent: Option<crate::lend::GiveBack>,
        tty_owner: Option<u32>,
    ) -> Self {
        self.lent = lent;
        self.tty_owner = tty_owner;
        self
    }

    /// What a container process does last before its exec: every one, no
    /// signal left ignored and a /dev/null stdio writable; the init, its
    /// startContainer hooks; an exec'd process, in runc's order, its sub-cgroups (runc places the process
    /// before it runs at all), its terminal to its user, the lent
    /// capabilities out of the bounding set, the seccomp profile and its
    /// stub (so that as few syscalls as possible run under them here), the
    /// lent capabilities out of the other sets.
    fn before_exec(&self) -> Result<(), ExecutorError> {
        sys::default_signals(self.ignored_signals)
            .and_then(|()| sys::reopen_dev_null_rdwr())
            .map_err(|e| ExecutorError::Other(e.to_string()))?;
        if let Some(hooks) = &self.start_hooks {
            hooks.run().map_err(ExecutorError::Other)?;
        }
        if let Some(cgroups) = &self.cgroups {
            cgroups.apply().map_err(ExecutorError::Other)?;
        }
        if let Some(uid) = self.tty_owner {
            std::os::unix::fs::fchown(std::io::stdin(), Some(uid), None).map_err(|e| {
                ExecutorError::Other(format!(
                    "failed to give the terminal (stdin) to uid {uid}: {e}"
                ))
            })?;
        }
        if let Some(lent) = &self.lent {
            lent.bounding().map_err(ExecutorError::Other)?;
        }
        if let Some(seccomp) = &self.seccomp {
            seccomp.apply().map_err(ExecutorError::Other)?;
        }
        if let (true, Some(stub)) = (self.tenant, &self.stub) {
            stub.load().map_err(ExecutorError::Other)?;
        }
        if let Some(lent) = &self.lent {
            lent.effective_and_permitted()
                .map_err(ExecutorError::Other)?;
        }
        Ok(())
    }

    /// For `exec`: a process joining a running container.
    pub fn for_exec(mut self) -> Self {
        self.tenant = true;
        self
    }

    /// Whether the workload is exec'd through the dmz shim.
    pub fn uses_dmz(&self) -> bool {
        self.dmz.is_some()
    }
}

/// The first descriptor libcontainer's init process marks close-on-exec.
fn first_cleaned_fd(preserve_fds: i32) -> RawFd {
    let listen_fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(0);
    3 + preserve_fds.max(0) + listen_fds
}

fn place_above_preserved(fd: OwnedFd, min: RawFd) -> std::io::Result<OwnedFd> {
    if fd.as_raw_fd() >= min && sys::is_cloexec(fd.as_fd())? {
        return Ok(fd);
    }
    // The original is dropped (closed) once the copy exists.
    sys::dup_cloexec_at_least(fd.as_fd(), min)
}

/// The process's `consoleSize` on its terminal (stdin, the pty slave), as
/// runc sets it: libcontainer 0.7.0 ignores the field. Runs in the
/// container's init, right before the final exec.
fn apply_console_size(spec: &Spec) -> Result<(), ExecutorError> {
    let Some(process) = spec.process().as_ref() else {
        return Ok(());
    };
    let size = process.console_size();
    let (Some(size), true) = (size.as_ref(), process.terminal().unwrap_or(false)) else {
        return Ok(());
    };
    let rows = u16::try_from(size.height()).unwrap_or(u16::MAX);
    let cols = u16::try_from(size.width()).unwrap_or(u16::MAX);
    sys::set_window_size(std::io::stdin().as_fd(), rows, cols)
        .map_err(|e| ExecutorError::Other(format!("failed to apply consoleSize: {e}")))
}

impl Executor for SealExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        apply_console_size(spec)?;
        let Some(dmz) = &self.dmz else {
            self.before_exec()?;
            return DefaultExecutor {}.exec(spec);
        };
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .filter(|a| !a.is_empty())
            .ok_or(ExecutorError::InvalidArg)?;

        let path_var = std::env::var_os("PATH");
        let program = resolve_program(&args[0], path_var.as_deref()).ok_or_else(|| {
            ExecutorError::Other(format!("executable '{}' not found in $PATH", args[0]))
        })?;

        let argv = std::iter::once(program.clone().into_os_string())
            .chain(args[1..].iter().map(OsString::from))
            .map(cstring)
            .collect::<Result<Vec<_>, _>>()?;
        let envp = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                cstring(kv)
            })
            .collect::<Result<Vec<_>, _>>()?;

        tracing::debug!(
            ?program,
            dmz_fd = dmz.as_raw_fd(),
            "exec workload through dmz"
        );
        // libcontainer may have changed credentials (setuid to the
        // workload's user) since the runtime went non-dumpable, which resets
        // dumpability: make sure /proc/<pid>/exe of this process (still the
        // runtime binary) stays out of reach until the exec replaces it.
        sys::set_non_dumpable().map_err(|e| {
            ExecutorError::Other(format!(
                "prctl(PR_SET_DUMPABLE, 0) before the dmz exec: {e}"
            ))
        })?;
        self.before_exec()?;
        let err = exeseal::dmz::exec(dmz.as_fd(), &argv, &envp);
        Err(ExecutorError::Execution(
            format!(
                "execveat through dmz fd {} for {program:?} failed: {err}",
                dmz.as_raw_fd()
            )
            .into(),
        ))
    }

    /// What libcontainer's `DefaultExecutor::validate` checks, except that
    /// it refuses a process without PATH in its environment even when the
    /// program is given as a path (engines send such processes; runc runs
    /// them): a name without `/` is looked up as execvp(3) would, in PATH
    /// or else /bin:/usr/bin.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        // libcontainer calls this in the container's init, right before the
        // init tells the main process it is ready. runc logs these moments
        // in these words, and runc's users (its debug test) look for them.
        tracing::debug!("child process in init()");
        let invalid = |msg: String| Err(ExecutorValidationError::ArgValidationError(msg));
        // The init's -ENOSYS stub, after libcontainer loaded the profile and
        // before the init waits for `start`: lent capabilities are gone
        // before anything else can run in the container. (An exec'd process
        // loads its stub after its profile, in `before_exec`.)
        if !self.tenant {
            let lent = self.init_lent.clone().unwrap_or_default();
            let stub = self.stub.as_ref();
            if let Err(e) = lent
                .bounding()
                .and_then(|()| stub.map_or(Ok(()), |s| s.load()))
                .and_then(|()| lent.effective_and_permitted())
            {
                return invalid(e);
            }
        }
        // The last code of ours before the init waits for `start`: the
        // procfs handle libpathrs cached in sealrun (the host's pid
        // namespace) must not stay open in a created container. Done here,
        // in the init, and not in sealrun's main process, where the cache
        // saves a procfs superblock per lookup (~1.1 ms CPU per run measured
        // when the main process ran uncached).
        crate::init_errors::disarm_in_child();
        if let Err(err) = crate::sys::drop_cached_procfs_handle() {
            return invalid(format!(
                "cannot close the host's /proc in the container's process: {err}"
            ));
        }
        let process = spec.process().as_ref().ok_or_else(|| {
            ExecutorValidationError::ArgValidationError("spec did not contain process".into())
        })?;
        if let Some(args) = process.args().as_ref().filter(|a| !a.is_empty()) {
            let path_var = process
                .env()
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find_map(|e| e.strip_prefix("PATH="))
                .map(OsStr::new);
            match resolve_program(&args[0], path_var) {
                Some(program) if is_executable_file(&program) => {}
                Some(program) if program.exists() => {
                    return invalid(format!(
                        "exec {}: permission denied (not an executable file)",
                        args[0]
                    ))
                }
                _ => {
                    return invalid(format!(
                        "exec {}: executable file not found in $PATH",
                        args[0]
                    ))
                }
            }
        }
        if self.tenant {
            tracing::debug!("setns_init: about to exec");
        } else {
            tracing::debug!("init: closing the pipe to signal completion");
        }
        Ok(())
    }
}

fn cstring(s: OsString) -> Result<CString, ExecutorError> {
    CString::new(s.into_vec()).map_err(|_| ExecutorError::InvalidArg)
}

/// Resolves the workload program the way execvp(3) would: a name with a
/// slash is used as is, anything else is looked up in `PATH` (first regular
/// file with an execute bit wins).
fn resolve_program(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_EXEC_PATH));
    path_var
        .as_bytes()
        .split(|b| *b == b':')
        .map(|dir| {
            // An empty PATH element means the current directory.
            let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
            Path::new(OsStr::from_bytes(dir)).join(name)
        })
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_with_slash_verbatim() {
        assert_eq!(
            resolve_program("./run.sh", Some(OsStr::new("/nonexistent"))),
            Some(PathBuf::from("./run.sh"))
        );
        assert_eq!(resolve_program("", None), None);
    }

    #[test]
    fn resolves_through_path_skipping_non_executables() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("tool"), "").unwrap(); // not executable
        std::fs::create_dir(a.join("dirtool")).unwrap(); // a directory
        std::fs::write(b.join("tool"), "").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(b.join("dirtool"), "").unwrap();
        std::fs::set_permissions(b.join("dirtool"), std::fs::Permissions::from_mode(0o700))
            .unwrap();

        let path = format!("{}:{}", a.display(), b.display());
        assert_eq!(
            resolve_program("tool", Some(OsStr::new(&path))),
            Some(b.join("tool"))
        );
        assert_eq!(
            resolve_program("dirtool", Some(OsStr::new(&path))),
            Some(b.join("dirtool"))
        );
        assert_eq!(resolve_program("missing", Some(OsStr::new(&path))), None);
    }

    #[test]
    fn dmz_fd_is_moved_above_preserved_range_and_cloexec() {
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        let fd: OwnedFd = file.into();
        let moved = place_above_preserved(fd, 100).unwrap();
        assert!(moved.as_raw_fd() >= 100);
        assert!(sys::is_cloexec(moved.as_fd()).unwrap());

        // Already high and close-on-exec: kept as is.
        let raw = moved.as_raw_fd();
        let kept = place_above_preserved(moved, 50).unwrap();
        assert_eq!(kept.as_raw_fd(), raw);
    }
}
