//! Putting the memfd on top of the path, and taking it off again.
//!
//! A memfd cannot be bind-mounted itself: it lives on the kernel's internal
//! shm mount, outside every mount namespace, so both `mount(MS_BIND)` of
//! `/proc/self/fd/<memfd>` and `open_tree(memfd, OPEN_TREE_CLONE)` give
//! EINVAL. What can be mounted is the memfd's `/proc/self/fd/<n>` *magic
//! link* (opened O_PATH|O_NOFOLLOW): the mount's root is then the procfs
//! symlink `/<pid>/fd/<n>`, and every lookup of the path follows it to the
//! memfd, for as long as this process keeps fd `<n>` open. That is why the
//! daemon has to stay alive, why only processes allowed to follow another
//! process's fd links (ptrace access: in practice root) can use the path, and
//! why a dead daemon leaves a mount whose link resolves to nothing (ENOENT).

use std::os::fd::{AsFd, BorrowedFd};

use anyhow::{anyhow, bail, Result};

use crate::sys;
use crate::target::{Target, Top};

/// Which mount API attaches the magic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MountApi {
    /// open_tree + move_mount, falling back to mount(2) if they fail.
    Auto,
    /// open_tree(OPEN_TREE_CLONE) + move_mount (Linux 5.2+): fd to fd.
    New,
    /// mount(/proc/self/fd/<link>, /proc/self/fd/<target>, MS_BIND), as runc.
    Classic,
}

fn new_api(link: BorrowedFd<'_>, target: BorrowedFd<'_>, what: &str) -> Result<(), sys::SysError> {
    let tree = sys::open_tree_clone(link, "memfd magic link")?;
    sys::move_mount_fds(tree.as_fd(), target, what)
}

/// Bind-mount `memfd` over the file `file` (an O_PATH handle of the very
/// file that was copied); returns the API that worked.
pub fn attach(
    memfd: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    api: MountApi,
    what: &str,
) -> Result<&'static str> {
    let link = sys::open_magic_link(memfd, "memfd")?;
    let link = link.as_fd();
    match api {
        MountApi::New => new_api(link, file, what)
            .map(|()| "open_tree+move_mount")
            .map_err(Into::into),
        MountApi::Classic => sys::mount_bind_fds(link, file, what)
            .map(|()| "mount(MS_BIND)")
            .map_err(Into::into),
        MountApi::Auto => match new_api(link, file, what) {
            Ok(()) => Ok("open_tree+move_mount"),
            Err(new_err) => {
                tracing::debug!(error = %new_err, "new mount API failed, trying mount(2)");
                sys::mount_bind_fds(link, file, what)
                    .map(|()| "mount(MS_BIND)")
                    .map_err(|e| anyhow!("{e} (and before that {new_err})"))
            }
        },
    }
}

/// After [`attach`]: the top mount on the path must be a live magic-link
/// mount of *our* memfd fd. Returns its mount id.
pub fn verify_ours(target: &Target, memfd: BorrowedFd<'_>) -> Result<u64> {
    use std::os::fd::AsRawFd;
    let want = (sys::getpid(), memfd.as_raw_fd() as u32);
    match target.inspect()? {
        Top::Bind(b) if b.is_live() && b.owner == Some(want) => Ok(b.mnt_id),
        Top::Bind(b) => {
            // Something with our shape but not our fd: do not touch it.
            bail!(
                "{}: after mounting, the top mount is {} (expected /proc/{}/fd/{})",
                target.display(),
                b.describe(),
                want.0,
                want.1
            )
        }
        Top::Plain { .. } | Top::Foreign(_) => bail!(
            "{}: the bind mount did not appear on the path",
            target.display()
        ),
    }
}

/// Unmount our mount `mnt_id` if it is still the top mount on the path.
pub fn detach_if_ours(target: &Target, mnt_id: u64) -> Result<()> {
    match target.inspect()? {
        Top::Bind(b) if b.mnt_id == mnt_id => {
            sys::umount_fd(b.fd.as_fd(), "our memfd-bind mount")?;
            drop(b);
            match target.inspect()? {
                Top::Plain { .. } => {
                    tracing::info!(path = %target.display(), mnt_id, "unmounted; the path is the original file again")
                }
                Top::Bind(next) => {
                    tracing::warn!(path = %target.display(), mnt_id, below = %next.describe(), "unmounted ours; another memfd-bind mount is below it")
                }
                Top::Foreign(l) => {
                    tracing::warn!(path = %target.display(), mnt_id, below = %l.to_string_lossy(), "unmounted ours; a foreign magic-link mount is below it")
                }
            }
            Ok(())
        }
        top => {
            let now = match &top {
                Top::Bind(b) => b.describe(),
                Top::Foreign(l) => format!("a magic-link mount to {}", l.to_string_lossy()),
                Top::Plain { stx, .. } => {
                    format!("{} (mount {})", crate::target::kind(stx), stx.stx_mnt_id)
                }
            };
            if crate::mountinfo::by_id(mnt_id)?.is_some() {
                tracing::warn!(path = %target.display(), mnt_id, top = %now, "our mount is no longer the top mount on the path; leaving all mounts alone (ours will be stale: run --cleanup once the mounts above it are gone)");
            } else {
                tracing::info!(path = %target.display(), mnt_id, top = %now, "our mount is already gone");
            }
            Ok(())
        }
    }
}
