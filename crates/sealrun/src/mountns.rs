//! Work done inside a created container's mount namespace, from outside.
//!
//! Between `create` and `start` the container's init waits and no code of
//! the container has run: sealrun corrects there what libcontainer 0.7.0
//! mounts differently from the spec (see `cgroupfs`, and `finish_mounts`
//! below). The work runs on a thread of its own that has entered the
//! namespace: its root is then the container's root, so no path it
//! resolves can leave the container, and the rest of sealrun stays in the
//! host's namespace.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};
use libcontainer::oci_spec::runtime::{Mount, Spec};

use crate::sys::{self, MountAttrs};

/// Runs `work` on a thread inside the mount namespace of process `pid`.
pub fn run_in<T: Send>(pid: i32, work: impl FnOnce() -> std::io::Result<T> + Send) -> Result<T> {
    let path = format!("/proc/{pid}/ns/mnt");
    let mntns: OwnedFd = std::fs::File::open(&path)
        .with_context(|| format!("failed to open {path}"))?
        .into();
    let result = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                sys::enter_mount_namespace(mntns.as_fd(), &path)?;
                work()
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("mount namespace thread panicked")))
    })?;
    Ok(result)
}

/// Whether a spec mount's options make it read-only (the last of `ro` and
/// `rw` wins, as in mount(8)).
pub fn readonly(mount: &Mount) -> bool {
    mount
        .options()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .rev()
        .find(|o| *o == "ro" || *o == "rw")
        .is_some_and(|o| o == "ro")
}

/// What runc does last to the root filesystem and libcontainer does not:
/// a `/dev` tmpfs whose options say `ro` is made read-only once its device
/// nodes exist (libcontainer's `Mount::setup_mount` drops `ro` for /dev so
/// that it can create them, and never puts it back).
pub fn finish_mounts(pid: i32, spec: &Spec) -> Result<()> {
    let dev_ro = spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && readonly(m));
    if !dev_ro {
        return Ok(());
    }
    run_in(pid, || {
        let dev = sys::open_dir_path(Path::new("/dev"))?;
        sys::set_mount_attrs(dev.as_fd(), MountAttrs::readonly(), "/dev")
    })
    .context("failed to make /dev read-only")
}
