//! Telling a memfd-bind mount from any other: its root inside procfs is the
//! magic link it was made from (`/<pid>/fd/<n>`). Parsing is exeseal's.

pub use exeseal::mountinfo::{by_id, MountEntry as Mount};

/// `(pid, fd)` if the mount's root is a `/proc/<pid>/fd/<fd>` magic link,
/// which is what a bind mount of a memfd's magic link shows on procfs.
pub fn magic_link_root(m: &Mount) -> Option<(u32, u32)> {
    if m.fs_type != "proc" {
        return None;
    }
    let rest = m.root.strip_prefix('/')?;
    let (pid, fd) = rest.split_once("/fd/")?;
    Some((pid.parse().ok()?, fd.parse().ok()?))
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
        assert_eq!(magic_link_root(&m), Some((3639, 4)));

        let proc_mount = "30 1 0:21 / /proc rw,nosuid - proc proc rw";
        assert_eq!(magic_link_root(&Mount::parse(proc_mount).unwrap()), None);
        let bind = "70 44 8:1 /usr/bin/true /tmp/x rw shared:1 - ext4 /dev/vda rw";
        let b = Mount::parse(bind).unwrap();
        assert_eq!(magic_link_root(&b), None);
        assert_eq!(b.source, "/dev/vda");
        let other_proc = "71 44 0:21 /1/status /tmp/y rw - proc proc rw";
        assert_eq!(magic_link_root(&Mount::parse(other_proc).unwrap()), None);
    }
}
