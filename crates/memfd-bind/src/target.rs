//! The path memfd-bind serves, and what currently sits on top of it.
//!
//! The path is resolved once, to a held O_PATH handle of its directory plus
//! the final name; every later look at it is an `openat(dir, name,
//! O_PATH|O_NOFOLLOW)` on that handle, so nothing depends on re-walking the
//! whole path string.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use rustix::fs::{FileType, OFlags, Statx, PROC_SUPER_MAGIC};
use rustix::io::Errno;

use crate::mountinfo;
use crate::sys;

/// How many symlinks we follow before giving up (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// How many times [`Target::inspect`] looks again when the path's mounts
/// change under it before it gives up.
const INSPECT_TRIES: usize = 8;

/// A resolved path: its directory (held open) and final name.
pub struct Target {
    /// The absolute path of the file served (canonical directory + name).
    pub path: PathBuf,
    dir: OwnedFd,
    dir_mnt_id: u64,
    name: OsString,
}

/// What sits on top of the target path right now.
pub enum Top {
    /// The file system object itself (no magic-link mount on it).
    Plain { fd: OwnedFd, stx: Box<Statx> },
    /// A memfd-bind mount: a bind mount of a `/proc/<pid>/fd/<n>` magic link
    /// to a sealed copy, or a dead one.
    Bind(BindMount),
    /// A bind mount of a live magic link to something that is not a sealed
    /// copy (not ours: left alone).
    Foreign(OsString),
}

pub struct BindMount {
    /// O_PATH|O_NOFOLLOW handle of the mount's root (the procfs symlink).
    pub fd: OwnedFd,
    pub mnt_id: u64,
    /// `(pid, fd)` of the magic link, from the mount's root in mountinfo.
    pub owner: Option<(u32, u32)>,
    /// Where the magic link points (`/memfd:... (deleted)`, `/#<ino>
    /// (deleted)`), `None` when it is dead: the process that held the copy
    /// is gone (a stale mount).
    pub link: Option<OsString>,
}

impl BindMount {
    pub fn is_live(&self) -> bool {
        self.link.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.owner.map(|(pid, _)| pid)
    }

    pub fn describe(&self) -> String {
        let owner = match self.owner {
            Some((pid, fd)) => format!("/proc/{pid}/fd/{fd}"),
            None => "an unknown magic link".to_string(),
        };
        match &self.link {
            Some(l) => format!(
                "mount {} of {owner} -> {}",
                self.mnt_id,
                l.to_string_lossy()
            ),
            None => format!("mount {} of {owner} (dead)", self.mnt_id),
        }
    }
}

pub fn file_type(stx: &Statx) -> FileType {
    FileType::from_raw_mode(stx.stx_mode as u32)
}

pub fn kind(stx: &Statx) -> &'static str {
    match file_type(stx) {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symlink",
        FileType::Fifo => "a fifo",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "an unknown kind of file",
    }
}

impl Target {
    /// Resolve `input` to the file it names.
    ///
    /// A relative path is taken relative to the current directory. The
    /// directory part is canonicalized. A symlink as the final component is
    /// followed: memfd-bind serves the real file, so every name for it runs
    /// the sealed copy and a second daemon for another name of the same file
    /// finds the same lock. A memfd-bind mount on the final component (a
    /// procfs symlink mounted there) is *not* followed: that is the path.
    pub fn resolve(input: &Path) -> Result<Self> {
        let shown = input.display();
        if input.as_os_str().is_empty() {
            bail!("empty path");
        }
        let mut cur = if input.is_absolute() {
            input.to_path_buf()
        } else {
            std::env::current_dir()
                .context("cannot read the current directory")?
                .join(input)
        };
        for _ in 0..MAX_SYMLINKS {
            let name = cur
                .file_name()
                .ok_or_else(|| anyhow!("{shown}: does not name a file"))?
                .to_os_string();
            let parent = cur.parent().unwrap_or(Path::new("/"));
            let dir_path = std::fs::canonicalize(parent)
                .map_err(|e| anyhow!("{shown}: directory {}: {e}", parent.display()))?;
            let dir = sys::open(dir_path.as_os_str(), OFlags::PATH | OFlags::DIRECTORY)
                .map_err(|e| anyhow!("{shown}: {e}"))?;
            if sys::fstatfs_type(dir.as_fd(), "directory")? == PROC_SUPER_MAGIC {
                bail!("{shown}: is on /proc, not a binary memfd-bind can serve");
            }
            let dir_mnt_id = sys::statx(dir.as_fd(), "directory")?.stx_mnt_id;
            let path = dir_path.join(&name);
            let fd = match sys::openat(
                dir.as_fd(),
                &name,
                OFlags::PATH | OFlags::NOFOLLOW,
                &path.to_string_lossy(),
            ) {
                Ok(fd) => fd,
                Err(e) if e.errno == Errno::NOENT && path != input => {
                    bail!("{shown}: no such file ({} does not exist)", path.display())
                }
                Err(e) if e.errno == Errno::NOENT => bail!("{shown}: no such file"),
                Err(e) => bail!("{shown}: {e}"),
            };
            let stx = sys::statx(fd.as_fd(), &path.to_string_lossy())?;
            if file_type(&stx) == FileType::Symlink && stx.stx_mnt_id == dir_mnt_id {
                let link = PathBuf::from(sys::readlink_fd(fd.as_fd(), &path.to_string_lossy())?);
                tracing::debug!(symlink = %path.display(), target = %link.display(), "following symlink");
                cur = if link.is_absolute() {
                    link
                } else {
                    dir_path.join(link)
                };
                continue;
            }
            return Ok(Self {
                path,
                dir,
                dir_mnt_id,
                name,
            });
        }
        bail!("{shown}: too many levels of symbolic links")
    }

    pub fn display(&self) -> std::path::Display<'_> {
        self.path.display()
    }

    fn what(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Look at what is on top of the path now.
    ///
    /// Judging a magic-link mount takes a second walk of the path (to follow
    /// the link); if the mounts on it changed in between, the look is taken
    /// again, so a verdict always belongs to the mount it is acted on.
    pub fn inspect(&self) -> Result<Top> {
        for _ in 0..INSPECT_TRIES {
            if let Some(top) = self.inspect_once()? {
                return Ok(top);
            }
        }
        bail!(
            "{}: the mounts on the path keep changing while memfd-bind looks at them",
            self.what()
        )
    }

    /// `None` when the path's top mount changed while it was judged.
    fn inspect_once(&self) -> Result<Option<Top>> {
        let what = self.what();
        let (fd, stx) = self.top_handle(&what)?;
        let mounted_on = stx.stx_mnt_id != self.dir_mnt_id;
        if !(mounted_on
            && file_type(&stx) == FileType::Symlink
            && sys::fstatfs_type(fd.as_fd(), &what)? == PROC_SUPER_MAGIC)
        {
            return Ok(Some(Top::Plain {
                fd,
                stx: Box::new(stx),
            }));
        }
        // A procfs symlink mounted on the path. Only a bind mount of a
        // `/proc/<pid>/fd/<n>` magic link can be memfd-bind's; any other
        // procfs link (`/proc/self`, `/proc/mounts`) is someone else's, also
        // when following it from here leads nowhere.
        let owner = mountinfo::by_id(stx.stx_mnt_id)?.and_then(|m| mountinfo::magic_link_root(&m));
        let link = match sys::readlink_fd(fd.as_fd(), &what) {
            Ok(l) if owner.is_none() => return Ok(Some(Top::Foreign(l))),
            Ok(l) => match self.servable_behind(&what)? {
                Some(true) => Some(l),
                Some(false) => return Ok(Some(Top::Foreign(l))),
                // The follow found nothing: dead only if the link itself
                // now says so (its process or fd went away meanwhile).
                None => match sys::readlink_fd(fd.as_fd(), &what) {
                    Err(e) if e.errno == Errno::NOENT => None,
                    Err(e) => return Err(e.into()),
                    Ok(l) => return Ok(Some(Top::Foreign(l))),
                },
            },
            // The process (or its fd) behind the magic link is gone.
            Err(e) if e.errno == Errno::NOENT => None,
            Err(e) => return Err(e.into()),
        };
        // The follow walked the path again: it must have met this mount.
        if self.top_handle(&what)?.1.stx_mnt_id != stx.stx_mnt_id {
            return Ok(None);
        }
        Ok(Some(Top::Bind(BindMount {
            fd,
            mnt_id: stx.stx_mnt_id,
            owner,
            link,
        })))
    }

    /// O_PATH|O_NOFOLLOW handle of the top of the path, and its statx.
    fn top_handle(&self, what: &str) -> Result<(OwnedFd, Statx)> {
        let fd = match sys::openat(
            self.dir.as_fd(),
            &self.name,
            OFlags::PATH | OFlags::NOFOLLOW,
            what,
        ) {
            Ok(fd) => fd,
            Err(e) if e.errno == Errno::NOENT => bail!("{what}: no such file"),
            Err(e) => return Err(e.into()),
        };
        let stx = sys::statx(fd.as_fd(), what)?;
        Ok((fd, stx))
    }

    /// Following the live magic link on the path: is it a copy memfd-bind
    /// serves (a sealed memfd or an immutable read-only tmpfs copy)? `None`
    /// when the link leads nowhere (it died in the meantime).
    ///
    /// Both copies live on mounts no namespace lists (the kernel's shm
    /// mount, a dissolved private tmpfs): a file on a listed mount is
    /// someone else's without asking its file system more than a cached
    /// statx, so a link into a hung FUSE or NFS mount cannot stall us.
    fn servable_behind(&self, what: &str) -> Result<Option<bool>> {
        let fd = match sys::openat(self.dir.as_fd(), &self.name, OFlags::PATH, what) {
            Ok(fd) => fd,
            Err(e) if e.errno == Errno::NOENT => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mnt_id = sys::statx_cached_mnt_id(fd.as_fd(), what)?;
        if mountinfo::by_id(mnt_id)?.is_some() {
            return Ok(Some(false));
        }
        crate::copy::is_servable(fd.as_fd())
            .map(Some)
            .with_context(|| format!("{what}: cannot tell what its magic link leads to"))
    }

    /// The final name, for the memfd's name (shown in /proc/<pid>/exe).
    pub fn file_name(&self) -> &OsStr {
        &self.name
    }
}
