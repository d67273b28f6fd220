//! One module per subcommand, plus the helpers they share.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;

pub mod checkpoint;
pub mod console;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod foreground;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

/// Global settings every subcommand works with.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// `--root`: one state directory per container lives below it.
    pub root: PathBuf,
    /// `--systemd-cgroup`
    pub systemd_cgroup: bool,
}

impl Runtime {
    /// The state root, created (mode 0700) if missing, canonicalized.
    pub fn ensure_root(&self) -> Result<PathBuf> {
        if !self.root.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)
                .with_context(|| format!("failed to create state root {}", self.root.display()))?;
        }
        fs::canonicalize(&self.root)
            .with_context(|| format!("failed to resolve state root {}", self.root.display()))
    }

    /// State directory of container `id` (which is validated first).
    pub fn container_dir(&self, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        Ok(self.root.join(id))
    }

    /// Loads the state of an existing container.
    pub fn load(&self, id: &str) -> Result<Container> {
        let dir = self.container_dir(id)?;
        if !dir.join("state.json").exists() {
            bail!(
                "container {id} does not exist (no state in {})",
                self.root.display()
            );
        }
        Container::load(dir).with_context(|| format!("failed to load the state of container {id}"))
    }
}

/// The libcgroups manager of a container's cgroup, at the path libcontainer
/// recorded when it created the container.
pub fn cgroup_manager(container: &Container) -> Result<libcgroups::common::AnyCgroupManager> {
    let id = container.id();
    let config = container
        .spec()
        .with_context(|| format!("failed to load the runtime config of container {id}"))?;
    libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: config.cgroup_path.clone(),
        systemd_cgroup: container.systemd(),
        container_name: id.to_owned(),
    })
    .with_context(|| format!("failed to open the cgroup of container {id}"))
}

/// Rejects ids that libcontainer would reject (and anything that is not a
/// plain file name, so an id can never point outside `--root`).
pub fn validate_id(id: &str) -> Result<()> {
    ContainerBuilder::new(id.to_owned(), SyscallType::default())
        .validate_id()
        .map(drop)
        .with_context(|| format!("invalid container id '{id}'"))
}

/// Removes a state directory a failed create/run/exec left behind, if this
/// invocation created it.
pub fn remove_leftover_dir(dir: &Path, existed_before: bool) {
    if existed_before || !dir.exists() {
        return;
    }
    match fs::remove_dir_all(dir) {
        Ok(()) => {
            tracing::debug!(dir = %dir.display(), "removed state directory of failed container")
        }
        Err(err) => {
            tracing::warn!(dir = %dir.display(), %err, "failed to remove state directory of failed container")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_escape_the_root_are_rejected() {
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["c1", "my-container_1.2", "abc+def"] {
            assert!(validate_id(good).is_ok(), "{good:?} rejected");
        }
    }
}
