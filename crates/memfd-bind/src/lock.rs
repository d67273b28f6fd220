//! One daemon per path: `<state dir>/<escaped path>.pid`, flock'ed by the
//! daemon for as long as it serves.
//!
//! The lock, not the pid written in the file, says whether a daemon is alive:
//! the kernel drops an flock when its holder dies, however it dies, so a
//! leftover file of a SIGKILLed daemon never blocks a new one and a recycled
//! pid is never mistaken for a live daemon.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustix::fs::{FlockOperation, OFlags};
use rustix::io::Errno;

use crate::sys;

/// A held lock; dropping it removes the file and releases the lock.
pub struct Lock {
    fd: OwnedFd,
    pub path: PathBuf,
}

/// `systemd-escape --path`: `/usr/bin/sealrun` -> `usr-bin-sealrun`.
pub fn escape_path(p: &Path) -> String {
    let bytes = p.as_os_str().as_bytes();
    let parts: Vec<&[u8]> = bytes
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    if parts.is_empty() {
        return "-".to_string();
    }
    let mut out = String::new();
    for (i, &b) in parts.join(&b'/').iter().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'.' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

pub fn lock_path(state_dir: &Path, served: &Path) -> PathBuf {
    state_dir.join(format!("{}.pid", escape_path(served)))
}

fn read_pid(fd: &OwnedFd, path: &Path) -> Option<u32> {
    sys::read_to_string(fd.as_fd(), &path.to_string_lossy())
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Lock {
    /// Take the lock for `served`, or fail with a one-line error naming the
    /// live daemon.
    pub fn acquire(state_dir: &Path, served: &Path) -> Result<Self> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
        let path = lock_path(state_dir, served);
        let what = path.to_string_lossy().into_owned();
        // A `--status` holds a shared lock for a few microseconds: retry a
        // little before concluding that a daemon holds it.
        for attempt in 0..50 {
            let fd = sys::create(path.as_os_str(), 0o644)?;
            match sys::flock(fd.as_fd(), FlockOperation::NonBlockingLockExclusive, &what) {
                Ok(()) => {}
                Err(e) if e.errno == Errno::WOULDBLOCK && attempt < 10 => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                Err(e) if e.errno == Errno::WOULDBLOCK => {
                    let pid = read_pid(&fd, &path)
                        .map_or("unknown pid".to_string(), |p| format!("pid {p}"));
                    bail!(
                        "{}: already served by memfd-bind ({pid}, lock {})",
                        served.display(),
                        path.display()
                    );
                }
                Err(e) => return Err(e.into()),
            }
            // An exiting daemon unlinks its file: make sure we locked the file
            // that is at `path` now, not one unlinked after we opened it.
            let ours = sys::fstat(fd.as_fd(), &what)?;
            match sys::stat(path.as_os_str()) {
                Ok(st) if st.st_dev == ours.st_dev && st.st_ino == ours.st_ino => {}
                _ => continue,
            }
            sys::ftruncate(fd.as_fd(), &what)?;
            sys::write_all(fd.as_fd(), format!("{}\n", sys::getpid()).as_bytes(), &what)?;
            tracing::debug!(lock = %path.display(), "took the per-path lock");
            return Ok(Self { fd, path });
        }
        bail!(
            "{}: cannot take lock {} (it keeps being replaced)",
            served.display(),
            path.display()
        )
    }

    /// The pid of the live daemon holding the lock for `served`, if any.
    pub fn holder(state_dir: &Path, served: &Path) -> Result<Option<u32>> {
        let path = lock_path(state_dir, served);
        let what = path.to_string_lossy().into_owned();
        let fd = match sys::open(path.as_os_str(), OFlags::RDONLY | OFlags::NOFOLLOW) {
            Ok(fd) => fd,
            Err(e) if e.errno == Errno::NOENT => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match sys::flock(fd.as_fd(), FlockOperation::NonBlockingLockShared, &what) {
            // Nobody holds it: a leftover of a daemon that died.
            Ok(()) => Ok(None),
            Err(e) if e.errno == Errno::WOULDBLOCK => Ok(Some(read_pid(&fd, &path).unwrap_or(0))),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Unlink while still holding the lock, and only our own file.
        let what = self.path.to_string_lossy();
        if let (Ok(ours), Ok(st)) = (
            sys::fstat(self.fd.as_fd(), &what),
            sys::stat(OsStr::new(self.path.as_os_str())),
        ) {
            if st.st_dev == ours.st_dev && st.st_ino == ours.st_ino {
                if let Err(e) = sys::unlink(self.path.as_os_str()) {
                    tracing::warn!(error = %e, "cannot remove lock file");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_systemd_escape_path() {
        assert_eq!(
            escape_path(Path::new("/usr/bin/sealrun")),
            "usr-bin-sealrun"
        );
        assert_eq!(
            escape_path(Path::new("//opt//my-app/x.bin/")),
            "opt-my\\x2dapp-x.bin"
        );
        assert_eq!(
            escape_path(Path::new("/.hidden/a b")),
            "\\x2ehidden-a\\x20b"
        );
        assert_eq!(escape_path(Path::new("/")), "-");
    }
}
