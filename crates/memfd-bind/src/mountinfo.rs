//! /proc/self/mountinfo, with the field exeseal's reader leaves out: the
//! mount's root inside its filesystem, which is what tells a memfd-bind mount
//! (root `/<pid>/fd/<n>` on procfs) from any other mount.

use rustix::io::Errno;

use crate::sys::{self, SysError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u64,
    pub parent: u64,
    /// The mount's root within its filesystem (field 4).
    pub root: String,
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
}

impl Mount {
    pub fn parse(line: &str) -> Option<Self> {
        let (left, right) = line.split_once(" - ")?;
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        Some(Self {
            id: l.first()?.parse().ok()?,
            parent: l.get(1)?.parse().ok()?,
            root: unescape(l.get(3)?),
            mount_point: unescape(l.get(4)?),
            fs_type: (*r.first()?).to_string(),
            source: unescape(r.get(1).copied().unwrap_or("")),
        })
    }

    /// `(pid, fd)` if the root is a `/proc/<pid>/fd/<fd>` magic link, which
    /// is what a bind mount of a memfd's magic link shows on procfs.
    pub fn magic_link_root(&self) -> Option<(u32, u32)> {
        if self.fs_type != "proc" {
            return None;
        }
        let rest = self.root.strip_prefix('/')?;
        let (pid, fd) = rest.split_once("/fd/")?;
        Some((pid.parse().ok()?, fd.parse().ok()?))
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn mounts() -> Result<Vec<Mount>, SysError> {
    let path = "/proc/self/mountinfo";
    let text = std::fs::read_to_string(path)
        .map_err(|e| sys::error("read", path, Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
    Ok(text.lines().filter_map(Mount::parse).collect())
}

pub fn by_id(id: u64) -> Result<Option<Mount>, SysError> {
    Ok(mounts()?.into_iter().find(|m| m.id == id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_memfd_bind_mounts() {
        let live = "64 44 0:21 /3639/fd/4 /tmp/exp/bin\\040true rw,relatime - proc proc rw";
        let m = Mount::parse(live).unwrap();
        assert_eq!((m.id, m.parent), (64, 44));
        assert_eq!(m.mount_point, "/tmp/exp/bin true");
        assert_eq!(m.magic_link_root(), Some((3639, 4)));

        let proc_mount = "30 1 0:21 / /proc rw,nosuid - proc proc rw";
        assert_eq!(Mount::parse(proc_mount).unwrap().magic_link_root(), None);
        let bind = "70 44 8:1 /usr/bin/true /tmp/x rw shared:1 - ext4 /dev/vda rw";
        let b = Mount::parse(bind).unwrap();
        assert_eq!(b.magic_link_root(), None);
        assert_eq!(b.source, "/dev/vda");
        let other_proc = "71 44 0:21 /1/status /tmp/y rw - proc proc rw";
        assert_eq!(Mount::parse(other_proc).unwrap().magic_link_root(), None);
    }
}
