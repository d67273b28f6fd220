//! The few raw system calls sealrun makes itself. Every `unsafe` block of the
//! crate lives here, each with the invariant it relies on.

// `#[path]`: tests/dmz_exec.rs includes this file from another directory.
#[path = "sys/entry.rs"]
pub mod entry;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use rustix::mount::MountAttrFlags;

/// Duplicates `fd` onto the lowest free descriptor number `>= min`, with
/// O_CLOEXEC set on the copy (`fcntl(F_DUPFD_CLOEXEC)`).
pub fn dup_cloexec_at_least(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only reads the integer arguments; `fd` is live
    // for the duration of the borrow.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success fcntl returned a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Whether `fd` has FD_CLOEXEC set.
pub fn is_cloexec(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: F_GETFD only reads the descriptor flags of a live descriptor.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags & libc::FD_CLOEXEC != 0)
}

/// `prctl(PR_SET_DUMPABLE, 0)`: makes /proc/<pid>/exe (and ptrace) of this
/// process and its children reachable only with CAP_SYS_PTRACE.
pub fn set_non_dumpable() -> io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes plain integers and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one file descriptor sent with SCM_RIGHTS on the connected unix
/// socket `sock` (as libcontainer sends a pty master); the payload is ignored.
/// The received descriptor is O_CLOEXEC.
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};

    let mut payload = [0u8; 4096];
    let mut iov = [io::IoSliceMut::new(&mut payload)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<UnixAddr>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut received = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            received.extend(fds);
        }
    }
    // SAFETY: the kernel installed these descriptors in our table for this
    // message; nothing else knows about them, so each is owned exactly once.
    let mut owned: Vec<OwnedFd> = received
        .into_iter()
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    if owned.len() != 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("expected one file descriptor, received {}", owned.len()),
        ));
    }
    Ok(owned.remove(0))
}

/// Sets the window size of terminal `fd` (TIOCSWINSZ).
pub fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from `size`, which outlives the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(call_err(
            format_args!("ioctl(fd {}, TIOCSWINSZ, {rows}x{cols})", fd.as_raw_fd()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Copies the window size of terminal `from` to terminal `to`
/// (TIOCGWINSZ + TIOCSWINSZ).
pub fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: an all-zero winsize is a valid value of this plain C struct.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which outlives the call.
    if unsafe { libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut size) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: TIOCSWINSZ reads one winsize from `size`.
    if unsafe { libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An error from a mount-API or namespace call, naming the call, its
/// arguments and the errno.
fn op_err(call: String, err: rustix::io::Errno) -> io::Error {
    io::Error::new(io::Error::from(err).kind(), format!("{call}: {err}"))
}

/// `err` (from a libc call: `io::Error::last_os_error()`) as `call: err`,
/// of its kind.
fn call_err(call: impl std::fmt::Display, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{call}: {err}"))
}

/// `unshare(CLONE_FS)` then `setns(mntns, CLONE_NEWNS)` for the calling
/// thread only. setns into a mount namespace refuses a thread whose
/// fs_struct (root, cwd) is shared with other threads, so the thread gets
/// its own first; both die with the thread. setns sets the thread's root and
/// cwd to the namespace's root, so every path the thread resolves afterwards
/// is resolved inside that namespace's root, `..` included.
pub fn enter_mount_namespace(mntns: BorrowedFd<'_>, what: &str) -> io::Result<()> {
    // SAFETY: CLONE_FS only gives this thread its own root/cwd/umask; no
    // descriptor table is unshared, so no other thread's fds are affected.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }
        .map_err(|e| op_err("unshare(CLONE_FS)".into(), e))?;
    rustix::thread::move_into_link_name_space(mntns, Some(rustix::thread::LinkNameSpaceType::Mount))
        .map_err(|e| op_err(format!("setns({what}, CLONE_NEWNS)"), e))
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)`: a
/// detached copy of the mount at `path` (a bind mount not yet attached).
pub fn clone_tree(path: &Path) -> io::Result<OwnedFd> {
    clone_tree_of(path, false)
}

/// [`clone_tree`], with every mount below `path` too when `recursive`
/// (`AT_RECURSIVE`: an rbind).
pub fn clone_tree_of(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    use rustix::mount::OpenTreeFlags;
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    let mut named = "OPEN_TREE_CLONE";
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
        named = "OPEN_TREE_CLONE|AT_RECURSIVE";
    }
    rustix::mount::open_tree(rustix::fs::CWD, path, flags)
        .map_err(|e| op_err(format!("open_tree({}, {named})", path.display()), e))
}

/// Moves the calling thread into a new mount namespace, a copy of its
/// current one in which every mount is a slave of the one it copies: mounts
/// made there never propagate back, while the host's still propagate in.
/// Only this thread moves (CLONE_NEWNS implies CLONE_FS); its root and cwd
/// stay where they were.
pub fn own_mount_namespace() -> io::Result<()> {
    // SAFETY: CLONE_NEWNS (with the CLONE_FS it implies) only changes this
    // thread's filesystem context; no descriptor table or memory is shared
    // differently afterwards.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
        .map_err(|e| op_err("unshare(CLONE_NEWNS)".into(), e))?;
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::DOWNSTREAM
            | rustix::mount::MountPropagationFlags::REC,
    )
    .map_err(|e| op_err("mount(/, MS_REC|MS_SLAVE)".into(), e))
}

/// The calling thread's id (`gettid`).
pub fn thread_id() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

/// Mount attributes for [`set_mount_attrs`]: what to set and what to clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountAttrs {
    set: MountAttrFlags,
    clear: MountAttrFlags,
}

impl MountAttrs {
    /// nosuid, nodev, noexec, and read-only or not.
    pub fn confined(readonly: bool) -> Self {
        let base = MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC;
        if readonly {
            Self {
                set: base | MountAttrFlags::MOUNT_ATTR_RDONLY,
                clear: MountAttrFlags::empty(),
            }
        } else {
            Self {
                set: base,
                clear: MountAttrFlags::MOUNT_ATTR_RDONLY,
            }
        }
    }

    /// Read-only, nothing else changed.
    pub fn readonly() -> Self {
        Self {
            set: MountAttrFlags::MOUNT_ATTR_RDONLY,
            clear: MountAttrFlags::empty(),
        }
    }
}

/// The attributes on the one mount `fd` refers to (exeseal's
/// `mount_setattr`: not recursive, detached mounts too), with exeseal's
/// error (call, flags, `what`, errno) as an io::Error.
pub fn set_mount_attrs(fd: BorrowedFd<'_>, attrs: MountAttrs, what: &str) -> io::Result<()> {
    exeseal::sys::mount_setattr(fd, attrs.set, attrs.clear, what).map_err(from_exeseal)
}

/// exeseal's error (call, arguments, errno) as an io::Error of its kind.
fn from_exeseal(e: exeseal::sys::SysError) -> io::Error {
    io::Error::new(io::Error::from(e.errno).kind(), e.to_string())
}

/// Sets `set` on the mount `fd` is the root of, and on every mount below
/// it when `recursive`; clears nothing.
pub fn restrict_mount_tree(
    fd: BorrowedFd<'_>,
    set: MountAttrFlags,
    recursive: bool,
    what: &str,
) -> io::Result<()> {
    exeseal::sys::mount_setattr_tree(fd, set, MountAttrFlags::empty(), recursive, what)
        .map_err(from_exeseal)
}

/// `open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)`.
pub fn open_dir_path(path: &Path) -> io::Result<OwnedFd> {
    use rustix::fs::OFlags;
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| {
        op_err(
            format!("open({}, O_PATH|O_DIRECTORY|O_NOFOLLOW)", path.display()),
            e,
        )
    })
}

/// `open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)`, symlinks (and /proc's
/// magic links) followed.
pub fn open_dir_following(path: &Path) -> io::Result<OwnedFd> {
    use rustix::fs::OFlags;
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| op_err(format!("open({}, O_PATH|O_DIRECTORY)", path.display()), e))
}

/// A new detached tmpfs (root directory `mode`, octal; nosuid, nodev,
/// noexec), writable.
pub fn new_tmpfs(mode: &str) -> io::Result<OwnedFd> {
    use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};
    let fs = rustix::mount::fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| op_err("fsopen(tmpfs)".into(), e))?;
    rustix::mount::fsconfig_set_string(&fs, "mode", mode)
        .map_err(|e| op_err(format!("fsconfig(tmpfs, mode={mode})"), e))?;
    rustix::mount::fsconfig_create(&fs).map_err(|e| op_err("fsconfig(tmpfs, CREATE)".into(), e))?;
    rustix::mount::fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )
    .map_err(|e| op_err("fsmount(tmpfs)".into(), e))
}

/// `move_mount(tree, "", dir, name, MOVE_MOUNT_F_EMPTY_PATH)`: attaches the
/// detached mount `tree` at `name` below the directory `dir` (`path` only
/// names it in errors).
pub fn attach(
    tree: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &str,
    path: &Path,
) -> io::Result<()> {
    rustix::mount::move_mount(
        tree,
        "",
        dir,
        name,
        rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| op_err(format!("move_mount(onto {})", path.display()), e))
}

/// An empty directory (`dir`) or file named `name` below directory `parent`
/// to attach a mount onto (`path` only names it in errors).
pub fn make_mountpoint(
    parent: BorrowedFd<'_>,
    name: &str,
    dir: bool,
    path: &Path,
) -> io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    if dir {
        rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
            .map_err(|e| op_err(format!("mkdir({}, 0700)", path.display()), e))
    } else {
        rustix::fs::openat(
            parent,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map(drop)
        .map_err(|e| {
            op_err(
                format!("open({}, O_CREAT|O_EXCL|O_WRONLY, 0600)", path.display()),
                e,
            )
        })
    }
}

/// `umount2(path, MNT_DETACH)`.
pub fn detach_mount(path: &Path) -> io::Result<()> {
    rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH)
        .map_err(|e| op_err(format!("umount2({}, MNT_DETACH)", path.display()), e))
}

/// One eBPF instruction (`struct bpf_insn`): opcode, destination and source
/// registers (4 bits each, destination low), offset, immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// `bpf(BPF_PROG_LOAD)` of a `BPF_PROG_TYPE_CGROUP_DEVICE` program. On a
/// verifier refusal the error carries the verifier's log.
pub fn load_cgroup_device_program(insns: &[BpfInsn]) -> io::Result<OwnedFd> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    const BPF_CGROUP_DEVICE: u32 = 6;
    // The leading fields of `union bpf_attr` for BPF_PROG_LOAD (Linux 4.15+
    // layout). The kernel accepts a shorter attr than its own and treats the
    // missing tail as zero.
    #[repr(C)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }
    let mut log = vec![0u8; 64 * 1024];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"sealrun_devs");
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        insns: insns.as_ptr() as u64,
        license: c"Apache".as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
    };
    let load = |attr: &ProgLoad| {
        // SAFETY: the kernel reads `size_of::<ProgLoad>()` bytes of `attr`;
        // the instruction array, license string and log buffer it points to
        // outlive the call (the log buffer is written at most `log_size`).
        unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_LOAD,
                attr as *const ProgLoad,
                std::mem::size_of::<ProgLoad>() as u32,
            )
        }
    };
    let mut fd = load(&attr);
    if fd < 0 {
        let err = io::Error::last_os_error();
        // Loaded again with the verifier's log only to explain a refusal:
        // logging costs time on every successful load.
        attr.log_level = 1;
        attr.log_size = log.len() as u32;
        attr.log_buf = log.as_mut_ptr() as u64;
        fd = load(&attr);
        if fd < 0 {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let verifier = String::from_utf8_lossy(&log[..end]);
            let verifier = verifier.trim().lines().last().unwrap_or("").to_owned();
            return Err(io::Error::new(
                err.kind(),
                format!(
                    "bpf(BPF_PROG_LOAD, cgroup device program of {} instructions): {err}{}",
                    insns.len(),
                    if verifier.is_empty() {
                        String::new()
                    } else {
                        format!(" (verifier: {verifier})")
                    }
                ),
            ));
        }
    }
    // SAFETY: on success BPF_PROG_LOAD returned a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `bpf(BPF_PROG_ATTACH, {cgroup, program, BPF_CGROUP_DEVICE,
/// BPF_F_ALLOW_MULTI})`: every process in the cgroup `cgroup` (a directory
/// descriptor on cgroup2) and below has its device accesses checked by
/// `program`, as well as by any program attached above (ALLOW_MULTI: all
/// must allow). The cgroup holds its own reference to the program.
pub fn attach_cgroup_device_program(
    cgroup: BorrowedFd<'_>,
    program: BorrowedFd<'_>,
    what: &str,
) -> io::Result<()> {
    const BPF_PROG_ATTACH: libc::c_long = 8;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;
    #[repr(C)]
    struct ProgAttach {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
    }
    let attr = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    // SAFETY: the kernel reads `size_of::<ProgAttach>()` bytes of `attr`,
    // which lives across the call; both descriptors are borrowed, live.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttach,
            std::mem::size_of::<ProgAttach>() as u32,
        )
    };
    if rc < 0 {
        return Err(call_err(
            format_args!("bpf(BPF_PROG_ATTACH, {what}, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)"),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Closes libpathrs' cached procfs handle so that no process this one
/// clones inherits it, and leaves libpathrs making a fresh handle per use.
///
/// Why: libcontainer resolves /proc paths through libpathrs, which keeps
/// one detached `subset=pid` procfs of the *calling process's* pid
/// namespace open for the life of the process (`ProcfsHandleBuilder::build`,
/// a static `OnceLock<OwnedFd>`). Created in sealrun before the container's
/// init is cloned, it is the host's procfs, and the init holds it from
/// `create` until its exec at `start`: a host handle inside a created
/// container. libpathrs treats a cached descriptor that no longer validates
/// (closed, as runc's fd cleanup does) as poisoned and then creates, uses
/// and closes a new handle on every call. So: make it cache, close the
/// cached descriptor, and ask once more so that it records the poisoning
/// while the number is still free. Only when the cache is verified to be
/// in use (two requests, one descriptor) is anything closed.
pub fn drop_cached_procfs_handle() -> io::Result<()> {
    use pathrs::procfs::ProcfsHandle;
    use std::os::fd::AsFd as _;
    let handle = |what: &str| {
        ProcfsHandle::new()
            .map_err(|e| io::Error::other(format!("libpathrs procfs handle ({what}): {e}")))
    };
    let (first, second) = (handle("first")?, handle("second")?);
    let cached = first.as_fd().as_raw_fd();
    if second.as_fd().as_raw_fd() != cached {
        // Not cached (no fsopen here): each handle is owned and closed on drop.
        return Ok(());
    }
    drop((first, second)); // borrowed views of the cached descriptor
                           // `cached` is libpathrs' cached descriptor: both handles above borrowed
                           // it, and its owner, a static OwnedFd, is never dropped. Nothing else
                           // runs on this process's threads between this close and the next
                           // request, which finds it invalid and poisons the cache for good.
    close_static_fd(cached);
    let (third, fourth) = (handle("after close")?, handle("after close, again")?);
    if third.as_fd().as_raw_fd() == fourth.as_fd().as_raw_fd() {
        return Err(io::Error::other(format!(
            "libpathrs still caches a procfs handle (fd {}) after its cached fd {cached} was closed",
            third.as_fd().as_raw_fd()
        )));
    }
    Ok(())
}

/// Closes descriptor `fd`, which a static `OwnedFd` (never dropped) owns,
/// so that a process cloned from ours does not keep it. The caller makes
/// sure the static's owner never uses the number again.
pub fn close_static_fd(fd: RawFd) {
    // SAFETY: the owning OwnedFd lives in a static, which Rust never drops,
    // so this is the only close of `fd`; its owner stops using the number
    // (the callers' contract). An error (EBADF) leaves nothing to undo.
    unsafe { libc::close(fd) };
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: adds `program` (classic BPF)
/// to the calling thread's filters. Needs no_new_privs or CAP_SYS_ADMIN.
pub fn load_seccomp_filter(program: &[libc::sock_filter], flags: libc::c_ulong) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "seccomp filter of {} instructions (at most 65535)",
                program.len()
            ),
        )
    })?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `program`, alive for the call; the kernel
    // copies the instructions and never writes through the pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(call_err(
            format_args!("seccomp(SECCOMP_SET_MODE_FILTER, {flags:#x}) of {len} instructions"),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// For tests of seccomp filters: in a forked child with no_new_privs, runs
/// `load`, then syscall `nr` with junk arguments; returns the errno it gave
/// (0 on success; 200 when `load` failed).
#[cfg(test)]
pub fn errno_in_child_after(load: impl FnOnce() -> Result<(), String>, nr: libc::c_long) -> i32 {
    // SAFETY: the child makes only prctl, the filter load and one raw
    // syscall, then leaves with _exit (no destructors, no unwinding).
    match unsafe { libc::fork() } {
        0 => {
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            let code = match load() {
                Err(_) => 200,
                // SAFETY: a syscall whose arguments are plain integers.
                Ok(()) => match unsafe { libc::syscall(nr, 0xdead_beef_usize, 0, 0) } {
                    r if r < 0 => io::Error::last_os_error().raw_os_error().unwrap_or(201),
                    _ => 0,
                },
            };
            // SAFETY: ends the forked child at once.
            unsafe { libc::_exit(code) }
        }
        -1 => panic!("fork: {}", io::Error::last_os_error()),
        pid => {
            let mut status = 0;
            // SAFETY: waits for the child forked above.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            libc::WEXITSTATUS(status)
        }
    }
}

/// Makes stdin, stdout and stderr that are /dev/null writable again.
/// libcontainer 0.7.0 (`reopen_dev_null`) points every standard fd that was
/// the host's /dev/null at the container's, opened read-only, so the
/// container's first write to stdout or stderr failed with EBADF
/// (`sealrun run ... >/dev/null`); runc opens it read-write. Runs in the
/// container process, after libcontainer's reopen: the container's
/// /dev/null, checked to be the null device (1:3) like libcontainer checks.
pub fn reopen_dev_null_rdwr() -> io::Result<()> {
    use rustix::fs::{FileType, Mode, OFlags, Stat};
    let is_null_device = |stat: &Stat| {
        FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice
            && stat.st_rdev == rustix::fs::makedev(1, 3)
    };
    let mut null: Option<OwnedFd> = None;
    for fd in 0..3 {
        // SAFETY: fds 0-2 stay open for the process's life; only borrowed.
        let std_fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let (Ok(stat), Ok(flags)) = (rustix::fs::fstat(std_fd), rustix::fs::fcntl_getfl(std_fd))
        else {
            continue;
        };
        if (flags & OFlags::RWMODE) != OFlags::RDONLY || !is_null_device(&stat) {
            continue;
        }
        if null.is_none() {
            let opened =
                rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|e| op_err("open(/dev/null, O_RDWR)".into(), e))?;
            let stat =
                rustix::fs::fstat(&opened).map_err(|e| op_err("fstat(/dev/null)".into(), e))?;
            if !is_null_device(&stat) {
                return Err(io::Error::other(
                    "/dev/null in the container is not the null device",
                ));
            }
            null = Some(opened);
        }
        if let Some(null) = &null {
            // SAFETY: dup2 onto a standard fd this process owns.
            if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
                return Err(call_err(
                    format_args!("dup2(/dev/null, {fd})"),
                    io::Error::last_os_error(),
                ));
            }
        }
    }
    Ok(())
}

/// Leaves every supplementary group (`setgroups(0, NULL)`; glibc applies
/// it to every thread). Without CAP_SETGID (a rootless caller) there is
/// nothing to drop that a container could not be given anyway, as runc
/// skips it there too: EPERM is not an error.
pub fn drop_supplementary_groups() -> io::Result<()> {
    // SAFETY: a zero-length list; the pointer is not read.
    if unsafe { libc::setgroups(0, std::ptr::null()) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EPERM) {
        return Ok(());
    }
    Err(call_err("setgroups(0, [])", err))
}

/// The signals the calling thread ignores, as a mask (bit `n - 1` for
/// signal `n`), from `SigIgn` of /proc/thread-self/status: five syscalls
/// where asking rt_sigaction(2) for each signal takes 62. Without procfs,
/// asked signal by signal.
pub fn ignored_signals() -> u64 {
    let from_proc = std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|status| {
            let hex = status
                .lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))?
                .trim()
                .to_owned();
            u64::from_str_radix(&hex, 16).ok()
        });
    from_proc.unwrap_or_else(ignored_signals_asked)
}

/// [`ignored_signals`], asking rt_sigaction(2) about each signal.
fn ignored_signals_asked() -> u64 {
    (1..=64)
        .filter(|&sig| rt_sigaction(sig, None).ok() == Some(libc::SIG_IGN))
        .fold(0, |mask, sig| mask | 1 << (sig - 1))
}

/// Raw rt_sigaction(2): installs `handler` for signal `sig` (no flags,
/// empty mask) when given, and returns the handler it had. glibc's wrapper
/// refuses its own two signals (32 and 33, which it uses internally) with
/// EINVAL, and those may be ignored too.
fn rt_sigaction(sig: i32, handler: Option<usize>) -> io::Result<usize> {
    // The kernel's struct sigaction begins with the handler on every
    // architecture; 4 words cover its size (handler, flags, restorer, mask).
    let new = handler.map(|h| [h, 0, 0, 0]);
    let mut old = [0usize; 4];
    // SAFETY: `new` (when given) and `old` are large enough for the
    // kernel's struct and live for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            new.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
            old.as_mut_ptr(),
            std::mem::size_of::<u64>(),
        )
    };
    if rc != 0 {
        let err = io::Error::last_os_error();
        let action = match handler {
            None => "NULL",
            Some(libc::SIG_DFL) => "SIG_DFL",
            Some(libc::SIG_IGN) => "SIG_IGN",
            Some(_) => "a handler",
        };
        return Err(call_err(format_args!("rt_sigaction({sig}, {action})"), err));
    }
    Ok(old[0])
}

/// Gives the signals in `ignored` (a mask from [`ignored_signals`]) their
/// default action back. An ignored signal stays ignored across execve, so
/// the container's processes would start with whatever sealrun ignored:
/// SIGPIPE (Rust's runtime ignores it) and whatever the caller of sealrun
/// ignored. runc's come out of a Go runtime that has a handler on almost
/// every signal, and start with none ignored (`yes | head -1` ends `yes` by
/// SIGPIPE). The mask is taken in sealrun's main process, whose
/// dispositions the init and exec'd processes inherit, so the container's
/// own /proc is never asked.
pub fn default_signals(ignored: u64) -> io::Result<()> {
    for sig in 1..=64 {
        if ignored & (1 << (sig - 1)) == 0 || sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        rt_sigaction(sig, Some(libc::SIG_DFL))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signal 40 (a real-time signal nothing here uses) ignored: the mask
    /// from procfs shows it as asking rt_sigaction does, and resetting
    /// gives it its default action.
    #[test]
    fn ignored_signals_are_read_and_reset() {
        const SIG: i32 = 40;
        rt_sigaction(SIG, Some(libc::SIG_IGN)).unwrap();
        let mask = ignored_signals();
        assert_ne!(mask & 1 << (SIG - 1), 0, "{mask:#x}");
        // Rust's runtime ignores SIGPIPE.
        assert_ne!(mask & 1 << (libc::SIGPIPE - 1), 0, "{mask:#x}");
        assert_eq!(mask, ignored_signals_asked());
        default_signals(1 << (SIG - 1)).unwrap();
        assert_eq!(rt_sigaction(SIG, None).unwrap(), libc::SIG_DFL);
        assert_eq!(rt_sigaction(libc::SIGPIPE, None).unwrap(), libc::SIG_IGN);
    }
}
