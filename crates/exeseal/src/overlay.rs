//! Zero-copy sealing: a private, detached, lower-only overlayfs over the
//! binary's directory.
//!
//! An overlay with only lower layers has no upper layer to write to, so its
//! superblock is read-only (writes give EROFS and a remount read-write is
//! refused) — unlike a read-only *bind* mount, whose MS_RDONLY flag a container
//! with CAP_SYS_ADMIN could clear (why runc dropped its bindfd logic). The mount
//! is made with the new mount API and never attached anywhere, so no other
//! process can see or reconfigure it; it disappears when the last fd into it
//! (our O_PATH handle, then the exec'd image) goes away.
//!
//! overlayfs needs at least two lower layers when there is no upper layer. The
//! second one must be empty and must not overlap the binary's directory
//! (overlapping layers give ELOOP at CMD_CREATE — runc 1.2.2 hits this when
//! its state dir lies below the binary's dir and silently falls back to a
//! memfd copy). We hand the layers over in the most race-free form the kernel
//! accepts:
//!
//! 1. `lowerdir+` by fd (Linux 6.15+: 6.13-6.14 refuse our O_PATH directory
//!    fd with EBADF and fall through to form 3), the dummy layer the shared
//!    empty directory [`SHARED_EMPTY_DIR`]: root-owned, mode 0555, checked
//!    empty on every use, opened without following symlinks. Making and
//!    dropping an anonymous tmpfs per call costs 0.1-0.3 ms here (0.28 ms in
//!    a C loop under load, 0.14 ms in a whole `sealrun run`, ~1%), almost all
//!    of it the detached mount's teardown (an expedited RCU grace period); a
//!    shared directory costs one open and one getdents. Contents of the
//!    lowest layer could only ever add names the binary's directory lacks,
//!    never replace the binary — and it must be empty;
//! 2. `lowerdir+` by fd, the dummy layer an anonymous detached tmpfs: no path
//!    is ever looked up, nothing can race or overlap (6.15+; also where the
//!    shared directory is unusable: not root's, not empty, or overlapping —
//!    a binary in `/` or `/run`);
//! 3. `lowerdir+` by `/proc/self/fd/N` path, one layer per call (Linux 6.8+):
//!    still names our fds, so no ':'/'\' escaping and no path race;
//! 4. the classic colon-separated `lowerdir=` string with escaped real paths
//!    and an empty temp dir chosen outside the binary's directory (Linux 5.2+).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::mount::MountAttrFlags;

use crate::sys::{self, SysError};
use crate::Failure;

/// How the layers are handed to overlayfs, newest (most race-free) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerMode {
    /// `lowerdir+` by fd, dummy layer [`SHARED_EMPTY_DIR`] (Linux 6.15+).
    FdShared,
    /// `lowerdir+` by fd, dummy layer an anonymous tmpfs (Linux 6.15+).
    FdAppend,
    /// `lowerdir+` by `/proc/self/fd/N` path (Linux 6.8+).
    PathAppend,
    /// `lowerdir=a:b` with escaped real paths and a temp dummy dir.
    LegacyString,
}

impl LayerMode {
    /// Every form, in the order tried by default (newest first).
    pub const ALL: [LayerMode; 4] = [
        LayerMode::FdShared,
        LayerMode::FdAppend,
        LayerMode::PathAppend,
        LayerMode::LegacyString,
    ];
    /// The forms whose dummy layer exists on no shared path: for overlays
    /// meant to outlive the call (sealmount), which should not pin a
    /// directory of someone else's.
    pub const PRIVATE_DUMMY: [LayerMode; 3] = [
        LayerMode::FdAppend,
        LayerMode::PathAppend,
        LayerMode::LegacyString,
    ];

    /// Stable short name, as accepted by `EXESEAL_OVERLAY_LAYERS` and
    /// [`FromStr`](std::str::FromStr), and shown in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            LayerMode::FdShared => "fd-shared",
            LayerMode::FdAppend => "fd",
            LayerMode::PathAppend => "path",
            LayerMode::LegacyString => "string",
        }
    }
}

impl std::str::FromStr for LayerMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!("unknown overlay layer form {s:?} (expected fd-shared, fd, path or string)")
            })
    }
}

/// A target inside a directory to seal, with the identity it must keep.
pub(crate) struct Target<'a> {
    pub dir_fd: BorrowedFd<'a>,
    pub dir_path: &'a Path,
    pub name: &'a OsStr,
    pub stat: &'a rustix::fs::Stat,
}

/// Escape a path for the colon-separated `lowerdir=` option: overlayfs splits
/// on ':' and treats '\' as the escape character.
pub fn escape_lowerdir(path: &Path) -> OsString {
    let mut out = Vec::with_capacity(path.as_os_str().len() + 4);
    for &b in path.as_os_str().as_bytes() {
        if b == b':' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    OsString::from_vec(out)
}

/// Builds an overlay and returns an O_PATH handle to the target inside it.
pub(crate) fn seal(
    target: &Target<'_>,
    modes: &[LayerMode],
) -> Result<(OwnedFd, LayerMode), Failure> {
    let (mnt_fd, mode) = mount_lower_only(target.dir_fd, target.dir_path, modes)?;
    let exe = sys::openat(
        mnt_fd.as_fd(),
        target.name,
        OFlags::PATH | OFlags::NOFOLLOW,
        Mode::empty(),
    )?;
    verify_same_content(target.stat, &sys::fstat(exe.as_fd())?)?;
    Ok((exe, mode))
}

/// Make the detached lower-only overlay of `dir` and return its mount fd.
pub(crate) fn mount_lower_only(
    dir_fd: BorrowedFd<'_>,
    dir_path: &Path,
    modes: &[LayerMode],
) -> Result<(OwnedFd, LayerMode), Failure> {
    let mut errors: Vec<SysError> = Vec::new();
    for &mode in modes {
        match try_mount(dir_fd, dir_path, mode) {
            Ok(fd) => {
                tracing::debug!(layers = mode.name(), dir = %dir_path.display(), "overlayfs: layers accepted");
                return Ok((fd, mode));
            }
            Err(Attempt::Unsupported(e)) => {
                tracing::debug!(layers = mode.name(), error = %e, "overlayfs: layer form not supported, trying older form");
                errors.push(e);
            }
            Err(Attempt::Fatal(e)) => return Err(e.into()),
        }
    }
    Err(Failure::Unsuitable(format!(
        "no layer form accepted: {}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    )))
}

enum Attempt {
    /// This kernel does not understand this way of passing layers.
    Unsupported(SysError),
    /// Overlayfs itself is unusable (no privilege, not compiled in, ...).
    Fatal(SysError),
}

impl From<SysError> for Attempt {
    fn from(e: SysError) -> Self {
        Attempt::Fatal(e)
    }
}

fn try_mount(dir_fd: BorrowedFd<'_>, dir_path: &Path, mode: LayerMode) -> Result<OwnedFd, Attempt> {
    let fs = sys::fsopen("overlay")?;
    let fs = fs.as_fd();
    // Forms a kernel may not know fail with EINVAL at fsconfig or only at
    // CMD_CREATE (before 6.5 overlay accepted any key and choked on it at
    // create; before ~6.15 a detached tmpfs is refused as a layer at create;
    // 6.13-6.14 refuse O_PATH fds for SET_FD with EBADF). All of those mean
    // "try the next form"; only the last form's failures are final.
    let soft = |e: SysError| match mode {
        LayerMode::LegacyString => Attempt::Fatal(e),
        // The shared dummy overlaps a binary in / or /run: ELOOP.
        LayerMode::FdShared if e.errno == rustix::io::Errno::LOOP => Attempt::Unsupported(e),
        _ => unsupported_if_inval(e),
    };
    // The dummy layer must live until CMD_CREATE has taken its own reference.
    let _dummy: Box<dyn std::any::Any> = match mode {
        LayerMode::FdShared => {
            let dummy = shared_empty_dir().map_err(Attempt::Unsupported)?;
            sys::fsconfig_set_fd(fs, "lowerdir+", dir_fd).map_err(soft)?;
            sys::fsconfig_set_fd(fs, "lowerdir+", dummy.as_fd()).map_err(soft)?;
            Box::new(dummy)
        }
        LayerMode::FdAppend => {
            let dummy = empty_tmpfs().map_err(soft)?;
            sys::fsconfig_set_fd(fs, "lowerdir+", dir_fd).map_err(soft)?;
            sys::fsconfig_set_fd(fs, "lowerdir+", dummy.as_fd()).map_err(soft)?;
            Box::new(dummy)
        }
        LayerMode::PathAppend => {
            // An attached empty dir (not the detached tmpfs): kernels that
            // take `lowerdir+` (6.8+) but not detached layers (< ~6.15).
            let dummy = TempDir::outside(dir_path)?;
            sys::fsconfig_set_string(fs, "lowerdir+", &fd_path(dir_fd)).map_err(soft)?;
            sys::fsconfig_set_string(fs, "lowerdir+", &fd_path(dummy.fd.as_fd())).map_err(soft)?;
            Box::new(dummy)
        }
        LayerMode::LegacyString => {
            // Our fds' magic links, not the real paths: the directory is
            // not looked up again (no race), and these need no escaping —
            // escaped anyway, as any lowerdir= component must be.
            let dummy = TempDir::outside(dir_path)?;
            let mut value = escape_lowerdir(Path::new(&fd_path(dir_fd)));
            value.push(":");
            value.push(escape_lowerdir(Path::new(&fd_path(dummy.fd.as_fd()))));
            sys::fsconfig_set_string(fs, "lowerdir", &value)?;
            Box::new(dummy)
        }
    };
    // Without xino=off, overlayfs may need to encode layer numbers into inode
    // numbers, which fails on some filesystems; we do not need stable inodes.
    sys::fsconfig_set_string(fs, "xino", OsStr::new("off")).map_err(soft)?;
    let what = format!("overlay of {}", dir_path.display());
    sys::fsconfig_create(fs, &what).map_err(soft)?;
    let mnt = sys::fsmount(
        fs,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOSUID,
        &what,
    )?;
    Ok(mnt)
}

fn fd_path(fd: BorrowedFd<'_>) -> OsString {
    OsString::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn unsupported_if_inval(e: SysError) -> Attempt {
    // EINVAL/ENOPARAM-style answers mean "unknown key or value type" on kernels
    // that predate this form; EBADF is 6.13-6.14 refusing O_PATH layer fds;
    // anything else (EPERM, ENODEV, ...) is a real failure of overlayfs.
    use rustix::io::Errno;
    if matches!(
        e.errno,
        Errno::INVAL | Errno::OPNOTSUPP | Errno::NOENT | Errno::BADF
    ) || e.errno.raw_os_error() == 519
    {
        Attempt::Unsupported(e)
    } else {
        Attempt::Fatal(e)
    }
}

/// The dummy layer shared by every call (see the module docs).
pub const SHARED_EMPTY_DIR: &str = "/run/exeseal/empty";

/// Opens [`SHARED_EMPTY_DIR`], creating it if missing, and checks that only
/// root can change it and that it is empty. Unusable means "use another
/// form", never an error of its own.
fn shared_empty_dir() -> Result<OwnedFd, SysError> {
    let (parent, name) = SHARED_EMPTY_DIR.rsplit_once('/').expect("absolute path");
    let parent_fd = open_or_create_dir(rustix::fs::CWD, OsStr::new(parent), 0o755, OFlags::PATH)?;
    only_root_writes(parent_fd.as_fd(), parent)?;
    let fd = open_or_create_dir(parent_fd.as_fd(), OsStr::new(name), 0o555, OFlags::RDONLY)?;
    only_root_writes(fd.as_fd(), SHARED_EMPTY_DIR)?;
    if !sys::dir_is_empty(fd.as_fd(), SHARED_EMPTY_DIR)? {
        return Err(SysError::new(
            "check empty",
            SHARED_EMPTY_DIR,
            rustix::io::Errno::NOTEMPTY,
        ));
    }
    Ok(fd)
}

/// Opens directory `name` (no symlink followed), creating it first only if
/// it is missing: on every call but the first the open alone suffices.
fn open_or_create_dir(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: u32,
    access: OFlags,
) -> Result<OwnedFd, SysError> {
    let open = || {
        sys::openat(
            dir,
            name,
            access | OFlags::DIRECTORY | OFlags::NOFOLLOW,
            Mode::empty(),
        )
    };
    match open() {
        Err(e) if e.errno == rustix::io::Errno::NOENT => {
            sys::mkdirat_or_exists(dir, name, mode)?;
            open()
        }
        other => other,
    }
}

/// Root-owned and not writable by group or others (EPERM otherwise).
fn only_root_writes(fd: BorrowedFd<'_>, path: &str) -> Result<(), SysError> {
    let st = sys::fstat(fd)?;
    if st.st_uid != 0 || st.st_mode & 0o022 != 0 {
        return Err(SysError::new(
            "check owner root, mode go-w",
            format!("{path} (uid {}, mode {:o})", st.st_uid, st.st_mode & 0o7777),
            rustix::io::Errno::PERM,
        ));
    }
    Ok(())
}

/// An anonymous, empty, read-only tmpfs: a dummy layer that exists on no path.
fn empty_tmpfs() -> Result<OwnedFd, SysError> {
    let fs = sys::fsopen("tmpfs")?;
    sys::fsconfig_set_string(fs.as_fd(), "mode", OsStr::new("0500"))?;
    sys::fsconfig_set_string(fs.as_fd(), "size", OsStr::new("4k"))?;
    sys::fsconfig_create(fs.as_fd(), "dummy tmpfs layer")?;
    let flags = MountAttrFlags::MOUNT_ATTR_RDONLY
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOSUID
        | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    sys::fsmount(fs.as_fd(), flags, "dummy tmpfs layer")
}

/// The file seen through the overlay must be the file we meant to seal.
fn verify_same_content(orig: &rustix::fs::Stat, seen: &rustix::fs::Stat) -> Result<(), Failure> {
    let kind = FileType::from_raw_mode(seen.st_mode);
    if kind != FileType::RegularFile {
        return Err(Failure::Unsuitable(format!(
            "overlay entry is a {kind:?}, not a regular file"
        )));
    }
    // With xino=off overlayfs reports the lower file's own inode number.
    if orig.st_ino != seen.st_ino
        || orig.st_size != seen.st_size
        || (orig.st_mtime, orig.st_mtime_nsec) != (seen.st_mtime, seen.st_mtime_nsec)
        || (orig.st_ctime, orig.st_ctime_nsec) != (seen.st_ctime, seen.st_ctime_nsec)
    {
        return Err(Failure::Unsuitable(
            "binary seen through the overlay differs from the running one (replaced since exec?)"
                .into(),
        ));
    }
    Ok(())
}

/// An empty private directory used as the dummy layer where the anonymous
/// tmpfs is not accepted; removed on drop (the overlay keeps its own
/// reference to the then-deleted, still empty directory).
struct TempDir {
    path: PathBuf,
    fd: OwnedFd,
}

impl TempDir {
    /// Create it somewhere that neither contains nor is contained in `avoid`.
    fn outside(avoid: &Path) -> Result<Self, Attempt> {
        let mut last = None;
        for base in crate::copy::candidate_dirs(&[]) {
            // A sibling of the binary's dir is fine; a dir below it overlaps.
            if base.starts_with(avoid) {
                continue;
            }
            match mkdtemp(&base) {
                Ok(path) => match sys::open(
                    &path,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW,
                    Mode::empty(),
                ) {
                    Ok(fd) => return Ok(Self { path, fd }),
                    Err(e) => {
                        let _ = std::fs::remove_dir(&path);
                        last = Some(e);
                    }
                },
                Err(e) => last = Some(e),
            }
        }
        Err(Attempt::Fatal(last.unwrap_or_else(|| {
            SysError::new(
                "mkdtemp",
                format!("any dir outside {}", avoid.display()),
                rustix::io::Errno::NOENT,
            )
        })))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

fn mkdtemp(base: &Path) -> Result<PathBuf, SysError> {
    for attempt in 0..16u32 {
        let path = base.join(format!(
            ".exeseal-layer-{}-{}",
            std::process::id(),
            crate::random_suffix(attempt)
        ));
        match rustix::fs::mkdir(&path, Mode::from_raw_mode(0o700)) {
            Ok(()) => return Ok(path),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(SysError::new("mkdir", path.display().to_string(), e)),
        }
    }
    Err(SysError::new(
        "mkdir",
        base.display().to_string(),
        rustix::io::Errno::EXIST,
    ))
}
