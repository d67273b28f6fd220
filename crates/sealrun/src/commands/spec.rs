//! `sealrun spec [--bundle DIR] [--rootless]`: writes the config.json that
//! `runc spec` writes, field for field, so that scripts and test suites
//! built around runc's default bundle (a terminal, a deny-all device rule,
//! hostname `runc`, a cgroup namespace only on cgroup v2) behave the same.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

pub fn spec(args: liboci_cli::Spec) -> Result<()> {
    let bundle = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let cgroup_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let mut spec = default_spec(cgroup_v2);
    if args.rootless {
        to_rootless(
            &mut spec,
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
    }
    let json =
        serde_json::to_string_pretty(&spec).context("failed to serialize the default spec")?;
    std::fs::write(&path, json + "\n")
        .with_context(|| format!("failed to write {}", path.display()))
}

/// runc 1.1's example spec.
fn default_spec(cgroup_v2: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if cgroup_v2 {
        namespaces.push(json!({"type": "cgroup"}));
    }
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// `runc spec --rootless`: a user namespace mapping the caller to root, no
/// network namespace, /sys bound from the host, no uid=/gid= mount options,
/// no cgroup resources.
fn to_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    let mut namespaces: Vec<Value> = linux["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|ns| ns["type"] != "network" && ns["type"] != "user")
        .collect();
    namespaces.push(json!({"type": "user"}));
    linux["namespaces"] = Value::Array(namespaces);
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
    }
    for mount in spec["mounts"].as_array_mut().into_iter().flatten() {
        if mount["destination"] == "/sys" {
            *mount = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            continue;
        }
        if let Some(options) = mount["options"].as_array_mut() {
            options.retain(|o| {
                o.as_str()
                    .is_none_or(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::oci_spec::runtime::Spec;

    #[test]
    fn default_spec_is_runcs_and_parses() {
        let v1 = default_spec(false);
        assert_eq!(v1["process"]["terminal"], true);
        assert_eq!(v1["hostname"], "runc");
        assert_eq!(
            v1["linux"]["resources"]["devices"],
            json!([{"allow": false, "access": "rwm"}])
        );
        assert!(v1["process"]["capabilities"].get("inheritable").is_none());
        let ns = |v: &Value| -> Vec<String> {
            v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ns(&v1), ["pid", "network", "ipc", "uts", "mount"]);
        assert_eq!(ns(&default_spec(true)).last().unwrap(), "cgroup");
        let _: Spec = serde_json::from_value(v1).expect("oci-spec parses it");
    }

    #[test]
    fn rootless_maps_the_caller_and_drops_what_needs_root() {
        let mut spec = default_spec(false);
        to_rootless(&mut spec, 1000, 1001);
        let ns: Vec<&str> = spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "user"]);
        assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], 1000);
        assert_eq!(spec["linux"]["gidMappings"][0]["hostID"], 1001);
        assert!(spec["linux"].get("resources").is_none());
        let pts = &spec["mounts"][2];
        assert_eq!(pts["destination"], "/dev/pts");
        assert!(!pts["options"].as_array().unwrap().contains(&json!("gid=5")));
        assert_eq!(spec["mounts"][5]["source"], "/sys");
        let _: Spec = serde_json::from_value(spec).expect("oci-spec parses it");
    }
}
