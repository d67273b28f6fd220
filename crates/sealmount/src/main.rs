//! sealmount: seal a container runtime's install directory once, with a
//! persistent read-only lower-only overlay mounted over it.
//!
//! `sealmount DIR` builds exeseal's detached lower-only overlay of DIR and
//! attaches it on DIR itself. Every later exec of DIR/<runtime> runs from that
//! overlay, which sealrun (exeseal) recognizes as "already-sealed-overlay":
//! no daemon, no copy, no per-call mount. Writes through the overlay fail with
//! EROFS and overlayfs refuses to remount it read-write (it has no upper layer).
//!
//! `sealmount --cleanup DIR` unmounts the sealed overlays on DIR (never
//! anything else); `sealmount --status DIR` says whether DIR is sealed.
//!
//! Exit status: 0 ok, 1 error, 2 usage error; with --status: 0 sealed,
//! 1 not sealed, 2 cannot tell.

#![forbid(unsafe_code)]

mod policy;
mod top;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use exeseal::SysError;
use rustix::mount::{MoveMountFlags, UnmountFlags};

use crate::top::Top;

/// Most sealed overlays `--cleanup` removes from one directory.
const MAX_STACKED: usize = 64;

#[derive(Parser, Debug)]
#[command(
    name = "sealmount",
    version,
    about = "Seal a runtime's install directory with a persistent read-only lower-only overlay",
    long_about = "Seal a runtime's install directory with a persistent read-only lower-only overlay.\n\n\
        sealmount DIR mounts a read-only overlay whose only layer is DIR over DIR itself: the files \
        look the same, but nothing can write to them (EROFS) and the mount cannot be remounted \
        read-write. A runtime started from DIR (sealrun) sees that it already runs from a sealed \
        binary and skips its own per-call sealing. Everything in DIR becomes read-only: seal a \
        dedicated directory such as /usr/libexec/sealrun or /opt/sealrun/bin.\n\n\
        To upgrade: sealmount --cleanup DIR; replace the files; sealmount DIR.\n\n\
        Exit status: 0 ok, 1 error, 2 usage error; with --status: 0 sealed, 1 not sealed, 2 cannot tell."
)]
struct Cli {
    /// Unmount the sealed overlays on DIR (only those), then exit
    #[arg(long, conflicts_with_all = ["status", "force"])]
    cleanup: bool,

    /// With --cleanup: detach overlays still in use (EBUSY) instead of failing;
    /// running processes keep their sealed view until they exit
    #[arg(long, requires = "cleanup")]
    lazy: bool,

    /// Report whether DIR is sealed: exit 0 sealed, 1 not sealed, 2 cannot tell
    #[arg(long, conflicts_with = "force")]
    status: bool,

    /// Seal DIR even if it is a system directory such as /usr/bin
    #[arg(long)]
    force: bool,

    /// Debug logging
    #[arg(long)]
    debug: bool,

    /// The directory to seal (the runtime's dedicated install directory)
    #[arg(value_name = "DIR")]
    dir: PathBuf,
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
        .without_time()
        .init();

    let result = if cli.status {
        status(&cli.dir)
    } else if cli.cleanup {
        cleanup(&cli.dir, cli.lazy).map(|()| 0)
    } else {
        seal(&cli.dir, cli.force).map(|()| 0)
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // One line: anyhow's `{:#}` joins the context chain with ": ".
            eprintln!("sealmount: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(if cli.status { 2 } else { 1 })
        }
    }
}

/// DIR made absolute with every symlink resolved (mountinfo lists mount
/// points that way); it must be an existing directory.
fn resolve(dir: &Path) -> Result<PathBuf> {
    let canon =
        std::fs::canonicalize(dir).map_err(|e| anyhow!("{}: {}", dir.display(), io_error(&e)))?;
    let meta =
        std::fs::metadata(&canon).map_err(|e| anyhow!("{}: {}", canon.display(), io_error(&e)))?;
    if !meta.is_dir() {
        bail!(
            "{}: not a directory (sealmount seals the directory the runtime is installed in)",
            dir.display()
        );
    }
    Ok(canon)
}

/// `No such file or directory (ENOENT)`.
fn io_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(raw) => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            format!("{text} ({})", exeseal::sys::errno_name(raw))
        }
        None => e.to_string(),
    }
}

fn sys_error(op: &str, dir: &Path, errno: rustix::io::Errno) -> SysError {
    SysError {
        op: op.into(),
        target: dir.display().to_string(),
        errno,
    }
}

fn seal(arg: &Path, force: bool) -> Result<()> {
    let dir = resolve(arg)?;
    let shown = dir.display();
    if let Some(why) = policy::refusal(&dir) {
        if !force {
            let given = if arg == dir {
                String::new()
            } else {
                format!(" (given as {})", arg.display())
            };
            bail!("refusing to seal {shown}{given}: {why}");
        }
        tracing::warn!("{shown}: sealing anyway (--force): {why}");
    }
    let before = Top::of(&dir)?;
    if before.sealed().is_some() {
        tracing::info!(
            "{shown}: already sealed: {}: nothing to do",
            before.describe()
        );
        return Ok(());
    }
    tracing::debug!("{shown}: before: {}", before.describe());

    let (mnt, layers) =
        exeseal::overlay_dir(&dir).with_context(|| format!("{shown}: cannot build the overlay"))?;
    tracing::debug!(
        layers = layers.name(),
        "{shown}: detached lower-only overlay built"
    );
    rustix::mount::move_mount(
        mnt.as_fd(),
        "",
        rustix::fs::CWD,
        &dir,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| sys_error("move_mount", &dir, e))
    .with_context(|| format!("{shown}: cannot attach the overlay"))?;

    // The overlay must now be what DIR leads to, and judged sealed by the
    // same rule sealrun applies to its /proc/self/exe.
    let ours = exeseal::sys::mount_id(mnt.as_fd())
        .with_context(|| format!("{shown}: cannot identify the overlay"))?;
    drop(mnt);
    let after = Top::of(&dir)?;
    match after.sealed_on_dir() {
        Some(m) if m.id == ours => {
            tracing::info!(
                "{shown}: sealed (lower-only overlay, mount {ours}, layers by {})",
                layers.name()
            );
            Ok(())
        }
        _ => {
            let what = after.describe();
            // Take our mount off again if it is the one on top.
            if matches!(&after, Top::Mount(m) if m.id == ours) {
                let _ = rustix::mount::unmount(&dir, UnmountFlags::DETACH);
            }
            bail!("{shown}: the overlay was attached (mount {ours}) but DIR is not sealed afterwards: {what}")
        }
    }
}

fn cleanup(dir: &Path, lazy: bool) -> Result<()> {
    let dir = resolve(dir)?;
    let shown = dir.display();
    let flags = if lazy {
        UnmountFlags::DETACH
    } else {
        UnmountFlags::empty()
    };
    let mut removed = 0;
    let top = loop {
        let top = Top::of(&dir)?;
        let Some(m) = top.sealed_on_dir() else {
            break top;
        };
        if removed == MAX_STACKED {
            bail!("{shown}: still sealed after removing {MAX_STACKED} overlays");
        }
        // By path: a handle to the mount would itself keep it busy. Top::of
        // just saw this overlay as what the path leads to.
        if let Err(e) = rustix::mount::unmount(&dir, flags) {
            let hint = if e == rustix::io::Errno::BUSY {
                " (still in use: a process runs or holds a file from it; stop it, or use --lazy to detach it)"
            } else {
                ""
            };
            return Err(sys_error("umount", &dir, e)).with_context(|| {
                format!(
                    "{shown}: cannot unmount the sealed overlay (mount {}){hint}",
                    m.id
                )
            });
        }
        tracing::info!("{shown}: unmounted sealed overlay (mount {})", m.id);
        removed += 1;
    };
    // Sealed overlays hidden under something else stay: we never unmount a
    // mount that is not a lower-only overlay to reach them.
    let hidden = top::mounts_on(&dir)?
        .into_iter()
        .filter(|m| m.is_sealed_overlay())
        .count();
    match (&top, removed) {
        (Top::Mount(m), _) if hidden > 0 => bail!(
            "{shown}: {hidden} sealed overlay(s) lie under mount {} ({}), which is not a lower-only \
             overlay: not unmounting it",
            m.id,
            m.fs_type
        ),
        (Top::Mount(m), _) => tracing::info!(
            "{shown}: leaving mount {} ({}): it is not a lower-only overlay, and sealmount only removes its own kind",
            m.id,
            m.fs_type
        ),
        (Top::Within(m), _) if m.is_sealed_overlay() => tracing::info!(
            "{shown}: lies inside the sealed overlay mounted at {} (mount {}): not unmounting a mount \
             on another directory (run sealmount --cleanup {} for that)",
            m.mount_point,
            m.id,
            m.mount_point
        ),
        (Top::Within(_), 0) => tracing::info!("{shown}: not sealed: nothing to do"),
        (Top::Within(_), n) => tracing::info!("{shown}: no longer sealed ({n} overlay(s) removed)"),
    }
    Ok(())
}

fn status(dir: &Path) -> Result<u8> {
    let dir = resolve(dir)?;
    let top = Top::of(&dir)?;
    let sealed = top.sealed().is_some();
    println!(
        "{}: {}: {}",
        dir.display(),
        if sealed { "sealed" } else { "not sealed" },
        top.describe()
    );
    Ok(if sealed { 0 } else { 1 })
}
