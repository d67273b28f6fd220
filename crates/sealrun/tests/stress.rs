//! Leaks, load and small memory limits, in every protected mode.
//!
//! - N sequential `run`s per mode (N = `SEALRUN_LEAK_RUNS`, default 100; the
//!   note reports a 1,000-run pass): afterwards no new mount, no leftover
//!   sealed copy (memfd/O_TMPFILE/unlinked temp) open in any process, no state
//!   dir, cgroup or process.
//! - 50 containers created and started concurrently in `auto`, torn down,
//!   nothing left.
//! - A container with a 16 MiB memory limit runs in every mode.
//!
//! Root-only (see common::env). The tests share one lock: each compares
//! host-wide snapshots taken before and after.

mod common;

use std::collections::BTreeSet;
use std::sync::Mutex;

static HOST_WIDE: Mutex<()> = Mutex::new(());

const MODES: [&str; 7] = [
    "auto",
    "overlayfs",
    "hugetmpfs",
    "memfd",
    "tmpfile",
    "dmz",
    "hardened",
];

/// Every open fd or running image, host-wide, that is one of our sealed
/// copies: `memfd:exeseal-self:*` / `memfd:exeseal:dmz`, an O_TMPFILE
/// (`/#<ino> (deleted)`) or an unlinked `.exeseal-*` temp file.
fn sealed_copies_in_use() -> BTreeSet<String> {
    let is_copy = |l: &str| {
        l.contains("memfd:exeseal")
            || (l.ends_with(" (deleted)") && (l.contains("/#") || l.contains("/.exeseal-")))
    };
    let mut found = BTreeSet::new();
    for proc_entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = proc_entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() {
            continue;
        }
        if let Ok(exe) = std::fs::read_link(proc_entry.path().join("exe")) {
            let l = exe.to_string_lossy().into_owned();
            if is_copy(&l) && common::is_alive(name.parse().unwrap()) {
                found.insert(format!("{name} exe {l}"));
            }
        }
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let l = target.to_string_lossy().into_owned();
                if is_copy(&l) {
                    found.insert(format!(
                        "{name} fd {} {l}",
                        fd.file_name().to_string_lossy()
                    ));
                }
            }
        }
    }
    found
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

#[test]
fn sequential_runs_leak_nothing_in_any_mode() {
    let Some(env) = common::env("leaks") else {
        return;
    };
    let _host = HOST_WIDE.lock().unwrap_or_else(|e| e.into_inner());
    let runs: usize = std::env::var("SEALRUN_LEAK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let bundle = env.bundle("b", &["true"]);
    let mounts_before = mountinfo();
    let copies_before = sealed_copies_in_use();
    for mode in MODES {
        let id = env.id(mode);
        let started = std::time::Instant::now();
        for i in 0..runs {
            let mut cmd = env.command();
            cmd.args(["--seal", mode, "run", "--bundle"])
                .arg(&bundle)
                .arg(&id);
            let out = env.output(cmd);
            assert_eq!(out.code(), 0, "--seal {mode}, run {i}: {out:#?}");
        }
        eprintln!("--seal {mode}: {runs} runs in {:?}", started.elapsed());
        env.assert_nothing_left(&id);
        assert_eq!(
            mountinfo(),
            mounts_before,
            "--seal {mode}: mount table changed after {runs} runs"
        );
        let copies = sealed_copies_in_use();
        let new: Vec<_> = copies.difference(&copies_before).collect();
        assert!(
            new.is_empty(),
            "--seal {mode}: sealed copies still open after {runs} runs: {new:?}"
        );
    }
    let state_dirs: Vec<_> = std::fs::read_dir(&env.root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(state_dirs.is_empty(), "state dirs left: {state_dirs:?}");
}

#[test]
fn fifty_concurrent_containers_in_auto_mode() {
    let Some(env) = common::env("load") else {
        return;
    };
    let _host = HOST_WIDE.lock().unwrap_or_else(|e| e.into_inner());
    let bundle = env.bundle("b", &["sleep", "60"]);
    let mounts_before = mountinfo();
    let copies_before = sealed_copies_in_use();
    let ids: Vec<String> = (0..50).map(|i| env.id(&format!("c{i}"))).collect();
    std::thread::scope(|s| {
        for id in &ids {
            let (env, bundle) = (&env, &bundle);
            s.spawn(move || {
                let mut cmd = env.command();
                cmd.args(["--seal", "auto", "create", "--bundle"])
                    .arg(bundle)
                    .arg(id);
                env.output(cmd).assert_ok();
                let mut cmd = env.command();
                cmd.args(["--seal", "auto", "start", id]);
                env.output(cmd).assert_ok();
            });
        }
    });
    for id in &ids {
        assert_eq!(env.state(id)["status"], "running", "{id}");
    }
    std::thread::scope(|s| {
        for id in &ids {
            let env = &env;
            s.spawn(move || {
                env.sealrun(&["delete", "--force", id]).assert_ok();
            });
        }
    });
    for id in &ids {
        env.assert_nothing_left(id);
    }
    assert_eq!(mountinfo(), mounts_before, "mount table changed");
    let copies = sealed_copies_in_use();
    assert!(
        copies.difference(&copies_before).next().is_none(),
        "sealed copies left open"
    );
}

#[test]
fn sixteen_mib_memory_limit_runs_in_every_mode() {
    let Some(env) = common::env("memlimit") else {
        return;
    };
    let _host = HOST_WIDE.lock().unwrap_or_else(|e| e.into_inner());
    // cgroup v1 (this CI host, hybrid) or v2.
    let show_limit = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";
    let bundle = env.bundle("b", &["sh", "-c", show_limit]);
    env.edit_config(&bundle, |c| {
        c["linux"]["resources"]["memory"] = serde_json::json!({ "limit": 16 * 1024 * 1024 });
    });
    for mode in MODES {
        let id = env.id(mode);
        let mut cmd = env.command();
        cmd.args(["--seal", mode, "run", "--bundle"])
            .arg(&bundle)
            .arg(&id);
        let out = env.output(cmd);
        assert_eq!(out.code(), 0, "--seal {mode} with a 16 MiB limit: {out:#?}");
        assert_eq!(
            out.stdout.trim(),
            "16777216",
            "--seal {mode}: the limit must be in force: {out:#?}"
        );
        // A copy (memfd/tmpfile/hardened) is made by the sealrun process
        // before the container's cgroup exists: it is charged to the caller's
        // memory cgroup, never to the container's 16 MiB.
        eprintln!("--seal {mode}: ran under a 16 MiB limit");
        env.assert_nothing_left(&id);
    }
}
