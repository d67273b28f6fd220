//! The container must not be able to undo what its spec asks of the kernel
//! (root only): its cgroup limits, the read-only cgroup mount, read-only
//! and masked paths, read-only /sys. Each check is made from inside the
//! container (the write fails) and, for limits, from the host (the values
//! read back unchanged).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TestEnv;
use serde_json::{json, Value};

const MEMORY_LIMIT: u64 = 16 * 1024 * 1024;
const PIDS_LIMIT: u64 = 50;
const CPU_QUOTA: i64 = 50_000;
const CPU_PERIOD: u64 = 100_000;

fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The limit files the container tries to raise, as seen inside it, with
/// the value it writes.
fn limit_writes() -> Vec<(&'static str, &'static str)> {
    if cgroup_v2() {
        vec![
            ("memory.max", "max"),
            ("pids.max", "max"),
            ("cpu.max", "max 100000"),
        ]
    } else {
        vec![
            ("memory/memory.limit_in_bytes", "1073741824"),
            ("pids/pids.max", "max"),
            ("cpu/cpu.cfs_quota_us", "-1"),
        ]
    }
}

/// A script line per attempt: `WRITE <path> ok` or `WRITE <path> <error>`.
fn attempt(path: &str, value: &str) -> String {
    format!(
        "if err=$( (echo '{value}' > '{path}') 2>&1 ); then echo 'WRITE {path} ok'; else echo \"WRITE {path} $err\"; fi"
    )
}

/// Starts a detached container running `script` (then sleeping), waits
/// until the script has written its report to /out/report (a bind mount of
/// a host directory: the root filesystem is read-only), and returns
/// (container id, bundle, init pid, report).
fn start_reporting(
    env: &TestEnv,
    name: &str,
    script: &str,
    edit: impl FnOnce(&mut Value),
) -> (String, PathBuf, i32, String) {
    let id = env.id(name);
    let full = format!(
        "( {script} ) > /out/report.part 2>&1; mv /out/report.part /out/report; exec sleep 1000"
    );
    let bundle = env.bundle(name, &["sh", "-c", &full]);
    let out = env.dir.path().join(format!("{name}-out"));
    std::fs::create_dir(&out).unwrap();
    std::fs::create_dir(bundle.join("rootfs/out")).unwrap();
    env.edit_config(&bundle, |config| {
        config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"],
        }));
        edit(config);
    });
    let bundle_arg = bundle.to_str().unwrap().to_owned();
    env.sealrun(&["create", "--bundle", &bundle_arg, &id])
        .assert_ok();
    env.sealrun(&["start", &id]).assert_ok();
    let report_path = out.join("report");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !report_path.exists() {
        assert!(Instant::now() < deadline, "container {id} wrote no report");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = env.state(&id)["pid"].as_i64().unwrap() as i32;
    let report = std::fs::read_to_string(&report_path).unwrap();
    (id, bundle, pid, report)
}

fn limited(config: &mut Value) {
    config["linux"]["resources"] = json!({
        "memory": {"limit": MEMORY_LIMIT, "disableOOMKiller": true},
        "pids": {"limit": PIDS_LIMIT},
        "cpu": {"quota": CPU_QUOTA, "period": CPU_PERIOD},
    });
}

/// The container's cgroup directory (on the host) of the hierarchy that
/// holds `controller` (v1) or the unified one (v2).
fn host_cgroup_dir(pid: i32, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (id, ctrls, path) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        if cgroup_v2() && id == "0" {
            return Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
        }
        if !cgroup_v2() && ctrls.split(',').any(|c| c == controller) {
            let mount = Path::new("/sys/fs/cgroup").join(ctrls);
            let mount = if mount.exists() {
                mount
            } else {
                Path::new("/sys/fs/cgroup").join(controller)
            };
            return mount.join(path.trim_start_matches('/'));
        }
    }
    panic!("process {pid} has no {controller} cgroup in {text}");
}

fn read_host(pid: i32, controller: &str, file: &str) -> String {
    let path = host_cgroup_dir(pid, controller).join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// The limits, read on the host: what the spec asked for.
fn assert_limits_unchanged(pid: i32) {
    if cgroup_v2() {
        assert_eq!(read_host(pid, "", "memory.max"), MEMORY_LIMIT.to_string());
        assert_eq!(read_host(pid, "", "pids.max"), PIDS_LIMIT.to_string());
        assert_eq!(
            read_host(pid, "", "cpu.max"),
            format!("{CPU_QUOTA} {CPU_PERIOD}")
        );
    } else {
        assert_eq!(
            read_host(pid, "memory", "memory.limit_in_bytes"),
            MEMORY_LIMIT.to_string()
        );
        assert_eq!(read_host(pid, "pids", "pids.max"), PIDS_LIMIT.to_string());
        assert_eq!(
            read_host(pid, "cpu", "cpu.cfs_quota_us"),
            CPU_QUOTA.to_string()
        );
    }
}

/// Mounts of process `pid` at or below `dest`: (root, mount point, per-mount options).
fn mounts_below(pid: i32, dest: &str) -> Vec<(String, String, String)> {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let (root, point, opts) = (f[3], f[4], f[5]);
            (point == dest || point.starts_with(&format!("{dest}/")))
                .then(|| (root.to_owned(), point.to_owned(), opts.to_owned()))
        })
        .collect()
}

#[test]
fn container_cannot_raise_its_own_cgroup_limits() {
    let Some(env) = common::env("container_cannot_raise_its_own_cgroup_limits") else {
        return;
    };
    let writes = limit_writes();
    let mut script: Vec<String> = writes
        .iter()
        .map(|(file, value)| attempt(&format!("/sys/fs/cgroup/{file}"), value))
        .collect();
    // Nor make itself a sub-cgroup without limits.
    script.push("if mkdir /sys/fs/cgroup/escape 2>/dev/null || mkdir /sys/fs/cgroup/memory/escape 2>/dev/null; then echo MKDIR ok; else echo MKDIR refused; fi".into());
    let (id, _bundle, pid, report) = start_reporting(&env, "limits", &script.join("\n"), limited);

    for (file, _) in &writes {
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("WRITE /sys/fs/cgroup/{file} ")))
            .unwrap_or_else(|| panic!("no attempt on {file} in report:\n{report}"));
        assert!(
            line.contains("Read-only file system"),
            "the container could write its limit {file}: {line}\n{report}"
        );
    }
    assert!(report.contains("MKDIR refused"), "{report}");
    assert_limits_unchanged(pid);
    if !cgroup_v2() {
        // disableOOMKiller, which libcontainer drops, is applied by sealrun.
        let oom = read_host(pid, "memory", "memory.oom_control");
        assert!(
            oom.lines().any(|l| l == "oom_kill_disable 1"),
            "disableOOMKiller not applied:\n{oom}"
        );
        // And kept by an update of the memory limit (libcgroups rewrites
        // memory.oom_control with every memory update).
        let limit = (2 * MEMORY_LIMIT).to_string();
        env.sealrun(&["update", "--memory", &limit, &id])
            .assert_ok();
        assert_eq!(read_host(pid, "memory", "memory.limit_in_bytes"), limit);
        let oom = read_host(pid, "memory", "memory.oom_control");
        assert!(
            oom.lines().any(|l| l == "oom_kill_disable 1"),
            "update undid disableOOMKiller:\n{oom}"
        );
    }

    // Every mount at /sys/fs/cgroup is read-only, nosuid, nodev, noexec,
    // and binds the container's own cgroup, never a hierarchy's root (the
    // host's name=systemd tree was bound from "/" before).
    let mounts = mounts_below(pid, "/sys/fs/cgroup");
    assert!(!mounts.is_empty(), "no cgroup mount in the container");
    let own = host_cgroup_dir(pid, if cgroup_v2() { "" } else { "memory" });
    let own_name = own.file_name().unwrap().to_string_lossy().into_owned();
    for (root, point, opts) in &mounts {
        let flags: Vec<&str> = opts.split(',').collect();
        for want in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(
                flags.contains(&want),
                "{point} is mounted {opts}, not {want}"
            );
        }
        if point != "/sys/fs/cgroup" || cgroup_v2() {
            assert!(
                root.ends_with(&own_name),
                "{point} binds cgroup {root}, not the container's own ({})",
                own.display()
            );
        }
    }
    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// With `rw` in the options (runc's suite does this to test sub-cgroups),
/// the container may manage its own subtree, and delete removes what it made.
#[test]
fn rw_cgroup_mount_is_honoured_and_sub_cgroups_are_removed() {
    let Some(env) = common::env("rw_cgroup_mount_is_honoured_and_sub_cgroups_are_removed") else {
        return;
    };
    let sub = if cgroup_v2() {
        "/sys/fs/cgroup/sub"
    } else {
        "/sys/fs/cgroup/memory/sub"
    };
    let script = format!("mkdir {sub} && echo MKDIR ok");
    let (id, _bundle, pid, report) = start_reporting(&env, "rw", &script, |config| {
        for m in config["mounts"].as_array_mut().unwrap() {
            if m["type"] == "cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
            }
        }
    });
    assert!(report.contains("MKDIR ok"), "{report}");
    let host_sub = host_cgroup_dir(pid, "memory").join("sub");
    assert!(host_sub.is_dir(), "{} missing", host_sub.display());
    env.sealrun(&["delete", "--force", &id]).assert_ok();
    assert!(!host_sub.exists(), "{} left behind", host_sub.display());
    env.assert_nothing_left(&id);
}

/// Every readonlyPaths entry, /proc/sysrq-trigger and /sys refuse writes;
/// every maskedPaths entry shows nothing of the host's file.
#[test]
fn readonly_and_masked_paths_hold_against_the_container() {
    let Some(env) = common::env("readonly_and_masked_paths_hold_against_the_container") else {
        return;
    };
    // The spec sealrun writes, as docker and runc do.
    let probe = env.bundle("probe", &["true"]);
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(probe.join("config.json")).unwrap()).unwrap();
    let list = |key: &str| -> Vec<String> {
        config["linux"][key]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let (readonly, masked) = (list("readonlyPaths"), list("maskedPaths"));
    assert!(
        readonly.iter().any(|p| p == "/proc/sysrq-trigger"),
        "{readonly:?}"
    );
    assert!(readonly.iter().any(|p| p == "/proc/sys"), "{readonly:?}");

    // Opening for writing (`: >>` writes no byte) is refused with EROFS by a
    // read-only mount before the file's content matters: harmless on every
    // path even where the check would fail. In a directory: the first
    // regular file; a directory with none (procfs cannot create files) is
    // judged by its mount's flags instead.
    let mut script = String::from(
        "probe() { p=$1; t=$p; if [ -d \"$p\" ]; then t=$(find \"$p\" -maxdepth 4 -type f 2>/dev/null | head -n1); fi; \
         if [ -z \"$t\" ]; then echo \"RO $p mount $(awk -v p=\"$p\" '$5 == p {print $6}' /proc/self/mountinfo | tail -n1)\"; \
         elif err=$( (: >> \"$t\") 2>&1 ); then echo \"RO $p ok $t\"; else echo \"RO $p $err\"; fi; }\n",
    );
    for p in readonly.iter().chain(std::iter::once(&"/sys".to_owned())) {
        script.push_str(&format!(
            "[ -e {p} ] && probe {p} || echo 'RO {p} absent'\n"
        ));
    }
    for p in &masked {
        script.push_str(&format!(
            "if [ -d {p} ]; then echo \"MASKED {p} dir $(ls -A {p} | wc -l) $( (: > {p}/x) 2>&1 || true)\"; \
             elif [ -e {p} ]; then echo \"MASKED {p} file $(stat -c %t:%T {p}) $(head -c 64 {p} | wc -c)\"; \
             else echo \"MASKED {p} absent\"; fi\n"
        ));
    }
    // Docker's default capabilities: with CAP_DAC_OVERRIDE a file's mode
    // bits do not refuse the write first, so only the mount can.
    let (id, _bundle, _pid, report) = start_reporting(&env, "paths", &script, |config| {
        let caps = json!(common::DOCKER_DEFAULT_CAPS);
        config["process"]["capabilities"] = json!({
            "bounding": caps, "effective": caps, "permitted": caps,
        });
    });
    let mut checked = 0;
    for p in readonly.iter().chain(std::iter::once(&"/sys".to_owned())) {
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("RO {p} ")))
            .unwrap_or_else(|| panic!("no check of {p}:\n{report}"));
        if line.ends_with(" absent") {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words[2] == "mount" {
            let flags = words.get(3).copied().unwrap_or("");
            assert!(
                flags.split(',').any(|f| f == "ro"),
                "{p} is not a read-only mount in the container: {line}"
            );
        } else {
            assert!(
                line.contains("Read-only file system"),
                "{p} is writable in the container: {line}"
            );
        }
        checked += 1;
    }
    for p in &masked {
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("MASKED {p} ")))
            .unwrap_or_else(|| panic!("no check of {p}:\n{report}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[2] {
            "absent" => continue,
            // An empty read-only tmpfs.
            "dir" => {
                assert_eq!(words[3], "0", "{p} shows host entries: {line}");
                assert!(line.contains("Read-only file system"), "{p}: {line}");
            }
            // /dev/null (char 1:3) bound over it: reads return nothing.
            "file" => {
                assert_eq!(words[3], "1:3", "{p} is not masked: {line}");
                assert_eq!(words[4], "0", "{p} has content: {line}");
            }
            _ => panic!("unexpected line {line}"),
        }
        checked += 1;
    }
    // /proc/sys, /proc/sysrq-trigger and /sys exist on every Linux.
    assert!(checked >= 3, "too few paths exist to check:\n{report}");
    eprintln!("checked {checked} paths:\n{report}");
    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// The device probes of `device_rules_hold_on_cgroup_v1_and_v2`: node name,
/// type, major, minor, and the expected (read, write) outcome.
const DEVICE_PROBES: [(&str, &str, u32, u32, &str, &str); 4] = [
    // A host block device (loop0's numbers; the device need not exist:
    // the cgroup check comes before the driver's open).
    ("blk", "b", 7, 0, "EPERM", "EPERM"),
    // A number no driver owns: allowed, the open reaches the kernel's
    // lookup and fails ENXIO; denied, the cgroup refuses with EPERM first.
    ("none", "c", 42, 42, "EPERM", "EPERM"),
    // Allowed for reading only by the spec's extra rule.
    ("ronly", "c", 42, 43, "ENXIO", "EPERM"),
    // /dev/null, allowed by the defaults.
    ("null", "c", 1, 3, "ok", "ok"),
];

/// Runs the device probes in a container with CAP_MKNOD, through `wrap`
/// (a command prefix, e.g. to run sealrun under another cgroup setup), and
/// returns "name read=… write=…" lines.
fn probe_devices(env: &TestEnv, name: &str, wrap: &[&str]) -> String {
    let mut script = String::from(
        "probe() { mknod /dev/probe-$1 $2 $3 $4 || { echo \"$1 mknod failed\"; return; }; \
         r=$(head -c1 /dev/probe-$1 2>&1 >/dev/null) && r=ok; w=$( (: > /dev/probe-$1) 2>&1) && w=ok; \
         echo \"$1 read=$r write=$w\"; }\n",
    );
    for (node, kind, major, minor, _, _) in DEVICE_PROBES {
        script.push_str(&format!("probe {node} {kind} {major} {minor}\n"));
    }
    let bundle = env.bundle(name, &["sh", "-c", &script]);
    env.edit_config(&bundle, |config| {
        for set in ["bounding", "effective", "permitted"] {
            config["process"]["capabilities"][set] = json!(common::DOCKER_DEFAULT_CAPS);
        }
        config["linux"]["resources"]["devices"]
            .as_array_mut()
            .expect("runc spec has device rules")
            .push(json!({"allow": true, "type": "c", "major": 42, "minor": 43, "access": "r"}));
    });
    let id = env.id(name);
    let mut cmd = std::process::Command::new(wrap.first().copied().unwrap_or("env"));
    cmd.args(wrap.iter().skip(1));
    let sealrun = env.command();
    cmd.arg(sealrun.get_program()).args(sealrun.get_args());
    cmd.args(["run", "--bundle"]).arg(&bundle).arg(&id);
    let out = env.output(cmd);
    out.assert_ok();
    env.assert_nothing_left(&id);
    out.stdout
}

fn assert_devices_confined(setup: &str, report: &str) {
    let outcome = |text: &str| {
        if text == "ok" {
            "ok"
        } else if text.contains("not permitted") {
            "EPERM"
        } else if text.contains("No such device or address") {
            "ENXIO"
        } else {
            "other"
        }
    };
    for (node, _, _, _, read, write) in DEVICE_PROBES {
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("{node} ")))
            .unwrap_or_else(|| panic!("{setup}: no probe of {node}:\n{report}"));
        let (r, w) = line
            .split_once(" read=")
            .and_then(|(_, rest)| rest.split_once(" write="))
            .unwrap_or_else(|| panic!("{setup}: {line}"));
        assert_eq!(
            (outcome(r), outcome(w)),
            (read, write),
            "{setup}: device {node} gave {line}"
        );
    }
}

/// The spec's device rules confine the container (which holds CAP_MKNOD,
/// as under docker) the same on cgroup v1 and cgroup v2. On v2 the kernel
/// enforces them only through the eBPF program sealrun attaches
/// (libcgroups without `cgroupsv2_devices` attaches none: the container
/// read host block devices). On a hybrid host the v2 case runs too, in a
/// private mount namespace whose /sys/fs/cgroup is the cgroup2 hierarchy.
#[test]
fn device_rules_hold_on_cgroup_v1_and_v2() {
    let Some(env) = common::env("device_rules_hold_on_cgroup_v1_and_v2") else {
        return;
    };
    let host = if cgroup_v2() {
        "cgroup v2"
    } else {
        "cgroup v1"
    };
    assert_devices_confined(host, &probe_devices(&env, "devhost", &[]));
    if cgroup_v2() {
        return;
    }
    let unified = Path::new("/sys/fs/cgroup/unified");
    if !unified.join("cgroup.procs").exists() {
        eprintln!(
            "SKIPPED v2 half of device_rules_hold_on_cgroup_v1_and_v2: no cgroup2 at {}",
            unified.display()
        );
        return;
    }
    let as_v2 = [
        "unshare",
        "-m",
        "sh",
        "-c",
        "mount --make-rprivate / && umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec \"$@\"",
        "sh",
    ];
    assert_devices_confined(
        "cgroup v2 (private mount namespace)",
        &probe_devices(&env, "devv2", &as_v2),
    );
}

/// `status` lines of `pid` (as seen from the host or container) whose name
/// is one of `keys`.
fn status_lines(status: &str, keys: &[&str]) -> Vec<String> {
    status
        .lines()
        .filter(|l| keys.iter().any(|k| l.starts_with(&format!("{k}:"))))
        .map(str::to_owned)
        .collect()
}

/// An exec'd process is not a child of the container's init and inherits
/// none of its seccomp filter: it must load the container's profile itself
/// (libcontainer 0.7.0 gives it none). Without no_new_privs that takes
/// CAP_SYS_ADMIN, which the container's process does not have here: sealrun
/// lends it for the load and the exec'd process ends with exactly the
/// init's capabilities. Checked for both noNewPrivileges values, plus a
/// non-root user and `--tty`.
#[test]
fn exec_gets_the_containers_seccomp_profile() {
    let Some(env) = common::env("exec_seccomp") else {
        return;
    };
    for nnp in [false, true] {
        let bundle = env.bundle(&format!("b{nnp}"), &["sleep", "1000"]);
        env.edit_config(&bundle, |c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
            });
        });
        let id = env.id(&format!("c{nnp}"));
        env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
            .assert_ok();
        let keys = [
            "Seccomp",
            "CapInh",
            "CapPrm",
            "CapEff",
            "CapBnd",
            "CapAmb",
            "NoNewPrivs",
        ];
        let init = env.sealrun(&["exec", &id, "cat", "/proc/1/status"]);
        init.assert_ok();
        let init = status_lines(&init.stdout, &keys);
        assert!(
            init.contains(&"Seccomp:\t2".to_owned()),
            "nnp={nnp}: init {init:?}"
        );

        for extra in [&[][..], &["-t"][..]] {
            let mut args = vec!["exec"];
            args.extend_from_slice(extra);
            args.extend([id.as_str(), "cat", "/proc/self/status"]);
            let out = env.sealrun(&args);
            out.assert_ok();
            let ours = status_lines(&out.stdout.replace("\r\n", "\n"), &keys);
            assert_eq!(
                ours, init,
                "nnp={nnp} {extra:?}: the exec'd process differs from the init"
            );
        }
        let out = env.sealrun(&["exec", &id, "mkdir", "/made-by-exec"]);
        assert_ne!(
            out.code(),
            0,
            "nnp={nnp}: mkdir succeeded in an exec'd process"
        );
        assert!(
            out.stderr.contains("Operation not permitted"),
            "nnp={nnp}: mkdir was not refused by the profile: {}",
            out.stderr
        );
        let out = env.sealrun(&["exec", "-u", "1000", &id, "cat", "/proc/self/status"]);
        out.assert_ok();
        let user = status_lines(&out.stdout, &["Seccomp", "CapEff", "CapPrm"]);
        assert_eq!(
            user,
            [
                "CapPrm:\t0000000000000000",
                "CapEff:\t0000000000000000",
                "Seccomp:\t2"
            ],
            "nnp={nnp}: user 1000"
        );
        env.sealrun(&["delete", "-f", &id]).assert_ok();
        env.assert_nothing_left(&id);
    }
    // Without a profile too, `exec CMD` takes the container's process as
    // its template, as runc's does: noNewPrivileges false stays off (the
    // prepared config leaves the field out, and oci-spec's default would
    // turn it on).
    let bundle = env.bundle("plain", &["sleep", "1000"]);
    env.edit_config(&bundle, |c| c["process"]["noNewPrivileges"] = json!(false));
    let id = env.id("plain");
    env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let out = env.sealrun(&["exec", &id, "cat", "/proc/self/status"]);
    out.assert_ok();
    assert_eq!(
        status_lines(&out.stdout, &["NoNewPrivs", "Seccomp"]),
        ["NoNewPrivs:\t0", "Seccomp:\t0"]
    );
    env.sealrun(&["delete", "-f", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// The profile as runc applies it: `SCMP_CMP_MASKED_EQ` is `(arg & value)
/// == valueTwo` (libcontainer read it the other way round, so docker's
/// clone rule let containers clone namespaces), and a syscall newer than
/// every one the profile names gets ENOSYS, not the profile's EPERM (glibc
/// falls back from clone3, statx, ... only on ENOSYS). For the init, with
/// and without no_new_privs (without it sealrun lends CAP_SYS_ADMIN to load
/// the stub and takes it back before `start`), and for an exec'd process.
#[test]
fn seccomp_profile_reads_as_runcs_with_its_enosys_stub() {
    let Some(env) = common::env("seccomp_enosys") else {
        return;
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probes/seccomp_probe.c");
    // Every syscall libseccomp knows but socket (the init's own code runs
    // under the profile too when it has no no_new_privs).
    let arch = libseccomp::ScmpArch::native();
    let names: Vec<String> = (0..=999)
        .filter_map(|nr| {
            libseccomp::ScmpSyscall::from(nr)
                .get_name_by_arch(arch)
                .ok()
        })
        .filter(|n| n != "socket")
        .collect();
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": names, "action": "SCMP_ACT_ALLOW"},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 2, "value": 3840, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    });
    let want = format!("nr1000={} proto0=0 proto100={}", libc::ENOSYS, libc::EPERM);
    for nnp in [false, true] {
        let bundle = env.bundle(&format!("b{nnp}"), &["/probe"]);
        let built = std::process::Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(bundle.join("rootfs/probe"))
            .arg(&source)
            .output()
            .expect("gcc (installed by scripts/deps.sh)");
        assert!(built.status.success(), "gcc -static: {built:?}");
        env.edit_config(&bundle, |c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] = profile.clone();
        });
        let id = env.id(&format!("run{nnp}"));
        let out = env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
        out.assert_ok();
        assert_eq!(out.stdout.trim(), want, "nnp={nnp}: the init");

        env.edit_config(&bundle, |c| c["process"]["args"] = json!(["sleep", "1000"]));
        let id = env.id(&format!("exec{nnp}"));
        env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
            .assert_ok();
        let out = env.sealrun(&["exec", &id, "/probe"]);
        out.assert_ok();
        assert_eq!(out.stdout.trim(), want, "nnp={nnp}: an exec'd process");
        // Nothing lent survives: not in the init, not in what exec takes
        // its processes from.
        let pid = env.state(&id)["pid"].as_i64().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let out = env.sealrun(&["exec", &id, "cat", "/proc/self/status"]);
        out.assert_ok();
        for status in [&status, &out.stdout] {
            for line in status_lines(status, &["CapBnd", "CapEff", "CapPrm"]) {
                let bits = u64::from_str_radix(line.rsplit('\t').next().unwrap(), 16).unwrap();
                assert_eq!(bits & (1 << 21), 0, "nnp={nnp}: CAP_SYS_ADMIN kept: {line}");
            }
        }
        env.sealrun(&["delete", "-f", &id]).assert_ok();
        env.assert_nothing_left(&id);
    }
}
