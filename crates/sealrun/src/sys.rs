//! The few raw system calls sealrun makes itself. Every `unsafe` block of the
//! crate lives here, each with the invariant it relies on.

// `#[path]`: tests/dmz_exec.rs includes this file from another directory.
#[path = "sys/entry.rs"]
pub mod entry;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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
