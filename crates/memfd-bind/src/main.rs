//! memfd-bind: serve an executable from one sealed in-memory copy, bind-mounted
//! over its path, for as long as this daemon runs (runc's memfd-bind in Rust).
//!
//! `memfd-bind PATH` copies PATH into an unwritable in-memory copy (exeseal's
//! huge-page tmpfs copy, or a sealed memfd: see `copy`), mounts it over PATH
//! and stays alive holding it; SIGTERM/SIGINT unmount it again.
//! `memfd-bind --cleanup PATH` removes the mounts a dead daemon left behind;
//! `memfd-bind --status PATH` says whether PATH is served.
//!
//! Exit status: 0 success; 1 error (one line on stderr); 2 usage error.
//! `--status`: 0 served, 1 stale, 3 not served, 4 cannot tell.

#![forbid(unsafe_code)]

mod bind;
mod copy;
mod lock;
mod mountinfo;
mod notify;
mod sys;
mod target;

use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rustix::fs::{FileType, OFlags};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::bind::MountApi;
use crate::lock::Lock;
use crate::target::{Target, Top};

/// Most stacked stale mounts `--cleanup` removes before giving up.
const MAX_STALE: usize = 256;

#[derive(Parser, Debug)]
#[command(
    name = "memfd-bind",
    version,
    about = "Serve an executable from a sealed in-memory copy bind-mounted over its path",
    long_about = "Serve an executable from a sealed in-memory copy bind-mounted over its path.\n\n\
        memfd-bind PATH copies PATH into an immutable in-memory copy (huge-page tmpfs, or a \
        sealed memfd with --copy memfd), bind-mounts it over PATH and stays running: every \
        exec of PATH then runs that one copy. SIGTERM or SIGINT \
        unmounts it. If the daemon is killed, PATH stays covered by a dead mount (exec and open \
        fail with ENOENT) until `memfd-bind --cleanup PATH` (or the next start) removes it.\n\n\
        Only processes allowed to ptrace the daemon (in practice root) can use PATH while served.\n\n\
        Exit status: 0 ok, 1 error, 2 usage error; with --status: 0 served, 1 stale, \
        3 not served, 4 cannot tell."
)]
struct Cli {
    /// Only remove stale memfd-bind mounts on PATH (left by a dead daemon), then exit
    #[arg(long, conflicts_with = "status")]
    cleanup: bool,

    /// Report whether PATH is served: exit 0 served, 1 stale, 3 not served, 4 cannot tell
    #[arg(long)]
    status: bool,

    /// Debug logging
    #[arg(long)]
    debug: bool,

    /// Directory of the per-path lock/pid files
    #[arg(
        long,
        env = "MEMFD_BIND_STATE_DIR",
        default_value = "/run/memfd-bind",
        value_name = "DIR"
    )]
    state_dir: PathBuf,

    /// How to attach the mount (auto: new mount API, else mount(2))
    #[arg(long, value_enum, default_value_t = MountApi::Auto, value_name = "API")]
    mount_api: MountApi,

    /// What to serve: auto (hugetmpfs where the kernel offers huge tmpfs pages, else memfd),
    /// hugetmpfs (an immutable copy on a private read-only tmpfs in huge pages) or memfd
    /// (a sealed memfd, as runc)
    #[arg(long = "copy", value_enum, default_value_t = copy::Kind::Auto, value_name = "KIND")]
    copy: copy::Kind,

    /// The executable to serve (absolute or relative; a symlink is resolved to the file it names)
    #[arg(value_name = "PATH")]
    path: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(false)
        .init();

    if cli.status {
        return ExitCode::from(status(&cli));
    }
    let result = if cli.cleanup {
        cleanup(&cli)
    } else {
        serve(&cli)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: anyhow's `{:#}` joins the context chain with ": ".
            eprintln!("memfd-bind: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

/// Remove dead memfd-bind mounts from the top of the path, one at a time,
/// until the top is something else. A live daemon's mount stops the loop:
/// it is not stale, and its daemon unmounts it on SIGTERM. Returns how many
/// mounts were removed and what is on top now.
fn remove_stale(target: &Target) -> Result<(usize, Top)> {
    let mut removed = 0;
    while removed < MAX_STALE {
        match target.inspect()? {
            Top::Bind(b) if !b.is_live() => {
                sys::umount_fd(b.fd.as_fd(), "stale memfd-bind mount").with_context(|| {
                    format!("{}: cannot remove stale {}", target.display(), b.describe())
                })?;
                tracing::info!(path = %target.display(), mount = %b.describe(), "removed stale memfd-bind mount");
                removed += 1;
            }
            top => return Ok((removed, top)),
        }
    }
    bail!(
        "{}: still covered by stale mounts after removing {MAX_STALE}",
        target.display()
    )
}

fn cleanup(cli: &Cli) -> Result<()> {
    let target = Target::resolve(&cli.path)?;
    let (removed, top) = remove_stale(&target)?;
    match top {
        Top::Bind(b) => tracing::info!(
            path = %target.display(), pid = ?b.pid(),
            "served by a live daemon: leaving its mount (it unmounts on SIGTERM)"
        ),
        _ if removed == 0 => {
            tracing::info!(path = %target.display(), "no stale memfd-bind mounts: nothing to do")
        }
        _ => {
            tracing::info!(path = %target.display(), removed, "path is clear of stale memfd-bind mounts")
        }
    }
    Ok(())
}

fn status(cli: &Cli) -> u8 {
    let report = || -> Result<(u8, String)> {
        let target = Target::resolve(&cli.path)?;
        let holder = Lock::holder(&cli.state_dir, &target.path)?;
        let path = target.display();
        Ok(match target.inspect()? {
            Top::Bind(b) if b.is_live() => {
                let pid = b.pid().or(holder).map_or("unknown".to_string(), |p| p.to_string());
                (0, format!("{path}: served (pid {pid})"))
            }
            Top::Bind(b) => (1, format!("{path}: stale ({}; run memfd-bind --cleanup {path})", b.describe())),
            _ => match holder {
                Some(pid) => (3, format!("{path}: not served (daemon pid {pid} holds the lock but has no mount on the path)")),
                None => (3, format!("{path}: not served")),
            },
        })
    };
    match report() {
        Ok((code, line)) => {
            println!("{line}");
            code
        }
        Err(e) => {
            eprintln!("memfd-bind: {}", format!("{e:#}").replace('\n', " "));
            4
        }
    }
}

/// The name the memfd gets (and /proc/<pid>/exe shows): `memfd-bind:<file>`.
fn memfd_name(target: &Target) -> String {
    let mut name = format!("memfd-bind:{}", target.file_name().to_string_lossy());
    // memfd_create allows 249 bytes; keep well under, on a char boundary.
    while name.len() > 200 {
        name.pop();
    }
    name
}

/// Refuse anything but a non-empty executable regular file.
fn check_executable(target: &Target, top: &Top) -> Result<()> {
    let path = target.display();
    match top {
        Top::Plain { stx, .. } => {
            if target::file_type(stx) != FileType::RegularFile {
                bail!(
                    "{path}: is {}, expected an executable file",
                    target::kind(stx)
                );
            }
            if stx.stx_mode & 0o111 == 0 {
                bail!(
                    "{path}: is not executable (mode {:04o})",
                    stx.stx_mode & 0o7777
                );
            }
            if stx.stx_size == 0 {
                bail!("{path}: is empty");
            }
            Ok(())
        }
        Top::Bind(b) if b.is_live() => {
            bail!(
                "{path}: already served by memfd-bind (pid {})",
                b.pid().map_or("unknown".into(), |p| p.to_string())
            )
        }
        Top::Bind(_) => Ok(()), // stale: removed once we hold the lock
        Top::Foreign(l) => bail!(
            "{path}: covered by a bind mount of a magic link to {}",
            l.to_string_lossy()
        ),
    }
}

fn serve(cli: &Cli) -> Result<()> {
    // Everything that can be refused is checked before anything is created.
    let target = Target::resolve(&cli.path)?;
    check_executable(&target, &target.inspect()?)?;
    if target.path != cli.path {
        tracing::info!(given = %cli.path.display(), path = %target.display(), "resolved path");
    }

    // Registered before the mount exists: a signal during setup is kept and
    // handled right after the mount is up, so it is never left behind.
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGQUIT])
        .context("cannot install signal handlers")?;
    let lock = Lock::acquire(&cli.state_dir, &target.path)?;

    let (removed, top) = remove_stale(&target)?;
    if removed > 0 {
        tracing::info!(path = %target.display(), removed, "removed stale mounts before serving");
    }
    check_executable(&target, &top)?;
    let Top::Plain { fd: file, stx } = top else {
        bail!("{}: not a plain file", target.display())
    };

    // Copy exactly the file we will mount over: read it through its handle.
    let src = sys::reopen(file.as_fd(), OFlags::RDONLY, &target.path.to_string_lossy())?;
    let copy = copy::make(src.as_fd(), stx.stx_size, cli.copy, &memfd_name(&target))
        .with_context(|| target.display().to_string())?;
    drop(src);
    tracing::debug!(copy = copy.kind, link = %copy.link.to_string_lossy(), fd = copy.fd.as_raw_fd(), bytes = copy.bytes, "sealed copy made");

    let api = bind::attach(
        copy.fd.as_fd(),
        file.as_fd(),
        cli.mount_api,
        &target.path.to_string_lossy(),
    )
    .with_context(|| format!("{}: cannot bind-mount the sealed copy", target.display()))?;
    drop(file);
    let mnt_id = match bind::verify_ours(&target, copy.fd.as_fd()) {
        Ok(id) => id,
        Err(e) => {
            // Take down whatever we attached, if it is recognisably ours.
            if let Ok(Top::Bind(b)) = target.inspect() {
                if b.owner == Some((sys::getpid(), copy.fd.as_raw_fd() as u32)) {
                    let _ = sys::umount_fd(b.fd.as_fd(), "our memfd-bind mount");
                }
            }
            return Err(e);
        }
    };
    tracing::info!(
        path = %target.display(), copy = copy.kind, link = %copy.link.to_string_lossy(), bytes = copy.bytes, mount_api = api, mnt_id,
        pid = sys::getpid(), lock = %lock.path.display(),
        "serving from a sealed in-memory copy; waiting for SIGTERM/SIGINT"
    );
    notify::notify(&format!(
        "READY=1\nSTATUS=serving {} (mount {mnt_id})",
        target.display()
    ));

    let signal = signals.forever().next();
    tracing::info!(signal = ?signal, path = %target.display(), "signal caught: unmounting");
    notify::notify("STOPPING=1");
    bind::detach_if_ours(&target, mnt_id)?;
    // Keep the copy alive until the mount is gone.
    drop(copy);
    drop(lock);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "memfd-bind",
            "--status",
            "--state-dir",
            "/tmp/s",
            "/usr/bin/x",
        ])
        .unwrap();
        assert!(cli.status && !cli.cleanup);
        assert_eq!(cli.state_dir, Path::new("/tmp/s"));
        assert!(Cli::try_parse_from(["memfd-bind", "--status", "--cleanup", "/x"]).is_err());
        assert!(Cli::try_parse_from(["memfd-bind"]).is_err());
        let cli = Cli::try_parse_from(["memfd-bind", "--mount-api", "classic", "/x"]).unwrap();
        assert_eq!(cli.mount_api, MountApi::Classic);
    }
}
