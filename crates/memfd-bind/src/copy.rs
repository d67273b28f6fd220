//! The one in-memory copy the daemon serves, and how to tell one when we see
//! it behind a mount.
//!
//! Two kinds, both made by exeseal and both unwritable by anyone:
//! - **hugetmpfs** (the default where the kernel offers it): an unlinked copy
//!   on a private tmpfs of its own in huge pages, immutable, on a read-only
//!   mount that no namespace holds. Every exec of the path faults the binary
//!   in from 2 MiB pages: on the bench host a `run` served from a memfd
//!   costs 1.03-1.07x of one from the file on disk, from this copy 0.99-1.00x
//!   (bench/RESULTS.md).
//!   It costs up to one huge page more memory than the file (rounding).
//! - **memfd** (runc's kind, the fallback): a sealed memfd
//!   (`F_SEAL_SEAL|SHRINK|GROW|WRITE`) in the kernel's internal shm mount,
//!   whose pages are 4 KiB unless the host turned shmem THP on.

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use anyhow::{anyhow, bail, Result};
use exeseal::{Protection, Source};

use crate::sys;

/// Which copy `memfd-bind PATH` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// hugetmpfs where the kernel offers huge tmpfs pages and immutable tmpfs
    /// files (Linux 6.0+), else memfd.
    Auto,
    /// An unlinked, immutable copy on a private read-only tmpfs in huge pages.
    Hugetmpfs,
    /// A sealed memfd, as runc's memfd-bind.
    Memfd,
}

/// The copy being served.
pub struct SealedCopy {
    /// The handle the mount's magic link names: keep it open while served.
    pub fd: OwnedFd,
    pub kind: &'static str,
    /// Where its magic link points (`/memfd:memfd-bind:… (deleted)`, or
    /// `/#<ino> (deleted)` for the tmpfs copy): what `/proc/<pid>/exe` of
    /// every process started from the path shows.
    pub link: OsString,
    pub bytes: u64,
}

/// Is the file behind `fd` a copy memfd-bind would serve (either kind, as
/// exeseal judges it: what a runtime started from it accepts as sealed)?
pub fn is_servable(fd: BorrowedFd<'_>) -> Result<bool> {
    Ok(matches!(
        exeseal::protection_of(fd).map_err(|e| anyhow!("{e}"))?,
        Some(Protection::SharedMemfd | Protection::SharedTmpfsCopy)
    ))
}

/// Copy the file open as `src` (`size` bytes, the name `memfd_name` for a
/// memfd), then check the copy is complete and protected.
pub fn make(src: BorrowedFd<'_>, size: u64, kind: Kind, memfd_name: &str) -> Result<SealedCopy> {
    let (fd, kind, want) = match kind {
        Kind::Memfd => (memfd(src, memfd_name)?, "memfd", Protection::SharedMemfd),
        Kind::Hugetmpfs => (hugetmpfs(src)?, "hugetmpfs", Protection::SharedTmpfsCopy),
        Kind::Auto => match hugetmpfs(src) {
            Ok(fd) => (fd, "hugetmpfs", Protection::SharedTmpfsCopy),
            Err(e) => {
                tracing::info!(reason = %e, "no huge-page tmpfs copy here; serving a sealed memfd");
                (memfd(src, memfd_name)?, "memfd", Protection::SharedMemfd)
            }
        },
    };
    let bytes = sys::fstat(fd.as_fd(), kind)?.st_size as u64;
    if bytes != size {
        bail!("copied {bytes} bytes but the file has {size} (changed while copying?)");
    }
    let is = exeseal::protection_of(fd.as_fd()).map_err(|e| anyhow!("{e}"))?;
    if is.as_ref() != Some(&want) {
        bail!("the {kind} copy is not sealed (exeseal sees {is:?}, expected {want:?})");
    }
    let link = sys::readlink_fd(sys::open_magic_link(fd.as_fd(), kind)?.as_fd(), kind)?;
    Ok(SealedCopy {
        fd,
        kind,
        link,
        bytes,
    })
}

fn memfd(src: BorrowedFd<'_>, name: &str) -> Result<OwnedFd> {
    exeseal::clone_binary(name, Source::Fd(src))
        .map_err(|e| anyhow!("cannot make a sealed memfd: {e}"))
}

/// The error names the kernel's refusal (no THP, no fsopen, no tmpfs inode
/// flags), which `auto` logs before it falls back.
fn hugetmpfs(src: BorrowedFd<'_>) -> Result<OwnedFd> {
    exeseal::clone_binary_hugetmpfs(Source::Fd(src))
        .map(|(fd, _)| fd)
        .map_err(|e| anyhow!("cannot make a huge-page tmpfs copy: {e}"))
}
