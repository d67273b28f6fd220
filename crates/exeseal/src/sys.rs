//! Every system call exeseal makes, in one place.
//!
//! Each wrapper returns a [`SysError`] that names the operation, the object it
//! acted on (fd, path, key) and the errno, so a failure deep inside a fallback
//! chain still tells an operator exactly what the kernel refused. This is the
//! only module that may contain `unsafe`; everything else goes through rustix's
//! safe API via these wrappers.

use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, Mode, OFlags, SealFlags};
use rustix::io::Errno;
use rustix::mount::{self as rmount, FsMountFlags, FsOpenFlags, MountAttrFlags};

/// A failed system call: what, on which object, and the errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysError {
    /// The operation, e.g. `fsconfig(lowerdir+)`.
    pub op: String,
    /// What it acted on: a path, `fd N`, or a description.
    pub target: String,
    /// The kernel's answer.
    pub errno: Errno,
}

impl SysError {
    pub(crate) fn new(op: impl Into<String>, target: impl Into<String>, errno: Errno) -> Self {
        Self {
            op: op.into(),
            target: target.into(),
            errno,
        }
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.errno.raw_os_error();
        write!(
            f,
            "{} on {}: {} ({})",
            self.op,
            self.target,
            std::io::Error::from_raw_os_error(raw),
            errno_name(raw)
        )
    }
}

impl std::error::Error for SysError {}

/// Symbolic errno names for the errors this crate meets, so logs and
/// error messages can be grepped (`EROFS`, not just "Read-only file system").
pub fn errno_name(raw: i32) -> String {
    let name = match raw {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ELOOP => "ELOOP",
        libc::ENOSYS => "ENOSYS",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOEXEC => "ENOEXEC",
        libc::E2BIG => "E2BIG",
        libc::ESRCH => "ESRCH",
        _ => return format!("errno {raw}"),
    };
    name.to_string()
}

/// What every wrapper here returns.
pub type Result<T> = std::result::Result<T, SysError>;

fn fd_name(fd: BorrowedFd<'_>) -> String {
    format!("fd {}", fd.as_raw_fd())
}

/// open(2) with `flags | O_CLOEXEC`; the error names the path.
pub fn open(path: impl AsRef<Path>, flags: OFlags, mode: Mode) -> Result<OwnedFd> {
    let path = path.as_ref();
    rfs::open(path, flags | OFlags::CLOEXEC, mode)
        .map_err(|e| SysError::new("open", path.display().to_string(), e))
}

/// openat(2) of `name` relative to `dir`, with `flags | O_CLOEXEC`; the
/// error names `fd N/name`.
pub fn openat(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlags, mode: Mode) -> Result<OwnedFd> {
    rfs::openat(dir, name, flags | OFlags::CLOEXEC, mode).map_err(|e| {
        SysError::new(
            "openat",
            format!("{}/{}", fd_name(dir), name.to_string_lossy()),
            e,
        )
    })
}

/// mkdirat that treats an existing entry as success (whatever it is: the
/// caller opens and checks it next).
pub fn mkdirat_or_exists(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> Result<()> {
    match rfs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(SysError::new(
            "mkdirat",
            format!("{}/{}", fd_name(dir), name.to_string_lossy()),
            e,
        )),
    }
}

/// Whether the directory open at `fd` holds nothing but "." and "..".
pub fn dir_is_empty(fd: BorrowedFd<'_>, what: &str) -> Result<bool> {
    let mut dir = rfs::Dir::read_from(fd).map_err(|e| SysError::new("opendir", what, e))?;
    while let Some(entry) = dir.read() {
        let entry = entry.map_err(|e| SysError::new("getdents64", what, e))?;
        if !matches!(entry.file_name().to_bytes(), b"." | b"..") {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reopen an fd through its `/proc/self/fd` magic link (to get a new open file
/// description with other flags: O_PATH to drop write access, O_RDONLY to read).
pub fn reopen(fd: BorrowedFd<'_>, flags: OFlags) -> Result<OwnedFd> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rfs::open(&path, flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| SysError::new("reopen", path, e))
}

/// readlink(2) of `path` (typically a `/proc` magic link such as
/// `/proc/self/exe`), as raw bytes: no UTF-8 required.
pub fn readlink(path: &str) -> Result<std::ffi::OsString> {
    let target = rfs::readlink(path, Vec::new()).map_err(|e| SysError::new("readlink", path, e))?;
    Ok(std::ffi::OsString::from(std::ffi::OsStr::from_bytes(
        target.as_bytes(),
    )))
}

/// fstat(2); works on O_PATH descriptors too.
pub fn fstat(fd: BorrowedFd<'_>) -> Result<rfs::Stat> {
    rfs::fstat(fd).map_err(|e| SysError::new("fstat", fd_name(fd), e))
}

/// fstatfs(2): the filesystem `fd` is on (its magic in `f_type`).
pub fn fstatfs(fd: BorrowedFd<'_>) -> Result<rfs::StatFs> {
    rfs::fstatfs(fd).map_err(|e| SysError::new("fstatfs", fd_name(fd), e))
}

/// fstatvfs(3): like [`fstatfs`], plus the mount flags (`ST_RDONLY`, ...) of
/// the mount `fd` is on.
pub fn fstatvfs(fd: BorrowedFd<'_>) -> Result<rfs::StatVfs> {
    rfs::fstatvfs(fd).map_err(|e| SysError::new("fstatvfs", fd_name(fd), e))
}

/// fchmod(2) to the raw `mode` (e.g. `0o500`); the error shows the mode.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> Result<()> {
    rfs::fchmod(fd, Mode::from_raw_mode(mode))
        .map_err(|e| SysError::new(format!("fchmod({mode:#o})"), fd_name(fd), e))
}

/// unlinkat(2) of the non-directory `name` in `dir` (no AT_REMOVEDIR).
pub fn unlinkat(dir: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
    rfs::unlinkat(dir, name, rfs::AtFlags::empty()).map_err(|e| {
        SysError::new(
            "unlinkat",
            format!("{}/{}", fd_name(dir), name.to_string_lossy()),
            e,
        )
    })
}

/// memfd_create(2) with exactly `flags` (the caller passes MFD_CLOEXEC); the
/// error shows the flags, since EINVAL may mean an unknown one (MFD_EXEC
/// before Linux 6.3).
pub fn memfd_create(name: &str, flags: rfs::MemfdFlags) -> Result<OwnedFd> {
    rfs::memfd_create(name, flags)
        .map_err(|e| SysError::new(format!("memfd_create({flags:?})"), name, e))
}

/// `fcntl(F_GET_SEALS)`: the seals a memfd carries now.
pub fn get_seals(fd: BorrowedFd<'_>) -> Result<SealFlags> {
    rfs::fcntl_get_seals(fd).map_err(|e| SysError::new("fcntl(F_GET_SEALS)", fd_name(fd), e))
}

/// `fcntl(F_ADD_SEALS, seals)`. EBUSY here means a page still holds an extra
/// reference (see [`on_one_cpu`]); EINVAL may mean a seal this kernel lacks.
pub fn add_seals(fd: BorrowedFd<'_>, seals: SealFlags) -> Result<()> {
    rfs::fcntl_add_seals(fd, seals)
        .map_err(|e| SysError::new(format!("fcntl(F_ADD_SEALS, {seals:?})"), fd_name(fd), e))
}

/// How many bytes one in-kernel copy call may move (the kernel caps a single
/// copy_file_range/sendfile at ~2 GiB anyway).
const COPY_CHUNK: usize = 1 << 30;

/// One in-kernel copy step: copy_file_range, else sendfile, else none.
pub enum CopyStep {
    /// This many bytes moved; 0 is end of file (or a source the call cannot
    /// read, such as a procfs file reporting size 0).
    Copied(usize),
    /// The kernel cannot do this pair of files in-kernel with that call.
    Unsupported(Errno),
}

/// One copy_file_range(2) of up to 1 GiB from `src` to `dst`, at both fds'
/// current offsets. EXDEV, EINVAL, ENOSYS and EOPNOTSUPP come back as
/// [`CopyStep::Unsupported`] (try the next method), other errors as errors.
pub fn copy_file_range(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<CopyStep> {
    match rfs::copy_file_range(src, None, dst, None, COPY_CHUNK) {
        Ok(n) => Ok(CopyStep::Copied(n)),
        // Cross-filesystem copies (e.g. ext4 -> tmpfs) give EXDEV since 5.19;
        // old kernels and some filesystems give EINVAL/ENOSYS/EOPNOTSUPP.
        Err(e @ (Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)) => {
            Ok(CopyStep::Unsupported(e))
        }
        Err(e) => Err(SysError::new(
            "copy_file_range",
            format!("{} -> {}", fd_name(src), fd_name(dst)),
            e,
        )),
    }
}

/// One sendfile(2) of up to 1 GiB from `src` to `dst`, at both fds' current
/// offsets. EINVAL, ENOSYS and EOPNOTSUPP come back as
/// [`CopyStep::Unsupported`], other errors as errors.
pub fn sendfile(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<CopyStep> {
    match rfs::sendfile(dst, src, None, COPY_CHUNK) {
        Ok(n) => Ok(CopyStep::Copied(n)),
        Err(e @ (Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)) => Ok(CopyStep::Unsupported(e)),
        Err(e) => Err(SysError::new(
            "sendfile",
            format!("{} -> {}", fd_name(src), fd_name(dst)),
            e,
        )),
    }
}

/// A read-only, private mapping of a whole file, unmapped on drop.
pub struct Mapped {
    addr: *mut std::ffi::c_void,
    len: usize,
}

impl Mapped {
    /// `mmap(PROT_READ, MAP_PRIVATE | MAP_POPULATE)` of the first `len`
    /// bytes of `fd` (`len` > 0): the pages are mapped before it returns, so
    /// a copy from it does not fault page by page.
    pub fn file(fd: BorrowedFd<'_>, len: usize) -> Result<Self> {
        // SAFETY: a fresh mapping chosen by the kernel (null hint) cannot
        // alias memory Rust knows about; it is only read through `bytes`,
        // which borrows `self`, and unmapped once, in drop.
        let addr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ,
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::POPULATE,
                fd,
                0,
            )
        }
        .map_err(|e| {
            SysError::new(
                format!("mmap of {len} bytes (read-only, populated)"),
                fd_name(fd),
                e,
            )
        })?;
        Ok(Self { addr, len })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `addr` maps `len` readable bytes for as long as `self`
        // lives. The file under a private mapping may still change (the
        // bytes are then whatever the kernel shows), which a size and
        // identity check of the copy's caller covers, as for read(2).
        unsafe { std::slice::from_raw_parts(self.addr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `file`, unmapped exactly once; no
        // borrow of `bytes` outlives `self`.
        if let Err(e) = unsafe { rustix::mm::munmap(self.addr, self.len) } {
            tracing::warn!("munmap of {} bytes: {e}", self.len);
        }
    }
}

/// ftruncate(2): set `fd`'s size to `len`.
pub fn set_len(fd: BorrowedFd<'_>, len: u64) -> Result<()> {
    rfs::ftruncate(fd, len)
        .map_err(|e| SysError::new(format!("ftruncate to {len} bytes"), fd_name(fd), e))
}

/// prctl(PR_SET_NAME): the thread's name in /proc/<pid>/comm, `ps` and
/// `pkill` (the kernel keeps 15 bytes).
pub fn set_comm(name: &CStr) -> Result<()> {
    rustix::thread::set_name(name)
        .map_err(|e| SysError::new("prctl(PR_SET_NAME)", name.to_string_lossy(), e))
}

/// One read(2) into `buf`, retried on EINTR; 0 is end of file.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(Errno::INTR) => continue,
            other => return other.map_err(|e| SysError::new("read", fd_name(fd), e)),
        }
    }
}

/// write(2) until all of `buf` is written, retrying on EINTR; a write that
/// makes no progress is reported as EIO.
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(0) => return Err(SysError::new("write (no progress)", fd_name(fd), Errno::IO)),
            Ok(n) => buf = &buf[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(SysError::new("write", fd_name(fd), e)),
        }
    }
    Ok(())
}

/// `fsopen(fs, FSOPEN_CLOEXEC)`: a filesystem context for `fs` (`overlay`,
/// `tmpfs`), the first step of the new mount API (Linux 5.2+).
pub fn fsopen(fs: &str) -> Result<OwnedFd> {
    rmount::fsopen(fs, FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| SysError::new("fsopen", fs, e))
}

/// `fsconfig(FSCONFIG_SET_STRING, key, value)`; the error names the key and
/// shows the value.
pub fn fsconfig_set_string(fs: BorrowedFd<'_>, key: &str, value: &OsStr) -> Result<()> {
    rmount::fsconfig_set_string(fs, key, value).map_err(|e| {
        SysError::new(
            format!("fsconfig(SET_STRING {key})"),
            value.to_string_lossy(),
            e,
        )
    })
}

/// `fsconfig(FSCONFIG_SET_FD, key, fd)`, e.g. an overlayfs `lowerdir+` layer
/// by fd; the error names the key and the fd.
pub fn fsconfig_set_fd(fs: BorrowedFd<'_>, key: &str, fd: BorrowedFd<'_>) -> Result<()> {
    rmount::fsconfig_set_fd(fs, key, fd)
        .map_err(|e| SysError::new(format!("fsconfig(SET_FD {key})"), fd_name(fd), e))
}

/// `fsconfig(FSCONFIG_CMD_CREATE)`: create the superblock from the options
/// set so far; this is where overlayfs rejects bad layers (ELOOP for
/// overlapping ones). `what` names the filesystem in the error.
pub fn fsconfig_create(fs: BorrowedFd<'_>, what: &str) -> Result<()> {
    rmount::fsconfig_create(fs).map_err(|e| SysError::new("fsconfig(CMD_CREATE)", what, e))
}

/// `fsmount(fs, FSMOUNT_CLOEXEC, attrs)`: a detached mount of the created
/// superblock, attached nowhere, so no namespace lists it and it goes away
/// with its last fd. `what` names it in the error.
pub fn fsmount(fs: BorrowedFd<'_>, attrs: MountAttrFlags, what: &str) -> Result<OwnedFd> {
    rmount::fsmount(fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .map_err(|e| SysError::new(format!("fsmount({attrs:?})"), what, e))
}

/// `mount_setattr(mnt, "", AT_EMPTY_PATH, {attr_set: set, attr_clr: clear})`
/// on the one mount `mnt` is the root of (not recursive; Linux 5.12+; works
/// on detached mounts, so a tree gets its flags before it is attached).
/// rustix has no wrapper, hence the raw call.
pub fn mount_setattr(
    mnt: BorrowedFd<'_>,
    set: MountAttrFlags,
    clear: MountAttrFlags,
    what: &str,
) -> Result<()> {
    mount_setattr_tree(mnt, set, clear, false, what)
}

/// [`mount_setattr`], on every mount of the tree `mnt` is the root of too
/// when `recursive` (`AT_RECURSIVE`).
pub fn mount_setattr_tree(
    mnt: BorrowedFd<'_>,
    set: MountAttrFlags,
    clear: MountAttrFlags,
    recursive: bool,
    what: &str,
) -> Result<()> {
    let flags = if recursive {
        libc::AT_EMPTY_PATH | libc::AT_RECURSIVE
    } else {
        libc::AT_EMPTY_PATH
    };
    let attr = libc::mount_attr {
        attr_set: u64::from(set.bits()),
        attr_clr: u64::from(clear.bits()),
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr reads `size_of::<mount_attr>()` bytes of `attr`,
    // which lives across the call; the path is a static C string and the
    // descriptor is borrowed, so it is open.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc < 0 {
        return Err(SysError::new(
            format!(
                "mount_setattr(set {set:?}, clear {clear:?}{})",
                if recursive { ", AT_RECURSIVE" } else { "" }
            ),
            format!("{what} ({})", fd_name(mnt)),
            Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
        ));
    }
    Ok(())
}

/// The inode flags (`FS_IOC_GETFLAGS`) of the file open at `fd`; needs a
/// real open (not O_PATH).
pub fn inode_flags(fd: BorrowedFd<'_>) -> Result<rfs::IFlags> {
    rfs::ioctl_getflags(fd).map_err(|e| SysError::new("ioctl(FS_IOC_GETFLAGS)", fd_name(fd), e))
}

/// Adds `flags` to the inode flags of the file open at `fd`
/// (`FS_IOC_SETFLAGS`; FS_IMMUTABLE_FL needs CAP_LINUX_IMMUTABLE).
pub fn add_inode_flags(fd: BorrowedFd<'_>, flags: rfs::IFlags) -> Result<()> {
    let now = inode_flags(fd)?;
    rfs::ioctl_setflags(fd, now | flags)
        .map_err(|e| SysError::new(format!("ioctl(FS_IOC_SETFLAGS, {flags:?})"), fd_name(fd), e))
}

/// Build a NUL-terminated pointer array over `items` (argv/envp layout).
fn c_array(items: &[CString]) -> Vec<*const libc::c_char> {
    items
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: run the file behind `fd`.
///
/// Executing by fd (not by path) is the point of the whole crate: the path of
/// the runtime's binary may be swapped or be writable, the fd names exactly the
/// sealed inode we built. Only returns on failure.
pub fn execveat(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> SysError {
    let argv_ptrs = c_array(argv);
    let envp_ptrs = c_array(envp);
    let empty: &CStr = c"";
    // SAFETY: both pointer arrays are NUL-terminated and point into `argv` /
    // `envp`, which outlive the call; the path is a valid empty C string. On
    // success the call does not return; on failure no memory was touched.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    debug_assert_eq!(rc, -1);
    SysError::new(
        "execveat(AT_EMPTY_PATH)",
        fd_name(fd),
        Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL),
    )
}

/// Is `fd` the same file as `other`? (device + inode)
pub fn same_inode(a: &rfs::Stat, b: &rfs::Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// The unique 64-bit id of the mount `fd` lives on (statx
/// `STATX_MNT_ID_UNIQUE`, Linux 6.8+), the key statmount(2) takes; `None`
/// where the kernel does not report it.
pub fn mount_id_unique(fd: BorrowedFd<'_>) -> Result<Option<u64>> {
    const STATX_MNT_ID_UNIQUE: u32 = 0x4000;
    let want = rfs::StatxFlags::from_bits_retain(STATX_MNT_ID_UNIQUE);
    let stx = rfs::statx(fd, "", rfs::AtFlags::EMPTY_PATH, want)
        .map_err(|e| SysError::new("statx(STATX_MNT_ID_UNIQUE)", fd_name(fd), e))?;
    Ok((stx.stx_mask & STATX_MNT_ID_UNIQUE != 0).then_some(stx.stx_mnt_id))
}

/// statmount(2) (Linux 6.8+): what the kernel knows of the one mount with
/// unique id `mnt_id`, as a `struct statmount` followed by its strings, into
/// `buf` (u64s for the struct's alignment).
pub fn statmount(mnt_id: u64, mask: u64, buf: &mut [u64]) -> Result<()> {
    /// `struct mnt_id_req`, first published size (MNT_ID_REQ_SIZE_VER0).
    #[repr(C)]
    struct MntIdReq {
        size: u32,
        spare: u32,
        mnt_id: u64,
        param: u64,
    }
    // Same number on every architecture (the unified table since 424).
    const SYS_STATMOUNT: libc::c_long = 457;
    let req = MntIdReq {
        size: std::mem::size_of::<MntIdReq>() as u32,
        spare: 0,
        mnt_id,
        param: mask,
    };
    // SAFETY: `req` lives across the call and has the kernel's layout; the
    // kernel writes at most `buf.len() * 8` bytes into `buf`, which we own.
    let rc = unsafe {
        libc::syscall(
            SYS_STATMOUNT,
            &req as *const MntIdReq,
            buf.as_mut_ptr(),
            std::mem::size_of_val(buf),
            0u32,
        )
    };
    if rc < 0 {
        return Err(SysError::new(
            format!("statmount(mask {mask:#x})"),
            format!("mount {mnt_id}"),
            Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO),
        ));
    }
    Ok(())
}

/// The mount id (as in /proc/self/mountinfo) of the mount `fd` lives on.
pub fn mount_id(fd: BorrowedFd<'_>) -> Result<u64> {
    let stx = rfs::statx(fd, "", rfs::AtFlags::EMPTY_PATH, rfs::StatxFlags::MNT_ID)
        .map_err(|e| SysError::new("statx(STATX_MNT_ID)", fd_name(fd), e))?;
    if stx.stx_mask & rfs::StatxFlags::MNT_ID.bits() != 0 {
        return Ok(stx.stx_mnt_id);
    }
    // Before Linux 5.8 statx has no mount id; fdinfo has had it since 3.15.
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    read_file(&path)?
        .lines()
        .find_map(|l| {
            l.strip_prefix("mnt_id:")
                .and_then(|v| v.trim().parse().ok())
        })
        .ok_or_else(|| SysError::new("parse mnt_id", path, Errno::INVAL))
}

/// The whole file at `path` as UTF-8 (for small procfs files such as
/// mountinfo and fdinfo); the error is `read` on that path.
pub fn read_file(path: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| SysError::new("read", path, Errno::from_io_error(&e).unwrap_or(Errno::IO)))
}

/// The result of [`fork`].
pub enum Forked {
    /// We are the new process.
    Child,
    /// We are the caller; this is the child's pid, to be reaped with
    /// [`wait_child`].
    Parent(rustix::process::Pid),
}

/// fork(2). The child may only use what was prepared before the call and
/// must leave through [`exit_child`]: if the caller has other threads, their
/// locks (malloc's included) are frozen in the child's copy.
pub fn fork() -> Result<Forked> {
    // SAFETY: fork has no memory-safety preconditions of its own; the
    // restrictions on what the child may do are documented above and kept by
    // the only caller (userns.rs).
    match unsafe { libc::fork() } {
        -1 => Err(SysError::new(
            "fork",
            "helper process",
            Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::AGAIN),
        )),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(
            rustix::process::Pid::from_raw(pid).expect("fork returned a positive pid"),
        )),
    }
}

/// Leave a forked child at once: no destructors, no atexit handlers, no
/// stdio flushing of buffers that belong to the parent.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust-managed state.
    unsafe { libc::_exit(code) }
}

/// `unshare(CLONE_NEWUSER | CLONE_NEWNS)`: move the calling process into a
/// new user namespace and a new mount namespace. Only for the single-threaded
/// forked helper: unshare(CLONE_NEWUSER) fails with EINVAL in a
/// multithreaded process.
pub fn unshare_user_and_mount_ns() -> Result<()> {
    use rustix::thread::UnshareFlags;
    // SAFETY: unshare_unsafe is only unsafe for CLONE_FILES (it would
    // invalidate fd ownership assumptions); we pass namespace flags only.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNS) }
        .map_err(|e| SysError::new("unshare(CLONE_NEWUSER|CLONE_NEWNS)", "helper process", e))
}

/// Open the existing file `path` write-only (no O_CREAT, no O_TRUNC) and
/// write all of `data`, as the one write procfs files like
/// `/proc/self/uid_map` require; errors name the path.
pub fn write_file(path: &str, data: &[u8]) -> Result<()> {
    let fd = open(path, OFlags::WRONLY, Mode::empty())?;
    write_all(fd.as_fd(), data).map_err(|e| SysError {
        target: path.to_string(),
        ..e
    })
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`: a connected pair that
/// keeps message boundaries, for [`send_with_fd`] / [`recv_with_fd`].
pub fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| SysError::new("socketpair(AF_UNIX, SOCK_SEQPACKET)", "helper channel", e))
}

/// Send `data` and, optionally, one fd (SCM_RIGHTS) as one packet.
pub fn send_with_fd(sock: BorrowedFd<'_>, data: &[u8], fd: Option<BorrowedFd<'_>>) -> Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use std::mem::MaybeUninit;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    rustix::net::sendmsg(
        sock,
        &[std::io::IoSlice::new(data)],
        &mut control,
        SendFlags::empty(),
    )
    .map(drop)
    .map_err(|e| SysError::new("sendmsg", fd_name(sock), e))
}

/// Receive one packet: its bytes and the fd it carried, if any.
pub fn recv_with_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>)> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::mem::MaybeUninit;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(
            sock,
            &mut [std::io::IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(Errno::INTR) => continue,
            other => break other.map_err(|e| SysError::new("recvmsg", fd_name(sock), e))?,
        }
    };
    let mut fd = None;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            for f in fds {
                fd.get_or_insert(f);
            }
        }
    }
    Ok((msg.bytes, fd))
}

/// `waitpid(pid, 0)`, retried on EINTR, to reap a child of ours. Its exit
/// status is not checked: callers learn the outcome from what it sent.
pub fn wait_child(pid: rustix::process::Pid) -> Result<()> {
    loop {
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
            Err(Errno::INTR) => continue,
            other => {
                return other.map(drop).map_err(|e| {
                    SysError::new("waitpid", format!("pid {}", pid.as_raw_nonzero()), e)
                })
            }
        }
    }
}

/// Run `f` with this thread pinned to the CPU it is on, then restore the
/// affinity (which execve would otherwise pass on).
///
/// Why: sealing a memfd with F_SEAL_WRITE (which F_SEAL_EXEC implies for an
/// executable file) waits for extra page references to go away and gives up
/// with EBUSY. Pages just written sit in a per-CPU LRU batch holding such a
/// reference; the kernel drains only the sealing CPU's batch, so a thread
/// that migrated between copying and sealing fails now and then (seen here:
/// once in ~750 runs). On one CPU the drain covers every page of that batch;
/// copy.rs still asks again on EBUSY for the rarer references left over.
pub fn on_one_cpu<T>(f: impl FnOnce() -> T) -> T {
    use rustix::thread::{sched_getaffinity, sched_getcpu, sched_setaffinity, CpuSet};
    let Ok(saved) = sched_getaffinity(None) else {
        return f();
    };
    let mut one = CpuSet::new();
    one.set(sched_getcpu());
    let pinned = sched_setaffinity(None, &one).is_ok();
    let out = f();
    if pinned {
        // Best effort: failing to widen again only costs parallelism.
        let _ = sched_setaffinity(None, &saved);
    }
    out
}
