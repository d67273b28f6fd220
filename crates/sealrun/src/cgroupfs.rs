//! The container's view of its cgroups, as the spec's `cgroup` mount says.
//!
//! ## Why sealrun rebuilds it
//!
//! libcontainer 0.7.0 (`rootfs/mount.rs`, `Mount::mount_cgroup_v1` and
//! `setup_emulated_subsystem`) gets this wrong on cgroup v1 in three ways
//! that each let a container undo its own limits or reach the host:
//! - every controller is bind-mounted `rw`, whatever the mount's options
//!   say, and the tmpfs above them drops `ro`: a container started with
//!   `--memory 16m` writes `memory.limit_in_bytes` and lifts its own limit;
//! - hierarchies it does not manage (`name=systemd`, `misc`, `rdma`) are
//!   bound at the *caller's* cgroup, usually the host's root, so the
//!   container can write the host hierarchy's `release_agent`
//!   (CVE-2022-0492 class) or move host processes;
//! - with a cgroup namespace it mounts each hierarchy fresh and writable.
//!
//! On cgroup v2 without a cgroup namespace it mounts a fresh cgroup2, which
//! shows every cgroup of the host, other containers' included.
//!
//! None of this can be changed from outside libcontainer before its init
//! mounts it, and the executor (sealrun's code inside the container) runs
//! only after capabilities are dropped. So once `create` has built the
//! container and its init waits for `start` (no code of the container has
//! run yet), sealrun replaces the mount from the outside, as runc lays it
//! out:
//! - v1: a tmpfs (nosuid, nodev, noexec) with one directory per host
//!   hierarchy, each a bind mount of *the container's own* cgroup there,
//!   and symlinks for co-mounted controllers (`cpu` → `cpu,cpuacct`);
//!   hierarchies libcgroups did not put the container in get an (empty)
//!   cgroup of their own at the same path (see `ensure_exists`);
//! - v2: a bind mount of the container's own cgroup;
//! - every mount nosuid, nodev, noexec, and read-only when the spec's
//!   options end in `ro` (the default of `runc spec`, docker, podman, CRI),
//!   the tmpfs too.
//!
//! The binds are cloned from the host (`open_tree`), given their flags while
//! still detached (`mount_setattr`) and only then attached, by a thread that
//! has entered the container's mount namespace: its root is then the
//! container's root, so no path it resolves can leave the container.

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcgroups::common::CgroupSetup;
use libcontainer::oci_spec::runtime::Spec;

use exeseal::mountinfo::MountEntry;

use crate::mountns;
use crate::sys::{self, MountAttrs};

/// Where libcgroups and runc look for cgroup hierarchies.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A `cgroup` mount of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    pub dest: PathBuf,
    pub readonly: bool,
}

/// The spec's mounts of type `cgroup` (runc treats only that type
/// specially; `cgroup2` typed mounts are ordinary filesystem mounts).
pub fn cgroup_mounts(spec: &Spec) -> Vec<CgroupMount> {
    spec.mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|m| m.typ().as_deref() == Some("cgroup"))
        .map(|m| CgroupMount {
            dest: m.destination().clone(),
            readonly: mountns::readonly(m),
        })
        .collect()
}

/// One hierarchy as the container should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    /// Directory name under the cgroup mount (the host mount point's name,
    /// e.g. `cpu,cpuacct` or `systemd`); empty on v2, where the bind is the
    /// mount itself.
    name: String,
    /// Symlinks to `name` for co-mounted controllers (`cpu`, `cpuacct`).
    aliases: Vec<String>,
    /// The container's cgroup directory on the host.
    host_dir: PathBuf,
}

/// The container's cgroup in every hierarchy of the host, read from its
/// init's /proc/<pid>/cgroup.
pub struct Plan {
    v2: bool,
    hierarchies: Vec<Hierarchy>,
}

/// Lays out the cgroups of the container whose init is `pid`.
pub fn plan(pid: i32) -> Result<Plan> {
    let setup =
        libcgroups::common::get_cgroup_setup().context("failed to tell the host's cgroup setup")?;
    let v2 = matches!(setup, CgroupSetup::Unified);
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .context("failed to read /proc/self/mountinfo")?;
    let cgroup_file = format!("/proc/{pid}/cgroup");
    let membership = fs::read_to_string(&cgroup_file)
        .with_context(|| format!("failed to read {cgroup_file}"))?;
    let hierarchies = layout(
        v2,
        &parse_mountinfo(&mountinfo),
        &parse_proc_cgroup(&membership),
    )
    .with_context(|| format!("cannot lay out the cgroups of process {pid}"))?;
    Ok(Plan { v2, hierarchies })
}

impl Plan {
    /// The container's cgroup directories on the host, one per hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.hierarchies
            .iter()
            .map(|h| h.host_dir.clone())
            .collect()
    }

    /// The container's cgroup directory on a pure cgroup v2 host.
    pub fn unified_dir(&self) -> Option<&Path> {
        match (self.v2, self.hierarchies.as_slice()) {
            (true, [h]) => Some(&h.host_dir),
            _ => None,
        }
    }

    /// Creates the container's cgroup in every hierarchy (those libcgroups
    /// does not manage too) and replaces libcontainer's cgroup mount(s) in
    /// the container's mount namespace.
    pub fn apply(&self, pid: i32, spec: &Spec) -> Result<()> {
        for h in &self.hierarchies {
            ensure_exists(&h.host_dir)?;
        }
        for mount in cgroup_mounts(spec) {
            replace_mount(pid, &mount, &self.hierarchies).with_context(|| {
                format!(
                    "failed to mount the container's cgroups at {}",
                    mount.dest.display()
                )
            })?;
            tracing::debug!(dest = %mount.dest.display(), readonly = mount.readonly, hierarchies = self.hierarchies.len(), "cgroup mount rebuilt");
        }
        self.apply_bfq_weight_devices(spec)?;
        self.apply_disable_oom_killer(spec)
    }

    /// `memory.disableOOMKiller`: libcontainer 0.7.0 hands libcgroups
    /// `disable_oom_killer: false` whatever the spec says
    /// (`container_intermediate_process`), so sealrun writes cgroup v1's
    /// `memory.oom_control` itself, as runc does. cgroup v2 has no such
    /// switch; runc ignores the field there, and so does sealrun.
    fn apply_disable_oom_killer(&self, spec: &Spec) -> Result<()> {
        let disable = resources(spec)
            .and_then(|r| r.memory().as_ref())
            .and_then(|m| m.disable_oom_killer())
            .unwrap_or(false);
        if !disable || self.v2 {
            return Ok(());
        }
        let file = self
            .hierarchies
            .iter()
            .map(|h| h.host_dir.join("memory.oom_control"))
            .find(|f| f.exists())
            .context("disableOOMKiller: the container has no cgroup v1 memory.oom_control")?;
        fs::write(&file, "1")
            .with_context(|| format!("failed to write 1 to {} (disableOOMKiller)", file.display()))
    }

    /// Per-device I/O weights for the BFQ scheduler. libcgroups 0.7.0
    /// writes `weightDevice` only to CFQ's `blkio.weight_device` (v1), which
    /// kernels since 5.0 no longer have; runc writes BFQ's file as well:
    /// `blkio.bfq.weight_device` (v1) or `io.bfq.weight` (v2),
    /// "major:minor weight" per device.
    fn apply_bfq_weight_devices(&self, spec: &Spec) -> Result<()> {
        let devices = resources(spec)
            .and_then(|r| r.block_io().as_ref())
            .and_then(|b| b.weight_device().as_ref());
        let Some(devices) = devices else {
            return Ok(());
        };
        let file = self.hierarchies.iter().find_map(|h| {
            [
                h.host_dir.join("blkio.bfq.weight_device"),
                h.host_dir.join("io.bfq.weight"),
            ]
            .into_iter()
            .find(|f| f.exists())
        });
        let Some(file) = file else {
            return Ok(());
        };
        for d in devices {
            if let Some(weight) = d.weight() {
                let line = format!("{}:{} {weight}", d.major(), d.minor());
                fs::write(&file, &line)
                    .with_context(|| format!("failed to write {line:?} to {}", file.display()))?;
            }
        }
        Ok(())
    }
}

/// The spec's `linux.resources`.
fn resources(spec: &Spec) -> Option<&libcontainer::oci_spec::runtime::LinuxResources> {
    spec.linux().as_ref().and_then(|l| l.resources().as_ref())
}

/// Makes sure the container's cgroup `dir` exists: in hierarchies
/// libcgroups does not manage (`name=systemd`, `misc`, ...) it does not yet.
///
/// The init is not moved into it (runc does): a cgroup v1 migration takes
/// the kernel's cgroup_threadgroup_rwsem for writing, whose RCU sync costs
/// 2-11 ms here (measured: `echo $pid > cgroup.procs`), on every create,
/// for hierarchies that set no limit. What isolation needs is that the
/// container sees its own, read-only directory there and never the host's
/// tree; its processes stay where libcontainer leaves them.
fn ensure_exists(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("failed to create cgroup {}", dir.display()))
}

/// Removes the container's cgroup directories and any cgroups below them
/// (deepest first). A cgroup that still has processes stays and is named.
pub fn remove(dirs: &[PathBuf]) -> Result<()> {
    let mut failed = Vec::new();
    for dir in dirs {
        if let Err(err) = remove_tree(dir) {
            failed.push(format!("{}: {err}", dir.display()));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("failed to remove cgroups: {}", failed.join("; "))
    }
}

/// Removes the cgroups below the container's own ones (the container's
/// sub-cgroups), leaving those.
pub fn remove_below(dirs: &[PathBuf]) -> Result<()> {
    let mut children = Vec::new();
    for dir in dirs {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("failed to list {}", dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("failed to list {}", dir.display()))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                children.push(entry.path());
            }
        }
    }
    remove(&children)
}

fn remove_tree(dir: &Path) -> std::io::Result<()> {
    // Most cgroups have no sub-cgroup: one rmdir(2) instead of listing the
    // directory first. cgroupfs answers EBUSY both for sub-cgroups and for
    // processes still leaving; both are handled below (ENOTEMPTY: a
    // directory of another filesystem, as in tests).
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {}
        Err(e) => return Err(e),
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    // A killed process leaves its cgroup a moment after delete saw it die.
    for _ in 0..50 {
        match fs::remove_dir(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => return other,
        }
    }
    fs::remove_dir(dir)
}

fn replace_mount(pid: i32, mount: &CgroupMount, hierarchies: &[Hierarchy]) -> Result<()> {
    let attrs = MountAttrs::confined(mount.readonly);
    // Cloned in our (the host's) namespace: open_tree only clones mounts of
    // the caller's own namespace.
    let trees = hierarchies
        .iter()
        .map(|h| {
            let tree = sys::clone_tree(&h.host_dir)?;
            sys::set_mount_attrs(tree.as_fd(), attrs, &h.host_dir.display().to_string())?;
            Ok((h, tree))
        })
        .collect::<std::io::Result<Vec<(&Hierarchy, OwnedFd)>>>()?;
    let dest = &mount.dest;
    mountns::run_in(pid, || {
        sys::detach_mount(dest)?;
        if let [(h, tree)] = &trees[..] {
            if h.name.is_empty() {
                return sys::attach(tree.as_fd(), rustix::fs::CWD, &path_str(dest)?, dest);
            }
        }
        let tmpfs = sys::new_tmpfs("755")?;
        sys::attach(tmpfs.as_fd(), rustix::fs::CWD, &path_str(dest)?, dest)?;
        let dir = sys::open_dir_path(dest)?;
        for (h, tree) in &trees {
            let at = dest.join(&h.name);
            rustix::fs::mkdirat(&dir, h.name.as_str(), rustix::fs::Mode::from(0o755)).map_err(
                |e| {
                    std::io::Error::new(
                        std::io::Error::from(e).kind(),
                        format!("mkdir({}): {e}", at.display()),
                    )
                },
            )?;
            sys::attach(tree.as_fd(), dir.as_fd(), &h.name, &at)?;
            for alias in &h.aliases {
                rustix::fs::symlinkat(h.name.as_str(), &dir, alias.as_str()).map_err(|e| {
                    std::io::Error::new(
                        std::io::Error::from(e).kind(),
                        format!("symlink({} -> {}): {e}", dest.join(alias).display(), h.name),
                    )
                })?;
            }
        }
        sys::set_mount_attrs(dir.as_fd(), attrs, &dest.display().to_string())
    })
}

fn path_str(path: &Path) -> std::io::Result<String> {
    path.to_str().map(str::to_owned).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("cgroup mount destination {} is not UTF-8", path.display()),
        )
    })
}

/// /proc/self/mountinfo's lines, parsed as exeseal parses them.
fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(MountEntry::parse).collect()
}

/// One line of /proc/<pid>/cgroup: hierarchy id, controllers, path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Membership {
    id: u32,
    controllers: Vec<String>,
    path: String,
}

fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let id = parts.next()?.parse().ok()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(Membership {
                id,
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path: path.to_owned(),
            })
        })
        .collect()
}

/// Controllers libcgroups' v1 manager puts a container into: the path of
/// the first of these is the container's own cgroup path.
const MANAGED: &[&str] = &[
    "devices", "memory", "pids", "cpu", "freezer", "cpuset", "blkio",
];

/// The host mount of a hierarchy `fits` describes; for one mounted several
/// times, the copy under /sys/fs/cgroup.
fn pick_mount<'m>(
    mounts: &'m [MountEntry],
    fits: &dyn Fn(&MountEntry) -> bool,
) -> Option<&'m MountEntry> {
    let all: Vec<&MountEntry> = mounts.iter().filter(|m| fits(m)).collect();
    all.iter()
        .find(|m| Path::new(&m.mount_point).starts_with(CGROUP_ROOT))
        .or(all.first())
        .copied()
}

/// Which of `dirs` (a container's cgroup directories, one per hierarchy)
/// lies in the cgroup v1 hierarchy of `controller` (`memory`, `cpu`,
/// `name=systemd`); none on cgroup v2.
pub fn controller_dir_among(dirs: &[PathBuf], controller: &str) -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mounts = parse_mountinfo(&mountinfo);
    let mount = pick_mount(&mounts, &|m| {
        m.fs_type == "cgroup" && m.super_options.split(',').any(|o| o == controller)
    })?;
    dirs.iter()
        .find(|d| d.starts_with(&mount.mount_point))
        .cloned()
}

/// Before a container is created in it: a cgroup that already exists and
/// is frozen would hold the container's init in the freezer (in D state,
/// forever) — refused, as runc does; one that already has processes is
/// shared with them — a warning.
pub fn check_existing(cgroups_path: &Path) -> Result<()> {
    let setup =
        libcgroups::common::get_cgroup_setup().context("failed to tell the host's cgroup setup")?;
    let v2 = matches!(setup, CgroupSetup::Unified);
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .context("failed to read /proc/self/mountinfo")?;
    let mounts = parse_mountinfo(&mountinfo);
    let relative = cgroups_path.to_string_lossy();
    let relative = relative.trim_start_matches('/');
    let (mount, freeze_file, frozen) = if v2 {
        (
            pick_mount(&mounts, &|m| m.fs_type == "cgroup2"),
            "cgroup.freeze",
            "1",
        )
    } else {
        (
            pick_mount(&mounts, &|m| {
                m.fs_type == "cgroup" && m.super_options.split(',').any(|o| o == "freezer")
            }),
            "freezer.state",
            "FROZEN",
        )
    };
    let Some(mount) = mount else {
        return Ok(());
    };
    let dir = Path::new(&mount.mount_point).join(relative);
    if fs::read_to_string(dir.join(freeze_file)).is_ok_and(|s| s.trim() == frozen) {
        bail!(
            "container's cgroup unexpectedly frozen: {} is {frozen}; thaw or remove it first",
            dir.join(freeze_file).display()
        );
    }
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    let n = procs.lines().filter(|l| !l.trim().is_empty()).count();
    if n > 0 {
        tracing::warn!(
            "container's cgroup is not empty: {n} process(es) in {} already",
            dir.display()
        );
    }
    Ok(())
}

/// The container's cgroup in every hierarchy the host mounts.
fn layout(v2: bool, mounts: &[MountEntry], membership: &[Membership]) -> Result<Vec<Hierarchy>> {
    let pick = |fits: &dyn Fn(&MountEntry) -> bool| pick_mount(mounts, fits);
    let host_dir = |mount: &MountEntry, path: &str| -> Result<PathBuf> {
        // When sealrun itself runs in a container, the host mount's root is
        // that container's cgroup and paths are relative to it.
        // Whole components: a mount root `/outer` does not contain `/outer2`.
        let relative = if mount.root == "/" {
            Path::new(path).strip_prefix("/").unwrap_or(Path::new(path))
        } else {
            Path::new(path).strip_prefix(&mount.root).with_context(|| {
                format!(
                    "cgroup {path} lies outside the mount of its hierarchy at {} (root {})",
                    mount.mount_point, mount.root
                )
            })?
        };
        let relative = relative.to_str().unwrap_or_default();
        let relative = relative.trim_start_matches('/');
        if relative.split('/').any(|c| c == "..") {
            bail!("cgroup path {path} has a '..' component");
        }
        Ok(Path::new(&mount.mount_point).join(relative))
    };

    if v2 {
        let own = membership
            .iter()
            .find(|m| m.id == 0)
            .context("no cgroup v2 line in the process's cgroup file")?;
        let mount = pick(&|m| m.fs_type == "cgroup2").context("no cgroup2 mount on the host")?;
        return Ok(vec![Hierarchy {
            name: String::new(),
            aliases: Vec::new(),
            host_dir: host_dir(mount, &own.path)?,
        }]);
    }

    let v1: Vec<&Membership> = membership.iter().filter(|m| m.id != 0).collect();
    let own_path = MANAGED
        .iter()
        .find_map(|c| v1.iter().find(|m| m.controllers.iter().any(|x| x == c)))
        .or(v1.first())
        .map(|m| m.path.clone())
        .context("no cgroup v1 line in the process's cgroup file")?;
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for m in v1 {
        let Some(mount) = pick(&|e| {
            e.fs_type == "cgroup"
                && m.controllers
                    .iter()
                    .all(|c| e.super_options.split(',').any(|o| o == c))
        }) else {
            // A hierarchy the host has not mounted: nothing to show.
            continue;
        };
        let Some(name) = Path::new(&mount.mount_point)
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
        else {
            continue;
        };
        if !names.insert(name.clone()) {
            continue;
        }
        let aliases = if m.controllers.len() > 1 {
            m.controllers
                .iter()
                .filter(|c| **c != name && !c.starts_with("name="))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        out.push(Hierarchy {
            name,
            aliases,
            host_dir: host_dir(mount, &own_path)?,
        });
    }
    if out.is_empty() {
        bail!("none of the process's cgroup v1 hierarchies is mounted on the host");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
35 24 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
36 24 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
37 24 0:31 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,xattr,name=systemd
38 24 0:32 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,devices
39 24 0:33 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:14 - cgroup2 cgroup2 rw
40 24 0:30 / /tmp/other\\040place rw,relatime - cgroup cgroup rw,memory
";

    const PROC_CGROUP: &str = "\
4:devices:/c1
3:name=systemd:/user.slice/session-1.scope
2:memory:/c1
1:cpu,cpuacct:/c1
0::/user.slice/session-1.scope
";

    #[test]
    fn v1_layout_binds_the_containers_own_cgroup_in_every_hierarchy() {
        let got = layout(
            false,
            &parse_mountinfo(MOUNTINFO),
            &parse_proc_cgroup(PROC_CGROUP),
        )
        .unwrap();
        let by_name: Vec<(&str, Vec<&str>, &Path)> = got
            .iter()
            .map(|h| {
                (
                    h.name.as_str(),
                    h.aliases.iter().map(String::as_str).collect(),
                    h.host_dir.as_path(),
                )
            })
            .collect();
        assert_eq!(
            by_name,
            vec![
                ("devices", vec![], Path::new("/sys/fs/cgroup/devices/c1")),
                // Not the caller's session scope: the container's own path.
                ("systemd", vec![], Path::new("/sys/fs/cgroup/systemd/c1")),
                // The copy under /sys/fs/cgroup, not /tmp/other place.
                ("memory", vec![], Path::new("/sys/fs/cgroup/memory/c1")),
                (
                    "cpu,cpuacct",
                    vec!["cpu", "cpuacct"],
                    Path::new("/sys/fs/cgroup/cpu,cpuacct/c1")
                ),
            ]
        );
    }

    #[test]
    fn v2_layout_is_one_bind_of_the_own_cgroup() {
        let mounts =
            parse_mountinfo("30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n");
        let got = layout(true, &mounts, &parse_proc_cgroup("0::/machine/c1\n")).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "");
        assert_eq!(got[0].host_dir, Path::new("/sys/fs/cgroup/machine/c1"));
    }

    #[test]
    fn paths_relative_to_a_mount_root_and_dotdot_refused() {
        let mounts = parse_mountinfo("30 24 0:26 /outer /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        let got = layout(true, &mounts, &parse_proc_cgroup("0::/outer/c1\n")).unwrap();
        assert_eq!(got[0].host_dir, Path::new("/sys/fs/cgroup/c1"));
        let err = layout(true, &mounts, &parse_proc_cgroup("0::/elsewhere\n")).unwrap_err();
        assert!(format!("{err:#}").contains("outside the mount"), "{err:#}");
        let err = layout(true, &mounts, &parse_proc_cgroup("0::/outer2/c1\n")).unwrap_err();
        assert!(format!("{err:#}").contains("outside the mount"), "{err:#}");
        let root = parse_mountinfo("30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        let err = layout(true, &root, &parse_proc_cgroup("0::/a/../../b\n")).unwrap_err();
        assert!(format!("{err:#}").contains(".."), "{err:#}");
    }

    #[test]
    fn mount_options_decide_read_only() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
                {"destination": "/cg2", "type": "cgroup", "source": "cgroup",
                 "options": ["ro", "rw"]},
                {"destination": "/cg3", "type": "cgroup2", "source": "cgroup"}
            ]
        }))
        .unwrap();
        assert_eq!(
            cgroup_mounts(&spec),
            vec![
                CgroupMount {
                    dest: "/sys/fs/cgroup".into(),
                    readonly: true
                },
                CgroupMount {
                    dest: "/cg2".into(),
                    readonly: false
                },
            ]
        );
    }
}
