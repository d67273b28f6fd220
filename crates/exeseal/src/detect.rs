//! Is the running binary already protected?
//!
//! The answer is taken from the kernel's view of /proc/self/exe (filesystem
//! magic, seals, link count, mount options), never from an environment
//! variable alone: whoever starts us controls our environment. The re-exec
//! token only tells us *which* of our own handles we expect to be running
//! from; the file behind /proc/self/exe must then match it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{FileType, Mode, OFlags, StatVfsMountFlags};
use rustix::io::Errno;

use crate::copy::REQUIRED_SEALS;
use crate::sys::{self, SysError};
use crate::Strategy;

pub(crate) const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
const TMPFS_MAGIC: i64 = 0x0102_1994;
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;
/// How /proc/self/exe reads for a memfd exeseal made of the running binary
/// (`memfd:` + the name given to memfd_create); shared memfds made by other
/// tools (memfd-bind) must not use this prefix.
pub(crate) const OWN_MEMFD_PREFIX: &str = "/memfd:exeseal-self:";

/// How the running binary is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// Exec'd from a sealed memfd someone else made (e.g. memfd-bind): one
    /// image shared by every caller.
    SharedMemfd,
    /// Exec'd from an unlinked, immutable copy on a read-only tmpfs someone
    /// else made (memfd-bind's huge-page copy): one image shared by every
    /// caller, like [`Protection::SharedMemfd`] but in the tmpfs's pages.
    SharedTmpfsCopy,
    /// Exec'd from a read-only, lower-only overlay mounted in our mount
    /// namespace (e.g. sealmount): shares page cache with the host binary.
    SealedOverlayMount,
    /// We re-executed ourselves from a handle this strategy made.
    Reexeced {
        /// The strategy that made the handle we run from.
        strategy: Strategy,
        /// Bytes that strategy copied (0 for the overlays).
        bytes_copied: u64,
    },
}

impl Protection {
    /// A private copy confines a page-cache-write kernel bug to one call.
    pub fn is_private_copy(&self) -> bool {
        matches!(self, Protection::Reexeced { strategy, .. } if strategy.is_private_copy())
    }

    /// Bytes this invocation copied to get protected.
    pub fn bytes_copied(&self) -> u64 {
        match self {
            Protection::Reexeced { bytes_copied, .. } => *bytes_copied,
            _ => 0,
        }
    }

    /// Stable short name, for logs and `seal-probe`.
    pub fn name(&self) -> &'static str {
        match self {
            Protection::SharedMemfd => "already-sealed-memfd",
            Protection::SharedTmpfsCopy => "already-sealed-tmpfs",
            Protection::SealedOverlayMount => "already-sealed-overlay",
            Protection::Reexeced { strategy, .. } => strategy.name(),
        }
    }
}

/// `overlayfs (0 bytes copied)`, `memfd (5971584 bytes copied)`,
/// `already-sealed-memfd (0 bytes copied)`: what a runtime logs once its
/// logger exists (exeseal's own events fire before the re-exec, when a
/// program usually has none).
impl std::fmt::Display for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} bytes copied)", self.name(), self.bytes_copied())
    }
}

/// What we put in the environment across our own re-exec: the strategy and
/// the identity (dev, ino) of the handle, so the new image can check that it
/// really runs from that handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub strategy: Strategy,
    pub dev: u64,
    pub ino: u64,
    pub bytes_copied: u64,
}

impl Token {
    const VERSION: &'static str = "1";

    /// `REEXEC_ENV=<encoded>`, as put in the re-executed image's environment.
    pub fn env_entry(&self) -> String {
        format!("{}={}", crate::REEXEC_ENV, self.encode())
    }

    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            Self::VERSION,
            self.strategy.name(),
            self.dev,
            self.ino,
            self.bytes_copied
        )
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut it = s.split(':');
        if it.next()? != Self::VERSION {
            return None;
        }
        let strategy = it.next()?.parse().ok()?;
        let dev = it.next()?.parse().ok()?;
        let ino = it.next()?.parse().ok()?;
        let bytes_copied = it.next()?.parse().ok()?;
        it.next().is_none().then_some(Self {
            strategy,
            dev,
            ino,
            bytes_copied,
        })
    }
}

/// Does `fd` carry the seals that make a memfd immutable?
///
/// O_PATH handles cannot be asked (fcntl gives EBADF), so they are reopened
/// read-only first; files that cannot be sealed at all are simply "not sealed".
pub fn is_sealed(fd: BorrowedFd<'_>) -> Result<bool, SysError> {
    let reopened: OwnedFd;
    let fd = match sys::get_seals(fd) {
        Ok(seals) => return Ok(seals.contains(REQUIRED_SEALS)),
        Err(e) if e.errno == Errno::BADF => {
            reopened = sys::reopen(fd, OFlags::RDONLY)?;
            reopened.as_fd()
        }
        Err(e) if e.errno == Errno::INVAL => return Ok(false),
        Err(e) => return Err(e),
    };
    match sys::get_seals(fd) {
        Ok(seals) => Ok(seals.contains(REQUIRED_SEALS)),
        Err(e) if e.errno == Errno::INVAL => Ok(false),
        Err(e) => Err(e),
    }
}

/// The protection of the binary behind `/proc/self/exe`, if any.
pub(crate) fn self_exe_protection(token: Option<&Token>) -> Result<Option<Protection>, SysError> {
    let exe = sys::open("/proc/self/exe", OFlags::PATH, Mode::empty())?;
    protection_of(exe.as_fd(), token)
}

pub(crate) fn protection_of(
    exe: BorrowedFd<'_>,
    token: Option<&Token>,
) -> Result<Option<Protection>, SysError> {
    let st = sys::fstat(exe)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    let fs = sys::fstatfs(exe)?;
    let magic = fs.f_type as i64;
    if let Some(t) = token.filter(|t| t.dev == st.st_dev && t.ino == st.st_ino) {
        // The token names what we expect; each check below must hold on its
        // own, so a forged token can at most select a check, never skip one.
        let link = sys::readlink(&format!("/proc/self/fd/{}", exe.as_raw_fd()))?;
        let link = link.as_bytes();
        let ok = match t.strategy {
            // Our per-call overlay is detached (no namespace lists it); an
            // attached one must be a lower-only overlay at the superblock —
            // a read-only bind of a writable overlay also says ST_RDONLY.
            Strategy::Overlayfs | Strategy::UsernsOverlayfs => {
                magic == OVERLAYFS_SUPER_MAGIC
                    && is_read_only(exe)?
                    && crate::mountinfo::sealed_overlay_of(exe)?.is_none_or(|sealed| sealed)
            }
            Strategy::Memfd => link.starts_with(OWN_MEMFD_PREFIX.as_bytes()) && is_sealed(exe)?,
            // A private unlinked copy: no name anywhere, not a memfd (those
            // are judged by their seals), ours, and unwritable by the kernel's
            // word, not the mode bits' (CAP_DAC_OVERRIDE ignores those): on
            // a read-only mount or immutable. The huge-page copy is always
            // on its own read-only tmpfs.
            Strategy::Hugetmpfs | Strategy::Tmpfile | Strategy::UnlinkedTemp => {
                st.st_nlink == 0
                    && !link.starts_with(b"/memfd:")
                    && st.st_mode & 0o222 == 0
                    && st.st_uid == rustix::process::geteuid().as_raw()
                    && if t.strategy == Strategy::Hugetmpfs {
                        magic == TMPFS_MAGIC && is_read_only(exe)?
                    } else {
                        is_read_only(exe)? || is_immutable(exe)?
                    }
            }
        };
        if ok {
            return Ok(Some(Protection::Reexeced {
                strategy: t.strategy,
                bytes_copied: t.bytes_copied,
            }));
        }
        tracing::warn!(
            strategy = t.strategy.name(),
            "re-exec token does not match the running binary"
        );
    }
    match magic {
        TMPFS_MAGIC | HUGETLBFS_MAGIC if is_sealed(exe)? => Ok(Some(Protection::SharedMemfd)),
        TMPFS_MAGIC if is_shared_tmpfs_copy(exe, &st)? => Ok(Some(Protection::SharedTmpfsCopy)),
        OVERLAYFS_SUPER_MAGIC if crate::mountinfo::is_sealed_overlay_mount(exe)? => {
            Ok(Some(Protection::SealedOverlayMount))
        }
        _ => Ok(None),
    }
}

/// A tmpfs file nobody can write, by the kernel's word on every path to it:
/// no name (unlinked, so no other mount shows it), the immutable flag (which
/// holds through any mount and against CAP_DAC_OVERRIDE; clearing it needs a
/// writable mount), and a read-only mount. Without a token this is judged
/// strictly: all three, not either of the last two as for our own copies,
/// because we did not make it. Where tmpfs has no inode flags (before Linux
/// 6.0) such a copy is not recognised and the caller seals itself.
fn is_shared_tmpfs_copy(exe: BorrowedFd<'_>, st: &rustix::fs::Stat) -> Result<bool, SysError> {
    Ok(st.st_nlink == 0 && st.st_mode & 0o222 == 0 && is_read_only(exe)? && is_immutable(exe)?)
}

/// Whether the file behind `fd` (O_PATH is fine) has the immutable flag.
fn is_immutable(fd: BorrowedFd<'_>) -> Result<bool, SysError> {
    // FS_IOC_GETFLAGS needs a real open; reading does not make a writer.
    let readable = sys::reopen(fd, OFlags::RDONLY)?;
    match sys::inode_flags(readable.as_fd()) {
        Ok(flags) => Ok(flags.contains(rustix::fs::IFlags::IMMUTABLE)),
        Err(e) if e.errno == Errno::NOTTY || e.errno == Errno::INVAL => Ok(false),
        Err(e) => Err(e),
    }
}

fn is_read_only(fd: BorrowedFd<'_>) -> Result<bool, SysError> {
    Ok(sys::fstatvfs(fd)?
        .f_flag
        .contains(StatVfsMountFlags::RDONLY))
}
