//! Bad inputs: each gives a one-line error and leaves nothing behind (root only).

mod common;

use common::TestEnv;

fn create_fails(env: &TestEnv, bundle: &std::path::Path, id: &str, needle: &str) {
    for cmd in ["create", "run"] {
        env.sealrun(&[cmd, "--bundle", bundle.to_str().unwrap(), id])
            .assert_one_line_error(needle);
        env.assert_nothing_left(id);
    }
}

#[test]
fn missing_bundle() {
    let Some(env) = common::env("missing_bundle") else {
        return;
    };
    let bundle = env.dir.path().join("no-such-bundle");
    create_fails(
        &env,
        &bundle,
        &env.id("c"),
        "no-such-bundle is not accessible",
    );
}

#[test]
fn missing_config_json() {
    let Some(env) = common::env("missing_config") else {
        return;
    };
    let bundle = env.bundle("bundle", &["true"]);
    std::fs::remove_file(bundle.join("config.json")).unwrap();
    create_fails(&env, &bundle, &env.id("c"), "has no config.json");
}

#[test]
fn malformed_config_json() {
    let Some(env) = common::env("malformed_config") else {
        return;
    };
    let bundle = env.bundle("bundle", &["true"]);
    std::fs::write(bundle.join("config.json"), "{ \"ociVersion\": \"1.0.2\", ").unwrap();
    create_fails(&env, &bundle, &env.id("c"), "failed to parse");

    // Valid JSON, invalid spec.
    std::fs::write(bundle.join("config.json"), "{\"ociVersion\": 5}").unwrap();
    create_fails(&env, &bundle, &env.id("c"), "failed to parse");
}

#[test]
fn missing_rootfs() {
    let Some(env) = common::env("missing_rootfs") else {
        return;
    };
    let bundle = env.bundle("bundle", &["true"]);
    std::fs::remove_dir_all(bundle.join("rootfs")).unwrap();
    create_fails(&env, &bundle, &env.id("c"), "is not a directory");
}

#[test]
fn missing_executable_fails_create_and_cleans_up() {
    let Some(env) = common::env("missing_exe") else {
        return;
    };
    let bundle = env.bundle("bundle", &["/no/such/program"]);
    create_fails(&env, &bundle, &env.id("c"), "failed to create container");
}

#[test]
fn unknown_container_id() {
    let Some(env) = common::env("unknown_id") else {
        return;
    };
    let id = env.id("ghost");
    let id = id.as_str();
    for args in [
        vec!["state", id],
        vec!["start", id],
        vec!["kill", id, "KILL"],
        vec!["delete", id],
        // (`delete --force` of a missing container succeeds, as in runc:
        // tests/runc_compat.rs)
        vec!["exec", id, "true"],
        vec!["ps", id],
        vec!["pause", id],
    ] {
        env.sealrun(&args)
            .assert_one_line_error(&format!("container {id} does not exist"));
        env.assert_nothing_left(id);
    }
    // An id that is not a plain name never reaches the file system.
    env.sealrun(&["state", "../etc"])
        .assert_one_line_error("invalid container id");
}

#[test]
fn duplicate_id() {
    let Some(env) = common::env("duplicate_id") else {
        return;
    };
    let bundle = env.bundle("bundle", &["sleep", "1000"]);
    let id = env.id("c");
    env.sealrun(&["create", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let before = env.state(&id);

    for cmd in ["create", "run"] {
        env.sealrun(&[cmd, "--bundle", bundle.to_str().unwrap(), &id])
            .assert_one_line_error("already exists");
    }
    // The first container is untouched.
    let after = env.state(&id);
    assert_eq!(
        (&after["status"], &after["pid"]),
        (&before["status"], &before["pid"])
    );

    env.sealrun(&["delete", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

#[test]
fn bad_signal() {
    let Some(env) = common::env("bad_signal") else {
        return;
    };
    let bundle = env.bundle("bundle", &["sleep", "1000"]);
    let id = env.id("c");
    env.sealrun(&["run", "--detach", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    // (0 is kill(2)'s existence probe, as in runc: tests/runc_compat.rs)
    for bad in ["SIGNOPE", "NOPE", "99", ""] {
        env.sealrun(&["kill", &id, bad])
            .assert_one_line_error("invalid signal");
    }
    // Still running after the rejected kills.
    assert_eq!(env.state(&id)["status"], "running");
    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

#[test]
fn invalid_seal_value() {
    let Some(env) = common::env("invalid_seal") else {
        return;
    };
    let bundle = env.bundle("bundle", &["true"]);
    let id = env.id("c");
    let mut cmd = std::process::Command::new(&env.bin);
    cmd.arg("--root")
        .arg(&env.root)
        .args(["--seal", "bogus", "run", "--bundle"])
        .arg(&bundle)
        .arg(&id);
    let out = env.output(cmd);
    out.assert_one_line_error("invalid value 'bogus' for '--seal <MODE>'");
    assert!(
        out.stderr.contains(
            "possible values: auto, hardened, overlayfs, hugetmpfs, memfd, tmpfile, dmz, none"
        ),
        "{out:#?}"
    );
    assert_eq!(out.code(), 2);
    env.assert_nothing_left(&id);

    // The environment variable is checked the same way.
    let mut cmd = std::process::Command::new(&env.bin);
    cmd.env("SEALRUN_SEAL", "bogus")
        .arg("--root")
        .arg(&env.root)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id);
    env.output(cmd)
        .assert_one_line_error("invalid value 'bogus'");
    env.assert_nothing_left(&id);
}

#[test]
fn pid_file_in_a_missing_directory() {
    let Some(env) = common::env("bad_pid_file") else {
        return;
    };
    let bundle = env.bundle("bundle", &["sleep", "1000"]);
    let id = env.id("c");
    let pid_file = env.dir.path().join("no-such-dir/pid");
    for cmd in ["create", "run"] {
        env.sealrun(&[
            cmd,
            "--pid-file",
            pid_file.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            &id,
        ])
        .assert_one_line_error("is not a directory");
        env.assert_nothing_left(&id);
    }
}

/// A hostile config.json (100,000 levels deep, or larger than 32 MiB) is
/// refused before it is parsed, by name, leaving nothing behind.
#[test]
fn oversized_or_deeply_nested_config_json() {
    let Some(env) = common::env("oversized_or_deeply_nested_config_json") else {
        return;
    };
    let bundle = env.bundle("bundle", &["true"]);
    let deep = format!(
        "{{\"ociVersion\": \"1.0.2\", \"annotations\": {{\"x\": {}0{}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    std::fs::write(bundle.join("config.json"), deep).unwrap();
    create_fails(
        &env,
        &bundle,
        &env.id("c"),
        "nests arrays and objects deeper than 1000 levels",
    );

    let big = std::fs::File::create(bundle.join("config.json")).unwrap();
    big.set_len(33 << 20).unwrap();
    create_fails(
        &env,
        &bundle,
        &env.id("c"),
        "config.json is larger than 32 MiB",
    );
}

/// Failures inside the container's init name what failed, where, and the
/// errno, on the one error line (and in the `--log` file), for `create`,
/// `run` and `exec`; nothing is left behind. libcontainer alone said
/// "failed to prepare rootfs" or "failed to unix syscall".
#[test]
fn init_failures_name_their_cause() {
    let Some(env) = common::env("init_failures_name_their_cause") else {
        return;
    };
    // A mount whose destination lies below a regular file.
    let bundle = env.bundle("dest", &["true"]);
    env.edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/bin/busybox/x", "type": "tmpfs", "source": "tmpfs"
        }));
    });
    create_fails(
        &env,
        &bundle,
        &env.id("dest"),
        "failed to prepare rootfs: failed to mount tmpfs on /bin/busybox/x (source tmpfs): openat2 subpath failed: Not a directory (ENOTDIR)",
    );
    // A file bound onto a directory of the rootfs (docker's `--mount`
    // mistake): named as runc names it, with ENOTDIR.
    let bundle = env.bundle("file-on-dir", &["true"]);
    let file = env.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    env.edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/etc", "type": "bind", "source": file, "options": ["rbind"]
        }));
    });
    create_fails(
        &env,
        &bundle,
        &env.id("file-on-dir"),
        &format!(
            "error mounting {} to rootfs at /etc: cannot bind a file onto a directory: not a directory (ENOTDIR)",
            file.display()
        ),
    );
    // A working directory the rootfs does not have.
    let bundle = env.bundle("cwd", &["true"]);
    env.edit_config(&bundle, |c| c["process"]["cwd"] = "/no/such/dir".into());
    create_fails(
        &env,
        &bundle,
        &env.id("cwd"),
        "failed to chdir to \"/no/such/dir\" (process.cwd): No such file or directory (ENOENT)",
    );
    // /proc in the rootfs is a symlink (the CVE-2019-16884 family).
    let bundle = env.bundle("proc", &["true"]);
    let proc_dir = bundle.join("rootfs/proc");
    std::fs::remove_dir(&proc_dir).unwrap();
    std::os::unix::fs::symlink("/tmp", &proc_dir).unwrap();
    create_fails(
        &env,
        &bundle,
        &env.id("proc"),
        "failed to prepare rootfs: filesystem proc must be mounted on ordinary directory",
    );
    // Sysctls: a key the kernel lacks, and one that would change the host.
    let bundle = env.bundle("sysctl", &["true"]);
    env.edit_config(&bundle, |c| {
        c["linux"]["sysctl"] = serde_json::json!({"net.ipv4.no_such_knob": "1"})
    });
    create_fails(
        &env,
        &bundle,
        &env.id("sysctl"),
        "sysctl \"net.ipv4.no_such_knob\": /proc/sys/net/ipv4/no_such_knob does not exist on this kernel (ENOENT)",
    );
    env.edit_config(&bundle, |c| {
        c["linux"]["sysctl"] = serde_json::json!({"kernel.core_pattern": "|/tmp/x"})
    });
    create_fails(
        &env,
        &bundle,
        &env.id("sysctl"),
        "sysctl \"kernel.core_pattern\" is not in a separate kernel namespace",
    );

    // exec: the same words, and the log file has the same line in runc's
    // JSON (what containerd's shim reads).
    let bundle = env.bundle("exec", &["sleep", "100"]);
    let id = env.id("exec");
    env.sealrun(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
        .assert_ok();
    let out = env.sealrun(&["exec", "--cwd", "/no/such/dir", &id, "true"]);
    out.assert_one_line_error("(process.cwd): No such file or directory (ENOENT)");
    assert_eq!(out.code(), 255);
    let log = std::fs::read_to_string(&env.log).unwrap();
    let last_error = log
        .lines()
        .rfind(|l| l.contains("level=error"))
        .unwrap_or_default();
    assert!(
        last_error.contains("No such file or directory (ENOENT)"),
        "{last_error}"
    );
    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
}
