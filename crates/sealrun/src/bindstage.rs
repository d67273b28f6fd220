//! Bind mounts of a user-namespace container whose source the container's
//! root cannot reach: a source below a directory only the host's root may
//! search (runc's `userns with 2 inaccessible mounts`).
//!
//! runc opens every bind source before its init joins the user namespace
//! and mounts from the descriptor. libcontainer 0.7.0
//! (`rootfs::mount::Mount::mount_into_container`) canonicalises and opens
//! the source path in the init, as the container's root (an unprivileged
//! host uid), and fails with EACCES. A `/proc/self/fd/N` source would not
//! help: canonicalisation resolves it back to the path.
//!
//! So such a mount is bound from a path the container's root can reach,
//! `/run/sealrun-stage/<n>`, that only exists in a mount namespace of
//! sealrun's own:
//! - `prepare` points the mount there ([`Plan::rewrite`]);
//! - right before libcontainer forks, sealrun's main thread moves into a
//!   new mount namespace (every mount a slave of the host's: nothing made
//!   in it propagates back), mounts a fresh tmpfs (mode 0711, root's) on
//!   `/run/sealrun-stage` there and attaches a clone of each source at its
//!   `<n>` ([`Plan::stage`]). The clone is taken as the host's root, so
//!   the 0700 directory is no obstacle, and carries the source's own
//!   permissions plus the restrictions the mount asks for (ro, nosuid,
//!   nodev, noexec): a recursive bind of `/` or `/run` in the container
//!   copies the staging mounts too, and must find each source there no
//!   less restricted than at its destination;
//! - the init's mount namespace is copied from that one: it binds from the
//!   staging path, and the staging mounts go with the old root at
//!   pivot_root;
//! - once libcontainer has built the container, the main thread returns to
//!   the namespace, root and working directory it came from
//!   ([`Stage::leave`]); the staging namespace then has no process left
//!   and goes away with its mounts.
//!
//! On the host nothing but the empty directory `/run/sealrun-stage` (root's,
//! 0711, made once) is ever seen: no per-container directory, nothing a
//! killed create could leave, no name two creates could share.
//!
//! Hooks that libcontainer runs from sealrun's process while it builds the
//! container (prestart, createRuntime) would start in the staging
//! namespace, where a mount they make for the host (a network namespace
//! bound under /run/netns, say) would be lost. `prepare` wraps them to
//! enter the host's first (`hooks::wrap_in_task_context`). The way back
//! is a thread of sealrun's that never leaves the original namespace
//! ([`Holder`]): its `/proc/<pid>/task/<tid>` (namespace, root, cwd). A
//! descriptor would do too, but every descriptor of sealrun's is copied
//! into the container's init when libcontainer forks it, and a created
//! container holds no host handle. Opening another process's namespace
//! needs ptrace access, and libcontainer makes sealrun's process
//! non-dumpable: the hooks need CAP_SYS_PTRACE, which root has (the error
//! says so where it lacks it). Hooks that read the prepared config.json
//! see the staging paths and the wrapped hooks.
//!
//! Only where it is needed and can work: sealrun run by root, a container
//! with a user namespace and a new mount namespace, pivot_root used
//! (without it the staging mounts would stay below the container's root),
//! sources that exist (else libcontainer's error names them as before) and
//! that the container's root is not sure to reach (every directory the
//! lookup searches, symlinks followed as the kernel follows them; a
//! directory with a POSIX ACL counts as unsure, and is staged).

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use rustix::mount::MountAttrFlags;
use serde_json::Value;

use crate::sys;

/// Where staged sources appear, in sealrun's own mount namespace only.
pub const STAGE_DIR: &str = "/run/sealrun-stage";
const STAGE_PARENT: &str = "/run";
const STAGE_NAME: &str = "sealrun-stage";

/// One bind mount to stage: its source as given (relative ones joined to
/// the bundle) and how to clone it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bind {
    /// Index in the config's `mounts`.
    index: usize,
    source: PathBuf,
    recursive: bool,
    dir: bool,
    /// The restrictions the mount asks for (ro, nosuid, nodev, noexec),
    /// set on the clone itself: a recursive bind of `/` or `/run` in the
    /// container copies the staging mounts too, and must not find the
    /// source there with fewer restrictions than at its destination.
    restrict: MountAttrFlags,
}

/// What to stage for one container, and the way back to the host's mount
/// namespace.
pub struct Plan {
    binds: Vec<Bind>,
    holder: Holder,
}

/// The host ids the container's root maps to; `u32::MAX` where the config
/// does not say (a joined user namespace), which matches no owner.
fn root_ids(linux: &Value) -> (u32, u32) {
    let host_of_root = |key: &str| {
        linux
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|m| {
                let container = m.get("containerID")?.as_u64()?;
                let size = m.get("size")?.as_u64()?;
                let host = m.get("hostID")?.as_u64()?;
                (container == 0 && size > 0).then(|| u32::try_from(host).unwrap_or(u32::MAX))
            })
            .unwrap_or(u32::MAX)
    };
    (host_of_root("uidMappings"), host_of_root("gidMappings"))
}

/// Whether the config asks for namespace `kind`, and a new one (no path).
fn new_namespace(linux: &Value, kind: &str) -> Option<bool> {
    linux
        .get("namespaces")?
        .as_array()?
        .iter()
        .find(|n| n.get("type").and_then(Value::as_str) == Some(kind))
        .map(|n| {
            n.get("path")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
}

/// Whether a process with host `uid` and primary `gid` (and supplementary
/// groups sealrun cannot know) may surely search directory `dir`. When it
/// is not the owner, group and other bits must both allow it, as either
/// class may be the one that applies: staging a mount it could have
/// reached costs nothing, missing one fails the container.
fn surely_searchable(meta: &std::fs::Metadata, uid: u32, gid: u32) -> bool {
    let mode = meta.mode();
    if meta.uid() == uid {
        mode & 0o100 != 0
    } else if meta.gid() == gid {
        mode & 0o010 != 0
    } else {
        mode & 0o011 == 0o011
    }
}

/// Every directory a lookup of `path` searches, symlinks followed as the
/// kernel follows them (a link's target is walked from `/` or from the
/// directory holding the link), the last component looked up but not
/// searched. `None` when the walk cannot finish (a component missing, a
/// loop): libcontainer's own lookup then reports what it finds.
fn searched_dirs(path: &Path) -> Option<Vec<PathBuf>> {
    use std::path::Component;
    let mut todo: Vec<std::ffi::OsString> = Vec::new();
    let push_front = |todo: &mut Vec<std::ffi::OsString>, p: &Path| {
        for c in p.components().rev() {
            todo.push(c.as_os_str().to_owned());
        }
    };
    push_front(&mut todo, path);
    let mut at = PathBuf::from("/");
    let mut searched = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match Path::new(&part).components().next() {
            Some(Component::RootDir) => at = PathBuf::from("/"),
            Some(Component::CurDir) | None => {}
            Some(Component::ParentDir) => {
                searched.push(at.clone());
                at.pop();
            }
            Some(Component::Normal(name)) => {
                let last = todo.is_empty();
                searched.push(at.clone());
                let next = at.join(name);
                let meta = std::fs::symlink_metadata(&next).ok()?;
                if meta.file_type().is_symlink() {
                    links += 1;
                    if links > 40 {
                        return None;
                    }
                    let target = std::fs::read_link(&next).ok()?;
                    push_front(&mut todo, &target);
                } else if !last && !meta.is_dir() {
                    return None;
                } else {
                    at = next;
                }
            }
            Some(Component::Prefix(_)) => return None,
        }
    }
    Some(searched)
}

/// Whether the container's root surely reaches `source`: it may search
/// every directory a lookup of it searches. Unsure counts as not (a walk
/// that cannot finish, a directory with a POSIX ACL, whose named entries
/// may deny what the mode allows): staging a mount it could have reached
/// costs nothing.
fn reachable(source: &Path, uid: u32, gid: u32) -> bool {
    searched_dirs(source).is_some_and(|dirs| {
        dirs.iter().all(|dir| {
            std::fs::metadata(dir).is_ok_and(|m| surely_searchable(&m, uid, gid)) && !has_acl(dir)
        })
    })
}

/// Whether `dir` carries an access ACL (`system.posix_acl_access`).
fn has_acl(dir: &Path) -> bool {
    rustix::fs::getxattr_query(dir, "system.posix_acl_access").is_ok_and(|len| len > 0)
}

/// libcontainer's `is_bind`: type `bind`, or a `bind`/`rbind` option.
fn bind_options(mount: &Value) -> Option<bool> {
    let options: Vec<&str> = mount
        .get("options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let recursive = options.contains(&"rbind");
    let bind = recursive
        || options.contains(&"bind")
        || mount.get("type").and_then(Value::as_str) == Some("bind");
    bind.then_some(recursive)
}

/// The restrictions a mount's options ask for (the last of `ro`/`rw`,
/// `nosuid`/`suid`, ... wins, as in mount(8)).
fn restrictions(mount: &Value) -> MountAttrFlags {
    let mut set = MountAttrFlags::empty();
    let options = mount.get("options").and_then(Value::as_array);
    for option in options.into_iter().flatten().filter_map(Value::as_str) {
        let (flag, on) = match option {
            "ro" | "rro" => (MountAttrFlags::MOUNT_ATTR_RDONLY, true),
            "rw" | "rrw" => (MountAttrFlags::MOUNT_ATTR_RDONLY, false),
            "nosuid" | "rnosuid" => (MountAttrFlags::MOUNT_ATTR_NOSUID, true),
            "suid" | "rsuid" => (MountAttrFlags::MOUNT_ATTR_NOSUID, false),
            "nodev" | "rnodev" => (MountAttrFlags::MOUNT_ATTR_NODEV, true),
            "dev" | "rdev" => (MountAttrFlags::MOUNT_ATTR_NODEV, false),
            "noexec" | "rnoexec" => (MountAttrFlags::MOUNT_ATTR_NOEXEC, true),
            "exec" | "rexec" => (MountAttrFlags::MOUNT_ATTR_NOEXEC, false),
            _ => continue,
        };
        set.set(flag, on);
    }
    set
}

/// The bind mounts of `config` (the bundle's, at `bundle`) that need
/// staging, or `None` when none does or staging cannot work (see the
/// module docs).
pub fn plan(config: &Value, bundle: &Path, no_pivot: bool) -> Result<Option<Plan>> {
    let Some(linux) = config.get("linux") else {
        return Ok(None);
    };
    // Staging needs the host's root (a mount namespace, mounts, /run);
    // an unprivileged caller's binds stay libcontainer's, as before.
    let applies = !no_pivot
        && rustix::process::geteuid().is_root()
        && new_namespace(linux, "user").is_some()
        && new_namespace(linux, "mount") == Some(true);
    if !applies {
        return Ok(None);
    }
    let (uid, gid) = root_ids(linux);
    let mut binds = Vec::new();
    let mounts = config.get("mounts").and_then(Value::as_array);
    for (index, mount) in mounts.into_iter().flatten().enumerate() {
        let (Some(recursive), Some(source)) = (
            bind_options(mount),
            mount.get("source").and_then(Value::as_str),
        ) else {
            continue;
        };
        let source = bundle.join(source);
        let Ok(meta) = std::fs::metadata(&source) else {
            continue;
        };
        if reachable(&source, uid, gid) {
            continue;
        }
        binds.push(Bind {
            index,
            source,
            recursive,
            dir: meta.is_dir(),
            restrict: restrictions(mount),
        });
    }
    if binds.is_empty() {
        return Ok(None);
    }
    Ok(Some(Plan {
        binds,
        holder: Holder::spawn()?,
    }))
}

impl Plan {
    /// Points the staged mounts of `config` at their staging paths and
    /// wraps the hooks sealrun's process runs so that they run in the
    /// host's mount namespace.
    pub fn rewrite(&self, config: &mut Value) {
        for (n, bind) in self.binds.iter().enumerate() {
            if let Some(mount) = config.pointer_mut(&format!("/mounts/{}", bind.index)) {
                mount["source"] = Value::from(format!("{STAGE_DIR}/{n}"));
            }
        }
        crate::hooks::wrap_in_task_context(config, &self.holder.task());
    }

    /// `err` with each staging path named by the source it stands for:
    /// libcontainer's errors name the path it mounted from, which the user
    /// never wrote.
    pub fn name_sources(&self, err: anyhow::Error) -> anyhow::Error {
        let mut text = format!("{err:#}");
        if !text.contains(STAGE_DIR) {
            return err;
        }
        // Highest first: `<dir>/1` is a prefix of `<dir>/10`.
        for (n, bind) in self.binds.iter().enumerate().rev() {
            text = text.replace(&format!("{STAGE_DIR}/{n}"), &bind.source.to_string_lossy());
        }
        anyhow::Error::msg(text)
    }

    /// Moves sealrun's main thread into a mount namespace of its own with
    /// the sources staged (see the module docs); [`Stage::leave`] brings it
    /// back. Call right before libcontainer builds the container.
    pub fn stage(&self) -> Result<Stage<'_>> {
        ensure_stage_dir()?;
        // Before the unshare: whatever fails from here on, the drop takes
        // the thread back (harmless where it never left).
        let stage = Stage {
            plan: self,
            left: false,
        };
        sys::own_mount_namespace().context("failed to stage bind mounts")?;
        stage.mount()?;
        Ok(stage)
    }
}

/// The host directory the staging tmpfs covers in sealrun's namespace:
/// made once (root's, 0711), never removed, as another create may be
/// staging on it right now (removing it would detach their mounts).
fn ensure_stage_dir() -> Result<()> {
    match std::fs::DirBuilder::new().create(STAGE_DIR) {
        Ok(()) => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(STAGE_DIR, std::fs::Permissions::from_mode(0o711))
                .with_context(|| format!("failed to set the mode of {STAGE_DIR}"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("failed to create {STAGE_DIR}")),
    }
}

/// sealrun's main thread in its staging namespace, until [`Stage::leave`].
pub struct Stage<'a> {
    plan: &'a Plan,
    left: bool,
}

impl Stage<'_> {
    fn mount(&self) -> Result<()> {
        let what = "failed to stage bind mounts";
        let tmpfs = sys::new_tmpfs("711").context(what)?;
        let parent = sys::open_dir_path(Path::new(STAGE_PARENT)).context(what)?;
        sys::attach(
            tmpfs.as_fd(),
            parent.as_fd(),
            STAGE_NAME,
            Path::new(STAGE_DIR),
        )
        .context(what)?;
        let dir = sys::open_dir_path(Path::new(STAGE_DIR)).context(what)?;
        for (n, bind) in self.plan.binds.iter().enumerate() {
            let name = n.to_string();
            let at = Path::new(STAGE_DIR).join(&name);
            sys::make_mountpoint(dir.as_fd(), &name, bind.dir, &at).context(what)?;
            let source = || {
                format!(
                    "failed to stage bind mount source {}",
                    bind.source.display()
                )
            };
            let tree = sys::clone_tree_of(&bind.source, bind.recursive).with_context(source)?;
            if !bind.restrict.is_empty() {
                let what = bind.source.to_string_lossy();
                sys::restrict_mount_tree(tree.as_fd(), bind.restrict, bind.recursive, &what)
                    .with_context(source)?;
            }
            sys::attach(tree.as_fd(), dir.as_fd(), &name, &at).context(what)?;
        }
        Ok(())
    }

    /// Returns the main thread to the mount namespace it came from.
    pub fn leave(mut self) -> Result<()> {
        self.left = true;
        go_back(self.plan)
    }
}

impl Drop for Stage<'_> {
    fn drop(&mut self) {
        if !self.left {
            if let Err(err) = go_back(self.plan) {
                tracing::warn!("{err:#}");
            }
        }
    }
}

/// Back to the holder's namespace, root and working directory.
fn go_back(plan: &Plan) -> Result<()> {
    enter_task_context(&plan.holder.task())
        .context("failed to leave the namespace that staged bind mounts")
}

/// Enters the mount namespace of thread `task` (`/proc/<pid>/task/<tid>`)
/// and takes its root and working directory (setns resets both to the
/// namespace's root), through its /proc links: exact whatever the paths
/// are, and no descriptor held across the build. Opening them needs ptrace
/// access to sealrun's process, which libcontainer makes non-dumpable: root
/// with CAP_SYS_PTRACE.
pub fn enter_task_context(task: &Path) -> Result<()> {
    let ns = task.join("ns/mnt");
    let mntns: std::os::fd::OwnedFd = std::fs::File::open(&ns)
        .with_context(|| format!("failed to open {} (needs CAP_SYS_PTRACE)", ns.display()))?
        .into();
    let cwd = sys::open_dir_following(&task.join("cwd"))?;
    let root = sys::open_dir_following(&task.join("root"))?;
    sys::enter_mount_namespace(mntns.as_fd(), &ns.to_string_lossy())?;
    rustix::process::fchdir(&root).context("failed to return to the root directory")?;
    rustix::process::chroot(".").context("failed to return to the root directory")?;
    rustix::process::fchdir(&cwd).context("failed to return to the working directory")?;
    Ok(())
}

/// A thread parked in the mount namespace sealrun started in, until
/// dropped.
///
/// libcontainer forks with a raw clone3, so no fork handler of glibc runs:
/// a lock another thread holds at that moment stays held in the child
/// forever. Once the holder has told its id it therefore only parks (a
/// futex wait on its own thread's state, no lock, no allocation).
struct Holder {
    tid: i32,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Holder {
    fn spawn() -> Result<Self> {
        let tid = Arc::new(AtomicI32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (told, stopped) = (Arc::clone(&tid), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("sealrun-hostns".into())
            .spawn(move || {
                told.store(sys::thread_id(), Ordering::Release);
                while !stopped.load(Ordering::Acquire) {
                    std::thread::park();
                }
            })
            .context("failed to start the thread that holds the host's mount namespace")?;
        let tid = loop {
            match tid.load(Ordering::Acquire) {
                0 if thread.is_finished() => {
                    anyhow::bail!("the thread that holds the host's mount namespace died")
                }
                0 => std::thread::yield_now(),
                tid => break tid,
            }
        };
        Ok(Self {
            tid,
            stop,
            thread: Some(thread),
        })
    }

    /// The thread's /proc directory: its mount namespace, root and cwd.
    fn task(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/task/{}", std::process::id(), self.tid))
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    }

    fn userns_config(mounts: Value) -> Value {
        json!({
            "linux": {
                "namespaces": [{"type": "user"}, {"type": "mount"}],
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]
            },
            "hooks": {"createRuntime": [{"path": "/bin/true"}]},
            "mounts": mounts
        })
    }

    #[test]
    fn only_unreachable_binds_of_userns_containers_are_staged() {
        let dir = tempfile::tempdir().unwrap();
        mode(dir.path(), 0o755);
        let closed = dir.path().join("closed");
        std::fs::create_dir_all(closed.join("dir")).unwrap();
        std::fs::write(closed.join("file"), b"").unwrap();
        mode(&closed, 0o700);
        std::fs::create_dir_all(dir.path().join("open/dir")).unwrap();
        // Reachable only through a symlink into the closed directory.
        std::os::unix::fs::symlink(closed.join("dir"), dir.path().join("open/link")).unwrap();
        // An open directory, but the lookup passes a link inside the closed
        // one on the way (open/chain -> closed/hop -> ../open/dir).
        std::os::unix::fs::symlink(closed.join("hop"), dir.path().join("open/chain")).unwrap();
        std::os::unix::fs::symlink("../open/dir", closed.join("hop")).unwrap();
        let config = userns_config(json!([
            {"source": "closed/dir", "destination": "/a", "options": ["bind"]},
            {"source": "open/dir", "destination": "/b", "options": ["rbind"]},
            {"source": "closed/file", "destination": "/c", "options": ["rbind", "ro"]},
            {"source": "tmpfs", "destination": "/d", "type": "tmpfs"},
            {"source": "closed/missing", "destination": "/e", "options": ["bind"]},
            {"source": "open/link", "destination": "/f", "type": "bind"},
            {"source": "open/chain", "destination": "/g", "options": ["bind", "nosuid", "ro", "rw"]}
        ]));
        let plan = plan(&config, dir.path(), false).unwrap().unwrap();
        let bind = |index, source: PathBuf, recursive, dir, restrict| Bind {
            index,
            source,
            recursive,
            dir,
            restrict,
        };
        let none = MountAttrFlags::empty();
        assert_eq!(
            plan.binds,
            [
                bind(0, closed.join("dir"), false, true, none),
                bind(
                    2,
                    closed.join("file"),
                    true,
                    false,
                    MountAttrFlags::MOUNT_ATTR_RDONLY
                ),
                bind(5, dir.path().join("open/link"), false, true, none),
                bind(
                    6,
                    dir.path().join("open/chain"),
                    false,
                    true,
                    MountAttrFlags::MOUNT_ATTR_NOSUID
                ),
            ]
        );
        let mut rewritten = config.clone();
        plan.rewrite(&mut rewritten);
        assert_eq!(rewritten["mounts"][0]["source"], "/run/sealrun-stage/0");
        assert_eq!(rewritten["mounts"][1]["source"], "open/dir");
        assert_eq!(rewritten["mounts"][2]["source"], "/run/sealrun-stage/1");
        assert_eq!(rewritten["mounts"][5]["source"], "/run/sealrun-stage/2");
        let hook = &rewritten["hooks"]["createRuntime"][0]["args"];
        assert_eq!(hook[1], crate::hooks::HOST_NS_SUBCOMMAND);
        assert_eq!(hook[2], plan.holder.task().to_string_lossy().as_ref());

        // The holder stays in the namespace the test started in.
        let ns = |p: &Path| std::fs::read_link(p).unwrap();
        assert_eq!(
            ns(&plan.holder.task().join("ns/mnt")),
            ns(Path::new("/proc/self/ns/mnt"))
        );

        // No user namespace, a joined mount namespace, or no pivot_root: none.
        let mut no_userns = config.clone();
        no_userns["linux"]["namespaces"] = json!([{"type": "mount"}]);
        assert!(plan_of(&no_userns, dir.path(), false).is_none());
        let mut joined = config.clone();
        joined["linux"]["namespaces"][1]["path"] = json!("/proc/1/ns/mnt");
        assert!(plan_of(&joined, dir.path(), false).is_none());
        assert!(plan_of(&config, dir.path(), true).is_none());
    }

    fn plan_of(config: &Value, bundle: &Path, no_pivot: bool) -> Option<Vec<Bind>> {
        plan(config, bundle, no_pivot)
            .unwrap()
            .map(|p| p.binds.clone())
    }

    #[test]
    fn lookups_are_walked_as_the_kernel_walks_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("a/b/x"), b"").unwrap();
        std::os::unix::fs::symlink("../a/b", d.join("a/up")).unwrap();
        std::os::unix::fs::symlink(d.join("a"), d.join("abs")).unwrap();
        // abs -> /…/a (from the root again), up -> ../a/b, then x in b.
        let walked = searched_dirs(&d.join("abs/up/x")).unwrap();
        for searched in [Path::new("/"), &d, &d.join("a"), &d.join("a/b")] {
            assert!(
                walked.iter().any(|w| w == searched),
                "{searched:?} not in {walked:?}"
            );
        }
        for not in [d.join("abs"), d.join("a/up"), d.join("a/b/x")] {
            assert!(!walked.contains(&not), "{not:?} in {walked:?}");
        }
        assert!(searched_dirs(&d.join("missing/x")).is_none());
        assert!(searched_dirs(&d.join("a/b/x/y")).is_none());
        std::os::unix::fs::symlink("loop", d.join("loop")).unwrap();
        assert!(searched_dirs(&d.join("loop/x")).is_none());
    }

    /// A directory whose mode lets everyone search it, but whose ACL names
    /// the container's root (host uid 100000) with no permission: staged.
    #[test]
    fn an_acl_makes_a_directory_unsure() {
        let dir = tempfile::tempdir().unwrap();
        mode(dir.path(), 0o755);
        let acl_dir = dir.path().join("acl");
        std::fs::create_dir_all(acl_dir.join("dir")).unwrap();
        // struct posix_acl_xattr_header (version 2), then entries of
        // (tag u16, perm u16, id u32): USER_OBJ rwx, USER 100000 ---,
        // GROUP_OBJ r-x, MASK r-x, OTHER r-x.
        let mut acl = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (0x01u16, 7u16, u32::MAX),
            (0x02, 0, 100000),
            (0x04, 5, u32::MAX),
            (0x10, 5, u32::MAX),
            (0x20, 5, u32::MAX),
        ] {
            acl.extend(tag.to_le_bytes());
            acl.extend(perm.to_le_bytes());
            acl.extend(id.to_le_bytes());
        }
        let set = rustix::fs::setxattr(
            &acl_dir,
            "system.posix_acl_access",
            &acl,
            rustix::fs::XattrFlags::empty(),
        );
        if let Err(e) = set {
            eprintln!(
                "SKIPPED an_acl_makes_a_directory_unsure: no ACLs on {}: {e}",
                dir.path().display()
            );
            return;
        }
        assert!(has_acl(&acl_dir));
        assert!(!has_acl(dir.path()));
        assert!(!reachable(&acl_dir.join("dir"), 100000, 100000));
        assert!(reachable(&dir.path().join("acl"), 100000, 100000));
    }

    #[test]
    fn search_permission_is_judged_conservatively() {
        let dir = tempfile::tempdir().unwrap();
        let meta = |m: u32| {
            mode(dir.path(), m);
            std::fs::metadata(dir.path()).unwrap()
        };
        let (root, other) = (0, 4242);
        // Owner: only the owner bits count.
        assert!(surely_searchable(&meta(0o100), root, other));
        assert!(!surely_searchable(&meta(0o011), root, other));
        // Group (primary): the group bits.
        assert!(surely_searchable(&meta(0o010), other, root));
        // Anyone else: group and other both, as a supplementary group may match.
        assert!(surely_searchable(&meta(0o711 | 0o010), other, other));
        assert!(!surely_searchable(&meta(0o701), other, other));
        assert!(!surely_searchable(&meta(0o710), other, other));
    }
}
