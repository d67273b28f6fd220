//! End-to-end tests of every sealing strategy against a private copy of the
//! `exeseal-probe` binary (never the build output itself).
//!
//! Root-only: overlayfs needs CAP_SYS_ADMIN, and the attacks below open
//! /proc/<pid>/exe of another process. Without root each test prints a SKIP
//! line and passes vacuously; CI runs as root, where they all run.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use exeseal::Strategy;

const PROBE: &str = env!("CARGO_BIN_EXE_exeseal-probe");

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!(
                "SKIP {}: needs root (overlayfs, /proc/<pid>/exe of other processes)",
                module_path!()
            );
            return;
        }
    };
}

/// Run `f` until it stops failing with ETXTBSY. Parallel test threads copy
/// binaries while others fork: a forked child briefly inherits the copy's
/// write fd (until its exec closes it), which makes exec of the copy fail
/// with "Text file busy". Retrying is the standard cure.
fn retry_busy<T>(mut f: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    for _ in 0..100 {
        match f() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => return other,
        }
    }
    f()
}

/// `sh -c script` in a private mount namespace, so its mounts vanish with
/// it. Scripts exit 99 when one of their own mounts fails.
fn sh_in_private_mount_ns(script: &str) -> std::process::Output {
    let out = retry_busy(|| {
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script])
            .output()
    })
    .unwrap();
    assert_ne!(
        out.status.code(),
        Some(99),
        "mount failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A temp dir holding a copy of the probe binary.
struct Fixture {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    original: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        Self::with_prefix("exeseal-test.")
    }

    fn with_prefix(prefix: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("tempdir");
        let bin = dir.path().join("probe");
        std::fs::copy(PROBE, &bin).expect("copy probe");
        let original = std::fs::read(&bin).unwrap();
        Self {
            _dir: dir,
            bin,
            original,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env_remove(exeseal::STRATEGIES_ENV)
            .env_remove(exeseal::FAIL_ENV)
            .env_remove(exeseal::REEXEC_ENV);
        c
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        c.envs(env.iter().copied());
        retry_busy(|| c.output()).expect("run probe")
    }

    fn assert_unchanged(&self) {
        let now = std::fs::read(&self.bin).unwrap();
        assert!(
            now == self.original,
            "the original binary {} was modified!",
            self.bin.display()
        );
    }
}

fn json(out: &[u8]) -> serde_json::Value {
    let s = String::from_utf8_lossy(out);
    let line = s
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no output; got {s:?}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad json {line:?}: {e}"))
}

/// A probe that sealed itself and now waits on stdin.
struct Running {
    child: Child,
    report: serde_json::Value,
}

impl Running {
    fn start(fx: &Fixture, args: &[&str]) -> Self {
        let mut cmd = fx.cmd(args);
        cmd.arg("--wait")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = retry_busy(|| cmd.spawn()).unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let report =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad report {line:?}: {e}"));
        Self { child, report }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn finish(mut self) {
        self.child.stdin.take().unwrap().write_all(b"\n").unwrap();
        assert!(self.child.wait().unwrap().success());
    }
}

/// Every way a container process could try to write the runtime binary
/// through /proc/<pid>/exe. Returns the errnos seen; panics if any write lands.
fn attack(pid: u32) -> Vec<String> {
    let exe = format!("/proc/{pid}/exe");
    let mut seen = Vec::new();
    let mut try_open = |path: &str, how: &str, truncate: bool, read: bool| {
        let r = std::fs::OpenOptions::new()
            .write(true)
            .read(read)
            .truncate(truncate)
            .open(path);
        match r {
            Ok(mut f) => {
                // Some files accept open-for-write but refuse writes (sealed
                // memfds); either way nothing may change.
                let w = f.write(b"\x7fPWNED");
                assert!(w.is_err(), "{how}: write through {path} succeeded");
                seen.push(format!("{how}:write:{}", errno_of(&w.unwrap_err())));
            }
            Err(e) => seen.push(format!("{how}:open:{}", errno_of(&e))),
        }
    };
    try_open(&exe, "O_WRONLY", false, false);
    try_open(&exe, "O_RDWR", false, true);
    try_open(&exe, "O_TRUNC", true, false);
    // The CVE-2019-5736 way: hold an O_PATH handle, reopen it for writing
    // through /proc/self/fd once the runtime has exited or exec'd.
    let opath = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(&exe)
        .unwrap();
    try_open(
        &format!("/proc/self/fd/{}", opath.as_raw_fd()),
        "O_PATH-reopen",
        false,
        false,
    );
    for s in &seen {
        assert!(
            ["EROFS", "EPERM", "ETXTBSY", "EACCES"]
                .iter()
                .any(|e| s.ends_with(e)),
            "unexpected attack result {s}"
        );
    }
    seen
}

fn errno_of(e: &std::io::Error) -> String {
    exeseal::sys::errno_name(e.raw_os_error().unwrap_or(0))
}

#[test]
fn each_strategy_runs_sealed_and_resists_overwrite() {
    require_root!();
    let _serial = USERNS_SYSCTL.lock().unwrap_or_else(|e| e.into_inner());
    for strategy in Strategy::DEFAULT_ORDER {
        let fx = Fixture::new();
        let run = Running::start(&fx, &["ensure", "--only", strategy.name()]);
        assert_eq!(
            run.report["protection"],
            strategy.name(),
            "{strategy}: {}",
            run.report
        );
        let copied = run.report["bytes_copied"].as_u64().unwrap();
        if !strategy.is_private_copy() {
            assert_eq!(copied, 0, "{strategy} must not copy");
        } else {
            assert_eq!(
                copied,
                fx.original.len() as u64,
                "{strategy} copies the whole binary"
            );
        }
        // The running image is the original program, byte for byte.
        let image = std::fs::read(format!("/proc/{}/exe", run.pid())).unwrap();
        assert!(
            image == fx.original,
            "{strategy}: sealed image differs from the binary"
        );
        let errnos = attack(run.pid());
        eprintln!("{strategy}: attack results {errnos:?}");
        // Hold the image, as CVE-2019-5736 does, past the program's exit:
        // then nothing runs it (no ETXTBSY) and only the seal is left. Root
        // has CAP_DAC_OVERRIDE, so mode bits are no obstacle here.
        let held = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(format!("/proc/{}/exe", run.pid()))
            .unwrap();
        run.finish();
        let reopened = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", held.as_raw_fd()));
        match reopened {
            Ok(mut f) => {
                let w = f.write(b"\x7fPWNED");
                assert!(
                    w.is_err(),
                    "{strategy}: the copy was writable once the program had exited"
                );
            }
            Err(e) => assert!(
                ["EROFS", "EPERM"].contains(&errno_of(&e).as_str()),
                "{strategy}: reopening the exited image for writing: {e}"
            ),
        }
        fx.assert_unchanged();
    }
}

/// The test bites: the same attack on an unprotected run overwrites the binary.
#[test]
fn attack_succeeds_without_protection() {
    require_root!();
    let fx = Fixture::new();
    // `probe exit` never seals; run a copy that blocks so the attack can hold
    // an O_PATH handle, then reopen it once the process is gone.
    let status = retry_busy(|| {
        Command::new(&fx.bin)
            .arg("status")
            .stdout(Stdio::null())
            .status()
    })
    .unwrap();
    assert!(status.success());
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(&fx.bin)
        .unwrap();
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .unwrap();
    w.write_all(b"\x7fPWNED").unwrap();
    drop(w);
    assert!(
        std::fs::read(&fx.bin).unwrap() != fx.original,
        "unprotected binary should be writable"
    );
}

#[test]
fn overlay_handles_special_characters_in_every_layer_form() {
    require_root!();
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for form in ["fd-shared", "fd", "path", "string"] {
        let fx = Fixture::with_prefix("exeseal a:b\\c ");
        let out = fx.run(
            &["ensure", "--only", "overlayfs"],
            &[(exeseal::LAYERS_ENV, form)],
        );
        assert!(
            out.status.success(),
            "{form}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json(&out.stdout)["protection"], "overlayfs", "{form}");
        fx.assert_unchanged();
    }
    let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(before, after, "sealing left a mount behind");
    let leftovers: Vec<_> = std::fs::read_dir("/tmp")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".exeseal-layer-")
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "dummy layer dirs left behind: {leftovers:?}"
    );
}

/// The layer form `ensure --only overlayfs` used, from the debug log.
fn accepted_layers(log: &str) -> Option<String> {
    let line = log
        .lines()
        .find(|l| l.contains("overlayfs: layers accepted"))?;
    ["\"fd-shared\"", "\"fd\"", "\"path\"", "\"string\""]
        .iter()
        .find(|f| line.contains(*f))
        .map(|f| f.trim_matches('"').to_owned())
}

#[test]
fn shared_dummy_layer_only_when_empty_and_root_only() {
    require_root!();
    // A private mount namespace with a fresh tmpfs on /run, so the host's
    // /run/exeseal is never touched; each step prints a marker, the probe's
    // exit status and its debug log.
    let fx = Fixture::new();
    let step_with = |name: &str, layers: &str, bin: &str| {
        format!(
            "echo '@@ {name}'; EXESEAL_LOG=debug EXESEAL_OVERLAY_LAYERS={layers} {bin} ensure --only overlayfs 2>&1; echo \"@@ rc $?\"; "
        )
    };
    let step = |name: &str, layers: &str| step_with(name, layers, fx.bin.to_str().unwrap());
    let script = format!(
        "umask 022; mount -t tmpfs tmpfs /run || exit 99; {created} stat -c '@@ mode %u %a' /run/exeseal/empty; \
         touch /run/exeseal/empty/x; {nonempty_default}{nonempty_only} \
         rm /run/exeseal/empty/x; chmod 0775 /run/exeseal/empty; {writable_only} \
         chmod 0555 /run/exeseal/empty; chown 1:1 /run/exeseal; {parent_only} \
         chown 0:0 /run/exeseal; {restored} \
         cp {bin} /run/probe; {overlapping}",
        bin = fx.bin.display(),
        created = step("created", "fd-shared,fd"),
        nonempty_default = step("nonempty-default", "fd-shared,fd"),
        nonempty_only = step("nonempty-only", "fd-shared"),
        writable_only = step("writable-only", "fd-shared"),
        parent_only = step("parent-only", "fd-shared"),
        restored = step("restored", "fd-shared"),
        // A binary in /run: its directory contains the shared one (ELOOP).
        overlapping = step_with("overlapping", "fd-shared,fd", "/run/probe"),
    );
    let out = sh_in_private_mount_ns(&script);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let section = |name: &str| -> (String, Option<i32>) {
        let body = text
            .split(&format!("@@ {name}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no step {name}:\n{text}"));
        let (log, rest) = body.split_once("@@ rc ").unwrap();
        (
            log.to_owned(),
            rest.lines().next().and_then(|c| c.trim().parse().ok()),
        )
    };
    let (log, rc) = section("created");
    assert_eq!(
        (rc, accepted_layers(&log).as_deref()),
        (Some(0), Some("fd-shared")),
        "{log}"
    );
    assert!(
        text.contains("@@ mode 0 555"),
        "created root-owned, mode 0555:\n{text}"
    );
    let (log, rc) = section("nonempty-default");
    assert_eq!(
        (rc, accepted_layers(&log).as_deref()),
        (Some(0), Some("fd")),
        "non-empty: anonymous tmpfs instead\n{log}"
    );
    assert!(
        log.contains("/run/exeseal/empty") && log.contains("not empty"),
        "says why: {log}"
    );
    for (name, why) in [
        ("nonempty-only", "not empty"),
        ("writable-only", "mode 775"),
        ("parent-only", "uid 1"),
    ] {
        let (log, rc) = section(name);
        assert_eq!(rc, Some(1), "{name} must be refused:\n{log}");
        assert!(
            log.contains(why),
            "{name}: reason should mention {why:?}:\n{log}"
        );
    }
    let (log, rc) = section("restored");
    assert_eq!(
        (rc, accepted_layers(&log).as_deref()),
        (Some(0), Some("fd-shared")),
        "{log}"
    );
    let (log, rc) = section("overlapping");
    assert_eq!(
        (rc, accepted_layers(&log).as_deref()),
        (Some(0), Some("fd")),
        "overlap: anonymous tmpfs instead\n{log}"
    );
    assert!(
        log.contains("ELOOP") || log.contains("Too many levels"),
        "says why: {log}"
    );
    fx.assert_unchanged();
}

#[test]
fn overlay_is_never_attached_to_a_mount_table() {
    require_root!();
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let fx = Fixture::new();
    let run = Running::start(&fx, &["ensure", "--only", "overlayfs"]);
    // Detached (fsmount without move_mount): invisible to our namespace and
    // to the sealed process's own, so nobody can find it to remount it.
    let ours = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let theirs = std::fs::read_to_string(format!("/proc/{}/mountinfo", run.pid())).unwrap();
    assert_eq!(before, ours, "sealing attached a mount");
    assert_eq!(before, theirs, "the sealed process sees an extra mount");
    run.finish();
}

#[test]
fn falls_back_in_order_under_injected_failure() {
    require_root!();
    let _serial = USERNS_SYSCTL.lock().unwrap_or_else(|e| e.into_inner());
    let fx = Fixture::new();
    let cases = [
        ("overlayfs", "userns-overlayfs"),
        ("overlayfs,userns-overlayfs", "hugetmpfs"),
        ("overlayfs,userns-overlayfs,hugetmpfs", "memfd"),
        ("overlayfs,userns-overlayfs,hugetmpfs,memfd", "tmpfile"),
        (
            "overlayfs,userns-overlayfs,hugetmpfs,memfd,tmpfile",
            "unlinked-temp",
        ),
    ];
    for (fail, expect) in cases {
        let out = fx.run(&["ensure"], &[(exeseal::FAIL_ENV, fail)]);
        assert!(
            out.status.success(),
            "{fail}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            json(&out.stdout)["protection"],
            expect,
            "with {fail} failing"
        );
    }
    let out = fx.run(
        &["ensure"],
        &[(
            exeseal::FAIL_ENV,
            "overlayfs,userns-overlayfs,hugetmpfs,memfd,tmpfile,unlinked-temp",
        )],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "must refuse, not run unprotected"
    );
    assert!(out.stdout.is_empty(), "must not have run the program");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one-line error: {err}");
    for s in Strategy::DEFAULT_ORDER {
        assert!(
            err.contains(&format!("{}: ", s.name())),
            "error must name {s}: {err}"
        );
    }
    assert!(err.contains("refusing to run unprotected"), "{err}");
}

#[test]
fn noexec_temp_dirs_are_skipped_with_reason() {
    require_root!();
    // A private mount namespace with every temp dir on a noexec tmpfs: the
    // directory copies must refuse and say why, never exec from there.
    // (`tmpfile` makes its copy on a tmpfs of its own first, so only a
    // caller that cannot mount reaches the directories.)
    let fx = Fixture::new();
    let script = format!(
        "for d in /tmp /var/tmp /dev/shm /run; do mount -t tmpfs -o noexec tmpfs $d || exit 99; done; \
         exec {} probe --only unlinked-temp",
        fx.bin.display()
    );
    // The binary itself lives under /tmp: bind it out first.
    let keep = tempfile::Builder::new()
        .prefix("exeseal-keep.")
        .tempdir_in("/var/lib")
        .unwrap();
    let bin = keep.path().join("probe");
    std::fs::copy(&fx.bin, &bin).unwrap();
    let script = script.replace(fx.bin.to_str().unwrap(), bin.to_str().unwrap());
    let out = sh_in_private_mount_ns(&script);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out.stdout);
    assert_eq!(report["chosen"], serde_json::Value::Null);
    let text = report["attempts"].to_string();
    assert!(text.contains("noexec"), "reason must say noexec: {text}");
}

fn have_setpriv() -> bool {
    let ok = Command::new("setpriv").arg("--help").output().is_ok();
    if !ok {
        eprintln!("SKIP: setpriv not installed");
    }
    ok
}

/// `setpriv` to nobody: an unprivileged caller.
fn as_nobody(program: &std::path::Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(program)
        .env("TMPDIR", "/tmp");
    c
}

/// A fixture nobody can run, holding the user-namespace lock (these tests
/// depend on, or change, whether user namespaces are allowed).
fn nobody_setup() -> Option<(std::sync::MutexGuard<'static, ()>, Fixture)> {
    if !have_setpriv() {
        return None;
    }
    let serial = USERNS_SYSCTL.lock().unwrap_or_else(|e| e.into_inner());
    let fx = Fixture::new();
    let dir = fx.bin.parent().unwrap();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Some((serial, fx))
}

#[test]
fn unprivileged_caller_seals_zero_copy_in_a_user_namespace() {
    require_root!();
    let Some((_serial, fx)) = nobody_setup() else {
        return;
    };
    let out = retry_busy(|| as_nobody(&fx.bin).arg("probe").output()).unwrap();
    let report = json(&out.stdout);
    let first = &report["attempts"][0];
    assert_eq!(first["strategy"], "overlayfs");
    assert!(
        first["error"].as_str().unwrap().contains("EPERM"),
        "direct overlay needs privilege: {report}"
    );
    assert_eq!(report["chosen"], "userns-overlayfs", "{report}");
    assert_eq!(report["bytes_copied"], 0);

    // Sealed and running as nobody; attacked by another process of nobody.
    let mut cmd = as_nobody(&fx.bin);
    cmd.args(["ensure", "--wait"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = retry_busy(|| cmd.spawn()).unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let r: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(r["protection"], "userns-overlayfs", "{r}");
    let pid = r["pid"].as_u64().unwrap();
    let attack = Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "sh",
            "-c",
        ])
        .arg(format!("exec 3<>/proc/{pid}/exe"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&attack.stderr);
    assert!(
        !attack.status.success() && err.contains("Read-only file system"),
        "expected EROFS: {err}"
    );
    // The namespace helper was reaped: the sealed process has no children.
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    assert!(
        children.trim().is_empty(),
        "helper process left behind: {children}"
    );
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
    fx.assert_unchanged();
}

/// Tests that depend on, or change, whether user namespaces are allowed.
static USERNS_SYSCTL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Restores a sysctl when dropped (even if the test panics).
struct Sysctl {
    path: &'static str,
    old: String,
}

impl Sysctl {
    fn set(path: &'static str, value: &str) -> Option<Self> {
        let old = std::fs::read_to_string(path).ok()?;
        std::fs::write(path, value).ok()?;
        Some(Self { path, old })
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        std::fs::write(self.path, self.old.trim()).expect("restore sysctl");
    }
}

#[test]
fn forbidden_user_namespaces_fall_back_to_memfd_with_reason() {
    require_root!();
    let Some((_serial, fx)) = nobody_setup() else {
        return;
    };
    let Some(_guard) = Sysctl::set("/proc/sys/user/max_user_namespaces", "0") else {
        eprintln!("SKIP: cannot set user.max_user_namespaces");
        return;
    };
    let out = retry_busy(|| as_nobody(&fx.bin).arg("probe").output()).unwrap();
    let report = json(&out.stdout);
    let userns = &report["attempts"][1];
    assert_eq!(userns["strategy"], "userns-overlayfs", "{report}");
    assert!(
        userns["error"]
            .as_str()
            .unwrap()
            .contains("max_user_namespaces=0"),
        "{report}"
    );
    assert_eq!(report["chosen"], "memfd", "{report}");
}

/// Exec `path` with `args` from a file the test holds open: `/proc/<us>/fd/N`.
fn exec_via_fd(fd: &impl AsRawFd, args: &[&str]) -> Output {
    let mut c = Command::new(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        fd.as_raw_fd()
    ));
    c.args(args)
        .env_remove(exeseal::REEXEC_ENV)
        .env_remove(exeseal::STRATEGIES_ENV);
    retry_busy(|| c.output()).unwrap()
}

#[test]
fn detects_sealed_memfd_but_not_unsealed_or_plain() {
    require_root!();
    let fx = Fixture::new();
    let src = std::fs::File::open(&fx.bin).unwrap();
    let sealed = exeseal::clone_binary(
        "test-sealed",
        exeseal::Source::Fd(std::os::fd::AsFd::as_fd(&src)),
    )
    .unwrap();
    assert!(exeseal::is_sealed(std::os::fd::AsFd::as_fd(&sealed)).unwrap());

    let out = exec_via_fd(&sealed, &["status"]);
    assert_eq!(json(&out.stdout)["protection"], "already-sealed-memfd");
    // ensure_sealed does nothing more: no re-exec, no copy.
    let out = exec_via_fd(&sealed, &["ensure"]);
    let r = json(&out.stdout);
    assert_eq!(r["protection"], "already-sealed-memfd");
    assert_eq!(r["bytes_copied"], 0);

    // An unsealed memfd with the same bytes is not protection.
    let unsealed =
        rustix::fs::memfd_create("test-unsealed", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    let mut f = std::fs::File::from(unsealed);
    f.write_all(&fx.original).unwrap();
    rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(0o755)).unwrap();
    assert!(!exeseal::is_sealed(std::os::fd::AsFd::as_fd(&f)).unwrap());
    // Close our write handle's writability for exec: reopen read-only.
    let ro = std::fs::File::open(format!("/proc/self/fd/{}", f.as_raw_fd())).unwrap();
    drop(f);
    let out = exec_via_fd(&ro, &["status"]);
    assert_eq!(
        json(&out.stdout)["protection"],
        serde_json::Value::Null,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A plain file is not protection either.
    let out = fx.run(&["status"], &[]);
    assert_eq!(json(&out.stdout)["protection"], serde_json::Value::Null);

    // Hardened mode does not accept a shared sealed memfd: it makes its own
    // copy (the first private copy: huge pages on a tmpfs of its own).
    let out = exec_via_fd(&sealed, &["ensure", "--hardened"]);
    assert_eq!(
        json(&out.stdout)["protection"],
        "hugetmpfs",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// memfd-bind's huge-page copy (`clone_binary_hugetmpfs`): a binary exec'd
/// from it is already sealed and copies nothing; the same bytes unlinked on
/// a writable tmpfs are not protection, nor is the copy for hardened mode.
#[test]
fn detects_a_shared_tmpfs_copy_but_not_a_writable_one() {
    require_root!();
    let fx = Fixture::new();
    let src = std::fs::File::open(&fx.bin).unwrap();
    let copy = match exeseal::clone_binary_hugetmpfs(exeseal::Source::Fd(std::os::fd::AsFd::as_fd(
        &src,
    ))) {
        Ok((fd, n)) => {
            assert_eq!(n, fx.original.len() as u64);
            fd
        }
        Err(e) => {
            println!("SKIP: no huge-page tmpfs copy on this kernel: {e}");
            return;
        }
    };
    assert_eq!(
        exeseal::protection_of(std::os::fd::AsFd::as_fd(&copy)).unwrap(),
        Some(exeseal::Protection::SharedTmpfsCopy)
    );
    let out = exec_via_fd(&copy, &["ensure"]);
    let r = json(&out.stdout);
    assert_eq!(r["protection"], "already-sealed-tmpfs", "{r}");
    assert_eq!(r["bytes_copied"], 0, "{r}");
    // Nobody writes it, root included: read-only mount, immutable.
    let e = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{}", copy.as_raw_fd()))
        .expect_err("opened the shared copy for writing");
    // (EPERM: the immutable flag is checked first; EROFS without it.)
    assert!(
        [rustix::io::Errno::PERM, rustix::io::Errno::ROFS]
            .map(|e| Some(e.raw_os_error()))
            .contains(&e.raw_os_error()),
        "{e}"
    );
    // Hardened mode wants a copy of its own.
    let out = exec_via_fd(&copy, &["ensure", "--hardened"]);
    assert_eq!(json(&out.stdout)["protection"], "hugetmpfs");

    // The same bytes, unlinked and mode 0500 but on the host's writable
    // /dev/shm (and so without the immutable flag's guarantee): not sealed.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::TMPFILE.bits() as i32)
        .mode(0o500)
        .open("/dev/shm")
        .unwrap();
    (&f).write_all(&fx.original).unwrap();
    let ro = std::fs::File::open(format!("/proc/self/fd/{}", f.as_raw_fd())).unwrap();
    drop(f);
    assert_eq!(
        exeseal::protection_of(std::os::fd::AsFd::as_fd(&ro)).unwrap(),
        None
    );
    let out = exec_via_fd(&ro, &["status"]);
    assert_eq!(json(&out.stdout)["protection"], serde_json::Value::Null);
}

/// In a multithreaded caller, another thread's fork holds a duplicate of
/// every fd until its child execs, the huge-page copy's writable fd too: the
/// mount then refuses to become read-only (EBUSY). The copy waits that out
/// instead of failing (it failed so in CI, under the test harness's own
/// forks).
#[test]
fn hugetmpfs_copy_survives_concurrent_forks() {
    require_root!();
    let fx = Fixture::new();
    let src = std::fs::File::open(&fx.bin).unwrap();
    let copy =
        || exeseal::clone_binary_hugetmpfs(exeseal::Source::Fd(std::os::fd::AsFd::as_fd(&src)));
    if let Err(e) = copy() {
        println!("SKIP: no huge-page tmpfs copy on this kernel: {e}");
        return;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let forkers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = Command::new("true").status();
                }
            })
        })
        .collect();
    let results: Vec<_> = (0..100).map(|_| copy().map(drop)).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in forkers {
        f.join().unwrap();
    }
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 100 copies failed: {failed:?}",
        failed.len()
    );
}

#[test]
fn ensure_sealed_reexecs_exactly_once() {
    require_root!();
    let fx = Fixture::new();
    let out = fx.run(&["ensure"], &[("EXESEAL_LOG", "exeseal=debug")]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert_eq!(
        log.matches("re-executing from sealed handle").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("running from a sealed binary").count(),
        1,
        "{log}"
    );
    let r = json(&out.stdout);
    assert_eq!(r["protection"], "overlayfs");
    assert_eq!(r["token_in_env"], false, "token must not leak to children");
}

#[test]
fn forged_or_stale_token_is_refused_not_trusted() {
    require_root!();
    let fx = Fixture::new();
    let st = std::fs::metadata(&fx.bin).unwrap();
    use std::os::unix::fs::MetadataExt;
    // Claims "you already run from our memfd" while running a plain file.
    let forged = format!("1:memfd:{}:{}:0", st.dev(), st.ino());
    for token in [forged.as_str(), "garbage"] {
        let out = fx.run(&["ensure"], &[(exeseal::REEXEC_ENV, token)]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "token {token:?} must be refused"
        );
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("refusing to loop"), "{err}");
    }
}

#[test]
fn strategies_env_and_bad_values() {
    require_root!();
    let fx = Fixture::new();
    let out = fx.run(&["ensure"], &[(exeseal::STRATEGIES_ENV, "tmpfile")]);
    assert_eq!(json(&out.stdout)["protection"], "tmpfile");
    let out = fx.run(&["ensure"], &[(exeseal::STRATEGIES_ENV, "none")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("EXESEAL_STRATEGIES=none") && err.contains("unknown sealing strategy"),
        "{err}"
    );
}

#[test]
fn dmz_execs_argv_passes_env_and_reports_failures() {
    let dmz = exeseal::dmz::elf();
    assert!(
        !dmz.is_empty() && dmz.len() <= 1024,
        "dmz is {} bytes, target <= 1 KiB",
        dmz.len()
    );
    let fx = Fixture::new();
    let out = fx.run(&["dmz-exec", "/bin/echo", "through", "dmz"], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through dmz\n");
    let out = fx.run(&["dmz-exec", "/usr/bin/env"], &[("DMZ_TEST_VAR", "kept")]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l == "DMZ_TEST_VAR=kept"));
    let out = fx.run(&["dmz-exec", "/nonexistent/prog"], &[]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "exec /nonexistent/prog: no such file or directory\n"
    );
}

#[test]
fn forged_tmpfile_token_on_an_unsealed_memfd_is_refused() {
    require_root!();
    let fx = Fixture::new();
    let memfd = rustix::fs::memfd_create("looks-private", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    let mut f = std::fs::File::from(memfd);
    f.write_all(&fx.original).unwrap();
    // Even made read-only-looking, a writable memfd is no private copy.
    rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(0o500)).unwrap();
    let ro = std::fs::File::open(format!("/proc/self/fd/{}", f.as_raw_fd())).unwrap();
    drop(f);
    use std::os::unix::fs::MetadataExt;
    let st = ro.metadata().unwrap();
    for strategy in ["tmpfile", "unlinked-temp", "memfd"] {
        let token = format!("1:{strategy}:{}:{}:0", st.dev(), st.ino());
        let mut c = Command::new(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            ro.as_raw_fd()
        ));
        c.args(["ensure", "--hardened"])
            .env(exeseal::REEXEC_ENV, &token);
        let out = retry_busy(|| c.output()).unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{strategy} token on a writable memfd must be refused"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to loop"));
    }
}

/// Mount tables judged exactly: a lower-only overlay counts as sealed, a
/// read-only bind of a writable overlay does not (its ro flag can be
/// cleared), not even with a token claiming it is our overlay.
#[test]
fn overlay_mounts_judged_by_superblock_not_mount_flags() {
    require_root!();
    let fx = Fixture::new();
    let base = fx.bin.parent().unwrap();
    let script = format!(
        r#"set -e
cd '{base}'
mkdir -p lower empty upper work rw sealed
cp probe lower/probe
mount -t overlay overlay -o lowerdir=lower:empty,xino=off sealed
echo "sealed=$(sealed/probe status)"
mount -t overlay overlay -o lowerdir=lower,upperdir=upper,workdir=work rw
mount -o remount,bind,ro rw
echo "robind=$(rw/probe status)"
tok="1:overlayfs:$(stat -c %d rw/probe):$(stat -c %i rw/probe):0"
if out=$(_EXESEAL_REEXEC="$tok" rw/probe ensure --only overlayfs 2>&1); then echo "forged=ACCEPTED $out"; else echo "forged=refused $out"; fi
"#,
        base = base.display()
    );
    let out = sh_in_private_mount_ns(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {text}"))
            .to_string()
    };
    assert_eq!(
        json(line("sealed=").as_bytes())["protection"],
        "already-sealed-overlay",
        "{text}"
    );
    assert_eq!(
        json(line("robind=").as_bytes())["protection"],
        serde_json::Value::Null,
        "{text}"
    );
    assert!(
        line("forged=").starts_with("refused") && line("forged=").contains("refusing to loop"),
        "{text}"
    );
}
