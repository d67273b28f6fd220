//! Behaviour that tools driving runc rely on (root only): exit codes, log
//! formats, clean-up calls, the frozen-cgroup refusal, a read-only /dev.
//! runc's own suite (`make conformance`) covers these too; these run in
//! `make test` on every change.

mod common;

use serde_json::{json, Value};

#[test]
fn exec_failures_exit_255_and_the_process_status_passes_through() {
    let Some(env) = common::env("exec_failures_exit_255_and_the_process_status_passes_through")
    else {
        return;
    };
    let id = env.id("c");
    let bundle = env.bundle("b", &["sleep", "1000"]);
    env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    assert_eq!(
        env.sealrun(&["exec", &id, "sh", "-c", "exit 42"]).code(),
        42
    );
    assert_eq!(env.sealrun(&["exec", &id, "false"]).code(), 1);
    assert_eq!(env.sealrun(&["exec", &id, "no-such-binary"]).code(), 255);
    assert_eq!(
        env.sealrun(&["exec", "--pid-file", "/non-existent/dir/pid", &id, "true"])
            .code(),
        255
    );
    assert_eq!(
        env.sealrun(&["exec", "no-such-container", "true"]).code(),
        255
    );
    // kill with signal 0 probes the init; with --all it always succeeds.
    env.sealrun(&["kill", &id, "0"]).assert_ok();
    env.sealrun(&["kill", &id, "KILL"]).assert_ok();
    env.wait_for_status(&id, "stopped");
    env.sealrun(&["kill", "--all", &id, "0"]).assert_ok();
    env.sealrun(&["delete", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// runc execs into a created container (its init waits for `start` in the
/// container's namespaces); the container stays created and starts after.
#[test]
fn exec_into_a_created_container() {
    let Some(env) = common::env("exec_into_a_created_container") else {
        return;
    };
    let id = env.id("c");
    let bundle = env.bundle("b", &["sleep", "1000"]);
    env.sealrun(&["create", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let init = env.state(&id)["pid"].as_i64().unwrap();
    let out = env.sealrun(&["exec", &id, "sh", "-c", "hostname; exit 3"]);
    assert_eq!(out.code(), 3, "{out:#?}");
    // In the container's UTS namespace.
    let hostname = std::fs::read_to_string(bundle.join("config.json")).unwrap();
    let hostname: Value = serde_json::from_str(&hostname).unwrap();
    assert_eq!(
        out.stdout.lines().next(),
        hostname["hostname"].as_str(),
        "{out:#?}"
    );
    assert_eq!(env.state(&id)["status"], "created");
    let dir = env.root.join(&id);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("exec-"))
        .collect();
    assert!(left.is_empty(), "exec left {left:?} in {}", dir.display());
    env.sealrun(&["start", &id]).assert_ok();
    let state = env.wait_for_status(&id, "running");
    assert_eq!(state["pid"].as_i64(), Some(init));
    env.sealrun(&["exec", &id, "true"]).assert_ok();
    env.sealrun(&["delete", "-f", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// `exec --cgroup`: runc's rules. A sub-cgroup must exist (libcontainer
/// would create it) and stay below the container's; on cgroup v1 paths may
/// be given per controller, and the others stay in the container's cgroup.
#[test]
fn exec_into_sub_cgroups() {
    let Some(env) = common::env("exec_into_sub_cgroups") else {
        return;
    };
    let id = env.id("c");
    let bundle = env.bundle("b", &["sleep", "1000"]);
    env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let dir = |ctrl: &str| {
        let root = std::path::Path::new("/sys/fs/cgroup");
        if v2 {
            root.join(&id)
        } else {
            root.join(ctrl).join(&id)
        }
    };
    let exec_cgroups = |args: &[&str]| {
        let mut line = vec!["exec"];
        line.extend_from_slice(args);
        line.extend_from_slice(&[id.as_str(), "cat", "/proc/self/cgroup"]);
        env.sealrun(&line)
    };

    let out = exec_cgroups(&["--cgroup", "nonexistent"]);
    assert_eq!(out.code(), 255, "{out:#?}");
    assert!(
        out.stderr
            .contains("/nonexistent/cgroup.procs: no such file or directory"),
        "{out:#?}"
    );
    assert!(
        !dir("memory").join("nonexistent").exists(),
        "a missing sub-cgroup was created"
    );
    exec_cgroups(&["--cgroup", ".."]).assert_one_line_error(".. is not a sub cgroup path");
    exec_cgroups(&["--cgroup", "whaaat:/"]).assert_one_line_error("unknown controller whaaat");
    exec_cgroups(&["--cgroup", "a", "--cgroup", "memory:b"])
        .assert_one_line_error("missing <controller>: prefix");
    let out = exec_cgroups(&["--cgroup", "/"]);
    out.assert_ok();
    let own = format!(":/{id}");
    assert!(
        out.stdout
            .lines()
            .filter(|l| !l.ends_with(":/"))
            .all(|l| l.ends_with(&own)),
        "{out:#?}"
    );

    if v2 {
        std::fs::create_dir(dir("").join("sub")).unwrap();
        let out = exec_cgroups(&["--cgroup", "sub"]);
        out.assert_ok();
        assert_eq!(out.stdout.trim(), format!("0::/{id}/sub"), "{out:#?}");
    } else {
        std::fs::create_dir(dir("memory").join("submem")).unwrap();
        for ctrl in ["cpu", "cpuacct"] {
            // Co-mounted (cpu -> cpu,cpuacct) or not: one directory or two.
            let _ = std::fs::create_dir(dir(ctrl).join("subcpu"));
        }
        let out = exec_cgroups(&[
            "--cgroup",
            "memory:submem",
            "--cgroup",
            "cpu,cpuacct:subcpu",
        ]);
        out.assert_ok();
        for line in out.stdout.lines() {
            let controllers = line.split(':').nth(1).unwrap_or_default();
            let want = if controllers == "memory" {
                format!("/{id}/submem")
            } else if controllers.split(',').any(|c| c == "cpu" || c == "cpuacct") {
                format!("/{id}/subcpu")
            } else if line.ends_with(":/") || line.starts_with("0::") {
                continue; // hierarchies the container is not placed in
            } else {
                format!("/{id}")
            };
            assert!(
                line.ends_with(&format!(":{want}")),
                "{line} (want {want}): {out:#?}"
            );
        }
    }
    env.sealrun(&["delete", "-f", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// startContainer hooks run in the container after `start`, under its
/// seccomp profile, with the state on stdin; a failing one stops the
/// container with runc's message (libcontainer ended it silently, 255).
#[test]
fn start_container_hooks_run_in_the_container_and_fail_loudly() {
    let Some(env) = common::env("start_container_hooks_run_in_the_container_and_fail_loudly")
    else {
        return;
    };
    let bundle = env.bundle(
        "b",
        &["sh", "-c", "cat /dev/shm/state; echo; cat /dev/shm/seen"],
    );
    let hook = |script: &str| json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}]);
    env.edit_config(&bundle, |c| {
        c["hooks"]["startContainer"] =
            hook("cat > /dev/shm/state; echo \"$(hostname) $$\" > /dev/shm/seen");
    });
    let id = env.id("ok");
    let out = env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    let state: Value = serde_json::from_str(lines.next().unwrap_or_default()).unwrap();
    assert_eq!(
        (
            state["id"].as_str(),
            state["status"].as_str(),
            state["pid"].as_i64()
        ),
        (Some(id.as_str()), Some("created"), Some(1)),
        "{out:#?}"
    );
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json")).unwrap())
            .unwrap();
    let seen = lines.next().unwrap_or_default();
    assert!(
        seen.starts_with(&format!("{} ", config["hostname"].as_str().unwrap())),
        "in the container's namespaces: {out:#?}"
    );
    env.assert_nothing_left(&id);

    env.edit_config(&bundle, |c| {
        c["hooks"]["startContainer"] = hook("mkdir /dev/shm/foo");
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]
        });
    });
    let id = env.id("fail");
    let out = env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_ne!(out.code(), 0, "{out:#?}");
    assert!(
        out.stderr
            .contains("error running hook #0: error running hook: signal: bad system call"),
        "{out:#?}"
    );
    assert!(out.stdout.is_empty(), "the process did not run: {out:#?}");
    env.sealrun(&["delete", "-f", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// Container processes start with no signal ignored, as runc's do (Rust's
/// runtime ignores SIGPIPE in sealrun, its caller may ignore others, and an
/// ignored signal survives execve): the init and an exec'd process.
#[test]
fn container_processes_start_with_no_signal_ignored() {
    let Some(env) = common::env("container_processes_start_with_no_signal_ignored") else {
        return;
    };
    let none = "SigIgn:\t0000000000000000";
    let bundle = env.bundle("b", &["grep", "SigIgn", "/proc/self/status"]);
    let id = env.id("init");
    let out = env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), none, "the init: {out:#?}");
    let bundle = env.bundle("b2", &["sleep", "1000"]);
    let id = env.id("c");
    env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let out = env.sealrun(&["exec", &id, "grep", "SigIgn", "/proc/self/status"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), none, "an exec'd process: {out:#?}");
    env.sealrun(&["delete", "-f", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

#[test]
fn delete_force_of_a_missing_container_succeeds_quietly() {
    let Some(env) = common::env("delete_force_of_a_missing_container_succeeds_quietly") else {
        return;
    };
    let out = env.sealrun(&["delete", "--force", "never-created"]);
    out.assert_ok();
    assert!(
        out.stderr.trim().is_empty() && out.stdout.trim().is_empty(),
        "{out:#?}"
    );
    // Without --force it is an error, as in runc.
    env.sealrun(&["delete", "never-created"])
        .assert_one_line_error("does not exist");
}

/// containerd's shim reads the JSON log for the reason of a failure:
/// `{"level":"error","msg":...,"time":...}`; `--debug` text lines are
/// logrus' `time="..." level=debug msg="..."`.
#[test]
fn logs_are_in_runcs_formats() {
    let Some(env) = common::env("logs_are_in_runcs_formats") else {
        return;
    };
    let bundle = env.bundle("b", &["true"]);
    std::fs::remove_dir_all(bundle.join("rootfs")).unwrap();
    let id = env.id("c");
    let mut cmd = env.command();
    cmd.args([
        "--log-format",
        "json",
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        &id,
    ]);
    env.output(cmd).assert_one_line_error("is not a directory");
    let log = std::fs::read_to_string(&env.log).unwrap();
    let errors: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .filter(|v| v["level"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(
        errors[0]["msg"]
            .as_str()
            .unwrap()
            .contains("is not a directory"),
        "{log}"
    );
    assert!(errors[0]["time"].as_str().unwrap().ends_with('Z'), "{log}");
    env.assert_nothing_left(&id);

    let text_log = env.dir.path().join("text.log");
    let bundle = env.bundle("t", &["true"]);
    let mut cmd = env.command();
    cmd.arg("--log").arg(&text_log).args([
        "--debug",
        "run",
        "--bundle",
        bundle.to_str().unwrap(),
        &id,
    ]);
    env.output(cmd).assert_ok();
    let text = std::fs::read_to_string(&text_log).unwrap();
    assert!(
        text.lines()
            .all(|l| l.starts_with("time=\"") && l.contains(" level=")),
        "{text}"
    );
    for words in [
        "nsexec container setup",
        "child process in init()",
        "init: closing the pipe to signal completion",
    ] {
        assert!(text.contains(words), "no {words:?} in:\n{text}");
    }
}

/// A pre-existing frozen cgroup would hold the init in the freezer forever:
/// refused, nothing left behind.
#[test]
fn pre_existing_frozen_cgroup_is_refused() {
    let Some(env) = common::env("pre_existing_frozen_cgroup_is_refused") else {
        return;
    };
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let rel = format!("{}-frozen", env.id("cg"));
    let (dir, file, value) = if v2 {
        (
            std::path::PathBuf::from("/sys/fs/cgroup").join(&rel),
            "cgroup.freeze",
            "1",
        )
    } else {
        (
            std::path::PathBuf::from("/sys/fs/cgroup/freezer").join(&rel),
            "freezer.state",
            "FROZEN",
        )
    };
    if !dir.parent().unwrap().exists() {
        eprintln!("SKIPPED pre_existing_frozen_cgroup_is_refused: no freezer hierarchy");
        return;
    }
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join(file), value).unwrap();
    let bundle = env.bundle("b", &["true"]);
    env.edit_config(&bundle, |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{rel}"))
    });
    let id = env.id("c");
    let out = env.sealrun(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    std::fs::remove_dir(&dir).unwrap();
    out.assert_one_line_error("container's cgroup unexpectedly frozen");
    assert!(!env.root.join(&id).exists());
}

/// `ro` on the /dev tmpfs holds once its device nodes exist.
#[test]
fn read_only_dev_mount_is_honoured() {
    let Some(env) = common::env("read_only_dev_mount_is_honoured") else {
        return;
    };
    let bundle = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "grep ' /dev ' /proc/self/mounts; echo x > /dev/null && echo NULL-OK",
        ],
    );
    env.edit_config(&bundle, |c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
    });
    let id = env.id("c");
    let out = env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    out.assert_ok();
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains(" ro,") || first.contains(" ro "),
        "/dev is not read-only: {out:#?}"
    );
    assert!(
        out.stdout.contains("NULL-OK"),
        "device nodes stopped working: {out:#?}"
    );
    env.assert_nothing_left(&id);
}

/// `exec --process /dev/fd/N` (a pipe, read once, by every reader) with a
/// process that has no `user` (runc takes uid 0): also when sealing happens
/// after parsing (`--seal` after the subcommand) and re-executes.
#[test]
fn exec_process_from_a_pipe_without_user() {
    let Some(env) = common::env("exec_process_from_a_pipe_without_user") else {
        return;
    };
    let id = env.id("c");
    let bundle = env.bundle("b", &["sleep", "1000"]);
    env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let process = json!({"args": ["/bin/sh", "-c", "echo from-pipe; id -u"], "cwd": "/"});
    for late_seal in [false, true] {
        let mut cmd = env.command();
        cmd.arg("exec");
        if late_seal {
            cmd.args(["--seal", "memfd"]);
        }
        cmd.args(["--process", "/dev/stdin", &id])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(process.to_string().as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout == "from-pipe\n0\n",
            "late_seal={late_seal}: {out:?}"
        );
    }
    // No stash file left in the state directory.
    let left: Vec<_> = std::fs::read_dir(env.root.join(&id))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("exec-process-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    env.sealrun(&["pause", &id]).assert_ok();
    let out = env.sealrun(&["exec", &id, "true"]);
    assert_eq!(out.code(), 255, "{out:#?}");
    out.assert_one_line_error("cannot exec in a paused container");
    env.sealrun(&["resume", &id]).assert_ok();
    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// `update` changes a running container's limits (read back from the host),
/// `events --stats` prints runc's event line, `state` names the user's
/// bundle although libcontainer was given a prepared copy, and the default
/// cgroup is runc's `/<id>`.
#[test]
fn update_events_state_and_the_default_cgroup() {
    let Some(env) = common::env("update_events_state_and_the_default_cgroup") else {
        return;
    };
    let id = env.id("c");
    let bundle = env.bundle("b", &["sleep", "1000"]);
    env.edit_config(&bundle, |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 33554432});
    });
    env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let state = env.state(&id);
    assert_eq!(state["bundle"], bundle.to_str().unwrap(), "{state}");
    let pid = state["pid"].as_i64().unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cgroup.lines().any(|l| l.ends_with(&format!(":/{id}"))),
        "{cgroup}"
    );

    env.sealrun(&["update", "--memory", "64M", "--pids-limit", "20", &id])
        .assert_ok();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let (mem, pids) = if v2 {
        (
            format!("/sys/fs/cgroup/{id}/memory.max"),
            format!("/sys/fs/cgroup/{id}/pids.max"),
        )
    } else {
        (
            format!("/sys/fs/cgroup/memory/{id}/memory.limit_in_bytes"),
            format!("/sys/fs/cgroup/pids/{id}/pids.max"),
        )
    };
    assert_eq!(
        std::fs::read_to_string(mem).unwrap().trim(),
        (64 << 20).to_string()
    );
    assert_eq!(std::fs::read_to_string(pids).unwrap().trim(), "20");

    let out = env.sealrun(&["events", "--stats", &id]);
    out.assert_ok();
    assert!(
        out.stdout
            .starts_with(&format!("{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":")),
        "{out:#?}"
    );
    let event: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(event["data"]["memory"]["usage"]["limit"], 64 << 20);

    let help = env.sealrun(&["update", "-h"]);
    help.assert_ok();
    assert!(
        help.stdout
            .starts_with("NAME:\n   sealrun, as runc update - "),
        "{help:#?}"
    );

    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
    let left: Vec<_> = std::fs::read_dir(&env.root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in --root: {left:?}");
}

/// The container's terminal belongs to its process's user (group: devpts'
/// tty group), as runc makes it.
#[test]
fn terminal_belongs_to_the_process_user() {
    let Some(env) = common::env("terminal_belongs_to_the_process_user") else {
        return;
    };
    let bundle = env.bundle("b", &["sh", "-c", "stat -c %u:%g $(tty)"]);
    env.edit_config(&bundle, |c| {
        c["process"]["terminal"] = true.into();
        c["process"]["user"] = json!({"uid": 1000, "gid": 100});
    });
    let id = env.id("c");
    let out = env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "1000:5", "{out:#?}");
    env.assert_nothing_left(&id);
}

/// podman's `--tmpfs` and `--read-only` mounts carry `tmpcopyup`: the tmpfs
/// starts with the files of the directory it covers (owner, mode, symlinks
/// kept), is writable, and writes stay in the tmpfs. libcontainer passed
/// the option to mount(2), which failed the create with EINVAL.
#[test]
fn tmpcopyup_tmpfs_starts_with_the_covered_files() {
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
    let Some(env) = common::env("tmpcopyup_tmpfs_starts_with_the_covered_files") else {
        return;
    };
    let script = "cd /data && stat -c '%n %a %u:%g' hello sub sub/deep && cat hello sub/deep \
                  && readlink link && echo new > new && echo WRITABLE \
                  && grep ' /data tmpfs ' /proc/mounts | cut -d' ' -f4";
    let bundle = env.bundle("b", &["sh", "-c", script]);
    let data = bundle.join("rootfs/data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("hello"), "hello from the image\n").unwrap();
    std::fs::write(data.join("sub/deep"), "deep\n").unwrap();
    std::fs::set_permissions(data.join("hello"), std::fs::Permissions::from_mode(0o604)).unwrap();
    std::fs::set_permissions(data.join("sub"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(data.join("hello"), Some(1000), Some(1001)).unwrap();
    std::os::unix::fs::chown(data.join("sub/deep"), Some(7), Some(8)).unwrap();
    symlink("/etc/passwd", data.join("link")).unwrap();
    env.edit_config(&bundle, |config| {
        config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["rw", "nosuid", "nodev", "tmpcopyup", "size=1m"],
        }));
    });
    let id = env.id("c");
    let out = env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "hello 604 1000:1001",
            "sub 750 0:0",
            "sub/deep 644 7:8",
            "hello from the image",
            "deep",
            "/etc/passwd",
            "WRITABLE",
            "rw,nosuid,nodev,relatime,size=1024k",
        ],
        "{out:#?}"
    );
    // The write stayed in the tmpfs; the image's directory is as it was.
    assert!(!data.join("new").exists());
    assert_eq!(std::fs::metadata(data.join("hello")).unwrap().uid(), 1000);
    env.assert_nothing_left(&id);
}

/// Deleting a stopped container (sealrun's own delete, without
/// libcontainer's) still runs the poststop hooks with the container's state
/// on stdin, after its cgroups are gone, and leaves nothing behind.
#[test]
fn poststop_hooks_run_when_a_stopped_container_is_deleted() {
    let Some(env) = common::env("poststop_hooks_run_when_a_stopped_container_is_deleted") else {
        return;
    };
    let out_file = env.dir.path().join("poststop.json");
    let bundle = env.bundle("b", &["true"]);
    let id = env.id("c");
    let script = format!(
        "cat > {0}.tmp; for d in /sys/fs/cgroup/*/{1} /sys/fs/cgroup/{1}; do [ -d \"$d\" ] && echo \"cgroup left: $d\" >> {0}.tmp; done; mv {0}.tmp {0}",
        out_file.display(),
        id
    );
    env.edit_config(&bundle, |c| {
        c["hooks"] = json!({"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]});
    });
    env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let written = std::fs::read_to_string(&out_file).expect("the poststop hook did not run");
    assert!(!written.contains("cgroup left"), "{written}");
    let state: Value = serde_json::from_str(&written).expect("state JSON on the hook's stdin");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["status"], "stopped");
    env.assert_nothing_left(&id);
}

/// checkpoint without CRIU: what the caller got wrong is named first, in
/// runc's words (runc's `checkpoint --pre-dump (bad --parent-path)`), and
/// nothing is created on the way (runc makes the image directory first).
#[test]
fn checkpoint_checks_its_options_as_runc_does() {
    let Some(env) = common::env("checkpoint_checks_its_options_as_runc_does") else {
        return;
    };
    let id = env.id("c");
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let work = env.dir.path().join("cr");
    std::fs::create_dir(&work).unwrap();
    let in_work = |args: &[&str]| {
        let mut cmd = env.command();
        cmd.args(args).current_dir(&work);
        env.output(cmd)
    };
    in_work(&["checkpoint", "no-such-container"]).assert_one_line_error("does not exist");
    env.sealrun(&["create", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    in_work(&["checkpoint", &id])
        .assert_one_line_error("Container cannot be checkpointed in created state");
    env.sealrun(&["start", &id]).assert_ok();
    let absolute = work.join("parent-dir");
    in_work(&[
        "checkpoint",
        "--parent-path",
        absolute.to_str().unwrap(),
        "--image-path",
        "./image-dir",
        &id,
    ])
    .assert_one_line_error("--parent-path must be relative");
    in_work(&[
        "checkpoint",
        "--parent-path",
        "./parent-dir",
        "--image-path",
        "./image-dir",
        &id,
    ])
    .assert_one_line_error(
        "invalid --parent-path: stat image-dir/parent-dir: no such file or directory",
    );
    in_work(&["checkpoint", "--manage-cgroups-mode", "hard", &id])
        .assert_one_line_error("Invalid manage cgroups mode");
    // Every option valid: the refusal names what is missing.
    in_work(&["checkpoint", "--leave-running", &id])
        .assert_one_line_error("CRIU is not wired into it");
    in_work(&["restore", "--bundle", bundle.to_str().unwrap(), "r"])
        .assert_one_line_error("CRIU is not wired into it");
    let left: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
    assert!(
        left.is_empty(),
        "checkpoint left {left:?} in {}",
        work.display()
    );
    assert_eq!(env.state(&id)["status"], "running");
    env.sealrun(&["delete", "-f", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// A user-namespace container binds sources its root cannot reach (below a
/// 0700 directory), as runc does (`userns with 2 inaccessible mounts`):
/// staged in a mount namespace of sealrun's own, of which neither the host
/// nor the container sees anything, while the hooks sealrun's process runs
/// stay in the host's mount namespace.
#[test]
fn userns_binds_from_sources_only_the_host_root_reaches() {
    let Some(env) = common::env("userns_binds_from_sources_only_the_host_root_reaches") else {
        return;
    };
    let closed = closed_sources(&env);
    let hook_saw = env.dir.path().join("hook-saw");
    let id = env.id("c");
    let bundle = userns_bundle(&env, &["sleep", "1000"]);
    // The container's root cannot make them in a rootfs the host's root owns
    // (runc's test makes them too).
    std::fs::create_dir_all(bundle.join("rootfs/mnt/a")).unwrap();
    std::fs::write(bundle.join("rootfs/mnt/f"), "").unwrap();
    std::fs::create_dir_all(bundle.join("rootfs/hostrun")).unwrap();
    env.edit_config(&bundle, |config| {
        let mounts = config["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"source": closed.join("dir"), "destination": "/mnt/a", "options": ["bind"]}));
        mounts.push(json!({"source": closed.join("file"), "destination": "/mnt/f", "options": ["rbind", "ro"]}));
        // A recursive bind of /run copies the staging along: the staged
        // file must be as read-only there as at /mnt/f.
        mounts.push(json!({"source": "/run", "destination": "/hostrun", "options": ["rbind"]}));
        config["hooks"] = json!({"createRuntime": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!(
                "readlink /proc/self/ns/mnt > {0}; grep -c sealrun-stage /proc/self/mountinfo >> {0}; true",
                hook_saw.display()
            )]
        }]});
    });
    env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let out = env.sealrun(&["exec", &id, "cat", "/mnt/a/foo", "/mnt/f"]);
    assert_eq!(out.stdout, "from a dir\nfrom a file\n", "{out:#?}");
    let out = env.sealrun(&["exec", &id, "cat", "/proc/self/mountinfo"]);
    let staged: Vec<&str> = out
        .assert_ok()
        .stdout
        .lines()
        .filter(|l| l.contains("sealrun-stage"))
        .collect();
    // Only below the recursive bind of /run, restricted as asked.
    let at = |l: &str| l.split(' ').nth(4).unwrap_or_default().to_owned();
    assert!(
        staged
            .iter()
            .all(|l| at(l).starts_with("/hostrun/sealrun-stage")),
        "{staged:#?}"
    );
    let file = staged
        .iter()
        .find(|l| at(l) == "/hostrun/sealrun-stage/1")
        .unwrap_or_else(|| panic!("{staged:#?}"));
    assert!(file.split(' ').nth(5).unwrap().starts_with("ro,"), "{file}");

    let host_ns = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_eq!(
        std::fs::read_to_string(&hook_saw).unwrap(),
        format!("{}\n0\n", host_ns.display()),
        "the createRuntime hook ran outside the host's mount namespace"
    );
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains("sealrun-stage"), "{mountinfo}");
    let staged: Vec<_> = std::fs::read_dir("/run/sealrun-stage").unwrap().collect();
    assert!(staged.is_empty(), "{staged:?} left on the host");
    // Later readers of the prepared config see the sources as given.
    let prepared = env.root.join(format!("prepared:{id}")).join("config.json");
    let prepared: Value = serde_json::from_slice(&std::fs::read(prepared).unwrap()).unwrap();
    let sources: Vec<&str> = prepared["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["source"].as_str())
        .filter(|s| s.contains("closed") || s.contains("sealrun-stage"))
        .collect();
    let given = [closed.join("dir"), closed.join("file")];
    assert_eq!(
        sources,
        given
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect::<Vec<_>>()
    );
    env.sealrun(&["delete", "-f", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// When a staged bind fails in libcontainer (here: the container's root
/// cannot make the mount point in a rootfs the host's root owns), the
/// error names the source as given, not its staging path, and nothing is
/// left: no state, no mount, nothing staged on the host.
#[test]
fn userns_bind_errors_name_the_source_as_given() {
    let Some(env) = common::env("userns_bind_errors_name_the_source_as_given") else {
        return;
    };
    let closed = closed_sources(&env);
    let id = env.id("c");
    let bundle = userns_bundle(&env, &["true"]);
    env.edit_config(&bundle, |config| {
        config["mounts"].as_array_mut().unwrap().push(
            json!({"source": closed.join("dir"), "destination": "/no/such/dir", "options": ["bind"]}),
        );
    });
    let out = env.sealrun(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    out.assert_one_line_error(&format!("(source {})", closed.join("dir").display()));
    assert!(!out.stderr.contains("sealrun-stage"), "{out:#?}");
    env.assert_nothing_left(&id);
    let staged: Vec<_> = std::fs::read_dir("/run/sealrun-stage").unwrap().collect();
    assert!(staged.is_empty(), "{staged:?} left on the host");
}

/// In a test directory the container's root may search (so it reaches the
/// rootfs), `closed/` (0700, the host's root's) holding `dir/foo` and
/// `file`, which it cannot reach.
fn closed_sources(env: &common::TestEnv) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path, m| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(env.dir.path(), 0o711);
    let closed = env.dir.path().join("closed");
    std::fs::create_dir_all(closed.join("dir")).unwrap();
    std::fs::write(closed.join("dir/foo"), "from a dir\n").unwrap();
    std::fs::write(closed.join("file"), "from a file\n").unwrap();
    mode(&closed, 0o700);
    closed
}

/// A busybox bundle running `args` in a user namespace whose root is host
/// uid and gid 100000 (runc's userns.bats mapping).
fn userns_bundle(env: &common::TestEnv, args: &[&str]) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bundle = env.bundle("b", args);
    std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.edit_config(&bundle, |config| {
        let linux = &mut config["linux"];
        linux["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        linux["uidMappings"] = json!([{"hostID": 100000, "containerID": 0, "size": 65534}]);
        linux["gidMappings"] = json!([{"hostID": 100000, "containerID": 0, "size": 65534}]);
    });
    bundle
}

/// Container processes are in exactly the spec's additionalGids, as with
/// runc: none of the groups of whoever ran sealrun (here root, disk and
/// sudo), in the init and in exec'd processes, with and without a list.
#[test]
fn container_processes_get_only_the_specs_supplementary_groups() {
    let Some(env) = common::env("container_processes_get_only_the_specs_supplementary_groups")
    else {
        return;
    };
    let groups_of = |args: &[&str]| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--groups", "0,6,27", "--"])
            .arg(&env.bin)
            .arg("--root")
            .arg(&env.root)
            .arg("--log")
            .arg(&env.log)
            .args(["--seal", "none"])
            .args(args);
        let out = env.output(cmd);
        out.assert_ok();
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("Groups:"))
            .map(|g| g.trim().to_owned())
            .unwrap_or_else(|| panic!("{out:#?}"))
    };
    let show = ["grep", "Groups", "/proc/self/status"];
    for (additional, expected) in [(None, ""), (Some(json!([100, 200])), "100 200")] {
        let id = env.id(if additional.is_some() {
            "with"
        } else {
            "without"
        });
        let bundle = env.bundle(&id, &show);
        env.edit_config(&bundle, |config| {
            config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            if let Some(gids) = &additional {
                config["process"]["user"]["additionalGids"] = gids.clone();
            }
        });
        let b = bundle.to_str().unwrap();
        assert_eq!(groups_of(&["run", "--bundle", b, &id]), expected, "init");
        env.sealrun(&["delete", "-f", &id]).assert_ok();
        env.edit_config(&bundle, |config| {
            config["process"]["args"] = json!(["sleep", "1000"]);
        });
        env.sealrun(&["run", "-d", "--bundle", b, &id]).assert_ok();
        let mut exec = vec!["exec", "--user", "1000:1000"];
        if additional.is_some() {
            exec.extend(["--additional-gids", "100", "--additional-gids", "200"]);
        }
        exec.push(&id);
        exec.extend(show);
        assert_eq!(groups_of(&exec), expected, "exec");
        env.sealrun(&["delete", "-f", &id]).assert_ok();
        env.assert_nothing_left(&id);
    }
}

/// Standard fds that are /dev/null stay writable in the container, as with
/// runc: `sealrun run ... >/dev/null` must not make the container's writes
/// fail (libcontainer reopened them read-only: EBADF, `make demo` failed).
#[test]
fn dev_null_stdio_stays_writable() {
    let Some(env) = common::env("dev_null_stdio_stays_writable") else {
        return;
    };
    let id = env.id("c");
    let bundle = env.bundle("b", &["sh", "-c", "echo out && echo err >&2"]);
    let mut cmd = env.command();
    cmd.args(["run", "--bundle", bundle.to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let status = cmd.status().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the container's writes to /dev/null failed"
    );
    env.assert_nothing_left(&id);
}
