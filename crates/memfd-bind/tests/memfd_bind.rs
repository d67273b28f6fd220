//! Root integration tests for memfd-bind.
//!
//! Hermetic by construction: every test serves a temp copy of /bin/sleep in
//! its own tempdir, inside a private mount namespace held by a `sleep`
//! process (`unshare -m --propagation private`). Daemons, `--cleanup` and
//! `--status` run in that namespace through `nsenter -m`; the test itself
//! looks into it through `/proc/<holder>/root` and `/proc/<holder>/mountinfo`.
//! Nothing is ever mounted in the test's own namespace (checked), and when the
//! `World` guard drops (also on a failed assertion) every process in the
//! namespace is killed, which takes every mount in it away. The holder and
//! the daemons also get PDEATHSIG=KILL, so even a killed test leaves nothing.
//! Lock files go to a state dir in the tempdir, never /run.

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

const BIN: &str = env!("CARGO_BIN_EXE_memfd-bind");
const TIMEOUT: Duration = Duration::from_secs(20);

macro_rules! require_root {
    () => {
        if !rustix::process::geteuid().is_root() {
            println!("SKIP: memfd-bind tests need root (mount namespaces and bind mounts)");
            return;
        }
    };
}

fn errno_name(e: &std::io::Error) -> String {
    let n = e.raw_os_error().unwrap_or(0);
    let name = match n {
        1 => "EPERM",
        2 => "ENOENT",
        13 => "EACCES",
        22 => "EINVAL",
        26 => "ETXTBSY",
        30 => "EROFS",
        40 => "ELOOP",
        _ => "errno",
    };
    format!("{name} ({n}: {e})")
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A command's result, with its output read from files (no pipe can block it).
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn err_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The daemon's log says `needle` (`why` and the whole log otherwise).
    fn assert_logged(&self, needle: &str, why: &str) {
        let log = self.log();
        assert!(
            log.contains(needle),
            "{why}: no {needle:?} in the log:\n{log}"
        );
    }

    fn signal(&self, sig: Signal) {
        kill_process(Pid::from_raw(self.pid() as i32).unwrap(), sig).expect("kill daemon");
    }

    fn wait(&mut self) -> ExitStatus {
        match wait_timeout(&mut self.child, TIMEOUT) {
            Some(st) => st,
            None => panic!("daemon {} did not exit; log:\n{}", self.pid(), self.log()),
        }
    }
}

/// One test's tempdir, private mount namespace and daemons.
struct World {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
    holder: Child,
    daemons: Vec<Daemon>,
    notify: UnixDatagram,
    notify_path: PathBuf,
    /// The served file: a copy of /bin/sleep in the tempdir.
    exe: PathBuf,
    original: Vec<u8>,
    state: PathBuf,
    runs: usize,
}

impl World {
    fn new() -> Self {
        Self::serving(Path::new("/bin/sleep"), "sleep")
    }

    /// A world whose served file is a copy of `src` named `bin/<name>`.
    fn serving(src: &Path, name: &str) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("memfd-bind-test-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("tempdir");
        let dir = fs::canonicalize(tmp.path()).unwrap();
        fs::create_dir(dir.join("bin")).unwrap();
        let exe = dir.join("bin").join(name);
        let original = fs::read(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
        {
            let mut f = fs::File::create(&exe).unwrap();
            f.write_all(&original).unwrap();
            f.set_permissions(fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let notify_path = dir.join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).expect("bind notify socket");
        let holder = Command::new("unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "--",
                "setpriv",
                "--pdeathsig",
                "KILL",
                "--",
                "sleep",
                "3600",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare (util-linux)");
        let mut w = World {
            state: dir.join("state"),
            dir,
            _tmp: tmp,
            holder,
            daemons: Vec::new(),
            notify,
            notify_path,
            exe,
            original,
            runs: 0,
        };
        // Wait until the holder really sits in its own mount namespace.
        let own = fs::read_link("/proc/self/ns/mnt").unwrap();
        let start = Instant::now();
        while fs::read_link(format!("/proc/{}/ns/mnt", w.holder.id()))
            .ok()
            .is_none_or(|ns| ns == own)
        {
            assert!(
                start.elapsed() < TIMEOUT,
                "unshare did not make a mount namespace"
            );
            assert!(
                w.holder.try_wait().unwrap().is_none(),
                "unshare exited early"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // And until its mounts are private (unshare remounts them after unsharing).
        while w.ns_mountinfo().lines().any(|l| l.contains(" shared:")) {
            assert!(
                start.elapsed() < TIMEOUT,
                "namespace mounts did not become private"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        w
    }

    fn holder_pid(&self) -> u32 {
        self.holder.id()
    }

    /// `path` as seen from inside the namespace.
    fn ns(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root{}",
            self.holder_pid(),
            path.display()
        ))
    }

    fn ns_mountinfo(&self) -> String {
        fs::read_to_string(format!("/proc/{}/mountinfo", self.holder_pid()))
            .expect("read namespace mountinfo")
    }

    /// mountinfo lines of mounts on `path` in the namespace.
    fn mounts_on(&self, path: &Path) -> Vec<String> {
        let p = path.to_str().unwrap();
        self.ns_mountinfo()
            .lines()
            .filter(|l| l.split(' ').nth(4) == Some(p))
            .map(str::to_string)
            .collect()
    }

    fn nsenter(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder_pid().to_string())
            .arg("-m")
            .arg("--");
        c.stdin(Stdio::null());
        c
    }

    /// Run memfd-bind (with this world's state dir) in the namespace.
    fn run(&mut self, args: &[&str]) -> Out {
        let state = self.state.clone();
        self.run_with(&state, None, args)
    }

    fn run_in(&mut self, cwd: &Path, args: &[&str]) -> Out {
        let state = self.state.clone();
        self.run_with(&state, Some(cwd), args)
    }

    fn run_with(&mut self, state: &Path, cwd: Option<&Path>, args: &[&str]) -> Out {
        self.runs += 1;
        let (o, e) = (
            self.dir.join(format!("run{}.out", self.runs)),
            self.dir.join(format!("run{}.err", self.runs)),
        );
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t").arg(self.holder_pid().to_string()).arg("-m");
        if let Some(cwd) = cwd {
            cmd.arg(format!("--wd={}", cwd.display()));
        }
        cmd.arg("--").stdin(Stdio::null());
        cmd.args(["setpriv", "--pdeathsig", "KILL", "--", BIN, "--state-dir"])
            .arg(state)
            .args(args);
        cmd.stdout(fs::File::create(&o).unwrap())
            .stderr(fs::File::create(&e).unwrap());
        let mut child = cmd.spawn().expect("spawn nsenter");
        let st = match wait_timeout(&mut child, TIMEOUT) {
            Some(st) => st,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "memfd-bind {args:?} did not finish in time; stderr: {}",
                    fs::read_to_string(&e).unwrap_or_default()
                );
            }
        };
        Out {
            code: st.code(),
            stdout: fs::read_to_string(&o).unwrap(),
            stderr: fs::read_to_string(&e).unwrap(),
        }
    }

    fn status(&mut self, path: &Path) -> Out {
        self.run(&["--status", path.to_str().unwrap()])
    }

    /// Start a daemon in the namespace (not waiting for it).
    fn spawn_daemon(&mut self, args: &[&str]) -> usize {
        self.runs += 1;
        let log = self.dir.join(format!("daemon{}.log", self.runs));
        let mut cmd = self.nsenter();
        cmd.args(["setpriv", "--pdeathsig", "KILL", "--", BIN, "--state-dir"])
            .arg(&self.state)
            .args(args);
        cmd.env("NOTIFY_SOCKET", &self.notify_path);
        cmd.stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("spawn daemon");
        self.daemons.push(Daemon { child, log });
        self.daemons.len() - 1
    }

    /// Start a daemon for `path` and wait for its READY=1.
    fn start(&mut self, extra: &[&str], path: &Path) -> usize {
        let mut args = extra.to_vec();
        args.push(path.to_str().unwrap());
        let i = self.spawn_daemon(&args);
        self.wait_ready(i);
        i
    }

    fn wait_ready(&mut self, i: usize) {
        let start = Instant::now();
        self.notify
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match self.notify.recv(&mut buf) {
                Ok(n) if String::from_utf8_lossy(&buf[..n]).contains("READY=1") => return,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("notify socket: {e}"),
            }
            let d = &mut self.daemons[i];
            if let Some(st) = d.child.try_wait().unwrap() {
                panic!("daemon exited before READY=1 ({st}); log:\n{}", d.log());
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "no READY=1 from daemon; log:\n{}",
                d.log()
            );
        }
    }

    /// Exec `path` (seen from the namespace) as `sleep 30`; retried on ETXTBSY
    /// (a parallel test's fork may briefly hold a write fd of a fresh copy).
    fn exec(&self, path: &Path) -> std::io::Result<Child> {
        let mut tries = 0;
        loop {
            match Command::new(self.ns(path))
                .arg("30")
                .stdin(Stdio::null())
                .spawn()
            {
                Err(e) if e.raw_os_error() == Some(26) && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                r => return r,
            }
        }
    }

    fn bytes_in_ns(&self, path: &Path) -> Vec<u8> {
        fs::read(self.ns(path))
            .unwrap_or_else(|e| panic!("read {} in namespace: {e}", path.display()))
    }

    fn state_files(&self) -> Vec<String> {
        match fs::read_dir(&self.state) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The test's own namespace never sees a mount on the served file.
    fn assert_host_untouched(&self) {
        let own = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !own.contains(self.dir.to_str().unwrap()),
            "a mount leaked into the test's namespace:\n{own}"
        );
        assert!(
            fs::read(&self.exe).unwrap() == self.original,
            "the file itself changed"
        );
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            if d.child.try_wait().ok().flatten().is_none() {
                let _ = d.child.kill();
                let _ = d.child.wait();
            }
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn assert_served(w: &mut World, pid: u32) {
    let st = w.status(&w.exe.clone());
    assert_eq!(st.code, Some(0), "status of a served path: {st:?}");
    assert_eq!(
        st.stdout.trim(),
        format!("{}: served (pid {pid})", w.exe.display())
    );
}

fn assert_not_served(w: &mut World) {
    let st = w.status(&w.exe.clone());
    assert_eq!(st.code, Some(3), "status of an unserved path: {st:?}");
    assert_eq!(st.stdout.trim(), format!("{}: not served", w.exe.display()));
    assert!(
        w.mounts_on(&w.exe).is_empty(),
        "mounts left: {:?}",
        w.mounts_on(&w.exe)
    );
    assert!(
        w.bytes_in_ns(&w.exe) == w.original,
        "the path does not show the original bytes"
    );
}

impl Daemon {
    /// The copy this daemon serves (`hugetmpfs` or `memfd`), from its log.
    fn copy_kind(&self) -> String {
        let log = self.log();
        let kind = log
            .split("copy=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no copy=\"…\" in the log:\n{log}"));
        assert!(
            kind == "hugetmpfs" || kind == "memfd",
            "unknown copy {kind}:\n{log}"
        );
        kind.to_string()
    }
}

/// Exec'ing the path runs the daemon's sealed copy of kind `kind`: exeseal
/// (what a runtime started from it asks) judges it already sealed. Returns
/// the /proc/<pid>/exe link.
fn assert_exec_sealed(w: &World, path: &Path, kind: &str) -> String {
    let mut child = w.exec(path).expect("exec the served path");
    let exe_link = fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
    let exe = fs::File::open(format!("/proc/{}/exe", child.id())).expect("open /proc/<pid>/exe");
    let protection = exeseal::protection_of(exe.as_fd()).expect("protection_of");
    let _ = child.kill();
    let _ = child.wait();
    let link = exe_link.to_string_lossy().into_owned();
    match kind {
        "memfd" => {
            assert!(
                link.starts_with("/memfd:memfd-bind:"),
                "process runs {link}, not the memfd"
            );
            assert_eq!(protection, Some(exeseal::Protection::SharedMemfd), "{link}");
        }
        _ => {
            // An O_TMPFILE on a detached tmpfs: no name but its inode's.
            assert!(
                link.starts_with("/#") && link.ends_with(" (deleted)"),
                "process runs {link}, not an unlinked tmpfs copy"
            );
            assert_eq!(
                protection,
                Some(exeseal::Protection::SharedTmpfsCopy),
                "{link}"
            );
        }
    }
    link
}

/// Serve the test binary with `extra` args, check exec and writes, stop with
/// SIGTERM and check the path is the file again. Returns the copy kind.
fn serve_and_restore(extra: &[&str]) -> String {
    let mut w = World::new();
    let exe = w.exe.clone();
    assert_not_served(&mut w);

    let d = w.start(extra, &exe);
    let pid = w.daemons[d].pid();
    let kind = w.daemons[d].copy_kind();
    assert_served(&mut w, pid);
    let mounts = w.mounts_on(&exe);
    assert_eq!(mounts.len(), 1, "one mount on the path: {mounts:?}");
    assert!(
        mounts[0].contains(&format!(" /{pid}/fd/")) && mounts[0].contains(" - proc "),
        "{mounts:?}"
    );
    println!("served mount: {}", mounts[0]);
    w.daemons[d].assert_logged("open_tree+move_mount", "auto uses the new mount API");
    match systemd_escape(&exe) {
        Some(escaped) => assert_eq!(
            w.state_files(),
            vec![format!("{escaped}.pid")],
            "lock file named like systemd-escape -p"
        ),
        None => assert_eq!(w.state_files().len(), 1),
    }

    let link = assert_exec_sealed(&w, &exe, &kind);
    println!("exec of the served path runs {link} ({kind}, sealed)");
    assert!(
        w.bytes_in_ns(&exe) == w.original,
        "the sealed copy has the original bytes"
    );

    // Writing through the path must fail, however it is tried.
    let refused = [
        ErrorKind::PermissionDenied,
        ErrorKind::ReadOnlyFilesystem,
        ErrorKind::ExecutableFileBusy,
    ];
    match fs::OpenOptions::new().write(true).open(w.ns(&exe)) {
        Ok(mut f) => {
            let e = f
                .write_all(b"pwned")
                .expect_err("write to the served path succeeded");
            println!(
                "write to served path: open ok, write failed with {}",
                errno_name(&e)
            );
            assert!(refused.contains(&e.kind()), "unexpected write error {e}");
        }
        Err(e) => {
            println!("write to served path: open failed with {}", errno_name(&e));
            assert!(refused.contains(&e.kind()), "unexpected open error {e}");
        }
    }
    let e = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(w.ns(&exe))
        .expect_err("O_TRUNC open succeeded");
    println!("O_TRUNC open of served path: {}", errno_name(&e));
    assert!(w.bytes_in_ns(&exe) == w.original);
    w.assert_host_untouched();

    w.daemons[d].signal(Signal::TERM);
    let st = w.daemons[d].wait();
    assert_eq!(
        st.code(),
        Some(0),
        "SIGTERM exit; log:\n{}",
        w.daemons[d].log()
    );
    w.daemons[d].assert_logged(
        "the path is the original file again",
        "SIGTERM restores the path",
    );
    assert_not_served(&mut w);
    assert!(
        w.state_files().is_empty(),
        "lock file left: {:?}",
        w.state_files()
    );
    w.assert_host_untouched();
    kind
}

/// Whether this kernel can make exeseal's huge-page tmpfs copy (huge tmpfs
/// pages, immutable tmpfs files): asked of exeseal directly.
fn hugetmpfs_possible() -> Result<(), String> {
    let f = fs::File::open("/bin/true").unwrap();
    exeseal::clone_binary_hugetmpfs(exeseal::Source::Fd(f.as_fd()))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The default (`--copy auto`) serves the huge-page tmpfs copy wherever
/// exeseal can make one, and a sealed memfd only where it cannot.
#[test]
fn serves_a_sealed_copy_and_sigterm_restores_the_file() {
    require_root!();
    let kind = serve_and_restore(&[]);
    match hugetmpfs_possible() {
        Ok(()) => assert_eq!(kind, "hugetmpfs", "auto did not pick the huge-page copy"),
        Err(why) => {
            println!("no huge-page tmpfs copy on this kernel ({why}): auto serves a memfd");
            assert_eq!(kind, "memfd");
        }
    }
}

#[test]
fn copy_memfd_serves_a_sealed_memfd_as_runc() {
    require_root!();
    assert_eq!(serve_and_restore(&["--copy", "memfd"]), "memfd");
}

#[test]
fn copy_hugetmpfs_serves_an_immutable_tmpfs_copy_or_says_why_not() {
    require_root!();
    if let Err(why) = hugetmpfs_possible() {
        // Asked for explicitly, it fails with the kernel's reason and leaves
        // nothing behind.
        let mut w = World::new();
        let exe = w.exe.clone();
        let out = w.run(&["--copy", "hugetmpfs", exe.to_str().unwrap()]);
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stderr.contains("cannot make a huge-page tmpfs copy"),
            "{out:?}"
        );
        println!("SKIP serving: {why}");
        assert_not_served(&mut w);
        return;
    }
    assert_eq!(serve_and_restore(&["--copy", "hugetmpfs"]), "hugetmpfs");
}

/// The runtime itself, served: it finds itself already sealed and copies
/// nothing (the point of memfd-bind).
#[test]
fn served_sealrun_reports_already_sealed_and_copies_nothing() {
    require_root!();
    // target/<profile>/deps/<this test> -> target/<profile>/sealrun
    let sealrun = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("sealrun");
    if !sealrun.exists() {
        println!(
            "SKIP: {} not built (make test builds the whole workspace first)",
            sealrun.display()
        );
        return;
    }
    let mut w = World::serving(&sealrun, "sealrun");
    let exe = w.exe.clone();
    let d = w.start(&[], &exe);
    let pid = w.daemons[d].pid();
    assert_served(&mut w, pid);
    let out = w
        .nsenter()
        .arg(&exe)
        .args(["seal-probe", "--format", "json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let want = match w.daemons[d].copy_kind().as_str() {
        "memfd" => "already-sealed-memfd",
        _ => "already-sealed-tmpfs",
    };
    assert_eq!(r["chosen"], want, "{r}");
    assert_eq!(r["bytes_copied"], 0, "{r}");
    w.daemons[d].signal(Signal::TERM);
    assert_eq!(w.daemons[d].wait().code(), Some(0));
    assert!(w.bytes_in_ns(&exe) == w.original);
}

/// Foreign procfs-link mounts on the path are someone else's: refused,
/// reported as not served, left alone by --cleanup. Two kinds: a live magic
/// link to a copy that is not sealed (a memfd with the binary's bytes but no
/// seals: memfd-bind's shape without its protection), which becomes a dead
/// mount like any other once its holder exits; and a procfs symlink that is
/// no `/proc/<pid>/fd/<n>` link at all (`/proc/self`), whose target, read
/// from the path, leads nowhere, and which is never stale.
#[test]
fn foreign_procfs_link_mounts_are_left_alone() {
    require_root!();
    for kind in ["unsealed-memfd", "proc-self"] {
        let mut w = World::new();
        let exe = w.exe.clone();
        // The mount is made inside the world's namespace by this test binary
        // itself (the ignored helper below), which then holds what it needs.
        let ready = w.dir.join("foreign-ready");
        let mut foreign = w
            .nsenter()
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "--ignored", "foreign_magic_link_mount_helper"])
            .env(FOREIGN_KIND_ENV, kind)
            .env(FOREIGN_TARGET_ENV, &exe)
            .env(FOREIGN_READY_ENV, &ready)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !ready.exists() {
            assert!(
                foreign.try_wait().unwrap().is_none() && start.elapsed() < TIMEOUT,
                "{kind}: the foreign mount was not made"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(w.mounts_on(&exe).len(), 1, "{kind}");

        let out = w.run(&[exe.to_str().unwrap()]);
        assert_eq!(out.code, Some(1), "{kind}: {out:?}");
        assert!(
            out.stderr.contains(&format!(
                "{}: covered by a bind mount of a magic link to ",
                exe.display()
            )),
            "{kind}: {out:?}"
        );
        let st = w.status(&exe);
        assert_eq!(st.code, Some(3), "{kind}: {st:?}");
        let out = w.run(&["--cleanup", exe.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "{kind}: {out:?}");
        assert_eq!(
            w.mounts_on(&exe).len(),
            1,
            "{kind}: --cleanup removed a live foreign mount"
        );
        assert!(w.state_files().is_empty(), "{kind}: {:?}", w.state_files());
        let _ = foreign.kill();
        let _ = foreign.wait();
        let after = match kind {
            // Once its holder lets go, it is a dead mount like any other.
            "unsealed-memfd" => 1,
            _ => 3,
        };
        assert_eq!(w.status(&exe).code, Some(after), "{kind}");
    }
}

const FOREIGN_KIND_ENV: &str = "MEMFD_BIND_TEST_FOREIGN_KIND";
const FOREIGN_TARGET_ENV: &str = "MEMFD_BIND_TEST_FOREIGN_TARGET";
const FOREIGN_READY_ENV: &str = "MEMFD_BIND_TEST_FOREIGN_READY";

/// Run by `foreign_procfs_link_mounts_are_left_alone` in its world's mount
/// namespace (a no-op anywhere else): mounts a procfs link over the target
/// the way memfd-bind mounts (the link itself, opened O_PATH|O_NOFOLLOW,
/// through /proc/self/fd), and holds it until killed. The link is the magic
/// link of an unsealed memfd holding the target's bytes, or /proc/self.
#[test]
#[ignore = "a helper, run by foreign_procfs_link_mounts_are_left_alone"]
fn foreign_magic_link_mount_helper() {
    let (Some(kind), Some(target), Some(ready)) = (
        std::env::var_os(FOREIGN_KIND_ENV),
        std::env::var_os(FOREIGN_TARGET_ENV),
        std::env::var_os(FOREIGN_READY_ENV),
    ) else {
        return;
    };
    let memfd = rustix::fs::memfd_create("unsealed", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    let mut f = fs::File::from(memfd);
    f.write_all(&fs::read(&target).unwrap()).unwrap();
    let source = match kind.to_str() {
        Some("unsealed-memfd") => format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f)),
        _ => "/proc/self".to_string(),
    };
    let link = rustix::fs::open(
        source.as_str(),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    rustix::mount::mount_bind(
        format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&link)).as_str(),
        target.as_os_str(),
    )
    .unwrap();
    fs::write(ready, b"").unwrap();
    std::thread::sleep(TIMEOUT * 10);
    drop((link, f));
}

#[test]
fn sigkill_leaves_a_stale_mount_that_cleanup_removes() {
    require_root!();
    let mut w = World::new();
    let exe = w.exe.clone();
    let d = w.start(&[], &exe);
    let pid = w.daemons[d].pid();
    w.daemons[d].signal(Signal::KILL);
    w.daemons[d].wait();

    let st = w.status(&exe);
    assert_eq!(st.code, Some(1), "status of a stale path: {st:?}");
    assert!(
        st.stdout
            .starts_with(&format!("{}: stale (", exe.display())),
        "{st:?}"
    );
    assert!(st.stdout.contains(&format!("/proc/{pid}/fd/")), "{st:?}");
    assert_eq!(w.mounts_on(&exe).len(), 1);

    let exec_err = w.exec(&exe).map(|mut c| {
        let _ = c.kill();
        let _ = c.wait();
    });
    let exec_err = exec_err.expect_err("exec of a stale path succeeded");
    let open_err = fs::File::open(w.ns(&exe)).expect_err("open of a stale path succeeded");
    println!(
        "stale mount: exec gives {}, open gives {}",
        errno_name(&exec_err),
        errno_name(&open_err)
    );
    assert!(
        matches!(exec_err.raw_os_error(), Some(2 | 22)),
        "exec error {exec_err}"
    );
    assert!(
        matches!(open_err.raw_os_error(), Some(2 | 22)),
        "open error {open_err}"
    );

    let c = w.run(&["--cleanup", exe.to_str().unwrap()]);
    assert_eq!(c.code, Some(0), "cleanup: {c:?}");
    assert!(c.stderr.contains("removed stale memfd-bind mount"), "{c:?}");
    assert_not_served(&mut w);
    // Idempotent.
    let c = w.run(&["--cleanup", exe.to_str().unwrap()]);
    assert_eq!(c.code, Some(0), "second cleanup: {c:?}");
    assert!(c.stderr.contains("nothing to do"), "{c:?}");
    assert_not_served(&mut w);
    // The dead daemon's pid file is a leftover, but its lock is free.
    assert!(w.state_files().len() <= 1);
    w.assert_host_untouched();
}

#[test]
fn a_new_daemon_clears_a_stale_mount_before_serving() {
    require_root!();
    let mut w = World::new();
    let exe = w.exe.clone();
    let d = w.start(&[], &exe);
    w.daemons[d].signal(Signal::KILL);
    w.daemons[d].wait();
    assert_eq!(w.status(&exe).code, Some(1));

    let d2 = w.start(&[], &exe);
    let pid2 = w.daemons[d2].pid();
    w.daemons[d2].assert_logged("removed stale memfd-bind mount", "restart after SIGKILL");
    assert_eq!(
        w.mounts_on(&exe).len(),
        1,
        "stale mount not replaced: {:?}",
        w.mounts_on(&exe)
    );
    assert_served(&mut w, pid2);
    assert_exec_sealed(&w, &exe, &w.daemons[d2].copy_kind());
    w.daemons[d2].signal(Signal::INT);
    assert_eq!(w.daemons[d2].wait().code(), Some(0));
    assert_not_served(&mut w);
}

#[test]
fn a_second_instance_is_refused() {
    require_root!();
    let mut w = World::new();
    let exe = w.exe.clone();
    let a = w.start(&[], &exe);
    let pid = w.daemons[a].pid();

    let other_state = w.dir.join("other-state");
    for state in [w.state.clone(), other_state.clone()] {
        let out = w.run_with(&state, None, &[exe.to_str().unwrap()]);
        assert_eq!(out.code, Some(1), "second daemon: {out:?}");
        let lines = out.err_lines();
        assert_eq!(lines.len(), 1, "one line: {out:?}");
        assert!(
            lines[0].contains(&format!(
                "{}: already served by memfd-bind (pid {pid}",
                exe.display()
            )),
            "{out:?}"
        );
        assert_eq!(w.mounts_on(&exe).len(), 1, "mounts stacked");
    }
    assert!(!other_state.exists() || fs::read_dir(&other_state).unwrap().next().is_none());
    assert_served(&mut w, pid);
    w.daemons[a].signal(Signal::TERM);
    assert_eq!(w.daemons[a].wait().code(), Some(0));
    assert_not_served(&mut w);

    // Two daemons started at once: exactly one serves, the flock refuses the other.
    for round in 0..5 {
        let x = w.spawn_daemon(&[exe.to_str().unwrap()]);
        let y = w.spawn_daemon(&[exe.to_str().unwrap()]);
        let start = Instant::now();
        let loser = loop {
            let ex = w.daemons[x].child.try_wait().unwrap();
            let ey = w.daemons[y].child.try_wait().unwrap();
            match (ex, ey) {
                (Some(_), Some(_)) => panic!(
                    "round {round}: both exited:\n{}\n{}",
                    w.daemons[x].log(),
                    w.daemons[y].log()
                ),
                (Some(st), None) => break (x, y, st),
                (None, Some(st)) => break (y, x, st),
                (None, None) => assert!(
                    start.elapsed() < TIMEOUT,
                    "round {round}: neither was refused"
                ),
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let (lost, won, st) = loser;
        assert_eq!(
            st.code(),
            Some(1),
            "round {round}: {}",
            w.daemons[lost].log()
        );
        w.daemons[lost].assert_logged("already served by memfd-bind", &format!("round {round}"));
        w.wait_ready(won);
        assert_eq!(
            w.mounts_on(&exe).len(),
            1,
            "round {round}: {:?}",
            w.mounts_on(&exe)
        );
        let won_pid = w.daemons[won].pid();
        assert_served(&mut w, won_pid);
        w.daemons[won].signal(Signal::TERM);
        assert_eq!(w.daemons[won].wait().code(), Some(0));
        assert_not_served(&mut w);
    }
}

#[test]
fn bad_inputs_are_refused_and_leave_nothing_behind() {
    require_root!();
    let mut w = World::new();
    let dir = w.dir.clone();
    fs::create_dir(dir.join("a-dir")).unwrap();
    fs::write(dir.join("not-exec"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(dir.join("not-exec"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(dir.join("empty"), b"").unwrap();
    fs::set_permissions(dir.join("empty"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();

    let cases: [(&str, &str); 6] = [
        ("missing", "no such file"),
        ("a-dir", "is a directory"),
        ("not-exec", "is not executable (mode 0644)"),
        ("empty", "is empty"),
        ("dangling", "no such file"),
        ("no-dir/x", "No such file or directory"),
    ];
    let before = w.ns_mountinfo();
    for (name, why) in cases {
        let path = dir.join(name);
        let out = w.run(&[path.to_str().unwrap()]);
        println!("{name}: exit {:?}: {}", out.code, out.stderr.trim());
        assert_eq!(out.code, Some(1), "{name}: {out:?}");
        let lines = out.err_lines();
        assert_eq!(lines.len(), 1, "{name}: one line of error: {out:?}");
        assert!(
            lines[0].starts_with(&format!("memfd-bind: {}: ", path.display())),
            "{name}: names the input: {out:?}"
        );
        assert!(lines[0].contains(why), "{name}: says why ({why}): {out:?}");
        assert_eq!(w.ns_mountinfo(), before, "{name}: mounts changed");
        assert!(
            w.state_files().is_empty(),
            "{name}: left {:?}",
            w.state_files()
        );
    }
    // The same, relative to the working directory: the error names it resolved.
    let out = w.run_in(&dir, &["a-dir"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.err_lines(),
        vec![format!(
            "memfd-bind: {}: is a directory, expected an executable file",
            dir.join("a-dir").display()
        )]
    );
    // --status and --cleanup on bad paths: errors, not silence.
    let out = w.run(&["--status", dir.join("missing").to_str().unwrap()]);
    assert_eq!(out.code, Some(4), "{out:?}");
    let out = w.run(&["--cleanup", dir.join("missing").to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(w.ns_mountinfo(), before);
    assert!(!w.state.exists(), "state dir created for bad input");
    w.assert_host_untouched();
}

#[test]
fn relative_paths_and_symlinks_resolve_to_the_real_file() {
    require_root!();
    let mut w = World::new();
    let exe = w.exe.clone();
    let dir = w.dir.clone();
    symlink("bin/sleep", dir.join("link")).unwrap();

    // A relative path is resolved against the working directory.
    let out = w.run_in(&dir, &["--status", "bin/sleep"]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (Some(3), format!("{}: not served", exe.display()).as_str())
    );

    // Serving through a symlink serves the file it points to.
    let link = dir.join("link");
    let d = w.start(&[], &link);
    let pid = w.daemons[d].pid();
    assert_served(&mut w, pid);
    assert_eq!(w.mounts_on(&exe).len(), 1);
    assert!(
        w.mounts_on(&link).is_empty(),
        "the symlink itself is not covered"
    );
    assert!(fs::symlink_metadata(w.ns(&link))
        .unwrap()
        .file_type()
        .is_symlink());
    let kind = w.daemons[d].copy_kind();
    assert_exec_sealed(&w, &link, &kind);
    assert_exec_sealed(&w, &exe, &kind);
    let st = w.status(&link);
    assert_eq!(
        st.stdout.trim(),
        format!("{}: served (pid {pid})", exe.display()),
        "status through the symlink"
    );
    // A second daemon through the other name is the same file: refused.
    let out = w.run(&[exe.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{out:?}");
    w.daemons[d].signal(Signal::TERM);
    assert_eq!(w.daemons[d].wait().code(), Some(0));
    assert_not_served(&mut w);
}

#[test]
fn both_mount_apis_work() {
    require_root!();
    let mut w = World::new();
    let exe = w.exe.clone();
    for (api, shown) in [
        ("new", "open_tree+move_mount"),
        ("classic", "mount(MS_BIND)"),
    ] {
        let d = w.start(&["--mount-api", api], &exe);
        let log = w.daemons[d].log();
        assert!(log.contains(shown), "{api}: {log}");
        let pid = w.daemons[d].pid();
        assert_served(&mut w, pid);
        assert_exec_sealed(&w, &exe, &w.daemons[d].copy_kind());
        w.daemons[d].signal(Signal::TERM);
        assert_eq!(w.daemons[d].wait().code(), Some(0), "{api}");
        assert_not_served(&mut w);
        // And a stale mount made with this API cleans up the same way.
        let d = w.start(&["--mount-api", api], &exe);
        w.daemons[d].signal(Signal::KILL);
        w.daemons[d].wait();
        assert_eq!(w.status(&exe).code, Some(1), "{api}");
        assert_eq!(w.run(&["--cleanup", exe.to_str().unwrap()]).code, Some(0));
        assert_not_served(&mut w);
    }
}

#[test]
fn unit_file_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIP: systemd-analyze not installed");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/verify-unit.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(BIN)
        .output()
        .expect("run verify-unit.sh");
    println!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze verify failed");
}

/// `systemd-escape -p`, for the expected lock file name (None without systemd).
fn systemd_escape(p: &Path) -> Option<String> {
    let o = Command::new("systemd-escape")
        .arg("-p")
        .arg(p)
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}
