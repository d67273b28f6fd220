//! `sealrun state ID`: the container's state as OCI state JSON (with runc's
//! extra `rootfs`, `created` and `owner` fields).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use libcontainer::container::{Container, ContainerStatus};
use serde::Serialize;

use super::Runtime;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    /// 0 once the container has stopped, like runc.
    pub pid: i32,
    pub status: ContainerStatus,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
}

impl OciState {
    pub fn of(container: &Container) -> Self {
        let state = &container.state;
        // The user's bundle, also where libcontainer was given a prepared one.
        let bundle = crate::record::read(&container.root)
            .ok()
            .and_then(|r| r.bundle)
            .unwrap_or_else(|| state.bundle.clone());
        let pid = match state.status {
            ContainerStatus::Stopped => 0,
            _ => state.pid.unwrap_or(0),
        };
        Self {
            oci_version: state.oci_version.clone(),
            id: state.id.clone(),
            pid,
            status: state.status,
            rootfs: rootfs_of(&bundle).unwrap_or_default(),
            bundle,
            created: state.created.map(|t| t.to_rfc3339()).unwrap_or_default(),
            owner: state.creator.map(owner_name).unwrap_or_default(),
            annotations: state.annotations.clone().filter(|a| !a.is_empty()),
        }
    }
}

/// The absolute rootfs path from the bundle's config.json, if readable.
fn rootfs_of(bundle: &std::path::Path) -> Option<PathBuf> {
    let spec = libcontainer::oci_spec::runtime::Spec::load(bundle.join("config.json")).ok()?;
    let path = spec.root().as_ref()?.path().clone();
    Some(if path.is_absolute() {
        path
    } else {
        bundle.join(path)
    })
}

fn owner_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    }
}

pub fn state(runtime: &Runtime, args: liboci_cli::State) -> Result<()> {
    let container = runtime.load(&args.container_id)?;
    let json = serde_json::to_string_pretty(&OciState::of(&container))
        .context("failed to serialize container state")?;
    println!("{json}");
    Ok(())
}
