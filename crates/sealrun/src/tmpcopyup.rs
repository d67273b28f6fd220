//! `tmpcopyup`: a tmpfs mount that starts with the files of the directory
//! it covers (podman puts it on every `--tmpfs` and on the tmpfs mounts of
//! `--read-only`).
//!
//! It is not a mount(2) option; libcontainer 0.7.0 passes it to the kernel,
//! which refuses it (EINVAL, "failed to prepare rootfs"). So `prepare`
//! removes it from the config libcontainer reads, and once the container is
//! created (its init waits for `start`, no code of the container has run),
//! sealrun copies the files from a thread inside the container's mount
//! namespace:
//! - the covered directory is reached through a non-recursive clone of the
//!   mount holding its parent (`open_tree` without `AT_RECURSIVE` leaves
//!   submounts out, the tmpfs among them);
//! - entries are copied with their mode, owner and times' worth of meaning
//!   (mode and owner; symlinks as symlinks, never followed; devices, fifos
//!   and sockets skipped, as runc's copy-up does not make them either);
//! - every path is resolved below a directory descriptor, in a thread whose
//!   root is the container's root, so nothing outside the container can be
//!   read or written.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use libcontainer::oci_spec::runtime::Spec;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::{mountns, sys};

/// The option, as podman and the OCI runtime docs spell it.
pub const OPTION: &str = "tmpcopyup";

/// The destinations of the spec's tmpfs mounts that ask for copy-up.
pub fn targets(spec: &Spec) -> Vec<PathBuf> {
    spec.mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|m| m.typ().as_deref() == Some("tmpfs"))
        .filter(|m| {
            m.options()
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|o| o == OPTION)
        })
        .map(|m| m.destination().clone())
        .collect()
}

/// Copies what each target's tmpfs covers into it, in the mount namespace
/// of the created container whose init is `pid`.
pub fn copy_up(pid: i32, targets: &[PathBuf]) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    // One thread in the namespace for all of them.
    mountns::run_in(pid, || {
        for target in targets {
            copy_up_one(target).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "failed to copy up the files under tmpfs {}: {e}",
                        target.display()
                    ),
                )
            })?;
        }
        Ok(())
    })
}

fn copy_up_one(target: &Path) -> std::io::Result<()> {
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        // "/" itself: nothing covers it.
        return Ok(());
    };
    let below = sys::clone_tree(parent)?;
    let source = match rustix::fs::openat(
        below.as_fd(),
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // The directory did not exist before the mount made it: nothing to copy.
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => {
            return Err(io_err(
                e,
                format!("open {} below its tmpfs", target.display()),
            ))
        }
    };
    let dest = rustix::fs::open(
        target,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(e, format!("open tmpfs {}", target.display())))?;
    copy_dir(source.as_fd(), dest.as_fd(), target)
}

/// Copies the entries of directory `from` into directory `to`.
fn copy_dir(from: BorrowedFd<'_>, to: BorrowedFd<'_>, shown: &Path) -> std::io::Result<()> {
    let mut dir = rustix::fs::Dir::read_from(from)
        .map_err(|e| io_err(e, format!("read {}", shown.display())))?;
    let mut names: Vec<OsString> = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry.map_err(|e| io_err(e, format!("read {}", shown.display())))?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name != "." && name != ".." {
            names.push(name.to_owned());
        }
    }
    for name in names {
        copy_entry(from, to, &name, &shown.join(&name))?;
    }
    Ok(())
}

fn copy_entry(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    name: &OsStr,
    shown: &Path,
) -> std::io::Result<()> {
    let at = |e, what: &str| io_err(e, format!("{what} {}", shown.display()));
    let st =
        rustix::fs::statat(from, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| at(e, "stat"))?;
    let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
    let owner = (
        Some(rustix::fs::Uid::from_raw(st.st_uid)),
        Some(rustix::fs::Gid::from_raw(st.st_gid)),
    );
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            rustix::fs::mkdirat(to, name, mode).map_err(|e| at(e, "mkdir"))?;
            let (src, dst) = (
                open_dir(from, name).map_err(|e| at(e, "open"))?,
                open_dir(to, name).map_err(|e| at(e, "open"))?,
            );
            rustix::fs::fchown(&dst, owner.0, owner.1).map_err(|e| at(e, "chown"))?;
            // mkdir applied the umask: set the mode the source has.
            rustix::fs::fchmod(&dst, mode).map_err(|e| at(e, "chmod"))?;
            copy_dir(src.as_fd(), dst.as_fd(), shown)
        }
        FileType::RegularFile => {
            let src = rustix::fs::openat(
                from,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| at(e, "open"))?;
            let dst = rustix::fs::openat(
                to,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| at(e, "create"))?;
            let (mut src, mut dst) = (File::from(src), File::from(dst));
            std::io::copy(&mut src, &mut dst).map_err(|e| {
                std::io::Error::new(e.kind(), format!("copy {}: {e}", shown.display()))
            })?;
            rustix::fs::fchown(&dst, owner.0, owner.1).map_err(|e| at(e, "chown"))?;
            rustix::fs::fchmod(&dst, mode).map_err(|e| at(e, "chmod"))
        }
        FileType::Symlink => {
            let target =
                rustix::fs::readlinkat(from, name, Vec::new()).map_err(|e| at(e, "readlink"))?;
            rustix::fs::symlinkat(target.as_c_str(), to, name).map_err(|e| at(e, "symlink"))?;
            rustix::fs::chownat(to, name, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| at(e, "chown"))
        }
        _ => {
            tracing::debug!(path = %shown.display(), "tmpcopyup: special file not copied");
            Ok(())
        }
    }
}

fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn io_err(e: rustix::io::Errno, what: String) -> std::io::Error {
    std::io::Error::new(std::io::Error::from(e).kind(), format!("{what}: {e}"))
}
