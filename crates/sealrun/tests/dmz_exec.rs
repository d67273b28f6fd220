//! The dmz executor end to end through libcontainer (root only): a dmz fd
//! opened before the container is built survives libcontainer's fd cleanup in
//! the init process, the workload is exec'd through it, and the workload does
//! not inherit it.
//!
//! The host's static busybox stands in for the dmz shim: exec'd with argv[0]
//! `/bin/sh` it runs its `sh` applet, so the container's pid 1 has the *host*
//! busybox as its image, which is distinguishable from the rootfs copy.
//!
//! The executor is compiled in from the binary's sources (sealrun has no
//! library target). Besides the executor's own small unit tests this file
//! holds a single test, so the process that clones the container has no
//! other busy threads.

#[allow(dead_code)]
#[path = "../src/sys.rs"]
mod sys;

#[allow(dead_code)]
#[path = "../src/executor.rs"]
mod executor;

// What the executor calls in the init (it closes the init's copy of the
// pipe that carries init errors back).
#[allow(dead_code)]
#[path = "../src/init_errors.rs"]
mod init_errors;

#[allow(dead_code)]
#[path = "../src/logfmt.rs"]
mod logfmt;

// What the executor does last in an exec'd process (seccomp, lent
// capabilities, sub-cgroups); unused by this test's init.
#[allow(dead_code)]
#[path = "../src/exec_seccomp.rs"]
mod exec_seccomp;

#[allow(dead_code)]
#[path = "../src/lend.rs"]
mod lend;

#[allow(dead_code)]
#[path = "../src/exec_cgroup.rs"]
mod exec_cgroup;

#[allow(dead_code)]
#[path = "../src/start_hooks.rs"]
mod start_hooks;

#[allow(dead_code)]
#[path = "../src/seccomp_stub.rs"]
mod seccomp_stub;

mod common;

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitStatus};

/// What the workload reports: its own image, and whether fd 3+ leaked.
/// (No pipes or command substitution: they would show up as descriptors.)
const PROBE: &str = "stat -L -c %d:%i /proc/$$/exe; ls -l /proc/$$/fd";

/// The descriptor numbers in `ls -l /proc/PID/fd` output
/// ("lr-x------ 1 root root 64 Nov 23 13:02 3 -> /x").
fn fd_numbers(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter_map(|line| line.split(" -> ").next()?.split_whitespace().last())
        .collect()
}

fn dev_ino(path: &Path) -> String {
    let meta = std::fs::metadata(path).unwrap();
    format!("{}:{}", meta.dev(), meta.ino())
}

/// Runs PROBE in a container built with `dmz`; returns (image, fds).
fn run_probe(env: &common::TestEnv, name: &str, dmz: Option<OwnedFd>) -> (String, String) {
    let bundle = env.bundle(name, &["sh", "-c", PROBE]);
    let out_path = env.dir.path().join(format!("{name}.out"));
    let out = std::fs::File::create(&out_path).unwrap();
    std::fs::create_dir_all(&env.root).unwrap();

    let id = env.id(name);
    let executor = executor::SealExecutor::new(dmz, None, 0).unwrap();
    let mut container = ContainerBuilder::new(id.clone(), SyscallType::default())
        .with_executor(executor)
        .with_root_path(&env.root)
        .unwrap()
        .with_stdout(out)
        .as_init(&bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .unwrap_or_else(|e| panic!("build {id}: {e}"));
    container.start().unwrap();
    let pid = container.pid().unwrap();
    match waitpid(pid, None).unwrap() {
        WaitStatus::Exited(_, 0) => {}
        other => panic!(
            "workload of {id} ended with {other:?}: {}",
            std::fs::read_to_string(&out_path).unwrap()
        ),
    }
    container.delete(true).unwrap();
    env.assert_nothing_left(&id);

    let output = std::fs::read_to_string(&out_path).unwrap();
    let (image, fds) = output.split_once('\n').unwrap_or((&output, ""));
    let fds = fds
        .lines()
        .filter(|l| l.contains(" -> "))
        .collect::<Vec<_>>()
        .join("\n");
    (image.to_owned(), fds)
}

#[test]
fn workload_is_execd_through_the_dmz_fd() {
    let Some(env) = common::env("dmz_exec") else {
        return;
    };
    let host_busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("make-bundle.sh installs a static busybox");

    // Without a dmz: pid 1 is the rootfs' own busybox.
    let (image, fds) = run_probe(&env, "plain", None);
    let rootfs_busybox = env.dir.path().join("plain/rootfs/bin/busybox");
    assert_eq!(image, dev_ino(&rootfs_busybox));
    assert_eq!(fd_numbers(&fds), ["0", "1", "2"], "{fds}");

    // With a dmz fd opened before the build, without O_CLOEXEC and at a low
    // number (inside the range libcontainer marks close-on-exec): pid 1 is
    // the host busybox, and no descriptor besides stdio reaches it.
    let dmz: OwnedFd = std::fs::File::open(host_busybox).unwrap().into();
    // SAFETY: clearing FD_CLOEXEC on a descriptor we own.
    assert_eq!(
        unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&dmz), libc::F_SETFD, 0) },
        0
    );
    let (image, fds) = run_probe(&env, "dmz", Some(dmz));
    assert_eq!(
        image,
        dev_ino(host_busybox),
        "workload was not exec'd through the dmz fd"
    );
    assert_ne!(
        image,
        dev_ino(&env.dir.path().join("dmz/rootfs/bin/busybox"))
    );
    assert_eq!(
        fd_numbers(&fds),
        ["0", "1", "2"],
        "descriptors leaked into the workload: {fds}"
    );
}
