//! What sealrun checks in a spec before anything is built, where
//! libcontainer 0.7.0 would fail late, without naming the cause, or not at
//! all.
//!
//! ## sysctl
//!
//! libcontainer 0.7.0 writes every key through an unmasked procfs in the
//! container's init. A key that is not namespaced (`kernel.core_pattern`,
//! `vm.*`) would then change the host for everyone; runc refuses it, and so
//! does sealrun. A key the kernel does not have failed deep in the init as
//! "open subpath in procfs failed", naming neither key nor errno.
//!
//! ## seccomp notify
//!
//! See `exec_seccomp::check_profile`: a notify rule on write(2), and an
//! agent socket that does not exist, are refused in runc's words (libcontainer
//! says "failed seccomp listener" once the init is half built).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Spec};

/// The IPC namespace's sysctls outside `fs.mqueue.` (ipc/ipc_sysctl.c).
const IPC_KEYS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Everything below, for the spec of the bundle at `bundle`.
pub fn check(spec: &Spec, bundle: &Path) -> Result<()> {
    sysctls(spec)?;
    if let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        crate::exec_seccomp::check_profile(profile)?;
    }
    bind_mount_types(spec, bundle)
}

/// Refuses sysctls that are not in a namespace the container has of its
/// own, and keys this kernel does not have.
fn sysctls(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    let Some(sysctl) = linux.sysctl().as_ref() else {
        return Ok(());
    };
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    let own = |typ: LinuxNamespaceType| {
        namespaces.iter().any(|ns| {
            ns.typ() == typ
                && match ns.path() {
                    None => true,
                    // Joining the namespace sealrun itself is in is not one
                    // of the container's own.
                    Some(path) => !same_namespace(path, typ),
                }
        })
    };
    let mut keys: Vec<&String> = sysctl.keys().collect();
    keys.sort();
    for key in keys {
        if key.is_empty() || key.contains('/') || key.split('.').any(str::is_empty) {
            bail!("sysctl {key:?} is not a valid key");
        }
        let (typ, name) = if IPC_KEYS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            (LinuxNamespaceType::Ipc, "ipc")
        } else if key.starts_with("net.") {
            (LinuxNamespaceType::Network, "network")
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            (LinuxNamespaceType::Uts, "uts")
        } else {
            bail!("sysctl {key:?} is not in a separate kernel namespace");
        };
        if !own(typ) {
            bail!("sysctl {key:?} is not allowed in the host's {name} namespace");
        }
        // Per-interface keys exist only once the interface does, in the
        // container's network namespace; every other key exists here too.
        if !key.contains(".conf.") && !key.contains(".neigh.") {
            let path = proc_sys_path(key);
            if !path.exists() {
                bail!(
                    "sysctl {key:?}: {} does not exist on this kernel (ENOENT)",
                    path.display()
                );
            }
        }
    }
    Ok(())
}

/// A bind mount of a file onto a directory of the rootfs (or the reverse)
/// fails in the kernel: libcontainer reported "failed to prepare rootfs"
/// with EINVAL; runc names the mount and says "not a directory". Checked
/// where both ends can be looked at without following the rootfs's
/// symlinks out of it (the destination is resolved inside the rootfs with
/// RESOLVE_IN_ROOT); anything else is left to the kernel.
fn bind_mount_types(spec: &Spec, bundle: &Path) -> Result<()> {
    let Some(root) = spec.root().as_ref() else {
        return Ok(());
    };
    let rootfs = bundle.join(root.path());
    let Ok(rootfs_fd) = rustix::fs::open(
        &rootfs,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return Ok(());
    };
    for mount in spec.mounts().as_deref().unwrap_or_default() {
        let is_bind = mount.typ().as_deref() == Some("bind")
            || mount
                .options()
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|o| o == "bind" || o == "rbind");
        let Some(source) = mount.source().as_ref().filter(|_| is_bind) else {
            continue;
        };
        let source = if source.is_absolute() {
            source.clone()
        } else {
            bundle.join(source)
        };
        let Ok(source_meta) = std::fs::metadata(&source) else {
            continue;
        };
        let dest = mount.destination();
        let Ok(dest_fd) = rustix::fs::openat2(
            &rootfs_fd,
            dest,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
            rustix::fs::ResolveFlags::IN_ROOT | rustix::fs::ResolveFlags::NO_MAGICLINKS,
        ) else {
            continue;
        };
        let Ok(dest_stat) = rustix::fs::fstat(&dest_fd) else {
            continue;
        };
        let dest_is_dir = rustix::fs::FileType::from_raw_mode(dest_stat.st_mode).is_dir();
        if source_meta.is_dir() != dest_is_dir {
            let (what, onto) = if dest_is_dir {
                ("file", "directory")
            } else {
                ("directory", "file")
            };
            bail!(
                "error mounting {} to rootfs at {}: cannot bind a {what} onto a {onto}: {} ({})",
                source.display(),
                dest.display(),
                if dest_is_dir {
                    "not a directory"
                } else {
                    "is a directory"
                },
                if dest_is_dir { "ENOTDIR" } else { "EISDIR" },
            );
        }
    }
    Ok(())
}

fn proc_sys_path(key: &str) -> PathBuf {
    Path::new("/proc/sys").join(key.replace('.', "/"))
}

/// Whether the namespace file `path` is sealrun's own namespace of `typ`.
fn same_namespace(path: &Path, typ: LinuxNamespaceType) -> bool {
    use std::os::unix::fs::MetadataExt;
    let own = match typ {
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        _ => return false,
    };
    match (
        std::fs::metadata(path),
        std::fs::metadata(format!("/proc/self/ns/{own}")),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(sysctl: serde_json::Value, namespaces: &[&str]) -> Spec {
        let ns: Vec<_> = namespaces.iter().map(|t| json!({"type": t})).collect();
        serde_json::from_value(json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": {"sysctl": sysctl, "namespaces": ns},
        }))
        .unwrap()
    }

    #[test]
    fn namespaced_keys_pass_and_others_are_refused_by_name() {
        let ok = spec(
            json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "10"}),
            &["network", "ipc"],
        );
        sysctls(&ok).unwrap();
        let err = sysctls(&spec(json!({"kernel.core_pattern": "|/x"}), &["network"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sysctl \"kernel.core_pattern\" is not in a separate kernel namespace"
        );
        let err = sysctls(&spec(json!({"net.ipv4.ip_forward": "1"}), &["ipc"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sysctl \"net.ipv4.ip_forward\" is not allowed in the host's network namespace"
        );
        let err = sysctls(&spec(json!({"net.ipv4.no_such_knob": "1"}), &["network"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sysctl \"net.ipv4.no_such_knob\": /proc/sys/net/ipv4/no_such_knob does not exist on this kernel (ENOENT)"
        );
        assert!(sysctls(&spec(json!({"net/../x": "1"}), &["network"])).is_err());
    }
}
