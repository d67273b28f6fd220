//! End-to-end container lifecycles with a busybox bundle (root only).

mod common;

use std::path::Path;

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("pid file {}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn create_start_exec_kill_delete() {
    let Some(env) = common::env("lifecycle") else {
        return;
    };
    let id = env.id("c");
    let bundle = env.bundle("bundle", &["sleep", "1000"]);
    let pid_file = env.dir.path().join("init.pid");

    env.sealrun(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ])
    .assert_ok();
    let state = env.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["bundle"], bundle.to_str().unwrap());
    let pid = read_pid(&pid_file);
    assert_eq!(state["pid"], pid, "{state}");
    assert!(common::is_alive(pid));

    env.sealrun(&["start", &id]).assert_ok();
    env.wait_for_status(&id, "running");

    // list and ps see it.
    let list = env.sealrun(&["list", "--format", "json"]);
    list.assert_ok();
    let listed: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str()),
        "{list:#?}"
    );
    let ps = env.sealrun(&["ps", "--format", "json", &id]);
    ps.assert_ok();
    let pids: Vec<i32> = serde_json::from_str(&ps.stdout).unwrap();
    assert!(pids.contains(&pid), "{pids:?} lacks init pid {pid}");

    // exec: exit status, environment, working directory, pid file.
    let exec = env.sealrun(&["exec", &id, "sh", "-c", "exit 5"]);
    assert_eq!(exec.code(), 5, "{exec:#?}");
    let exec_pid_file = env.dir.path().join("exec.pid");
    let exec = env.sealrun(&[
        "exec",
        "--env",
        "GREETING=hello",
        "--cwd",
        "/tmp",
        "--pid-file",
        exec_pid_file.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "echo \"$GREETING from $(pwd)\"; cat /proc/1/cmdline",
    ]);
    exec.assert_ok();
    assert_eq!(
        exec.stdout, "hello from /tmp\nsleep\u{0}1000\u{0}",
        "{exec:#?}"
    );
    assert!(read_pid(&exec_pid_file) > 0);

    // exec --process FILE
    let process = env.dir.path().join("process.json");
    std::fs::write(
        &process,
        serde_json::json!({
            "args": ["sh", "-c", "echo from process.json; exit 3"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0}
        })
        .to_string(),
    )
    .unwrap();
    let exec = env.sealrun(&["exec", "--process", process.to_str().unwrap(), &id]);
    assert_eq!(
        (exec.code(), exec.stdout.as_str()),
        (3, "from process.json\n"),
        "{exec:#?}"
    );

    // Detached exec keeps running after sealrun returns.
    let detached_pid_file = env.dir.path().join("detached.pid");
    env.sealrun(&[
        "exec",
        "--detach",
        "--pid-file",
        detached_pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "1000",
    ])
    .assert_ok();
    let detached = read_pid(&detached_pid_file);
    assert!(common::is_alive(detached));

    env.sealrun(&["kill", &id, "KILL"]).assert_ok();
    env.wait_for_status(&id, "stopped");
    env.sealrun(&["delete", &id]).assert_ok();
    env.assert_nothing_left(&id);
    assert!(!common::is_alive(pid), "init {pid} still alive");
    // The pid namespace is gone, and the detached exec with it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while common::is_alive(detached) {
        assert!(
            std::time::Instant::now() < deadline,
            "detached exec {detached} survived"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn run_exits_with_the_container_status() {
    let Some(env) = common::env("run_status") else {
        return;
    };
    let bundle = env.bundle("bundle", &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    let id = env.id("c");
    let run = env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(run.code(), 7, "{run:#?}");
    assert_eq!(run.stdout, "out\n");
    assert_eq!(run.stderr, "err\n");
    // Foreground run deletes the container afterwards.
    env.assert_nothing_left(&id);
}

/// A workload that exits with 42 on SIGTERM (pid 1 of a pid namespace only
/// gets signals it has a handler for).
const TERM_TRAP: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 42' TERM; while :; do sleep 0.1; done",
];

#[test]
fn foreground_run_forwards_signals_and_reports_signal_deaths() {
    let Some(env) = common::env("run_signals") else {
        return;
    };
    let bundle = env.bundle("bundle", TERM_TRAP);

    // SIGTERM to sealrun is forwarded to the container.
    let id = env.id("term");
    let mut cmd = env.command();
    cmd.args(["run", "--bundle", bundle.to_str().unwrap(), &id]);
    let run = std::thread::scope(|s| {
        let run = s.spawn(|| env.output(cmd));
        env.wait_for_status(&id, "running");
        // Give the trap time to be installed.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let sealrun_pids = common::processes_running(&env.bin);
        assert_eq!(sealrun_pids.len(), 1, "{sealrun_pids:?}");
        // SAFETY: plain kill(2) of the sealrun process we spawned.
        assert_eq!(unsafe { libc::kill(sealrun_pids[0], libc::SIGTERM) }, 0);
        run.join().unwrap()
    });
    assert_eq!(run.code(), 42, "{run:#?}");
    env.assert_nothing_left(&id);

    // Killed by a signal: 128 + signal number, like runc.
    let id = env.id("kill");
    let mut cmd = env.command();
    cmd.args(["run", "--bundle", bundle.to_str().unwrap(), &id]);
    let run = std::thread::scope(|s| {
        let run = s.spawn(|| env.output(cmd));
        env.wait_for_status(&id, "running");
        env.sealrun(&["kill", &id, "SIGKILL"]).assert_ok();
        run.join().unwrap()
    });
    assert_eq!(run.code(), 128 + 9, "{run:#?}");
    env.assert_nothing_left(&id);
}

#[test]
fn run_detached_with_pid_file_then_kill_by_name_and_number() {
    let Some(env) = common::env("run_detach") else {
        return;
    };
    let bundle = env.bundle("bundle", TERM_TRAP);
    let pid_file = env.dir.path().join("run.pid");
    let id = env.id("c");
    env.sealrun(&[
        "run",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        &id,
    ])
    .assert_ok();
    let state = env.wait_for_status(&id, "running");
    let pid = read_pid(&pid_file);
    assert_eq!(state["pid"], pid);

    // A harmless signal by number, then TERM by name.
    env.sealrun(&["kill", &id, "18"]).assert_ok();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(common::is_alive(pid));
    env.sealrun(&["kill", &id, "TERM"]).assert_ok();
    env.wait_for_status(&id, "stopped");
    env.sealrun(&["delete", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

#[test]
fn delete_force_removes_a_running_container() {
    let Some(env) = common::env("delete_force") else {
        return;
    };
    let bundle = env.bundle("bundle", &["sleep", "1000"]);
    let id = env.id("c");
    env.sealrun(&["run", "--detach", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    env.wait_for_status(&id, "running");
    env.sealrun(&["delete", &id])
        .assert_one_line_error("--force");
    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

#[test]
fn preserve_fds_passes_descriptors_to_the_container() {
    use std::os::unix::process::CommandExt;

    let Some(env) = common::env("preserve_fds") else {
        return;
    };
    let bundle = env.bundle("bundle", &["sh", "-c", "cat <&3"]);
    let id = env.id("c");
    let payload = env.dir.path().join("payload");
    std::fs::write(&payload, "through fd 3\n").unwrap();
    let file = std::fs::File::open(&payload).unwrap();
    let mut cmd = env.command();
    cmd.args([
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        bundle.to_str().unwrap(),
        &id,
    ]);
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: dup2 and fcntl are async-signal-safe; `raw` stays open in the
    // parent. dup2 onto itself would keep O_CLOEXEC, so clear it explicitly.
    unsafe {
        cmd.pre_exec(move || {
            if raw != 3 && libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let run = env.output(cmd);
    assert_eq!(
        (run.code(), run.stdout.as_str()),
        (0, "through fd 3\n"),
        "{run:#?}"
    );
    env.assert_nothing_left(&id);
}

/// The bundle's seccomp profile filters the workload, in a re-exec mode and
/// in dmz mode (whose final exec is an execveat of the shim after the filter
/// is in place); without the profile the same command succeeds.
#[test]
fn seccomp_profile_is_enforced() {
    let Some(env) = common::env("seccomp") else {
        return;
    };
    let script = "mkdir /dev/shm/probe 2>&1; echo rc=$?";
    let plain = env.bundle("plain", &["sh", "-c", script]);
    let id = env.id("plain");
    let run = env.sealrun(&["run", "--bundle", plain.to_str().unwrap(), &id]);
    assert_eq!(
        (run.code(), run.stdout.trim()),
        (0, "rc=0"),
        "control without a profile: {run:#?}"
    );

    let filtered = env.bundle("filtered", &["sh", "-c", script]);
    env.edit_config(&filtered, |c| {
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    for mode in ["overlayfs", "dmz"] {
        if mode == "dmz"
            && std::fs::read_to_string("/proc/sys/fs/suid_dumpable").is_ok_and(|v| v.trim() == "1")
        {
            eprintln!(
                "SKIP seccomp under --seal dmz: fs.suid_dumpable=1 here, where dmz is refused"
            );
            continue;
        }
        let id = env.id(&format!("filtered-{mode}"));
        let run = env.sealrun(&[
            "--seal",
            mode,
            "run",
            "--bundle",
            filtered.to_str().unwrap(),
            &id,
        ]);
        assert_eq!(run.code(), 0, "{mode}: {run:#?}");
        assert!(
            run.stdout.contains("Operation not permitted") && run.stdout.contains("rc=1"),
            "{mode}: mkdir must fail with EPERM under the profile: {run:#?}"
        );
        env.assert_nothing_left(&id);
    }
}

#[test]
fn features_and_spec() {
    let Some(env) = common::env("features") else {
        return;
    };
    let out = env.sealrun(&["features"]);
    out.assert_ok();
    let features: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(features["linux"]["cgroup"]["v1"], true, "{features}");
    assert_eq!(features["linux"]["cgroup"]["v2"], true, "{features}");
    assert_eq!(features["linux"]["seccomp"]["enabled"], true, "{features}");

    // spec refuses to overwrite an existing config.json (runc's words).
    let bundle = env.bundle("bundle", &["true"]);
    let mut spec = std::process::Command::new(&env.bin);
    spec.arg("spec").arg("--bundle").arg(&bundle);
    env.output(spec)
        .assert_one_line_error("config.json exists. Remove it first");
}

#[test]
fn every_seal_mode_runs_and_execs() {
    let Some(env) = common::env("seal_modes") else {
        return;
    };
    let bundle = env.bundle("bundle", &["sh", "-c", "read _ </proc/1/cmdline; exit 7"]);
    for mode in [
        "auto",
        "hardened",
        "overlayfs",
        "hugetmpfs",
        "memfd",
        "tmpfile",
        "dmz",
        "none",
    ] {
        let id = env.id(mode);
        let mut cmd = std::process::Command::new(&env.bin);
        cmd.arg("--root").arg(&env.root).arg("--log").arg(&env.log);
        cmd.args([
            "--seal",
            mode,
            "run",
            "--bundle",
            bundle.to_str().unwrap(),
            &id,
        ]);
        let run = env.output(cmd);
        assert_eq!(run.code(), 7, "--seal {mode}: {run:#?}");
        env.assert_nothing_left(&id);
    }

    // exec goes through the same sealing.
    let bundle = env.bundle("bundle-exec", &["sleep", "1000"]);
    let id = env.id("exec");
    env.sealrun(&["run", "--detach", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    for mode in ["auto", "dmz", "memfd"] {
        let mut cmd = std::process::Command::new(&env.bin);
        cmd.arg("--root").arg(&env.root).arg("--log").arg(&env.log);
        cmd.args(["--seal", mode, "exec", &id, "sh", "-c", "echo $0; exit 4"]);
        let exec = env.output(cmd);
        assert_eq!(exec.code(), 4, "--seal {mode}: {exec:#?}");
    }
    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

#[test]
fn foreground_terminal_for_run_and_exec() {
    let Some(env) = common::env("terminal") else {
        return;
    };
    // run of a terminal: true spec: sealrun relays the container's pty.
    let bundle = env.bundle("bundle", &["sh", "-c", "tty; exit 3"]);
    env.edit_config(&bundle, |c| c["process"]["terminal"] = true.into());
    let id = env.id("run");
    let run = env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(run.code(), 3, "{run:#?}");
    assert!(run.stdout.starts_with("/dev/pts/"), "{run:#?}");
    assert!(run.stdout.ends_with("\r\n"), "{run:#?}");
    env.assert_nothing_left(&id);

    // exec --tty, and exec of a process file asking for a terminal.
    let bundle = env.bundle("bundle-exec", &["sleep", "1000"]);
    let id = env.id("exec");
    env.sealrun(&["run", "--detach", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let exec = env.sealrun(&[
        "exec",
        "--tty",
        "--env",
        "X=y",
        &id,
        "sh",
        "-c",
        "tty; echo $X; exit 4",
    ]);
    assert_eq!(exec.code(), 4, "{exec:#?}");
    assert!(
        exec.stdout.starts_with("/dev/pts/") && exec.stdout.ends_with("\r\ny\r\n"),
        "{exec:#?}"
    );
    let exec = env.sealrun(&["exec", &id, "sh", "-c", "tty; exit 5"]);
    assert_eq!(
        (exec.code(), exec.stdout.as_str()),
        (5, "not a tty\n"),
        "{exec:#?}"
    );
    let process = env.dir.path().join("process.json");
    std::fs::write(
        &process,
        serde_json::json!({
            "terminal": true,
            "args": ["tty"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0}
        })
        .to_string(),
    )
    .unwrap();
    let exec = env.sealrun(&["exec", "--process", process.to_str().unwrap(), &id]);
    assert!(
        exec.status.success() && exec.stdout.starts_with("/dev/pts/"),
        "{exec:#?}"
    );
    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
    // No console socket directory is left in --root either.
    let left: Vec<_> = std::fs::read_dir(&env.root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
