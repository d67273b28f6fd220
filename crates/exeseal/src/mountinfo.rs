//! Reading /proc/self/mountinfo, to judge mounts we did not make ourselves.

use std::os::fd::BorrowedFd;

use crate::sys::{self, SysError};

/// One line of /proc/self/mountinfo (only the fields we judge by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub id: u64,
    pub parent: u64,
    /// The mount's root within its filesystem (a bind mount of a file or of
    /// a magic link shows that path here).
    pub root: String,
    pub mount_point: String,
    /// Per-mount options (`ro`, `nosuid`, ...): a container with
    /// CAP_SYS_ADMIN over the mount could change these.
    pub mount_options: String,
    pub fs_type: String,
    /// Superblock options: shared by every mount of the filesystem.
    pub super_options: String,
    pub source: String,
}

impl MountEntry {
    pub fn parse(line: &str) -> Option<Self> {
        let (left, right) = line.split_once(" - ")?;
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        Some(Self {
            id: l.first()?.parse().ok()?,
            parent: l.get(1)?.parse().ok()?,
            root: unescape(l.get(3)?),
            mount_point: unescape(l.get(4)?),
            mount_options: (*l.get(5)?).to_string(),
            fs_type: (*r.first()?).to_string(),
            source: unescape(r.get(1).copied().unwrap_or("")),
            super_options: r.get(2).map(|s| s.to_string()).unwrap_or_default(),
        })
    }

    /// A lower-only overlay: read-only at the superblock, with no upper layer
    /// to write through. Remounting it read-write is refused by overlayfs, so
    /// no mount flag a container could flip makes it writable.
    pub fn is_sealed_overlay(&self) -> bool {
        let mut opts = self.super_options.split(',');
        self.fs_type == "overlay"
            && self.super_options.split(',').any(|o| o == "ro")
            && !opts.any(|o| o.starts_with("upperdir=") || o.starts_with("workdir="))
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// All mounts of this process's mount namespace.
pub fn mounts() -> Result<Vec<MountEntry>, SysError> {
    Ok(sys::read_file("/proc/self/mountinfo")?
        .lines()
        .filter_map(MountEntry::parse)
        .collect())
}

/// The mountinfo entry with this mount id, if it is in our namespace.
pub fn by_id(id: u64) -> Result<Option<MountEntry>, SysError> {
    Ok(mounts()?.into_iter().find(|m| m.id == id))
}

/// The mountinfo entry of the mount `fd` lives on; `None` for a detached
/// mount (made with fsmount and never attached), which no namespace lists.
pub fn entry_of(fd: BorrowedFd<'_>) -> Result<Option<MountEntry>, SysError> {
    by_id(sys::mount_id(fd)?)
}

/// Is `fd` on a lower-only overlay attached in our namespace (sealmount)?
pub fn is_sealed_overlay_mount(fd: BorrowedFd<'_>) -> Result<bool, SysError> {
    Ok(entry_of(fd)?.is_some_and(|m| m.is_sealed_overlay()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_overlay_lines() {
        let sealed = "412 30 0:91 / /opt/x\\040y ro,nodev,relatime - overlay overlay ro,lowerdir=/a:/b,xino=off";
        let e = MountEntry::parse(sealed).unwrap();
        assert_eq!(e.id, 412);
        assert_eq!(e.mount_point, "/opt/x y");
        assert!(e.is_sealed_overlay());

        let rw = "413 30 0:92 / /opt/z ro,relatime - overlay overlay rw,lowerdir=/a,upperdir=/u,workdir=/w";
        assert!(
            !MountEntry::parse(rw).unwrap().is_sealed_overlay(),
            "ro bind of a rw overlay is not sealed"
        );

        let bind = "414 30 8:1 /usr/bin /opt/q ro,relatime - ext4 /dev/vda rw";
        assert!(!MountEntry::parse(bind).unwrap().is_sealed_overlay());
    }
}
