//! Zero-copy sealing without privilege: build the lower-only overlay in a
//! throwaway user + mount namespace and pass the sealed handle back.
//!
//! An unprivileged caller cannot fsopen("overlay") in the initial user
//! namespace (EPERM), so runc makes it pay for a full memfd copy (its Go code
//! leaves this as a TODO: forking in Go is awkward). Since Linux 5.11
//! overlayfs can be mounted inside a user namespace. A forked helper unshares
//! a user namespace (mapping our uid to 0) and a mount namespace, builds the
//! same detached overlay as the privileged strategy there, opens the binary
//! O_PATH and sends that fd back over a socketpair (SCM_RIGHTS). The caller,
//! still unprivileged in the initial namespace, can execveat it; writes
//! through it give EROFS. The helper runs no code but ours, shares no thread,
//! and is reaped before we return; its namespaces die with it, and the
//! detached mount lives exactly as long as the fd.
//!
//! The helper is a plain fork(): call this (via `ensure_sealed`) before the
//! program starts threads. glibc's fork handler keeps malloc usable in the
//! child, which builds a few strings.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

use crate::overlay::{self, LayerMode, Target};
use crate::sys::{self, Forked};
use crate::Failure;

/// Why user namespaces are unavailable, if the host says so up front.
fn userns_forbidden() -> Option<String> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some("user namespaces are disabled (user.max_user_namespaces=0)".into());
    }
    // Debian/Ubuntu kernels' knob for unprivileged user namespaces.
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0")
        && !rustix::process::geteuid().is_root()
    {
        return Some(
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)".into(),
        );
    }
    None
}

pub(crate) fn seal(target: &Target<'_>, modes: &[LayerMode]) -> Result<OwnedFd, Failure> {
    if let Some(why) = userns_forbidden() {
        return Err(Failure::Unsuitable(why));
    }
    let uid_map = format!("0 {} 1\n", rustix::process::geteuid().as_raw());
    let gid_map = format!("0 {} 1\n", rustix::process::getegid().as_raw());
    let (ours, theirs) = sys::seqpacket_pair()?;
    match sys::fork()? {
        Forked::Child => {
            drop(ours);
            let reply = helper(target, modes, &uid_map, &gid_map);
            let sent = match &reply {
                Ok(fd) => sys::send_with_fd(theirs.as_fd(), b"ok", Some(fd.as_fd())),
                Err(e) => sys::send_with_fd(theirs.as_fd(), format!("err:{e}").as_bytes(), None),
            };
            sys::exit_child(if sent.is_ok() && reply.is_ok() { 0 } else { 1 })
        }
        Forked::Parent(pid) => {
            drop(theirs);
            let mut buf = [0u8; 4096];
            let received = sys::recv_with_fd(ours.as_fd(), &mut buf);
            // Reap the helper whatever it said: no process may outlive us.
            let reaped = sys::wait_child(pid);
            let (n, fd) = received?;
            reaped?;
            match (&buf[..n], fd) {
                (b"ok", Some(fd)) => Ok(fd),
                (msg, _) if msg.starts_with(b"err:") => Err(Failure::Unsuitable(format!(
                    "in a user namespace: {}",
                    String::from_utf8_lossy(&msg[4..])
                ))),
                (msg, _) => Err(Failure::Unsuitable(format!(
                    "user namespace helper gave no handle ({} bytes: {:?})",
                    n,
                    String::from_utf8_lossy(msg)
                ))),
            }
        }
    }
}

/// Runs in the forked helper: become root of a fresh user namespace, then
/// build the overlay exactly as the privileged strategy does.
fn helper(
    target: &Target<'_>,
    modes: &[LayerMode],
    uid_map: &str,
    gid_map: &str,
) -> Result<OwnedFd, Failure> {
    sys::unshare_user_and_mount_ns()?;
    // setgroups must be denied before an unprivileged process may write its
    // gid_map (Linux 3.19, CVE-2014-8989).
    sys::write_file("/proc/self/setgroups", b"deny")?;
    sys::write_file("/proc/self/uid_map", uid_map.as_bytes())?;
    sys::write_file("/proc/self/gid_map", gid_map.as_bytes())?;
    // overlayfs clones each layer's mount and insists that it belongs to our
    // (new) mount namespace; the fd we inherited points into the old one
    // ("failed to clone lowerpath", EINVAL). Look the directory up again here
    // and make sure it is still the very same directory.
    let dir = sys::open(
        target.dir_path,
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
    )?;
    if !sys::same_inode(&sys::fstat(dir.as_fd())?, &sys::fstat(target.dir_fd)?) {
        return Err(Failure::Unsuitable(format!(
            "{} changed while sealing",
            target.dir_path.display()
        )));
    }
    let here = Target {
        dir_fd: dir.as_fd(),
        ..*target
    };
    overlay::seal(&here, modes).map(|(fd, _)| fd)
}
