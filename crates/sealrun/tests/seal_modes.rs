//! How sealrun chooses its protection: `auto`'s fallback order, `dmz`'s
//! safety rule, `seal-probe`, and that only commands starting container
//! processes pay for sealing. Root-only (see common::env).

mod common;

use serde_json::Value;

/// The `seal: using <mode>` lines sealrun logged so far.
fn modes_used(env: &common::TestEnv) -> Vec<String> {
    std::fs::read_to_string(&env.log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split("seal: using ").nth(1))
        .map(|rest| rest.split([' ', '"', ':']).next().unwrap_or("").to_string())
        .collect()
}

fn run_with(
    env: &common::TestEnv,
    seal: &str,
    fail: &str,
    bundle: &std::path::Path,
    id: &str,
) -> common::Output {
    let mut cmd = env.command();
    cmd.args(["--debug", "--seal", seal, "run", "--bundle"])
        .arg(bundle)
        .arg(id);
    cmd.env("EXESEAL_FAIL", fail);
    env.output(cmd)
}

fn add_ptrace(env: &common::TestEnv, bundle: &std::path::Path) {
    env.edit_config(bundle, |c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(Value::from("CAP_SYS_PTRACE"));
        }
    });
}

#[test]
fn auto_falls_back_overlayfs_then_dmz_then_private_copies_and_never_none() {
    let Some(env) = common::env("auto_fallback") else {
        return;
    };
    let plain = env.bundle("plain", &["sh", "-c", "exit 3"]);
    let ptrace = env.bundle("ptrace", &["sh", "-c", "exit 4"]);
    add_ptrace(&env, &ptrace);

    let cases: [(&str, &std::path::Path, &str, i32); 7] = [
        ("", &plain, "overlayfs", 3),
        ("overlayfs", &plain, "userns-overlayfs", 3),
        ("overlayfs,userns-overlayfs", &plain, "dmz", 3),
        ("overlayfs,userns-overlayfs", &ptrace, "hugetmpfs", 4),
        ("overlayfs,userns-overlayfs,hugetmpfs", &ptrace, "memfd", 4),
        (
            "overlayfs,userns-overlayfs,hugetmpfs,memfd",
            &ptrace,
            "tmpfile",
            4,
        ),
        (
            "overlayfs,userns-overlayfs,hugetmpfs,memfd,tmpfile",
            &ptrace,
            "unlinked-temp",
            4,
        ),
    ];
    for (i, (fail, bundle, expect, code)) in cases.into_iter().enumerate() {
        let before = modes_used(&env).len();
        let id = env.id(&format!("a{i}"));
        let out = run_with(&env, "auto", fail, bundle, &id);
        assert_eq!(out.code(), code, "EXESEAL_FAIL={fail}: {out:#?}");
        let used = modes_used(&env);
        assert_eq!(used[before..], [expect.to_string()], "EXESEAL_FAIL={fail}");
        env.assert_nothing_left(&id);
    }

    // Nothing left for a container that can ptrace: refuse, leave nothing.
    let id = env.id("refused");
    let out = run_with(
        &env,
        "auto",
        "overlayfs,userns-overlayfs,hugetmpfs,memfd,tmpfile,unlinked-temp",
        &ptrace,
        &id,
    );
    out.assert_one_line_error("refusing to run unprotected");
    for s in [
        "overlayfs",
        "userns-overlayfs",
        "hugetmpfs",
        "memfd",
        "tmpfile",
        "unlinked-temp",
        "dmz",
    ] {
        assert!(
            out.stderr.contains(&format!("{s}: ")),
            "error must name {s}: {}",
            out.stderr
        );
    }
    env.assert_nothing_left(&id);
    assert!(
        !modes_used(&env).iter().any(|m| m == "none"),
        "auto must never pick none"
    );
}

#[test]
fn explicit_dmz_refused_when_container_can_ptrace() {
    let Some(env) = common::env("dmz_refused") else {
        return;
    };
    let bundle = env.bundle("ptrace", &["true"]);
    add_ptrace(&env, &bundle);
    let id = env.id("dmz");
    let out = run_with(&env, "dmz", "", &bundle, &id);
    out.assert_one_line_error("--seal dmz refused");
    assert!(out.stderr.contains("CAP_SYS_PTRACE"), "{}", out.stderr);
    env.assert_nothing_left(&id);
}

/// A `#!/proc/self/exe` entrypoint gets the kernel to start the dmz shim
/// again as its interpreter; the shim refuses to exec itself (it used to
/// re-exec itself forever, so that `run` never returned). Both `run` and
/// `exec` end in 127 naming /proc/self/exe, as a failed exec does.
#[test]
fn dmz_refuses_an_entrypoint_that_execs_the_shim_itself() {
    let Some(env) = common::env("dmz_self") else {
        return;
    };
    let bundle = env.bundle("self", &["/self.sh"]);
    let script = bundle.join("rootfs/self.sh");
    std::fs::write(&script, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let want = "exec /proc/self/exe: too many levels of symbolic links";

    let id = env.id("run");
    let out = run_with(&env, "dmz", "", &bundle, &id);
    assert_eq!(out.code(), 127, "run: {}", out.stderr);
    assert!(out.stderr.contains(want), "run: {}", out.stderr);
    assert!(
        modes_used(&env).iter().any(|m| m == "dmz"),
        "the run did not go through dmz"
    );
    env.assert_nothing_left(&id);

    let id = env.id("exec");
    env.edit_config(&bundle, |c| {
        c["process"]["args"] = serde_json::json!(["sleep", "1000"])
    });
    env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let out = env.sealrun(&["--seal", "dmz", "exec", &id, "/self.sh"]);
    assert_eq!(out.code(), 127, "exec: {}", out.stderr);
    assert!(out.stderr.contains(want), "exec: {}", out.stderr);
    env.sealrun(&["delete", "-f", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

#[test]
fn explicit_modes_never_fall_back() {
    let Some(env) = common::env("explicit_no_fallback") else {
        return;
    };
    let bundle = env.bundle("b", &["true"]);
    for mode in ["overlayfs", "hugetmpfs", "memfd", "tmpfile"] {
        let id = env.id(mode);
        let fail = if mode == "tmpfile" {
            "tmpfile,unlinked-temp".to_string()
        } else {
            mode.to_string()
        };
        let out = run_with(&env, mode, &fail, &bundle, &id);
        out.assert_one_line_error(&format!("--seal {mode}"));
        env.assert_nothing_left(&id);
    }
}

#[test]
fn seal_probe_reports_choice_cost_and_reasons() {
    let Some(env) = common::env("seal_probe") else {
        return;
    };
    let out = env.sealrun(&["--seal", "auto", "seal-probe", "--format", "json"]);
    out.assert_ok();
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["chosen"], "overlayfs", "{r}");
    assert_eq!(r["bytes_copied"], 0);

    let mut cmd = env.command();
    cmd.args(["--seal", "auto", "seal-probe", "--format", "json"])
        .env("EXESEAL_FAIL", "overlayfs,userns-overlayfs");
    let out = env.output(cmd);
    out.assert_ok();
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["chosen"], "hugetmpfs", "{r}");
    let size = std::fs::metadata(&env.bin).unwrap().len();
    assert_eq!(
        r["bytes_copied"], size,
        "a private copy of the whole binary"
    );
    let skipped: Vec<&str> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["mode"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["overlayfs", "userns-overlayfs", "dmz"], "{r}");

    let out = env.sealrun(&["--seal", "hardened", "seal-probe"]);
    out.assert_ok();
    assert!(out.stdout.contains("chosen: hugetmpfs"), "{}", out.stdout);
}

#[test]
fn commands_that_start_no_container_process_do_not_seal() {
    let Some(env) = common::env("no_seal_for_state") else {
        return;
    };
    for args in [
        &["list"][..],
        &["state", "nonexistent"],
        &["delete", "--force", "nonexistent"],
    ] {
        let mut cmd = env.command();
        cmd.args(["--debug", "--seal", "memfd"]).args(args);
        let _ = env.output(cmd);
    }
    assert!(
        modes_used(&env).is_empty(),
        "list/state/delete must not seal: {:?}",
        modes_used(&env)
    );
}

/// A plain `--seal overlayfs`/`auto` line is sealed at sealrun's ELF entry
/// point, before libc starts (src/sys/entry.rs); a line it is unsure of
/// (here: an exeseal knob in the environment) takes the normal path, which
/// seals the same way. Neither path's variables reach the container.
#[test]
fn plain_lines_seal_at_the_entry_point_others_after_libc_start() {
    let Some(env) = common::env("entry_point") else {
        return;
    };
    if option_env!("SEALRUN_ENTRY_POINT").is_none() {
        eprintln!("SKIPPED entry point test: this sealrun build has no entry-point path (optimised x86_64 builds only, build.rs)");
        return;
    }
    if !kernel_at_least(6, 15) {
        eprintln!("SKIPPED entry point test: overlayfs takes layers as fds from Linux 6.15; this kernel seals after start-up only");
        return;
    }
    let bundle = env.bundle("b", &["env"]);
    let at_entry = || {
        std::fs::read_to_string(&env.log)
            .unwrap_or_default()
            .matches("sealed at the ELF entry point")
            .count()
    };
    let run = |seal: &str, id: &str, knob: Option<&str>| {
        let mut cmd = env.command();
        cmd.args(["--debug", "--seal", seal, "run", "--bundle"])
            .arg(&bundle)
            .arg(id);
        if let Some(layers) = knob {
            cmd.env("EXESEAL_OVERLAY_LAYERS", layers);
        }
        let out = env.output(cmd);
        out.assert_ok();
        assert!(
            out.stdout.contains("PATH="),
            "the container printed its environment: {}",
            out.stdout
        );
        for leak in ["_EXESEAL", "_SEALRUN"] {
            assert!(
                !out.stdout.contains(leak),
                "{leak} reached the container: {}",
                out.stdout
            );
        }
    };

    // The first sealed call on a fresh host creates the shared dummy layer
    // (/run/exeseal/empty) after start-up; only then can the entry point
    // use it. Later ones (and this one on a used host) seal at the entry.
    run("overlayfs", &env.id("warm-up"), None);
    let base = at_entry();
    assert!(base <= 1);
    run("overlayfs", &env.id("plain"), None);
    assert_eq!(at_entry(), base + 1, "plain overlayfs line");
    run("auto", &env.id("auto"), None);
    assert_eq!(at_entry(), base + 2, "plain auto line");
    run("overlayfs", &env.id("knob"), Some("fd-shared"));
    assert_eq!(at_entry(), base + 2, "declined: exeseal knob set");
    run("memfd", &env.id("memfd"), None);
    assert_eq!(at_entry(), base + 2, "declined: memfd is the normal path's");
    // The private-copy modes whose first choice is the huge-page copy.
    run("hugetmpfs", &env.id("huge"), None);
    assert_eq!(at_entry(), base + 3, "plain hugetmpfs line");
    run("hardened", &env.id("hardened"), None);
    assert_eq!(at_entry(), base + 4, "plain hardened line");
    assert_eq!(
        modes_used(&env),
        [
            "overlayfs",
            "overlayfs",
            "overlayfs",
            "overlayfs",
            "memfd",
            "hugetmpfs",
            "hugetmpfs"
        ]
    );
    // The whole binary, as exeseal's own copy reports it.
    let size = std::fs::metadata(&env.bin).unwrap().len();
    let log = std::fs::read_to_string(&env.log).unwrap_or_default();
    assert_eq!(
        log.matches(&format!("using hugetmpfs ({size} bytes copied)"))
            .count(),
        2,
        "copies of the whole {size}-byte binary"
    );
    // A runtime installed on tmpfs is not a sealed memfd: sealed the same way.
    match tmpfs_copy(&env) {
        Some((_dir, bin)) => {
            let mut cmd = std::process::Command::new(&bin);
            cmd.arg("--root").arg(&env.root).arg("--log").arg(&env.log);
            cmd.args(["--debug", "--seal", "overlayfs", "run", "--bundle"])
                .arg(&bundle)
                .arg(env.id("tmpfs"));
            env.output(cmd).assert_ok();
            assert_eq!(at_entry(), base + 5, "binary on tmpfs");
        }
        None => eprintln!("SKIPPED tmpfs part: /dev/shm is not an exec-capable tmpfs here"),
    }
}

/// The running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0)) >= (major, minor)
}

/// A copy of sealrun in a fresh directory under /dev/shm, if that is tmpfs
/// and allows exec.
fn tmpfs_copy(env: &common::TestEnv) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let shm = mounts
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some("/dev/shm"))?;
    if !shm.contains(" - tmpfs ") || shm.split(' ').nth(5)?.split(',').any(|o| o == "noexec") {
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("sealrun-tmpfs-")
        .tempdir_in("/dev/shm")
        .ok()?;
    let bin = dir.path().join("sealrun");
    std::fs::copy(&env.bin, &bin).ok()?;
    Some((dir, bin))
}

/// After a re-exec from a handle the kernel names the process after the
/// handle (`#2` for an O_TMPFILE copy, `memfd:exeseal:…`); sealrun takes its
/// own name back so `ps`, `pgrep sealrun` and `pkill` still find it. The
/// poststart hook's parent is the running sealrun.
#[test]
fn sealed_runtime_keeps_its_process_name() {
    let Some(env) = common::env("comm") else {
        return;
    };
    let bundle = env.bundle("b", &["true"]);
    let report = env.dir.path().join("comm");
    env.edit_config(&bundle, |config| {
        config["hooks"]["poststart"] = serde_json::json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat /proc/$PPID/comm >> {}", report.display())],
        }]);
    });
    let name = env.bin.file_name().unwrap().to_string_lossy().into_owned();
    let modes = [
        "none",
        "overlayfs",
        "hugetmpfs",
        "memfd",
        "tmpfile",
        "hardened",
    ];
    for (i, seal) in modes.iter().enumerate() {
        let mut cmd = env.command();
        cmd.args(["--seal", seal, "run", "--bundle"])
            .arg(&bundle)
            .arg(env.id(&format!("c{i}")));
        env.output(cmd).assert_ok();
    }
    let names = std::fs::read_to_string(&report).unwrap();
    let names: Vec<&str> = names.lines().collect();
    assert_eq!(
        names,
        vec![name.as_str(); modes.len()],
        "process names for {modes:?}"
    );
}
