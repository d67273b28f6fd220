//! The config libcontainer reads, corrected where it would act unlike runc.
//!
//! libcontainer 0.7.0 reads config.json from the bundle itself, at create
//! (`InitContainerBuilder::load_spec`) and again for every exec
//! (`TenantContainerBuilder::load_init_spec`, which derives the cgroup an
//! exec'd process joins from it). Where its reading differs from runc's,
//! sealrun hands it a corrected bundle instead (`with_bundle`): a directory
//! `prepared:<id>` beside the container's state (`:` is never part of a
//! container id), holding the corrected config.json and a symlink to every
//! other entry of the user's bundle, kept until the container is deleted.
//! libcontainer's state then names that directory; sealrun records the
//! user's bundle and `state`/`list` show it, as runc does. Hooks see the
//! prepared directory as the bundle (same config, same files). The
//! corrections, each what runc does:
//! - no `cgroupsPath`: the container's cgroup is `/<id>` (libcontainer
//!   uses `:youki:<id>`), with the cgroupfs driver;
//! - device cgroup rules: access letters other than `r`, `w`, `m` are
//!   dropped (runc ignores them; the kernel refuses `c 1:11 rwa`);
//! - seccomp: a rule whose action is the profile's default action is
//!   dropped (runc skips them; libseccomp refuses to add them, and the
//!   whole profile fails); a profile listing `architectures` gets the
//!   native one too (libseccomp's filter always covers it under runc;
//!   libcontainer's load fails without it);
//! - `process.noNewPrivileges: false` is left out (the same meaning), so
//!   that libcontainer loads seccomp before it drops capabilities.
//! - bind sources a user-namespace container's root cannot reach point at
//!   their staging paths, and the hooks sealrun's process runs are wrapped
//!   to run in the host's mount namespace (see `bindstage`); the config
//!   later readers see keeps the sources as given.
//!
//! The copy is edited as JSON, so fields oci-spec does not know survive.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libcontainer::oci_spec::runtime::{Capability, Process, Spec};

use crate::lend::GiveBack;
use serde_json::Value;

/// A prepared bundle directory, removed when dropped unless persisted.
pub struct PreparedBundle {
    dir: PathBuf,
    keep: bool,
    /// The corrected config, as libcontainer will read it.
    spec: Spec,
    /// Capabilities lent to the init in it (see [`lend_for_stub`]).
    lent: Option<GiveBack>,
    /// The config as later readers see it, which replaces it once
    /// libcontainer has built the init: without the lent capabilities
    /// (`exec` takes its processes from it) and with the bind sources as
    /// given, not their staging paths.
    later: Option<Vec<u8>>,
    /// Bind mounts staged for a user-namespace container (`bindstage`).
    binds: Option<crate::bindstage::Plan>,
}

impl PreparedBundle {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Capabilities the config lends the init, which its executor gives back.
    pub fn lent(&self) -> Option<&GiveBack> {
        self.lent.as_ref()
    }

    /// Stages the bind mounts the container's root cannot reach (see
    /// `bindstage`): the main thread is in a mount namespace of sealrun's
    /// own until the returned stage is left. Call right before the build.
    pub fn stage_binds(&self) -> Result<Option<crate::bindstage::Stage<'_>>> {
        self.binds
            .as_ref()
            .map(crate::bindstage::Plan::stage)
            .transpose()
    }

    /// `err` naming bind sources as the user gave them, not their staging
    /// paths (see `bindstage`).
    pub fn name_sources(&self, err: anyhow::Error) -> anyhow::Error {
        match &self.binds {
            Some(binds) => binds.name_sources(err),
            None => err,
        }
    }

    /// The corrected config (what the copy's config.json holds).
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The container exists: the directory stays until it is deleted
    /// ([`remove`]), with the config as later readers must see it. An
    /// error leaves the directory to the caller's discarding of the
    /// container.
    pub fn persist(mut self) -> Result<()> {
        if let Some(later) = self.later.take() {
            // Never the lent capabilities in what `exec` reads: written
            // aside and renamed over, so no reader sees half a file.
            let path = self.dir.join("config.json");
            let next = self.dir.join("config.json.later");
            std::fs::write(&next, later)
                .and_then(|()| std::fs::rename(&next, &path))
                .with_context(|| format!("failed to write {}", path.display()))?;
        }
        if self.lent.is_some() {
            let lent = self.dir.join(LENT);
            std::fs::remove_file(&lent)
                .with_context(|| format!("failed to remove {}", lent.display()))?;
        }
        self.keep = true;
        Ok(())
    }
}

impl Drop for PreparedBundle {
    fn drop(&mut self) {
        if !self.keep {
            remove_dir(&self.dir);
        }
    }
}

/// Where the prepared bundle of the container whose state directory is
/// `state_dir` lives.
fn dir_for(root: &Path, id: &str) -> PathBuf {
    root.join(format!("prepared:{id}"))
}

/// Removes the prepared bundle of the container whose state directory is
/// `state_dir`, if it has one.
pub fn remove(state_dir: &Path) {
    let (Some(root), Some(id)) = (state_dir.parent(), state_dir.file_name()) else {
        return;
    };
    remove_dir(&dir_for(root, &id.to_string_lossy()));
}

fn remove_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), %err, "failed to remove the prepared bundle")
        }
        _ => {}
    }
}

/// Writes the corrected config of `bundle` (canonical) for container `id`
/// under `root`, or returns `None` when it needs no correction. `original`
/// is the bundle's config as parsed and the bytes it was parsed from
/// (`config::load_spec_and_bytes`): the JSON to correct is those bytes, not
/// a second read that could differ, and the profile and process are taken
/// from the parse rather than parsed again out of the JSON value, which
/// would carry a second copy of their deserializers.
pub fn prepare(
    root: &Path,
    id: &str,
    bundle: &Path,
    (original, bytes): (&Spec, &[u8]),
    systemd: bool,
    no_pivot: bool,
) -> Result<Option<PreparedBundle>> {
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(bytes)
        .with_context(|| format!("failed to parse {}", path.display()))?;
    let rootfs = config
        .pointer("/root/path")
        .and_then(Value::as_str)
        .map(|p| bundle.join(p));
    // The stub's limit counts every syscall the profile names, those in
    // rules `correct` drops (equal to the default action) too.
    let names_before = seccomp_names(&config);
    let needs_stub = stub_for(original, &names_before).is_some();
    let mut changed = correct(&mut config, id, systemd);
    let dropped_names = seccomp_names(&config) != names_before;
    if let Some(rootfs) = &rootfs {
        changed |= crate::hooks::wrap(&mut config, rootfs);
    }
    // The executor runs them, as runc does (see `start_hooks`).
    changed |= crate::start_hooks::strip(&mut config);
    let binds = crate::bindstage::plan(&config, bundle, no_pivot)?;
    changed |= dropped_names || needs_stub || binds.is_some();
    if !changed {
        return Ok(None);
    }
    // The root filesystem stays where it is, also when it is the bundle
    // itself (`root.path` "."), which the copy's directory is not.
    if let (Some(root_path), Some(rootfs)) = (config.pointer_mut("/root/path"), &rootfs) {
        *root_path = Value::from(rootfs.to_string_lossy().into_owned());
    }
    // What later readers (`exec`) see: the config without the lent
    // capabilities or staging paths. Taken after the root path became
    // absolute.
    let later = config.clone();
    let lent = if needs_stub {
        lend_for_stub(original, &mut config)?
    } else {
        None
    };
    if let Some(binds) = &binds {
        binds.rewrite(&mut config);
    }
    let dir = dir_for(root, id);
    // Never taken over: another create of this id may be using it right
    // now. One left by a create that died is removed by `delete --force`.
    std::fs::create_dir(&dir).with_context(|| {
        format!(
            "failed to create {} (a create of container {id} is running, or one died: `delete --force {id}` removes it)",
            dir.display()
        )
    })?;
    let mut prepared = PreparedBundle {
        dir,
        keep: false,
        // Read back from the file below (see `config::load_spec`).
        spec: Spec::default(),
        later: (lent.is_some() || binds.is_some())
            .then(|| serde_json::to_vec(&later))
            .transpose()?,
        lent,
        binds,
    };
    // Everything else of the bundle, where hooks expect it.
    for entry in
        std::fs::read_dir(bundle).with_context(|| format!("failed to list {}", bundle.display()))?
    {
        let name = entry
            .with_context(|| format!("failed to list {}", bundle.display()))?
            .file_name();
        if name == "config.json" {
            continue;
        }
        let link = prepared.dir.join(&name);
        std::os::unix::fs::symlink(bundle.join(&name), &link)
            .with_context(|| format!("failed to create {}", link.display()))?;
    }
    if dropped_names {
        write_json(
            &prepared.dir.join(SECCOMP_NAMES),
            &Value::from(names_before),
        )?;
    }
    if let Some(lent) = &prepared.lent {
        // Until `persist` replaces the config, anything that takes a
        // process from it takes these out again (`take_lent`).
        write_json(&prepared.dir.join(LENT), &lent.to_json())?;
    }
    let copy = prepared.dir.join("config.json");
    write_json(&copy, &config)?;
    prepared.spec = crate::config::load_spec(&copy)
        .with_context(|| format!("failed to parse the corrected {}", path.display()))?;
    tracing::debug!(id, dir = %prepared.dir.display(), "config prepared for libcontainer");
    Ok(Some(prepared))
}

/// In a prepared bundle: the capabilities its config lends the init, while
/// it does (see [`PreparedBundle::persist`]).
const LENT: &str = "lent-capabilities.json";
/// In a prepared bundle: every syscall name of the bundle's profile, when
/// `correct` dropped rules (the -ENOSYS stub's limit counts them).
const SECCOMP_NAMES: &str = "seccomp-names.json";

fn write_json(path: &Path, value: &Value) -> Result<()> {
    std::fs::write(path, serde_json::to_vec(value)?)
        .with_context(|| format!("failed to write {}", path.display()))
}

/// A process taken from the config of `bundle` (a prepared one, as
/// libcontainer's state names it) without what that config lends the init.
pub fn take_lent(bundle: &Path, process: &mut Process) -> Result<()> {
    let path = bundle.join(LENT);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
    };
    let lent: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("failed to parse {}", path.display()))?;
    GiveBack::from_json(&lent)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .take_from(process);
    Ok(())
}

/// The -ENOSYS stub of the profile in `spec`, the config of `bundle` (a
/// prepared one keeps the names `correct` dropped, which its limit counts).
pub fn seccomp_stub(bundle: &Path, spec: &Spec) -> Option<crate::seccomp_stub::Stub> {
    let profile = spec.linux().as_ref()?.seccomp().as_ref()?;
    let kept = std::fs::read(bundle.join(SECCOMP_NAMES))
        .ok()
        .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok());
    let names = kept.unwrap_or_else(|| {
        profile
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|rule| rule.names().iter().cloned())
            .collect()
    });
    crate::seccomp_stub::Stub::for_profile(profile, &names)
}

/// Every syscall name in the config's seccomp rules, in order.
fn seccomp_names(config: &Value) -> Vec<String> {
    config
        .pointer("/linux/seccomp/syscalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|rule| rule.get("names").and_then(Value::as_array))
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// The -ENOSYS stub the config's profile gets, if any.
fn stub_for(spec: &Spec, names: &[String]) -> Option<crate::seccomp_stub::Stub> {
    let profile = spec.linux().as_ref()?.seccomp().as_ref()?;
    crate::seccomp_stub::Stub::for_profile(profile, names)
}

/// The init loads the profile's -ENOSYS stub (`seccomp_stub`) after
/// libcontainer has dropped to the process's capabilities: without
/// no_new_privs that takes CAP_SYS_ADMIN, lent in the config libcontainer
/// reads and taken back by the executor before the init waits for `start`.
///
/// The process is the bundle's (`correct` changes only a
/// `noNewPrivileges: false`, which reads the same here, and never the
/// capabilities written back).
fn lend_for_stub(original: &Spec, config: &mut Value) -> Result<Option<GiveBack>> {
    let Some(mut process) = original.process().clone() else {
        return Ok(None);
    };
    if process.no_new_privileges() == Some(true) {
        return Ok(None);
    }
    let lent = crate::lend::lend(&mut process, &[Capability::SysAdmin]);
    if lent.is_some() {
        config["process"]["capabilities"] = serde_json::to_value(process.capabilities())?;
    }
    Ok(lent)
}

/// Applies the corrections; whether anything changed.
fn correct(config: &mut Value, id: &str, systemd: bool) -> bool {
    let mut changed = false;
    // Not a mount(2) option: sealrun copies up after create (`tmpcopyup`).
    for mount in config
        .get_mut("mounts")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(options) = mount.get_mut("options").and_then(Value::as_array_mut) {
            let before = options.len();
            options.retain(|o| o != crate::tmpcopyup::OPTION);
            changed |= options.len() != before;
        }
    }
    // `noNewPrivileges: false` means the same as no value, but
    // libcontainer's container_init_process tests `is_none()`: with `false`
    // it loads the seccomp filter only after dropping to the process's
    // capabilities, where without no_new_privs the kernel refuses it
    // (EACCES). runc loads it while the init still holds CAP_SYS_ADMIN.
    if let Some(process) = config.get_mut("process").and_then(Value::as_object_mut) {
        if process.get("noNewPrivileges") == Some(&Value::Bool(false)) {
            process.remove("noNewPrivileges");
            changed = true;
        }
    }
    let Some(linux) = config.get_mut("linux").and_then(Value::as_object_mut) else {
        return changed;
    };
    let no_path = linux
        .get("cgroupsPath")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if no_path && !systemd {
        linux.insert("cgroupsPath".into(), Value::from(format!("/{id}")));
        changed = true;
    }
    if let Some(rules) = linux
        .get_mut("resources")
        .and_then(|r| r.get_mut("devices"))
        .and_then(Value::as_array_mut)
    {
        for rule in rules {
            let Some(access) = rule.get("access").and_then(Value::as_str) else {
                continue;
            };
            let mut kept = String::new();
            for c in access.chars() {
                if "rwm".contains(c) && !kept.contains(c) {
                    kept.push(c);
                }
            }
            if kept != access {
                rule["access"] = Value::from(kept);
                changed = true;
            }
        }
    }
    if let Some(seccomp) = linux.get_mut("seccomp").and_then(Value::as_object_mut) {
        if let (Some(native), Some(archs)) = (
            native_arch(),
            seccomp
                .get_mut("architectures")
                .and_then(Value::as_array_mut),
        ) {
            if !archs.is_empty() && !archs.iter().any(|a| a == native) {
                archs.insert(0, Value::from(native));
                changed = true;
            }
        }
        let default = seccomp.get("defaultAction").cloned();
        let default_errno = seccomp.get("defaultErrnoRet").cloned();
        if let Some(calls) = seccomp.get_mut("syscalls").and_then(Value::as_array_mut) {
            let before = calls.len();
            calls.retain(|call| {
                let same_action = call.get("action") == default.as_ref();
                let same_errno = call.get("errnoRet").is_none()
                    || call.get("errnoRet") == default_errno.as_ref();
                !(same_action && same_errno)
            });
            changed |= calls.len() != before;
            for arg in calls
                .iter_mut()
                .filter_map(|call| call.get_mut("args").and_then(Value::as_array_mut))
                .flatten()
            {
                changed |= swap_masked_eq(arg);
            }
        }
    }
    changed
}

/// `SCMP_CMP_MASKED_EQ` compares `(arg & value) == valueTwo` in runc (and
/// docker's, podman's and Kubernetes' profiles are written so: clone is
/// allowed when `(flags & 0x7E020000) == 0`, no namespace flags).
/// libcontainer 0.7.0 (`seccomp::translate_op`) gives libseccomp valueTwo
/// as the mask and value as the datum, which libseccomp then masks too:
/// `(flags & 0) == 0`, always true, so that profile let a container clone
/// new namespaces. Swapped here, libcontainer's reading is runc's.
fn swap_masked_eq(arg: &mut Value) -> bool {
    if arg.get("op").and_then(Value::as_str) != Some("SCMP_CMP_MASKED_EQ") {
        return false;
    }
    // Absent and null both mean 0 (as in runc and libcontainer).
    let number = |key: &str| match arg.get(key) {
        None | Some(Value::Null) => Value::from(0),
        Some(v) => v.clone(),
    };
    let (value, value_two) = (number("value"), number("valueTwo"));
    arg["value"] = value_two;
    arg["valueTwo"] = value;
    true
}

/// libseccomp's name of the architecture sealrun runs on.
fn native_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("SCMP_ARCH_X86_64"),
        "x86" => Some("SCMP_ARCH_X86"),
        "aarch64" => Some("SCMP_ARCH_AARCH64"),
        "arm" => Some("SCMP_ARCH_ARM"),
        "powerpc64" => Some("SCMP_ARCH_PPC64LE"),
        "s390x" => Some("SCMP_ARCH_S390X"),
        "riscv64" => Some("SCMP_ARCH_RISCV64"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn corrections_are_runcs() {
        let mut config = json!({
            "root": {"path": "rootfs"},
            "linux": {
                "resources": {"devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwa"}
                ]},
                "seccomp": {
                    "defaultAction": "SCMP_ACT_ERRNO",
                    "architectures": ["SCMP_ARCH_X32"],
                    "syscalls": [
                        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                        {"names": ["bind"], "action": "SCMP_ACT_ERRNO", "errnoRet": 100}
                    ]
                },
                "futureField": {"kept": true}
            }
        });
        assert!(correct(&mut config, "c1", false));
        assert_eq!(config["linux"]["cgroupsPath"], "/c1");
        assert_eq!(config["linux"]["resources"]["devices"][0]["access"], "rwm");
        assert_eq!(config["linux"]["resources"]["devices"][1]["access"], "rw");
        let names: Vec<&str> = config["linux"]["seccomp"]["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["names"][0].as_str().unwrap())
            .collect();
        assert_eq!(names, ["read", "bind"]);
        let archs = config["linux"]["seccomp"]["architectures"]
            .as_array()
            .unwrap();
        assert_eq!(archs.len(), 2);
        assert_eq!(archs[0], native_arch().unwrap());
        assert_eq!(config["linux"]["futureField"]["kept"], true);
        // Nothing to correct: no copy.
        assert!(!correct(&mut config, "c1", false));
        // The systemd driver keeps libcontainer's own default.
        let mut systemd = json!({"linux": {}});
        assert!(!correct(&mut systemd, "c1", true));
        // noNewPrivileges: false goes (libcontainer's seccomp order), true stays.
        let mut nnp = json!({"process": {"noNewPrivileges": false}});
        assert!(correct(&mut nnp, "c1", true));
        assert_eq!(nnp["process"], json!({}));
        let mut nnp = json!({"process": {"noNewPrivileges": true}});
        assert!(!correct(&mut nnp, "c1", true));
    }

    #[test]
    fn masked_eq_reads_as_runc_reads_it() {
        let mut config = json!({"linux": {"cgroupsPath": "/x", "seccomp": {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"},
                {"index": 2, "value": 3840, "valueTwo": 256, "op": "SCMP_CMP_MASKED_EQ"},
                {"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}
            ]}]
        }}});
        assert!(correct(&mut config, "c1", false));
        assert_eq!(
            config["linux"]["seccomp"]["syscalls"][0]["args"],
            json!([
                {"index": 0, "value": 0, "valueTwo": 2114060288, "op": "SCMP_CMP_MASKED_EQ"},
                {"index": 2, "value": 256, "valueTwo": 3840, "op": "SCMP_CMP_MASKED_EQ"},
                {"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}
            ])
        );
    }

    #[test]
    fn the_init_borrows_cap_sys_admin_for_the_stub_only_without_no_new_privs() {
        let config = |nnp: Option<bool>, default: &str, effective: &[&str]| {
            let mut c = json!({
                "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "capabilities": {
                    "bounding": effective, "effective": effective, "permitted": effective
                }},
                "linux": {"seccomp": {"defaultAction": default,
                    "syscalls": [{"names": ["read", "seccomp"], "action": "SCMP_ACT_ALLOW"}]}}
            });
            if let Some(nnp) = nnp {
                c["process"]["noNewPrivileges"] = json!(nnp);
            }
            c
        };
        // What prepare does: a stub, then the loan where it is needed.
        let lend = |c: &mut Value| -> Option<GiveBack> {
            let names = seccomp_names(c);
            let original: Spec = serde_json::from_value(c.clone()).unwrap();
            stub_for(&original, &names)?;
            lend_for_stub(&original, c).unwrap()
        };
        let mut c = config(None, "SCMP_ACT_ERRNO", &["CAP_KILL"]);
        let lent = lend(&mut c).expect("lent");
        let caps = &c["process"]["capabilities"];
        for set in ["bounding", "effective", "permitted"] {
            let set: Vec<&str> = caps[set]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                set.contains(&"CAP_SYS_ADMIN") && set.contains(&"CAP_KILL"),
                "{caps}"
            );
        }
        assert_eq!(caps.get("inheritable"), None, "never inheritable: {caps}");
        // What exec takes from such a config goes back to what was asked for.
        let mut process: Process = serde_json::from_value(c["process"].clone()).unwrap();
        GiveBack::from_json(&lent.to_json())
            .unwrap()
            .take_from(&mut process);
        let back: Process =
            serde_json::from_value(config(None, "x", &["CAP_KILL"])["process"].clone()).unwrap();
        assert_eq!(process.capabilities(), back.capabilities());
        for (nnp, default, effective) in [
            (Some(true), "SCMP_ACT_ERRNO", &["CAP_KILL"][..]),
            (None, "SCMP_ACT_ALLOW", &["CAP_KILL"][..]),
            (None, "SCMP_ACT_ERRNO", &["CAP_SYS_ADMIN"][..]),
        ] {
            let mut c = config(nnp, default, effective);
            let before = c.clone();
            assert!(lend(&mut c).is_none(), "{nnp:?} {default} {effective:?}");
            assert_eq!(c, before);
        }
        // Explicit nulls read as libcontainer reads them.
        let null: Spec = serde_json::from_value(json!({"linux": {"seccomp": null}})).unwrap();
        assert!(stub_for(&null, &[]).is_none());
        let mut arg = json!({"op": "SCMP_CMP_MASKED_EQ", "value": 7, "valueTwo": null});
        assert!(swap_masked_eq(&mut arg));
        assert_eq!(
            arg,
            json!({"op": "SCMP_CMP_MASKED_EQ", "value": 0, "valueTwo": 7})
        );
    }

    #[test]
    fn prepared_copy_links_the_bundle_and_goes_away() {
        let bundle = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(bundle.path().join("rootfs")).unwrap();
        std::fs::write(
            bundle.path().join("config.json"),
            json!({"root": {"path": "rootfs"}, "linux": {}}).to_string(),
        )
        .unwrap();
        let prepare_c1 = || {
            let (original, bytes) =
                crate::config::load_spec_and_bytes(&bundle.path().join("config.json")).unwrap();
            prepare(
                root.path(),
                "c1",
                bundle.path(),
                (&original, &bytes),
                false,
                false,
            )
            .unwrap()
            .unwrap()
        };
        let prepared = prepare_c1();
        let copy: Value =
            serde_json::from_slice(&std::fs::read(prepared.dir().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(copy["linux"]["cgroupsPath"], "/c1");
        let spec = prepared.spec();
        assert_eq!(
            spec.linux().as_ref().unwrap().cgroups_path().as_deref(),
            Some(Path::new("/c1"))
        );
        assert_eq!(
            std::fs::canonicalize(prepared.dir().join("rootfs")).unwrap(),
            std::fs::canonicalize(bundle.path().join("rootfs")).unwrap()
        );
        // Dropped before the container exists: gone.
        let dir = prepared.dir().to_owned();
        drop(prepared);
        assert!(!dir.exists());
        // Persisted: stays until the container's delete removes it.
        let prepared = prepare_c1();
        prepared.persist().unwrap();
        assert!(dir.exists());
        remove(&root.path().join("c1"));
        assert!(!dir.exists());
    }
}
