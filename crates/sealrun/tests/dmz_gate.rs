//! The dmz gate's record and lock (root only): an exec that could give a
//! process CAP_SYS_PTRACE waits while a dmz stage holds the container's
//! record lock, records the grant, and from then on dmz is refused for the
//! container; a container created with dmz refuses such an exec until its
//! init has started the workload. (The attacks themselves: tests/exploit.rs.)

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

fn grants(env: &common::TestEnv, id: &str) -> Vec<Value> {
    let path = env.root.join(id).join("sealrun.json");
    let record: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_default())
        .unwrap_or(Value::Null);
    record["ptrace_grants"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn ptrace_grant_waits_for_dmz_stages_then_closes_the_gate() {
    let Some(env) = common::env("ptrace_grant_waits_for_dmz_stages_then_closes_the_gate") else {
        return;
    };
    let id = env.id("c");
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let b = bundle.to_str().unwrap();
    env.sealrun(&["--seal", "dmz", "create", "--bundle", b, &id])
        .assert_ok();
    // Not started: its init is still the runtime binary in the container.
    let exec_ptrace = |id: &str| {
        let mut cmd = env.command();
        cmd.args([
            "--seal",
            "memfd",
            "exec",
            "--cap",
            "CAP_SYS_PTRACE",
            id,
            "true",
        ]);
        cmd
    };
    env.output(exec_ptrace(&id))
        .assert_one_line_error("runs the runtime binary until `start`");
    assert!(grants(&env, &id).is_empty());
    env.sealrun(&["start", &id]).assert_ok();
    env.wait_for_status(&id, "running");

    // A dmz exec's stages hold the record lock shared while they live.
    let lock = File::open(env.root.join(&id).join("sealrun.lock")).unwrap();
    // SAFETY: flock on a descriptor we own, plain integer arguments.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_SH) }, 0);
    let mut cmd = exec_ptrace(&id);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the CAP_SYS_PTRACE exec did not wait for the dmz stage holding the lock"
    );
    assert!(
        grants(&env, &id).is_empty(),
        "granted while a dmz stage was inside"
    );
    drop(lock);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the CAP_SYS_PTRACE exec never finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "the CAP_SYS_PTRACE exec failed: {status}");
    let recorded = grants(&env, &id);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert!(
        recorded[0].as_str().unwrap().contains("exec true")
            && recorded[0].as_str().unwrap().contains("CAP_SYS_PTRACE"),
        "{recorded:?}"
    );

    // From now on: explicit dmz fails naming the grant...
    env.sealrun(&["--seal", "dmz", "exec", &id, "true"])
        .assert_one_line_error("--seal dmz refused: an earlier exec into container");
    // ...and auto without overlays passes over dmz to memfd.
    let mut auto = env.command();
    auto.args(["--debug", "--seal", "auto", "exec", &id, "true"])
        .env("EXESEAL_FAIL", "overlayfs,userns-overlayfs");
    env.output(auto).assert_ok();
    let log = std::fs::read_to_string(&env.log).unwrap();
    assert!(
        log.contains("seal: skipping dmz: an earlier exec into container"),
        "{log}"
    );
    // The first private copy now: huge pages on a tmpfs of its own.
    assert!(log.contains("seal: using hugetmpfs"), "{log}");

    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
}

/// A running process in the container holding CAP_SYS_PTRACE closes the
/// gate even without a recorded grant (a runtime that keeps no record
/// exec'd it: simulated by erasing the grant sealrun recorded).
#[test]
fn live_ptrace_process_closes_the_gate() {
    let Some(env) = common::env("live_ptrace_process_closes_the_gate") else {
        return;
    };
    let id = env.id("c");
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let b = bundle.to_str().unwrap();
    env.sealrun(&["--seal", "memfd", "run", "-d", "--bundle", b, &id])
        .assert_ok();
    env.sealrun(&[
        "--seal",
        "memfd",
        "exec",
        "-d",
        "--cap",
        "CAP_SYS_PTRACE",
        &id,
        "sleep",
        "1000",
    ])
    .assert_ok();
    assert_eq!(grants(&env, &id).len(), 1);
    let record = env.root.join(&id).join("sealrun.json");
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    value["ptrace_grants"] = serde_json::json!([]);
    std::fs::write(&record, value.to_string()).unwrap();

    env.sealrun(&["--seal", "dmz", "exec", &id, "true"])
        .assert_one_line_error("has CAP_SYS_PTRACE in its bounding set");
    env.sealrun(&["delete", "--force", &id]).assert_ok();
    env.assert_nothing_left(&id);
}
