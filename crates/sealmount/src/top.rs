//! What covers a directory: the mount a lookup of DIR reaches, judged with
//! exeseal's mountinfo rules (the same ones sealrun uses to decide that its
//! binary is "already-sealed-overlay").

use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use exeseal::mountinfo::{self, MountEntry};
use rustix::fs::{Mode, OFlags};

/// The mount that path lookups of DIR (and so every exec of DIR/<binary>)
/// land on.
#[derive(Debug)]
pub enum Top {
    /// DIR is the root of this mount: it is the topmost mount on DIR.
    Mount(MountEntry),
    /// Nothing is mounted on DIR; it is a plain directory inside this mount.
    Within(MountEntry),
}

impl Top {
    /// Found by opening DIR and asking which mount the handle is on, not by
    /// the last mountinfo line for DIR: if a parent of DIR was covered later,
    /// mountinfo still lists the hidden mount on DIR, but nothing reaches it.
    pub fn of(dir: &Path) -> Result<Top> {
        let fd = exeseal::sys::open(dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .with_context(|| format!("{}: cannot open", dir.display()))?;
        let entry = mountinfo::entry_of(fd.as_fd())
            .with_context(|| format!("{}: cannot find its mount", dir.display()))?
            .ok_or_else(|| {
                anyhow!(
                    "{}: its mount is not listed in /proc/self/mountinfo",
                    dir.display()
                )
            })?;
        Ok(if entry.mount_point == dir.to_string_lossy() {
            Top::Mount(entry)
        } else {
            Top::Within(entry)
        })
    }

    /// The sealed lower-only overlay DIR's files are reached through, if
    /// any: one mounted on DIR, or on a parent of DIR (then DIR is sealed
    /// with it, and sealrun installed in DIR reports already-sealed-overlay).
    pub fn sealed(&self) -> Option<&MountEntry> {
        match self {
            Top::Mount(m) | Top::Within(m) if m.is_sealed_overlay() => Some(m),
            _ => None,
        }
    }

    /// The sealed lower-only overlay mounted on DIR itself, if it is on top
    /// (the only kind of mount `--cleanup` removes).
    pub fn sealed_on_dir(&self) -> Option<&MountEntry> {
        match self {
            Top::Mount(m) if m.is_sealed_overlay() => Some(m),
            _ => None,
        }
    }

    /// What a `--status` line says about it.
    pub fn describe(&self) -> String {
        match self {
            Top::Within(m) if m.is_sealed_overlay() => format!(
                "nothing is mounted on it, but it lies inside the lower-only overlay mounted at {} \
                 (mount {}), which seals it too",
                m.mount_point, m.id
            ),
            Top::Within(m) => format!(
                "nothing is mounted on it (it is a plain directory of the {} mount at {})",
                m.fs_type, m.mount_point
            ),
            Top::Mount(m) if m.is_sealed_overlay() => format!(
                "covered by a lower-only overlay (mount {}), read-only at the superblock: writes fail \
                 with EROFS and overlayfs refuses a read-write remount",
                m.id
            ),
            Top::Mount(m) => format!("top mount (mount {}) {}", m.id, why_not_sealed(m)),
        }
    }
}

fn has_opt(opts: &str, want: &str) -> bool {
    opts.split(',').any(|o| o == want)
}

/// Why a mount on DIR does not seal it (for mounts that are not sealed overlays).
fn why_not_sealed(m: &MountEntry) -> String {
    let mount_ro = has_opt(&m.mount_options, "ro");
    let super_ro = has_opt(&m.super_options, "ro");
    if m.fs_type == "overlay" {
        if m.super_options
            .split(',')
            .any(|o| o.starts_with("upperdir="))
        {
            let how = if mount_ro {
                "read-only only as a per-mount flag"
            } else {
                "writable"
            };
            return format!(
                "is an overlay with an upper layer ({how}): writes reach its upper directory, \
                 so it does not seal the files"
            );
        }
        return "is an overlay that is not read-only at its superblock".into();
    }
    match (mount_ro, super_ro) {
        (true, false) => {
            let what = if m.root == "/" {
                format!("{} mount", m.fs_type)
            } else {
                format!("bind mount of {}", m.root)
            };
            format!(
                "is a read-only {what} (`ro` only as a per-mount flag on a writable {} filesystem), \
                 which a container with CAP_SYS_ADMIN could make writable",
                m.fs_type
            )
        }
        (_, true) => format!(
            "is a read-only {} filesystem, not a lower-only overlay: a remount could make it \
             writable",
            m.fs_type
        ),
        (false, false) => format!("is a writable {} mount", m.fs_type),
    }
}

/// Every mount on exactly DIR, bottom first, as mountinfo lists them.
pub fn mounts_on(dir: &Path) -> Result<Vec<MountEntry>> {
    let want = dir.to_string_lossy();
    Ok(mountinfo::mounts()
        .context("cannot read /proc/self/mountinfo")?
        .into_iter()
        .filter(|m| m.mount_point == want)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mountinfo line for a mount on /opt/x with these options.
    fn entry(root: &str, mount_options: &str, fs_type: &str, super_options: &str) -> MountEntry {
        let line =
            format!("7 30 0:44 {root} /opt/x {mount_options} - {fs_type} src {super_options}");
        MountEntry::parse(&line).expect("parses")
    }

    #[test]
    fn explains_each_kind_of_unsealed_mount() {
        let bind = Top::Mount(entry(
            "/srv/x",
            "ro,relatime",
            "ext4",
            "rw,errors=remount-ro",
        ));
        assert!(bind.sealed().is_none());
        assert!(
            bind.describe().contains("read-only bind mount of /srv/x"),
            "{}",
            bind.describe()
        );
        assert!(bind.describe().contains("CAP_SYS_ADMIN"));

        let upper = Top::Mount(entry(
            "/",
            "ro",
            "overlay",
            "rw,lowerdir=/a,upperdir=/u,workdir=/w",
        ));
        assert!(upper.sealed().is_none());
        assert!(
            upper.describe().contains("upper layer"),
            "{}",
            upper.describe()
        );

        let rw = Top::Mount(entry("/", "rw", "tmpfs", "rw"));
        assert!(
            rw.describe().contains("writable tmpfs"),
            "{}",
            rw.describe()
        );

        let within = Top::Within(entry("/", "rw", "ext4", "rw"));
        assert!(
            within.describe().contains("nothing is mounted"),
            "{}",
            within.describe()
        );
    }

    #[test]
    fn lower_only_overlay_is_sealed() {
        let top = Top::Mount(entry(
            "/",
            "ro,nosuid,nodev",
            "overlay",
            "ro,lowerdir+=/a,xino=off",
        ));
        assert_eq!(top.sealed().map(|m| m.id), Some(7));
        assert_eq!(top.sealed_on_dir().map(|m| m.id), Some(7));
        assert!(top.describe().contains("lower-only overlay"));

        let inside = Top::Within(entry("/", "ro", "overlay", "ro,lowerdir+=/a"));
        assert!(inside.sealed().is_some() && inside.sealed_on_dir().is_none());
        assert!(
            inside.describe().contains("lies inside"),
            "{}",
            inside.describe()
        );
    }
}
