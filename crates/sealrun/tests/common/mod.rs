//! Shared harness for sealrun's root-only integration tests.
//!
//! Every test gets its own [`TestEnv`]: a temp dir holding a copy of the
//! sealrun binary (tests never run the cargo-built file in place), a state
//! `--root`, a log file, and busybox bundles made by `make-bundle.sh` with a
//! config.json from `sealrun spec`.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The capabilities Docker gives a container by default.
pub const DOCKER_DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// How long any single sealrun invocation may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    /// The copy of sealrun the test runs.
    pub bin: PathBuf,
    pub root: PathBuf,
    pub log: PathBuf,
    id_prefix: String,
    outputs: std::sync::atomic::AtomicU32,
}

#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.status.success(), "sealrun failed: {self:#?}");
        self
    }

    /// A failure reported as exactly one `sealrun: error: ...` line on stderr
    /// (logs go to the log file) and nothing on stdout.
    #[track_caller]
    pub fn assert_one_line_error(&self, needle: &str) -> &Self {
        assert!(!self.status.success(), "expected failure: {self:#?}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "expected one stderr line: {self:#?}");
        assert!(
            lines[0].starts_with("sealrun: error: "),
            "unexpected error line: {self:#?}"
        );
        assert!(
            lines[0].contains(needle),
            "error line lacks {needle:?}: {self:#?}"
        );
        assert!(
            self.stdout.trim().is_empty(),
            "unexpected stdout: {self:#?}"
        );
        self
    }
}

/// `None` (and a printed reason) when the tests cannot run here.
pub fn env(test: &str) -> Option<TestEnv> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        eprintln!("SKIPPED {test}: sealrun integration tests need root (euid is {euid})");
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("sealrun-test-")
        .tempdir()
        .expect("temp dir");
    let bin = dir.path().join("sealrun");
    std::fs::copy(env!("CARGO_BIN_EXE_sealrun"), &bin).expect("copy sealrun binary");
    let root = dir.path().join("state");
    let log = dir.path().join("sealrun.log");
    // Short, unique, and valid as a container id.
    let id_prefix = format!("sr{}-{}", std::process::id(), test.replace('_', "-"));
    Some(TestEnv {
        dir,
        bin,
        root,
        log,
        id_prefix,
        outputs: Default::default(),
    })
}

impl TestEnv {
    pub fn id(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.id_prefix)
    }

    /// sealrun with the test's `--root`, `--log` and `--seal none`.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .args(["--seal", "none"]);
        cmd
    }

    pub fn sealrun(&self, args: &[&str]) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        self.output(cmd)
    }

    /// Runs `cmd` with stdio on files (a created container keeps the runtime's
    /// stdout/stderr open, so pipes would never see EOF) and a timeout.
    pub fn output(&self, mut cmd: Command) -> Output {
        let n = self
            .outputs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out_path = self.dir.path().join(format!("out-{n}"));
        let err_path = self.dir.path().join(format!("err-{n}"));
        cmd.stdin(Stdio::null())
            .stdout(File::create(&out_path).unwrap())
            .stderr(File::create(&err_path).unwrap());
        // ETXTBSY: a parallel test thread copying a binary while another
        // forks lets the child briefly inherit the copy's write fd (until its
        // exec closes it); exec of that copy then fails. Retrying is the cure.
        let mut tries = 0;
        let mut child = loop {
            match cmd.spawn() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => break other.unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")),
            }
        };
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{cmd:?} did not finish within {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: std::fs::read_to_string(&out_path).unwrap(),
            stderr: std::fs::read_to_string(&err_path).unwrap(),
        }
    }

    /// A busybox bundle named `name` whose process runs `args`.
    pub fn bundle(&self, name: &str, args: &[&str]) -> PathBuf {
        let bundle = self.dir.path().join(name);
        std::fs::create_dir_all(&bundle).unwrap();
        make_rootfs(&bundle.join("rootfs"));
        let mut spec = Command::new(&self.bin);
        spec.arg("spec").arg("--bundle").arg(&bundle);
        self.output(spec).assert_ok();
        self.edit_config(&bundle, |config| {
            config["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
            config["process"]["terminal"] = Value::Bool(false);
        });
        bundle
    }

    pub fn edit_config(&self, bundle: &Path, edit: impl FnOnce(&mut Value)) {
        let path = bundle.join("config.json");
        let mut config: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut config);
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    }

    /// `sealrun state ID` as JSON (panics if the command fails).
    pub fn state(&self, id: &str) -> Value {
        let out = self.sealrun(&["state", id]);
        out.assert_ok();
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("state JSON: {e}: {out:#?}"))
    }

    #[track_caller]
    pub fn wait_for_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The container may not exist yet (a concurrent `run`).
            let out = self.sealrun(&["state", id]);
            let state: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
            if state["status"] == status {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} never became {status}: {out:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asserts that container `id` left nothing behind: no state directory,
    /// no cgroup, no process still running the sealrun copy.
    #[track_caller]
    pub fn assert_nothing_left(&self, id: &str) {
        let state_dir = self.root.join(id);
        assert!(
            !state_dir.exists(),
            "state directory {} left behind",
            state_dir.display()
        );
        let cgroups = cgroup_dirs_named(id);
        assert!(
            cgroups.is_empty(),
            "cgroups left behind for {id}: {cgroups:?}"
        );
        let procs = processes_running(&self.bin);
        assert!(procs.is_empty(), "sealrun processes left behind: {procs:?}");
    }
}

impl Drop for TestEnv {
    /// Force-deletes whatever a failed test left running.
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let _ = self
                .command()
                .args(["delete", "--force", &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn make_rootfs(rootfs: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/make-bundle.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg(rootfs)
        .output()
        .expect("run make-bundle.sh");
    assert!(
        out.status.success(),
        "make-bundle.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Cgroup directories (any hierarchy, a few levels deep) whose name contains `id`.
pub fn cgroup_dirs_named(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: u32, id: &str, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(id) {
                found.push(path.clone());
            }
            if depth > 0 {
                walk(&path, depth - 1, id, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), 4, id, &mut found);
    found
}

/// Live (non-zombie) processes whose executable is `exe`.
pub fn processes_running(exe: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_link(entry.path().join("exe")).ok().as_deref() == Some(exe)
            && is_alive(pid)
        {
            pids.push(pid);
        }
    }
    pids
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}
