//! Every system call memfd-bind makes, in one place.
//!
//! As in exeseal's `sys`, each wrapper returns a [`SysError`] naming the
//! operation, the object it acted on (a path, or `fd N (what)`) and the errno,
//! so an operator reading one log line knows exactly what the kernel refused.
//!
//! This module needs no `unsafe`: rustix's safe API covers every call (the
//! crate root says `#![forbid(unsafe_code)]`). If a call ever needs raw
//! `libc`, it goes here, with a `SAFETY:` comment.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{self as rfs, AtFlags, FlockOperation, Mode, OFlags, Statx, StatxFlags};
use rustix::io::Errno;
use rustix::mount::{self as rmount, MoveMountFlags, OpenTreeFlags, UnmountFlags};

pub use exeseal::SysError;

pub type Result<T> = std::result::Result<T, SysError>;

pub fn error(op: impl Into<String>, target: impl Into<String>, errno: Errno) -> SysError {
    SysError {
        op: op.into(),
        target: target.into(),
        errno,
    }
}

/// `fd N (what)`: the fd number alone means nothing in a log.
fn fd_name(fd: BorrowedFd<'_>, what: &str) -> String {
    format!("fd {} ({what})", fd.as_raw_fd())
}

/// The `/proc/self/fd/N` magic link of `fd`: a path that resolves to exactly
/// the object the fd holds, whatever happens to the original path meanwhile.
pub fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

pub fn open(path: &OsStr, flags: OFlags) -> Result<OwnedFd> {
    rfs::open(path, flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| error("open", path.to_string_lossy(), e))
}

pub fn openat(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlags, what: &str) -> Result<OwnedFd> {
    rfs::openat(dir, name, flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| error("openat", what, e))
}

/// Create (or open) a regular file for read/write, never following a symlink.
pub fn create(path: &OsStr, mode: u32) -> Result<OwnedFd> {
    rfs::open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| error("open(O_CREAT)", path.to_string_lossy(), e))
}

/// `statx(fd, "", AT_EMPTY_PATH)` with the mount id: of an O_PATH|O_NOFOLLOW
/// handle this describes the symlink itself, not its target.
pub fn statx(fd: BorrowedFd<'_>, what: &str) -> Result<Statx> {
    rfs::statx(
        fd,
        "",
        AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    )
    .map_err(|e| error("statx(STATX_MNT_ID)", fd_name(fd, what), e))
}

/// The mount id of the file `fd` holds, from cached attributes
/// (AT_STATX_DONT_SYNC: a network or FUSE file system is not asked).
pub fn statx_cached_mnt_id(fd: BorrowedFd<'_>, what: &str) -> Result<u64> {
    rfs::statx(
        fd,
        "",
        AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC,
        StatxFlags::MNT_ID,
    )
    .map(|stx| stx.stx_mnt_id)
    .map_err(|e| {
        error(
            "statx(AT_STATX_DONT_SYNC, STATX_MNT_ID)",
            fd_name(fd, what),
            e,
        )
    })
}

pub fn fstatfs_type(fd: BorrowedFd<'_>, what: &str) -> Result<rfs::FsWord> {
    rfs::fstatfs(fd)
        .map(|s| s.f_type)
        .map_err(|e| error("fstatfs", fd_name(fd, what), e))
}

/// `readlinkat(fd, "")`: the target of the symlink an O_PATH|O_NOFOLLOW fd
/// holds. For a /proc/<pid>/fd/<n> magic link, ENOENT means the process (or
/// that fd of it) is gone.
pub fn readlink_fd(fd: BorrowedFd<'_>, what: &str) -> Result<OsString> {
    rfs::readlinkat(fd, "", Vec::new())
        .map(|t| OsStr::from_bytes(t.as_bytes()).to_os_string())
        .map_err(|e| error("readlinkat", fd_name(fd, what), e))
}

/// Re-open the object behind `fd` with other flags (through its magic link).
pub fn reopen(fd: BorrowedFd<'_>, flags: OFlags, what: &str) -> Result<OwnedFd> {
    rfs::open(fd_path(fd), flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| error("reopen", fd_name(fd, what), e))
}

/// Open the `/proc/self/fd/N` magic link of `fd` *itself* (O_PATH|O_NOFOLLOW):
/// the procfs symlink, not the file it points to.
pub fn open_magic_link(fd: BorrowedFd<'_>, what: &str) -> Result<OwnedFd> {
    let path = fd_path(fd);
    rfs::open(
        &path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| error("open(O_PATH|O_NOFOLLOW)", format!("{path} ({what})"), e))
}

/// `open_tree(fd, "", OPEN_TREE_CLONE|AT_EMPTY_PATH)`: a detached bind mount
/// of exactly the object `fd` holds.
pub fn open_tree_clone(fd: BorrowedFd<'_>, what: &str) -> Result<OwnedFd> {
    rmount::open_tree(
        fd,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
    .map_err(|e| error("open_tree(OPEN_TREE_CLONE)", fd_name(fd, what), e))
}

/// `move_mount(tree, "", target, "", F_EMPTY_PATH|T_EMPTY_PATH)`: attach a
/// detached mount on top of the object `target` holds.
pub fn move_mount_fds(tree: BorrowedFd<'_>, target: BorrowedFd<'_>, what: &str) -> Result<()> {
    rmount::move_mount(
        tree,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| {
        error(
            "move_mount",
            format!(
                "{} -> {}",
                fd_name(tree, "detached mount"),
                fd_name(target, what)
            ),
            e,
        )
    })
}

/// Classic `mount(/proc/self/fd/<src>, /proc/self/fd/<dst>, NULL, MS_BIND)`.
pub fn mount_bind_fds(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, what: &str) -> Result<()> {
    let (s, d) = (fd_path(src), fd_path(dst));
    rmount::mount_bind(&s, &d)
        .map_err(|e| error("mount(MS_BIND)", format!("{s} -> {d} ({what})"), e))
}

/// Unmount the mount whose root `fd` holds, through its magic link.
///
/// MNT_DETACH is needed: the fd itself pins the mount, so a plain umount would
/// always be EBUSY. Callers check first that the mount is the top one at the
/// path and has nothing stacked on it.
pub fn umount_fd(fd: BorrowedFd<'_>, what: &str) -> Result<()> {
    let path = fd_path(fd);
    rmount::unmount(&path, UnmountFlags::DETACH)
        .map_err(|e| error("umount2(MNT_DETACH)", format!("{path} ({what})"), e))
}

pub fn flock(fd: BorrowedFd<'_>, op: FlockOperation, what: &str) -> Result<()> {
    rfs::flock(fd, op).map_err(|e| error(format!("flock({op:?})"), fd_name(fd, what), e))
}

pub fn ftruncate(fd: BorrowedFd<'_>, what: &str) -> Result<()> {
    rfs::ftruncate(fd, 0).map_err(|e| error("ftruncate", fd_name(fd, what), e))
}

pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8], what: &str) -> Result<()> {
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(error("write", fd_name(fd, what), e)),
        }
    }
    Ok(())
}

pub fn read_to_string(fd: BorrowedFd<'_>, what: &str) -> Result<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return Ok(String::from_utf8_lossy(&out).into_owned()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::INTR) => {}
            Err(e) => return Err(error("read", fd_name(fd, what), e)),
        }
    }
}

pub fn unlink(path: &OsStr) -> Result<()> {
    rfs::unlink(path).map_err(|e| error("unlink", path.to_string_lossy(), e))
}

pub fn stat(path: &OsStr) -> Result<rfs::Stat> {
    rfs::stat(path).map_err(|e| error("stat", path.to_string_lossy(), e))
}

pub fn fstat(fd: BorrowedFd<'_>, what: &str) -> Result<rfs::Stat> {
    rfs::fstat(fd).map_err(|e| error("fstat", fd_name(fd, what), e))
}

pub fn getpid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}
