//! exeseal: make sure a container can never write through to the binary of
//! the runtime that built it (CVE-2019-5736 and its class).
//!
//! While a runtime sets a container up, its own binary is reachable from
//! inside the container as `/proc/<pid>/exe` (and through `#!/proc/self/exe`
//! scripts at the final exec). A container that reopens that for writing
//! replaces the host's runtime. The fix is to run the runtime from a handle
//! that cannot be written through, before any process enters a container:
//!
//! | strategy | cost | how |
//! |---|---|---|
//! | already sealed | 0 | /proc/self/exe is memfd-bind's copy (an unlinked, immutable file on a read-only tmpfs, or a sealed memfd) or a lower-only overlay mount (sealmount) |
//! | [`Strategy::Overlayfs`] | ~0, no copy | private detached lower-only overlayfs over the binary's dir |
//! | [`Strategy::Hugetmpfs`] | one copy, in huge pages | O_TMPFILE on a private detached tmpfs (`huge=within_size`, else `always`), sized first and written whole, mount read-only, kept only as O_PATH |
//! | [`Strategy::Memfd`] | one copy | memfd with F_SEAL_SEAL/SHRINK/GROW/WRITE (+EXEC) |
//! | [`Strategy::Tmpfile`] | one copy | O_TMPFILE on a private read-only tmpfs, else in an exec-capable dir made immutable; kept only as O_PATH |
//! | [`Strategy::UnlinkedTemp`] | one copy | temp file unlinked at once, made immutable, kept only as O_PATH |
//!
//! [`ensure_sealed`] is the one-line entry point (as `pentacle::ensure_sealed`):
//! it re-executes the program from the first strategy that works and returns
//! once the program runs protected. It never runs unprotected: if nothing
//! works, it returns an error that lists why each strategy failed.

#![warn(missing_docs)]

use std::ffi::{CString, OsStr};
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rustix::fs::{Mode, OFlags};

mod copy;
mod detect;
pub mod dmz;
mod dmz_bytes;
pub mod mountinfo;
mod overlay;
pub mod sys;
mod userns;

pub use copy::{candidate_dirs, Source, REQUIRED_SEALS};
pub use detect::{is_sealed, Protection};
pub use overlay::{escape_lowerdir, LayerMode, SHARED_EMPTY_DIR};
pub use sys::SysError;

/// Environment variable carrying our re-exec token (strategy, dev, ino of
/// the sealed handle; checked against `/proc/self/exe` after the re-exec).
pub const REEXEC_ENV: &str = "_EXESEAL_REEXEC";
/// Test/ops knob: comma-separated strategies to use, in order.
pub const STRATEGIES_ENV: &str = "EXESEAL_STRATEGIES";
/// Test/ops knob: comma-separated strategies to treat as failing. It can only
/// make sealing fall back further, never skip it.
pub const FAIL_ENV: &str = "EXESEAL_FAIL";
/// Test/ops knob: comma-separated overlay layer forms to try (fd, path, string).
pub const LAYERS_ENV: &str = "EXESEAL_OVERLAY_LAYERS";

/// A way to get a handle to the binary that a container cannot write through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// A private, detached, lower-only overlayfs over the binary's directory:
    /// no copy, the image is the host binary's page cache. Needs
    /// CAP_SYS_ADMIN in the initial user namespace to `fsopen("overlay")`.
    Overlayfs,
    /// The same overlay, built in a throwaway user namespace: zero copy for
    /// unprivileged callers (Linux 5.11+).
    UsernsOverlayfs,
    /// A private copy in transparent huge pages, on a tmpfs of our own.
    Hugetmpfs,
    /// A private copy in a memfd sealed with [`REQUIRED_SEALS`] (and
    /// F_SEAL_EXEC where the kernel has it); the memfd itself is the handle.
    Memfd,
    /// A private O_TMPFILE copy: on a tmpfs of our own mounted read-only
    /// (needs CAP_SYS_ADMIN), else in an exec-capable directory with the
    /// immutable flag set (needs CAP_LINUX_IMMUTABLE). Kept only as O_PATH.
    Tmpfile,
    /// The last resort for filesystems without O_TMPFILE: a temp file
    /// created O_EXCL, unlinked at once and made immutable (needs
    /// CAP_LINUX_IMMUTABLE). Kept only as O_PATH.
    UnlinkedTemp,
}

impl Strategy {
    /// The default order: zero copy first, then the cheapest private copies.
    pub const DEFAULT_ORDER: [Strategy; 6] = [
        Strategy::Overlayfs,
        Strategy::UsernsOverlayfs,
        Strategy::Hugetmpfs,
        Strategy::Memfd,
        Strategy::Tmpfile,
        Strategy::UnlinkedTemp,
    ];
    /// The zero-copy strategies (an image shared with the host binary).
    pub const ZERO_COPY: [Strategy; 2] = [Strategy::Overlayfs, Strategy::UsernsOverlayfs];
    /// The strategies that make a copy nobody else shares, cheapest first.
    pub const PRIVATE_COPIES: [Strategy; 4] = [
        Strategy::Hugetmpfs,
        Strategy::Memfd,
        Strategy::Tmpfile,
        Strategy::UnlinkedTemp,
    ];

    /// Stable short name, as accepted by `EXESEAL_STRATEGIES` / `EXESEAL_FAIL`
    /// and [`FromStr`], and shown in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Overlayfs => "overlayfs",
            Strategy::UsernsOverlayfs => "userns-overlayfs",
            Strategy::Hugetmpfs => "hugetmpfs",
            Strategy::Memfd => "memfd",
            Strategy::Tmpfile => "tmpfile",
            Strategy::UnlinkedTemp => "unlinked-temp",
        }
    }

    /// Does this strategy make a copy nobody else shares?
    pub fn is_private_copy(self) -> bool {
        !Self::ZERO_COPY.contains(&self)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Strategy::DEFAULT_ORDER
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| format!("unknown sealing strategy {s:?} (expected one of overlayfs, userns-overlayfs, hugetmpfs, memfd, tmpfile, unlinked-temp)"))
    }
}

/// Why one strategy did not produce a handle.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// A system call the strategy needs was refused.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// The strategy cannot work here or its result cannot be trusted, for a
    /// reason other than one refused call (a short copy, missing seals, a
    /// directory that changed, several fallbacks that all failed); the
    /// message says why.
    #[error("{0}")]
    Unsuitable(String),
    /// Made to fail on purpose by [`Sealer::fail`] or `EXESEAL_FAIL`.
    #[error("disabled by {FAIL_ENV}")]
    Injected,
}

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `/proc/self/exe` could not be opened, read or checked, so neither its
    /// current protection nor a copy of it can be had.
    #[error("cannot inspect the running binary: {0}")]
    SelfExe(SysError),
    /// Every strategy failed; each one is listed with its reason, in the
    /// order tried.
    #[error("cannot seal the running binary, refusing to run unprotected: {}", list_failures(.0))]
    AllFailed(Vec<(Strategy, Failure)>),
    /// The sealer was given an empty strategy list ([`Sealer::only`] with no
    /// strategies), so it could never seal.
    #[error("no sealing strategy allowed (empty strategy list)")]
    NoStrategies,
    /// An environment knob (`EXESEAL_STRATEGIES`, `EXESEAL_FAIL`,
    /// `EXESEAL_OVERLAY_LAYERS`) the program was given is invalid; the
    /// message names the variable and its value.
    #[error("invalid environment knob: {0}")]
    BadEnv(String),
    /// A sealed handle was made, but re-executing from it failed.
    #[error("re-exec from the {strategy} handle failed: {source}")]
    Reexec {
        /// The strategy that made the handle.
        strategy: Strategy,
        /// The failed call (`fstat` of the handle or `execveat`).
        source: SysError,
    },
    /// We already re-executed once (the re-exec token was set), yet the
    /// running binary is not one this sealer accepts. Re-executing again
    /// could loop forever, so this is fatal.
    #[error("re-executed from a sealed handle ({token}) but /proc/self/exe is not protected; refusing to loop")]
    NotSealedAfterReexec {
        /// The raw re-exec token found in the environment.
        token: String,
    },
    /// A [`Failure`] from outside the fallback chain (e.g. of
    /// [`clone_binary`]), passed on with `?`.
    #[error("{0}")]
    Other(#[from] Failure),
}

fn list_failures(f: &[(Strategy, Failure)]) -> String {
    f.iter()
        .map(|(s, e)| format!("{s}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// An executable handle nobody can write through.
#[derive(Debug)]
pub struct Sealed {
    /// O_PATH handle (overlay, tmpfile) or the sealed memfd itself.
    pub fd: OwnedFd,
    /// The strategy that made `fd`.
    pub strategy: Strategy,
    /// What this strategy copied (0 for overlayfs).
    pub bytes_copied: u64,
}

/// The result of [`Sealer::probe`]: what `ensure_sealed` would do here.
#[derive(Debug)]
pub struct Probe {
    /// How the running binary is protected right now, if at all.
    pub current: Option<Protection>,
    /// Whether `current` satisfies this sealer (then nothing else is tried).
    pub current_accepted: bool,
    /// Each strategy tried, in order, until one worked.
    pub attempts: Vec<(Strategy, Result<u64, Failure>)>,
}

impl Probe {
    /// The mode that would be used: an existing protection or a strategy.
    pub fn chosen(&self) -> Option<String> {
        if self.current_accepted {
            return self.current.as_ref().map(|p| p.name().to_string());
        }
        self.attempts
            .iter()
            .find(|(_, r)| r.is_ok())
            .map(|(s, _)| s.name().to_string())
    }

    /// Bytes the chosen mode copies per invocation.
    pub fn bytes_copied(&self) -> Option<u64> {
        if self.current_accepted {
            return self.current.as_ref().map(Protection::bytes_copied);
        }
        self.attempts
            .iter()
            .find_map(|(_, r)| r.as_ref().ok().copied())
    }
}

/// Configurable sealing: which strategies, in which order, where temp copies go.
#[derive(Debug, Clone)]
pub struct Sealer {
    order: Vec<Strategy>,
    /// Accept protections made by others (memfd-bind, sealmount)?
    accept_existing: bool,
    /// Our own re-exec handles we accept as sealed (normally `order`).
    reexec_ok: Vec<Strategy>,
    tmp_dirs: Vec<PathBuf>,
    injected: Vec<Strategy>,
    layer_modes: Vec<LayerMode>,
}

impl Default for Sealer {
    fn default() -> Self {
        Self {
            order: Strategy::DEFAULT_ORDER.to_vec(),
            accept_existing: true,
            reexec_ok: Strategy::DEFAULT_ORDER.to_vec(),
            tmp_dirs: Vec::new(),
            injected: Vec::new(),
            layer_modes: LayerMode::ALL.to_vec(),
        }
    }
}

fn parse_list<T: FromStr<Err = String>>(var: &str) -> Result<Option<Vec<T>>, Error> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<T>()
                    .map_err(|e| Error::BadEnv(format!("{var}={v}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Ok(None),
    }
}

impl Sealer {
    /// The default order, plus the `EXESEAL_STRATEGIES` / `EXESEAL_FAIL` knobs.
    pub fn from_env() -> Result<Self, Error> {
        let mut s = Self::default();
        if let Some(order) = parse_list(STRATEGIES_ENV)? {
            s = s.only(&order);
        }
        s.with_env_faults()
    }

    /// Apply only the fault-injection knobs (`EXESEAL_FAIL`,
    /// `EXESEAL_OVERLAY_LAYERS`), for callers that choose the order
    /// themselves (sealrun's `--seal`).
    pub fn with_env_faults(mut self) -> Result<Self, Error> {
        self.injected
            .extend(parse_list::<Strategy>(FAIL_ENV)?.unwrap_or_default());
        if let Some(modes) = parse_list(LAYERS_ENV)? {
            self.layer_modes = modes;
        }
        Ok(self)
    }

    /// Use exactly these strategies, in this order. An explicit choice also
    /// stops accepting protections made by others: the caller asked for these.
    pub fn only(mut self, strategies: &[Strategy]) -> Self {
        self.order = strategies.to_vec();
        self.reexec_ok = strategies.to_vec();
        self.accept_existing = false;
        self
    }

    /// Also count a re-exec from one of these strategies as sealed, for
    /// policies split over several sealers (sealrun's `auto` tries overlayfs
    /// alone, then dmz, then copies: after a copy's re-exec the overlay-only
    /// sealer runs first again and must accept it, not call it a loop).
    pub fn accept_reexec_from(mut self, strategies: &[Strategy]) -> Self {
        self.reexec_ok.extend_from_slice(strategies);
        self
    }

    /// Whether a protection made by someone else (memfd-bind's sealed copy,
    /// sealmount's overlay) counts as sealed.
    pub fn accept_existing(mut self, yes: bool) -> Self {
        self.accept_existing = yes;
        self
    }

    /// Private copies only (memfd, then temp files): no image shared with the
    /// host binary or other callers, so a page-cache-write kernel bug reached
    /// through `/proc/<pid>/exe` poisons one invocation, not every later one.
    pub fn hardened() -> Self {
        Self::default().only(&Strategy::PRIVATE_COPIES)
    }

    /// Prefer these directories for temp copies (e.g. the runtime's state dir).
    pub fn tmp_dirs(mut self, dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        self.tmp_dirs = dirs.into_iter().collect();
        self
    }

    /// Overlay layer forms to try, in order (default: all, newest first).
    pub fn layer_modes(mut self, modes: &[LayerMode]) -> Self {
        self.layer_modes = modes.to_vec();
        self
    }

    /// Make these strategies fail (fault injection for tests).
    pub fn fail(mut self, strategies: &[Strategy]) -> Self {
        self.injected.extend_from_slice(strategies);
        self
    }

    /// The strategies this sealer tries, in order.
    pub fn strategies(&self) -> &[Strategy] {
        &self.order
    }

    fn accepts(&self, p: &Protection) -> bool {
        match p {
            Protection::Reexeced { strategy, .. } => self.reexec_ok.contains(strategy),
            _ => self.accept_existing,
        }
    }

    /// Seal a file given as a directory + name + its expected identity.
    fn try_strategy(&self, strategy: Strategy, exe: &SelfExe) -> Result<Sealed, Failure> {
        if self.injected.contains(&strategy) {
            return Err(Failure::Injected);
        }
        let expected = Some(exe.stat.st_size as u64);
        let (fd, bytes_copied) = match strategy {
            Strategy::Overlayfs => (exe.overlay(&self.layer_modes, false)?, 0),
            Strategy::UsernsOverlayfs => (exe.overlay(&self.layer_modes, true)?, 0),
            Strategy::Hugetmpfs => {
                copy::private_tmpfs(true, &Source::Fd(exe.readable()?.as_fd()), expected)?
            }
            Strategy::Memfd => copy::sealed_memfd(
                &exe.memfd_name(),
                &Source::Fd(exe.readable()?.as_fd()),
                expected,
            )?,
            Strategy::Tmpfile => {
                // Our own tmpfs needs CAP_SYS_ADMIN; without it, a
                // directory copy made immutable (needs CAP_LINUX_IMMUTABLE).
                // Each attempt reads from a fresh descriptor (offset 0).
                let own =
                    copy::private_tmpfs(false, &Source::Fd(exe.readable()?.as_fd()), expected);
                match own {
                    Ok(done) => done,
                    Err(own) => copy::o_tmpfile(
                        &self.tmp_dirs,
                        &Source::Fd(exe.readable()?.as_fd()),
                        expected,
                    )
                    .map_err(|dirs| Failure::Unsuitable(format!("private tmpfs: {own}; {dirs}")))?,
                }
            }
            Strategy::UnlinkedTemp => copy::unlinked_temp(
                &self.tmp_dirs,
                &Source::Fd(exe.readable()?.as_fd()),
                expected,
            )?,
        };
        Ok(Sealed {
            fd,
            strategy,
            bytes_copied,
        })
    }

    /// A handle to the running binary that nobody can write through.
    pub fn seal_self_exe(&self) -> Result<Sealed, Error> {
        if self.order.is_empty() {
            return Err(Error::NoStrategies);
        }
        let exe = SelfExe::open().map_err(Error::SelfExe)?;
        let mut failures: Vec<(Strategy, Failure)> = Vec::new();
        for &strategy in &self.order {
            if let Some(why) = userns_pointless(strategy, &failures) {
                tracing::debug!(
                    strategy = strategy.name(),
                    "sealing strategy skipped: {why}"
                );
                failures.push((strategy, why));
                continue;
            }
            match self.try_strategy(strategy, &exe) {
                Ok(sealed) => {
                    tracing::debug!(
                        strategy = strategy.name(),
                        bytes_copied = sealed.bytes_copied,
                        "sealed the running binary"
                    );
                    return Ok(sealed);
                }
                Err(e) => {
                    tracing::debug!(strategy = strategy.name(), error = %e, "sealing strategy skipped");
                    failures.push((strategy, e));
                }
            }
        }
        Err(Error::AllFailed(failures))
    }

    /// What [`Self::ensure_sealed`] would do here, without re-executing.
    pub fn probe(&self) -> Result<Probe, Error> {
        let current = detect::self_exe_protection(env_token().as_ref()).map_err(Error::SelfExe)?;
        let current_accepted = current.as_ref().is_some_and(|p| self.accepts(p));
        let mut attempts = Vec::new();
        if !current_accepted {
            let exe = SelfExe::open().map_err(Error::SelfExe)?;
            for &strategy in &self.order {
                let r = self.try_strategy(strategy, &exe).map(|s| s.bytes_copied);
                let done = r.is_ok();
                attempts.push((strategy, r));
                if done {
                    break;
                }
            }
        }
        Ok(Probe {
            current,
            current_accepted,
            attempts,
        })
    }

    /// Return once this program runs from a protected binary, re-executing it
    /// (same argv and environment) from a sealed handle if needed.
    ///
    /// Call it first thing in `main`, before threads exist. It re-executes at
    /// most once: if the re-executed image is not protected, that is an error.
    pub fn ensure_sealed(&self) -> Result<Protection, Error> {
        let raw_token = std::env::var(REEXEC_ENV).ok();
        // The token must not leak into anything we start (containers!).
        std::env::remove_var(REEXEC_ENV);
        let token = raw_token.as_deref().and_then(detect::Token::decode);
        if let Some(p) = detect::self_exe_protection(token.as_ref()).map_err(Error::SelfExe)? {
            if self.accepts(&p) {
                if raw_token.is_some() {
                    restore_comm();
                }
                tracing::debug!(
                    mode = p.name(),
                    bytes_copied = p.bytes_copied(),
                    "running from a sealed binary"
                );
                return Ok(p);
            }
            tracing::debug!(
                mode = p.name(),
                "existing protection not accepted by this policy"
            );
        }
        if let Some(token) = raw_token {
            return Err(Error::NotSealedAfterReexec { token });
        }
        let sealed = self.seal_self_exe()?;
        Err(reexec(&sealed))
    }
}

/// After a re-exec from a handle the kernel names the process after the
/// handle's file (`#2` for an O_TMPFILE copy, `memfd:exeseal:…`), so `ps`,
/// `pgrep sealrun` and `pkill` would no longer find it: take back the name
/// it was started under (the base name of argv[0], as execve(2) gave it).
fn restore_comm() {
    let Some(arg0) = std::env::args_os().next() else {
        return;
    };
    let base = Path::new(&arg0).file_name().unwrap_or(arg0.as_os_str());
    // The kernel keeps 15 bytes and would cut there itself.
    let name: Vec<u8> = base.as_bytes().iter().copied().take(15).collect();
    let Ok(name) = CString::new(name) else {
        return;
    };
    if let Err(e) = sys::set_comm(&name) {
        tracing::debug!("{e}: keeping the name the re-exec gave");
    }
}

/// A user namespace only helps where the direct overlay lacked privilege:
/// if it failed for another reason (no overlayfs, ELOOP, ...), the userns
/// attempt would fail the same way, only slower.
fn userns_pointless(strategy: Strategy, so_far: &[(Strategy, Failure)]) -> Option<Failure> {
    if strategy != Strategy::UsernsOverlayfs {
        return None;
    }
    match so_far.iter().find(|(s, _)| *s == Strategy::Overlayfs) {
        Some((_, Failure::Sys(e))) if e.errno != rustix::io::Errno::PERM => {
            Some(Failure::Unsuitable(format!(
                "direct overlayfs failed with {}, not for lack of privilege",
                sys::errno_name(e.errno.raw_os_error())
            )))
        }
        _ => None,
    }
}

/// Re-execute this program from `sealed`; returns only on failure.
fn reexec(sealed: &Sealed) -> Error {
    let err = |source| Error::Reexec {
        strategy: sealed.strategy,
        source,
    };
    let st = match sys::fstat(sealed.fd.as_fd()) {
        Ok(st) => st,
        Err(e) => return err(e),
    };
    let token = detect::Token {
        strategy: sealed.strategy,
        dev: st.st_dev,
        ino: st.st_ino,
        bytes_copied: sealed.bytes_copied,
    };
    let argv: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let mut envp: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != REEXEC_ENV)
        .filter_map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            CString::new(kv.as_bytes()).ok()
        })
        .collect();
    envp.push(CString::new(token.env_entry()).expect("token has no NUL"));
    tracing::debug!(
        strategy = sealed.strategy.name(),
        "re-executing from sealed handle"
    );
    err(sys::execveat(sealed.fd.as_fd(), &argv, &envp))
}

/// The `NAME=value` environment entry with which a re-executed image finds
/// its protection, for launchers that build a sealed handle and re-execute on
/// exeseal's behalf (sealrun's entry point). The new image still checks the
/// handle itself: a token selects a check, it never replaces one.
pub fn reexec_env_entry(strategy: Strategy, dev: u64, ino: u64, bytes_copied: u64) -> String {
    detect::Token {
        strategy,
        dev,
        ino,
        bytes_copied,
    }
    .env_entry()
}

/// The re-exec token in our environment, if any and well-formed.
fn env_token() -> Option<detect::Token> {
    std::env::var(REEXEC_ENV)
        .ok()
        .and_then(|t| detect::Token::decode(&t))
}

/// [`Sealer::ensure_sealed`] with the default order (and the env knobs).
pub fn ensure_sealed() -> Result<Protection, Error> {
    Sealer::from_env()?.ensure_sealed()
}

/// [`Sealer::seal_self_exe`] with the default order (and the env knobs).
pub fn seal_self_exe() -> Result<Sealed, Error> {
    Sealer::from_env()?.seal_self_exe()
}

/// A sealed executable memfd holding a copy of `source` (used for the dmz
/// shim and by memfd-bind).
pub fn clone_binary(name: &str, source: Source<'_>) -> Result<OwnedFd, Failure> {
    copy::sealed_memfd(name, &source, None).map(|(fd, _)| fd)
}

/// An unlinked copy of `source` on a private tmpfs of its own, in huge pages
/// where the kernel gives them (`huge=within_size`, else `always`), made
/// read-only and immutable before this returns: the [`Strategy::Hugetmpfs`]
/// copy, for a caller that serves it to others (memfd-bind). Returns an
/// O_PATH handle and the bytes copied. The mount is detached and dissolves
/// with its last handle, so nothing can clone it or make it writable. Fails
/// (`Unsuitable`) where tmpfs offers no huge pages, and where it has no inode
/// flags (before Linux 6.0): without the immutable flag a runtime started
/// from the copy would not recognise it as protected ([`protection_of`]).
pub fn clone_binary_hugetmpfs(source: Source<'_>) -> Result<(OwnedFd, u64), Failure> {
    let (fd, copied) = copy::private_tmpfs(true, &source, None)?;
    match detect::protection_of(fd.as_fd(), None)? {
        Some(Protection::SharedTmpfsCopy) => Ok((fd, copied)),
        _ => Err(Failure::Unsuitable(
            "this kernel's tmpfs cannot mark the copy immutable (Linux 6.0+)".into(),
        )),
    }
}

/// How the binary of the current process is protected right now, if at all
/// (without the re-exec token, only protections made by others count).
pub fn self_protection() -> Result<Option<Protection>, SysError> {
    detect::self_exe_protection(env_token().as_ref())
}

/// The protection of an arbitrary executable fd (e.g. `/proc/<pid>/exe`).
pub fn protection_of(fd: BorrowedFd<'_>) -> Result<Option<Protection>, SysError> {
    detect::protection_of(fd, None)
}

/// The running binary as the kernel sees it.
struct SelfExe {
    fd: OwnedFd,
    stat: rustix::fs::Stat,
    path: PathBuf,
}

impl SelfExe {
    fn open() -> Result<Self, SysError> {
        let fd = sys::open("/proc/self/exe", OFlags::PATH, Mode::empty())?;
        let stat = sys::fstat(fd.as_fd())?;
        let path = PathBuf::from(sys::readlink("/proc/self/exe")?);
        Ok(Self { fd, stat, path })
    }

    fn readable(&self) -> Result<OwnedFd, SysError> {
        sys::reopen(self.fd.as_fd(), OFlags::RDONLY)
    }

    fn memfd_name(&self) -> String {
        let prefix = detect::OWN_MEMFD_PREFIX.trim_start_matches("/memfd:");
        format!(
            "{prefix}{}",
            self.path
                .file_name()
                .unwrap_or(OsStr::new("exe"))
                .to_string_lossy()
        )
    }

    /// The overlay needs the binary's directory, found by path: make sure the
    /// path still names the very inode we run, or we would seal another file.
    fn overlay(&self, modes: &[LayerMode], in_userns: bool) -> Result<OwnedFd, Failure> {
        let bytes = self.path.as_os_str().as_bytes();
        if bytes.ends_with(b" (deleted)") || !self.path.is_absolute() {
            return Err(Failure::Unsuitable(format!(
                "binary has no usable path ({})",
                self.path.display()
            )));
        }
        let (dir, name) = match (self.path.parent(), self.path.file_name()) {
            (Some(d), Some(n)) => (d, n),
            _ => {
                return Err(Failure::Unsuitable(format!(
                    "no parent directory for {}",
                    self.path.display()
                )))
            }
        };
        let dir_fd = sys::open(dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        let at_path = sys::openat(
            dir_fd.as_fd(),
            name,
            OFlags::PATH | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        if !sys::same_inode(&sys::fstat(at_path.as_fd())?, &self.stat) {
            return Err(Failure::Unsuitable(format!(
                "{} no longer names the running binary",
                self.path.display()
            )));
        }
        let target = overlay::Target {
            dir_fd: dir_fd.as_fd(),
            dir_path: dir,
            name,
            stat: &self.stat,
        };
        if in_userns {
            return userns::seal(&target, modes);
        }
        overlay::seal(&target, modes).map(|(fd, _)| fd)
    }
}

/// A detached, read-only, lower-only overlay of `dir` (the mount fd, not yet
/// attached anywhere), for tools that seal a whole install directory once
/// (sealmount attaches it over `dir` with move_mount).
pub fn overlay_dir(dir: &Path) -> Result<(OwnedFd, LayerMode), Failure> {
    let dir_fd = sys::open(dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
    overlay::mount_lower_only(dir_fd.as_fd(), dir, &LayerMode::PRIVATE_DUMMY)
}

/// A short random-ish suffix for temp names (collisions are retried anyway).
pub(crate) fn random_suffix(attempt: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:08x}",
        nanos.wrapping_mul(2_654_435_761).wrapping_add(attempt)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn protection_displays_mode_and_bytes() {
        let p = Protection::Reexeced {
            strategy: Strategy::Hugetmpfs,
            bytes_copied: 42,
        };
        assert_eq!(p.to_string(), "hugetmpfs (42 bytes copied)");
        assert_eq!(
            Protection::SharedMemfd.to_string(),
            "already-sealed-memfd (0 bytes copied)"
        );
    }

    #[test]
    fn escapes_colons_and_backslashes() {
        assert_eq!(
            escape_lowerdir(Path::new("/a:b\\c")),
            OsString::from("/a\\:b\\\\c")
        );
        assert_eq!(
            escape_lowerdir(Path::new("/plain")),
            OsString::from("/plain")
        );
    }

    #[test]
    fn token_roundtrip_and_rejects_garbage() {
        let t = detect::Token {
            strategy: Strategy::Memfd,
            dev: 5,
            ino: 77,
            bytes_copied: 1024,
        };
        assert_eq!(detect::Token::decode(&t.encode()), Some(t));
        assert_eq!(detect::Token::decode("1:memfd:5:77"), None);
        assert_eq!(detect::Token::decode("2:memfd:5:77:0"), None);
        assert_eq!(detect::Token::decode("1:bogus:5:77:0"), None);
    }

    #[test]
    fn strategy_names_roundtrip() {
        for s in Strategy::DEFAULT_ORDER {
            assert_eq!(s.name().parse::<Strategy>(), Ok(s));
        }
        assert!("none".parse::<Strategy>().is_err());
    }

    #[test]
    fn explicit_choice_rejects_shared_images() {
        let s = Sealer::default().only(&[Strategy::Memfd]);
        assert!(!s.accepts(&Protection::SharedMemfd));
        assert!(s.accepts(&Protection::Reexeced {
            strategy: Strategy::Memfd,
            bytes_copied: 1
        }));
        assert!(!s.accepts(&Protection::Reexeced {
            strategy: Strategy::Overlayfs,
            bytes_copied: 0
        }));
        assert!(Sealer::default().accepts(&Protection::SharedMemfd));
        assert!(Sealer::default().accepts(&Protection::SharedTmpfsCopy));
        assert!(!Sealer::hardened().accepts(&Protection::SealedOverlayMount));
        assert!(!Sealer::hardened().accepts(&Protection::SharedTmpfsCopy));
    }
}
