//! sealrun's own facts about a container, kept beside libcontainer's state
//! in the container's state directory: `sealrun.json`, read and written
//! only under `flock` on `sealrun.lock` there.
//!
//! The lock is also the dmz gate's synchronisation (see `dmz_gate`): an
//! exec through dmz holds it shared, and the copies of that descriptor the
//! runtime's own processes inherit keep holding it until each of them has
//! exec'd the workload (the descriptor is close-on-exec) or exited; an exec
//! that grants CAP_SYS_PTRACE records the grant holding it exclusively,
//! before its process starts.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

const RECORD: &str = "sealrun.json";
const LOCK: &str = "sealrun.lock";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The container's cgroup directory in every hierarchy on the host,
    /// removed (with any cgroups below) on delete.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// Every exec that could give a process of the container CAP_SYS_PTRACE
    /// without a user namespace, as "exec <args> (<why>)". Once there is
    /// one, dmz never again protects an exec into this container.
    #[serde(default)]
    pub ptrace_grants: Vec<String>,
    /// The container was created with dmz: until its init has exec'd the
    /// workload, that init is the runtime binary inside the container.
    #[serde(default)]
    pub dmz_init: bool,
    /// The user's bundle, when libcontainer was given a prepared copy
    /// (`prepare`) and its own state names that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<PathBuf>,
}

/// A held lock on one container's record. Dropping it (and every
/// inherited copy of its descriptor) releases the lock.
pub struct Lock {
    file: File,
    dir: PathBuf,
}

/// Locks the record of the container whose state directory is `dir`
/// (shared or exclusive), creating the lock file if needed.
pub fn lock(dir: &Path, exclusive: bool) -> Result<Lock> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    let op = if exclusive {
        rustix::fs::FlockOperation::LockExclusive
    } else {
        rustix::fs::FlockOperation::LockShared
    };
    rustix::fs::flock(file.as_fd(), op).map_err(|e| {
        anyhow::anyhow!(
            "flock({}, {}): {e}",
            path.display(),
            if exclusive { "LOCK_EX" } else { "LOCK_SH" }
        )
    })?;
    Ok(Lock {
        file,
        dir: dir.to_owned(),
    })
}

impl Lock {
    /// The record (empty when none was written yet).
    pub fn read(&self) -> Result<Record> {
        read(&self.dir)
    }

    /// Replaces the record (written to a temp file, then renamed over it).
    pub fn write(&self, record: &Record) -> Result<()> {
        let path = self.dir.join(RECORD);
        let tmp = self.dir.join(format!(".{RECORD}.{}", std::process::id()));
        let mut file =
            File::create(&tmp).with_context(|| format!("failed to create {}", tmp.display()))?;
        // No fsync: the record lives as long as the container (its state
        // root is a tmpfs such as /run in practice); the rename alone keeps
        // readers from ever seeing half a record. An fsync cost ~2 ms per
        // create on a disk-backed --root (measured).
        file.write_all(&serde_json::to_vec(record)?)
            .with_context(|| format!("failed to write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| {
            let _ = fs::remove_file(&tmp);
            format!("failed to rename {} to {}", tmp.display(), path.display())
        })
    }

    /// Reads, changes and writes the record back.
    pub fn update(&self, change: impl FnOnce(&mut Record)) -> Result<()> {
        let mut record = self.read()?;
        change(&mut record);
        self.write(&record)
    }

    /// The locked descriptor itself, for processes that must keep holding
    /// the lock (see the module docs).
    pub fn into_fd(self) -> OwnedFd {
        self.file.into()
    }
}

/// The record of the container whose state directory is `dir`, without
/// locking (for delete, which runs once nothing else may change it).
pub fn read(dir: &Path) -> Result<Record> {
    let path = dir.join(RECORD);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("failed to parse {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
        Err(e) => Err(e).with_context(|| format!("failed to read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_defaults_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), Record::default());
        let lock = lock(dir.path(), true).unwrap();
        lock.update(|r| {
            r.cgroups.push("/sys/fs/cgroup/memory/c1".into());
            r.ptrace_grants
                .push("exec sh (CAP_SYS_PTRACE in bounding)".into());
        })
        .unwrap();
        drop(lock);
        let got = read(dir.path()).unwrap();
        assert_eq!(got.cgroups, vec![PathBuf::from("/sys/fs/cgroup/memory/c1")]);
        assert_eq!(got.ptrace_grants.len(), 1);
        // No temp file left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| n == RECORD || n == LOCK), "{names:?}");
    }

    #[test]
    fn shared_holders_keep_an_exclusive_locker_out() {
        let dir = tempfile::tempdir().unwrap();
        let shared = lock(dir.path(), false).unwrap();
        let also_shared = lock(dir.path(), false).unwrap();
        let fd = shared.into_fd();
        let path = dir.path().join(LOCK);
        let probe = File::open(&path).unwrap();
        let try_ex = || {
            rustix::fs::flock(
                probe.as_fd(),
                rustix::fs::FlockOperation::NonBlockingLockExclusive,
            )
        };
        assert!(try_ex().is_err());
        drop(also_shared);
        assert!(
            try_ex().is_err(),
            "the descriptor handed out still holds it"
        );
        drop(fd);
        assert!(try_ex().is_ok());
    }
}
