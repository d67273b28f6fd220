//! Bind mounts of a user-namespace container whose source the container's
//! root cannot reach (a directory under a parent only the host's root may
//! search).
//!
//! runc opens every bind source before its init joins the user namespace
//! and mounts from the descriptor. libcontainer 0.7.0
//! (`rootfs::mount::Mount::mount_into_container`) canonicalises and opens
//! the source path in the init, as the container's root (an unprivileged
//! host uid), so such a mount fails with EACCES; a `/proc/self/fd/N` source
//! would not help, since canonicalisation resolves it back to the path.
//!
//! So `prepare` points each such mount at a staging path the container's
//! root can reach, `/run/sealrun-stage/<id>/<n>` (the directory for the id
//! owned by that uid, mode 0700), and `create`, right before libcontainer
//! forks anything, moves itself into a mount namespace of its own (a slave
//! of the host's, so nothing it mounts propagates back) and attaches a
//! clone of each source there. The init's namespace is copied from that
//! one, binds from the staging path, and loses the staging mounts with the
//! old root at pivot_root. The host only ever sees the empty directories,
//! removed once the container is built.

use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::sys;

/// Where staging paths live on the host (search-only for everyone).
const STAGE_ROOT: &str = "/run/sealrun-stage";

/// One mount to stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    source: PathBuf,
    at: PathBuf,
    recursive: bool,
}

/// The host uid and gid the container's root maps to, for a container with
/// a user namespace.
fn root_ids(config: &Value) -> Option<(u32, u32)> {
    let linux = config.get("linux")?;
    let userns = linux
        .get("namespaces")?
        .as_array()?
        .iter()
        .any(|n| n.get("type").and_then(Value::as_str) == Some("user"));
    if !userns {
        return None;
    }
    let host_of_root = |key: &str| {
        linux.get(key)?.as_array()?.iter().find_map(|m| {
            let (c, h, size) = (
                m.get("containerID")?.as_u64()?,
                m.get("hostID")?.as_u64()?,
                m.get("size")?.as_u64()?,
            );
            (c == 0 && size > 0).then_some(h as u32)
        })
    };
    Some((host_of_root("uidMappings")?, host_of_root("gidMappings")?))
}

/// Whether `uid`/`gid` may search every directory above `path`.
fn reachable(path: &Path, uid: u32, gid: u32) -> bool {
    path.ancestors().skip(1).all(|dir| {
        let Ok(meta) = std::fs::metadata(dir) else {
            return true; // libcontainer's error then says what is missing
        };
        let bit = if meta.uid() == uid {
            0o100
        } else if meta.gid() == gid {
            0o010
        } else {
            0o001
        };
        meta.mode() & bit != 0
    })
}

/// Points the bind mounts of `config` (the bundle's, at `bundle`) that the
/// container's root cannot reach at staging paths; returns what to stage.
pub fn plan(config: &mut Value, bundle: &Path, id: &str) -> Vec<Staged> {
    let Some((uid, gid)) = root_ids(config) else {
        return Vec::new();
    };
    let mut staged = Vec::new();
    let Some(mounts) = config.get_mut("mounts").and_then(Value::as_array_mut) else {
        return staged;
    };
    for mount in mounts.iter_mut() {
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
        let Some(source) = mount.get("source").and_then(Value::as_str) else {
            continue;
        };
        let source = bundle.join(source);
        if !bind || reachable(&source, uid, gid) {
            continue;
        }
        let at = Path::new(STAGE_ROOT)
            .join(id)
            .join(staged.len().to_string());
        mount["source"] = Value::from(at.to_string_lossy().into_owned());
        staged.push(Staged {
            source,
            at,
            recursive,
        });
    }
    staged
}

/// The staging, undone when dropped (after libcontainer has built the
/// container): the mounts out of sealrun's own namespace, the directories
/// off the host.
pub struct Stage {
    mounted: Vec<PathBuf>,
    dir: Option<PathBuf>,
}

/// Stages `staged` for container `id`, whose root is host `uid`/`gid`
/// (see the module docs). Nothing to do for an empty list.
pub fn stage(staged: &[Staged], id: &str, uid: u32, gid: u32) -> Result<Stage> {
    let mut stage = Stage {
        mounted: Vec::new(),
        dir: None,
    };
    if staged.is_empty() {
        return Ok(stage);
    }
    std::fs::DirBuilder::new()
        .mode(0o711)
        .create(STAGE_ROOT)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        })
        .with_context(|| format!("failed to create {STAGE_ROOT}"))?;
    let dir = Path::new(STAGE_ROOT).join(id);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("failed to create {}", dir.display()))?;
    stage.dir = Some(dir.clone());
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
        .with_context(|| format!("failed to give {} to uid {uid}", dir.display()))?;
    for s in staged {
        std::fs::create_dir(&s.at)
            .with_context(|| format!("failed to create {}", s.at.display()))?;
    }
    sys::own_mount_namespace().context("failed to stage bind mounts of the user namespace")?;
    for s in staged {
        let tree = sys::clone_tree_of(&s.source, s.recursive)?;
        let parent = sys::open_dir_path(&dir)?;
        let name =
            s.at.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
        sys::attach(tree.as_fd(), parent.as_fd(), name, &s.at)?;
        stage.mounted.push(s.at.clone());
    }
    Ok(stage)
}

impl Drop for Stage {
    fn drop(&mut self) {
        for at in self.mounted.drain(..) {
            if let Err(e) = sys::detach_mount(&at) {
                tracing::warn!("{e}");
            }
        }
        if let Some(dir) = self.dir.take() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("failed to remove {}: {e}", dir.display());
            }
            // The last one out takes the root too (another create may be
            // staging: then it is not empty and stays).
            let _ = std::fs::remove_dir(STAGE_ROOT);
        }
    }
}

/// Removes a staging directory a killed `create` of `id` left behind.
pub fn remove_leftover(id: &str) {
    let _ = std::fs::remove_dir_all(Path::new(STAGE_ROOT).join(id));
    let _ = std::fs::remove_dir(STAGE_ROOT);
}

/// The host ids of the container's root, for `stage`.
pub fn ids(config: &Value) -> Option<(u32, u32)> {
    root_ids(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_unreachable_binds_of_userns_containers_are_staged() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
        };
        mode(dir.path(), 0o755);
        let closed = dir.path().join("closed");
        std::fs::create_dir_all(closed.join("dir")).unwrap();
        mode(&closed, 0o700);
        std::fs::create_dir_all(dir.path().join("open/dir")).unwrap();
        let mut config = json!({
            "linux": {
                "namespaces": [{"type": "user"}, {"type": "mount"}],
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]
            },
            "mounts": [
                {"source": "closed/dir", "destination": "/a", "options": ["bind"]},
                {"source": "open/dir", "destination": "/b", "options": ["rbind"]},
                {"source": "closed/dir", "destination": "/c", "options": ["rbind", "ro"]},
                {"source": "tmpfs", "destination": "/d", "type": "tmpfs"}
            ]
        });
        let staged = plan(&mut config, dir.path(), "c1");
        assert_eq!(
            staged,
            [
                Staged {
                    source: closed.join("dir"),
                    at: "/run/sealrun-stage/c1/0".into(),
                    recursive: false
                },
                Staged {
                    source: closed.join("dir"),
                    at: "/run/sealrun-stage/c1/1".into(),
                    recursive: true
                },
            ]
        );
        assert_eq!(config["mounts"][0]["source"], "/run/sealrun-stage/c1/0");
        assert_eq!(config["mounts"][1]["source"], "open/dir");
        assert_eq!(config["mounts"][2]["source"], "/run/sealrun-stage/c1/1");
        assert_eq!(ids(&config), Some((100000, 100000)));
        // No user namespace: nothing.
        let mut plain = json!({"linux": {}, "mounts": [{"source": "closed/dir", "destination": "/a", "options": ["bind"]}]});
        assert!(plan(&mut plain, dir.path(), "c2").is_empty());
    }
}
