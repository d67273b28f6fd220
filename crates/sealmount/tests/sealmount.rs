//! sealmount end to end (root only). Hermetic: every mount happens inside a
//! private mount namespace (`unshare -m --propagation private sh -c ...`)
//! that dies with the script, on directories from tempfile; the script prints
//! `key=value` lines (and leaves files in the work dir) that the test checks.
//! No system directory is ever sealed: the refusal test runs in such a
//! namespace too, so even a broken refusal would seal nothing outside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SEALMOUNT: &str = env!("CARGO_BIN_EXE_sealmount");

fn skip(test: &str, why: &str) {
    println!("SKIP: {test}: {why}");
    eprintln!("SKIP: {test}: {why}");
}

/// `false` (after printing a SKIP line) unless we are root.
fn root(test: &str) -> bool {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        skip(
            test,
            &format!("needs root for mount namespaces and overlayfs (euid is {euid})"),
        );
    }
    euid == 0
}

/// The workspace's sealrun next to our test binary: target/<profile>/deps/
/// holds this test, target/<profile>/sealrun is built by `make test`
/// (`cargo build --release --workspace` first).
fn sealrun(test: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("sealrun"));
    match bin {
        Some(b) if b.is_file() => Some(b),
        other => {
            skip(
                test,
                &format!(
                    "no sealrun binary at {} (build the workspace first: cargo build --release --workspace)",
                    other.map_or("?".into(), |b| b.display().to_string())
                ),
            );
            None
        }
    }
}

/// A temp work dir `w` and the directory to seal, `w/<name>` (with a space:
/// mountinfo escapes it, sealmount and exeseal must not care).
struct Lab {
    w: tempfile::TempDir,
    dir: PathBuf,
}

impl Lab {
    fn new() -> Self {
        let w = tempfile::Builder::new()
            .prefix("sealmount-test-")
            .tempdir()
            .unwrap();
        let dir = w.path().join("runtime bin");
        std::fs::create_dir(&dir).unwrap();
        Lab { w, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.w.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The file a step wrote (its stderr, a status report) says `needle`.
    #[track_caller]
    fn assert_contains(&self, name: &str, needle: &str) {
        let text = self.read(name);
        assert!(text.contains(needle), "{name} lacks {needle:?}:\n{text}");
    }

    /// Put `bin` (and an untouched copy outside DIR) in place as DIR/`name`.
    fn install(&self, bin: &Path, name: &str) -> PathBuf {
        let dest = self.dir.join(name);
        std::fs::copy(bin, &dest).unwrap();
        std::fs::copy(bin, self.path("pristine")).unwrap();
        dest
    }

    /// Run `script` with `sh` in a private mount namespace, with $S
    /// (sealmount), $D (the dir to seal), $W (the work dir) and $R (sealrun,
    /// if given) set; its `key=value` lines on stdout become the result.
    fn run(&self, script: &str, sealrun: Option<&Path>) -> Ns {
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", script])
            .env("S", SEALMOUNT)
            .env("D", &self.dir)
            .env("W", self.w.path())
            .env_remove("SEALRUN_SEAL")
            .env_remove("_EXESEAL_REEXEC");
        if let Some(r) = sealrun {
            cmd.env("R", r);
        }
        let out = cmd.output().expect("cannot run unshare");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let vars = stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ns { out, vars }
    }

    /// The mounts on DIR in a saved copy of /proc/self/mountinfo.
    fn mounts_at_dir(&self, mountinfo_file: &str) -> Vec<String> {
        mounts_at(&self.read(mountinfo_file), &self.dir)
    }
}

struct Ns {
    out: Output,
    vars: HashMap<String, String>,
}

impl Ns {
    fn get(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("script printed no {key}=:\n{self}"))
    }

    /// The exit status recorded as `key=$?`.
    fn rc(&self, key: &str) -> i32 {
        self.get(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a number:\n{self}"))
    }
}

impl std::fmt::Display for Ns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "namespace script exited {}\n--- stdout\n{}--- stderr\n{}",
            self.out.status,
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        )
    }
}

/// How mountinfo spells a path (octal escapes for space, tab, newline, '\').
fn mountinfo_escape(p: &Path) -> String {
    let mut s = String::new();
    for c in p.to_string_lossy().chars() {
        match c {
            ' ' => s.push_str("\\040"),
            '\t' => s.push_str("\\011"),
            '\n' => s.push_str("\\012"),
            '\\' => s.push_str("\\134"),
            c => s.push(c),
        }
    }
    s
}

/// The mountinfo lines of the mounts on exactly `dir`, bottom first.
fn mounts_at(mountinfo: &str, dir: &Path) -> Vec<String> {
    let want = mountinfo_escape(dir);
    mountinfo
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(want.as_str()))
        .map(str::to_owned)
        .collect()
}

/// A lower-only overlay: `overlay`, read-only superblock, no upper layer.
fn is_sealed_overlay_line(line: &str) -> bool {
    let Some((_, right)) = line.split_once(" - ") else {
        return false;
    };
    let r: Vec<&str> = right.split(' ').collect();
    let opts = r.get(2).copied().unwrap_or_default();
    r.first() == Some(&"overlay")
        && opts.split(',').any(|o| o == "ro")
        && !opts.contains("upperdir=")
}

/// One `sealmount: ...` line on stderr.
#[track_caller]
fn one_line_error(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected a one-line error, got:\n{stderr}");
    assert!(lines[0].starts_with("sealmount: "), "{stderr}");
    lines[0]
}

fn probe_json(lab: &Lab, file: &str) -> serde_json::Value {
    let text = lab.read(file);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("seal-probe output {text:?}: {e}"))
}

/// sealrun installed in DIR and sealed: sealrun sees itself as already
/// sealed (no copy, no per-call mount), the file cannot be written or the
/// mount remounted read-write, and the binary is unchanged.
#[test]
fn sealed_sealrun_runs_already_sealed() {
    let test = "sealed_sealrun_runs_already_sealed";
    if !root(test) {
        return;
    }
    let Some(sealrun) = sealrun(test) else { return };
    let lab = Lab::new();
    lab.install(&sealrun, "sealrun");
    let ns = lab.run(
        r#"
        cat /proc/self/mountinfo > "$W/mi.0"
        "$S" "$D" 2> "$W/seal.err"; echo "seal=$?"
        "$D/sealrun" seal-probe --format json > "$W/probe.json" 2> "$W/probe.err"; echo "probe=$?"
        cat /proc/self/mountinfo > "$W/mi.1"
        i=0; fails=0
        while [ $i -lt 100 ]; do
            "$D/sealrun" seal-probe > /dev/null 2>&1 || fails=$((fails + 1))
            i=$((i + 1))
        done
        echo "probe_fails=$fails"
        cat /proc/self/mountinfo > "$W/mi.2"
        (: >> "$D/sealrun") 2> "$W/write.err"; echo "write=$?"
        (: > "$D/new-file") 2> "$W/create.err"; echo "create=$?"
        mount -o remount,rw "$D" 2> "$W/remount.err"; echo "remount=$?"
        cat /proc/self/mountinfo > "$W/mi.3"
        # Clearing the per-mount ro flag works, but the superblock stays ro.
        mount -o remount,bind,rw "$D" 2> "$W/remount-bind.err"; echo "remount_bind=$?"
        (: >> "$D/sealrun") 2> "$W/write2.err"; echo "write2=$?"
        "$S" --status "$D" > "$W/status.out"; echo "status=$?"
        cmp "$D/sealrun" "$W/pristine"; echo "cmp=$?"
        "#,
        None,
    );
    eprintln!("{ns}");
    assert_eq!(
        ns.rc("seal"),
        0,
        "sealmount failed: {}",
        lab.read("seal.err")
    );
    assert!(
        lab.mounts_at_dir("mi.0").is_empty(),
        "DIR was a mount point before"
    );
    let sealed = lab.mounts_at_dir("mi.1");
    assert_eq!(
        sealed.len(),
        1,
        "exactly one mount on DIR after sealing: {sealed:#?}"
    );
    assert!(
        is_sealed_overlay_line(&sealed[0]),
        "not a lower-only overlay: {}",
        sealed[0]
    );

    assert_eq!(
        ns.rc("probe"),
        0,
        "seal-probe failed: {}",
        lab.read("probe.err")
    );
    let probe = probe_json(&lab, "probe.json");
    assert_eq!(probe["chosen"], "already-sealed-overlay", "{probe}");
    assert_eq!(probe["bytes_copied"], 0, "{probe}");

    assert_eq!(ns.rc("probe_fails"), 0);
    assert_eq!(
        lab.read("mi.1"),
        lab.read("mi.2"),
        "100 seal-probe calls from the sealed dir changed the mount table"
    );

    assert_ne!(ns.rc("write"), 0, "opened DIR/sealrun for writing");
    lab.assert_contains("write.err", "Read-only file system");
    assert_ne!(ns.rc("create"), 0, "created a file in DIR");
    lab.assert_contains("create.err", "Read-only file system");
    assert_ne!(ns.rc("remount"), 0, "`mount -o remount,rw DIR` succeeded");
    assert_eq!(
        lab.read("mi.1"),
        lab.read("mi.3"),
        "failed remount changed the mount table"
    );
    assert_ne!(
        ns.rc("write2"),
        0,
        "writable after clearing the per-mount ro flag"
    );
    lab.assert_contains("write2.err", "Read-only file system");

    assert_eq!(ns.rc("status"), 0, "{}", lab.read("status.out"));
    lab.assert_contains("status.out", ": sealed: ");
    assert_eq!(ns.rc("cmp"), 0, "binary seen through the overlay differs");
    assert_eq!(
        std::fs::read(lab.dir.join("sealrun")).unwrap(),
        std::fs::read(lab.path("pristine")).unwrap(),
        "the binary on disk changed"
    );
}

/// A read-only bind mount is not a seal: CAP_SYS_ADMIN can flip it back.
#[test]
fn read_only_bind_mount_is_not_sealed() {
    let test = "read_only_bind_mount_is_not_sealed";
    if !root(test) {
        return;
    }
    let Some(sealrun) = sealrun(test) else { return };
    let lab = Lab::new();
    lab.install(&sealrun, "sealrun");
    let ns = lab.run(
        r#"
        mount --bind -o ro "$D" "$D"; echo "bind=$?"
        cat /proc/self/mountinfo > "$W/mi.0"
        "$S" --status "$D" > "$W/status.out" 2> "$W/status.err"; echo "status=$?"
        "$D/sealrun" seal-probe --format json > "$W/probe.json" 2> "$W/probe.err"; echo "probe=$?"
        mount -o remount,bind,rw "$D"; echo "made_rw=$?"
        (: >> "$D/sealrun") 2> /dev/null; echo "write=$?"
        "#,
        None,
    );
    eprintln!("{ns}");
    assert_eq!(ns.rc("bind"), 0);
    let mounts = lab.mounts_at_dir("mi.0");
    assert_eq!(mounts.len(), 1, "{mounts:#?}");
    assert_eq!(
        ns.rc("status"),
        1,
        "stdout {} stderr {}",
        lab.read("status.out"),
        lab.read("status.err")
    );
    let status = lab.read("status.out");
    assert!(
        status.contains(": not sealed: ") && status.contains("read-only bind mount"),
        "{status}"
    );
    assert!(status.contains("CAP_SYS_ADMIN"), "{status}");

    assert_eq!(ns.rc("probe"), 0, "{}", lab.read("probe.err"));
    let probe = probe_json(&lab, "probe.json");
    assert_ne!(probe["chosen"], "already-sealed-overlay", "{probe}");
    assert_ne!(probe["current"], "already-sealed-overlay", "{probe}");
    // Why it is no seal: the bind mount became writable again.
    assert_eq!(ns.rc("made_rw"), 0);
    assert_eq!(ns.rc("write"), 0, "the rw bind mount should be writable");
}

/// Sealing twice does not stack; --status and --cleanup in both states.
#[test]
fn idempotent_seal_status_and_cleanup() {
    let test = "idempotent_seal_status_and_cleanup";
    if !root(test) {
        return;
    }
    let lab = Lab::new();
    let bin = lab.path("tool");
    std::fs::write(&bin, b"#!/bin/sh\necho tool\n").unwrap();
    lab.install(&bin, "tool");
    let ns = lab.run(
        r#"
        "$S" --status "$D" > "$W/st0.out"; echo "st0=$?"
        "$S" --cleanup "$D" 2> "$W/cleanup0.err"; echo "cleanup0=$?"
        "$S" "$D"; echo "seal1=$?"
        cat /proc/self/mountinfo > "$W/mi.1"
        "$S" "$D" 2> "$W/seal2.err"; echo "seal2=$?"
        cat /proc/self/mountinfo > "$W/mi.2"
        "$S" --status "$D" > "$W/st1.out"; echo "st1=$?"
        "$S" --cleanup "$D" 2> "$W/cleanup1.err"; echo "cleanup1=$?"
        cat /proc/self/mountinfo > "$W/mi.3"
        "$S" --cleanup "$D" 2> "$W/cleanup2.err"; echo "cleanup2=$?"
        "$S" --status "$D" > "$W/st2.out"; echo "st2=$?"
        (: >> "$D/tool"); echo "write=$?"
        cmp "$D/tool" "$W/pristine"; echo "cmp=$?"
        "#,
        None,
    );
    eprintln!("{ns}");
    assert_eq!(ns.rc("st0"), 1);
    assert!(
        lab.read("st0.out")
            .contains(": not sealed: nothing is mounted"),
        "{}",
        lab.read("st0.out")
    );
    assert_eq!(
        ns.rc("cleanup0"),
        0,
        "cleanup with nothing to do: {}",
        lab.read("cleanup0.err")
    );

    assert_eq!(ns.rc("seal1"), 0);
    assert_eq!(ns.rc("seal2"), 0, "{}", lab.read("seal2.err"));
    lab.assert_contains("seal2.err", "already sealed");
    assert_eq!(lab.mounts_at_dir("mi.1").len(), 1);
    assert_eq!(
        lab.mounts_at_dir("mi.2"),
        lab.mounts_at_dir("mi.1"),
        "second sealmount stacked a mount"
    );
    assert_eq!(ns.rc("st1"), 0);
    lab.assert_contains("st1.out", ": sealed: ");

    assert_eq!(ns.rc("cleanup1"), 0, "{}", lab.read("cleanup1.err"));
    assert!(
        lab.mounts_at_dir("mi.3").is_empty(),
        "--cleanup left {:#?}",
        lab.mounts_at_dir("mi.3")
    );
    assert_eq!(ns.rc("cleanup2"), 0, "{}", lab.read("cleanup2.err"));
    lab.assert_contains("cleanup2.err", "nothing to do");
    assert_eq!(ns.rc("st2"), 1);
    lab.assert_contains("st2.out", ": not sealed: ");
    assert_eq!(ns.rc("write"), 0, "file not writable again after --cleanup");
    assert_eq!(ns.rc("cmp"), 0, "contents changed");
}

/// --cleanup removes sealed overlays only: other mounts stay, and sealed
/// overlays under them are reported, not reached by unmounting the other.
#[test]
fn cleanup_never_unmounts_other_mounts() {
    let test = "cleanup_never_unmounts_other_mounts";
    if !root(test) {
        return;
    }
    let lab = Lab::new();
    let ns = lab.run(
        r#"
        mount -t tmpfs -o size=1m sealmount-test "$D"; echo "tmpfs=$?"
        "$S" --cleanup "$D" 2> "$W/foreign.err"; echo "foreign=$?"
        cat /proc/self/mountinfo > "$W/mi.1"
        "$S" "$D"; echo "seal=$?"
        mount -t tmpfs -o size=1m sealmount-test2 "$D"; echo "cover=$?"
        "$S" --status "$D" > "$W/st.out"; echo "st=$?"
        "$S" --cleanup "$D" 2> "$W/hidden.err"; echo "hidden=$?"
        cat /proc/self/mountinfo > "$W/mi.2"
        "#,
        None,
    );
    eprintln!("{ns}");
    assert_eq!(ns.rc("tmpfs"), 0);
    assert_eq!(ns.rc("foreign"), 0, "{}", lab.read("foreign.err"));
    lab.assert_contains("foreign.err", "not a lower-only overlay");
    let m1 = lab.mounts_at_dir("mi.1");
    assert_eq!(m1.len(), 1, "the tmpfs must stay: {m1:#?}");
    assert!(m1[0].contains(" - tmpfs "), "{m1:#?}");

    assert_eq!(ns.rc("seal"), 0);
    assert_eq!(ns.rc("cover"), 0);
    assert_eq!(
        ns.rc("st"),
        1,
        "a tmpfs on top is not sealed: {}",
        lab.read("st.out")
    );
    lab.assert_contains("st.out", "writable tmpfs");
    assert_eq!(
        ns.rc("hidden"),
        1,
        "sealed overlay under a foreign mount must be an error"
    );
    let hidden = lab.read("hidden.err");
    assert!(
        one_line_error(&hidden).contains("not unmounting"),
        "{hidden}"
    );
    let m2 = lab.mounts_at_dir("mi.2");
    assert_eq!(m2.len(), 3, "nothing may be unmounted: {m2:#?}");
}

/// A directory inside a sealed directory is sealed with it: --status says
/// so, sealing it stacks nothing, --cleanup leaves the parent's overlay.
#[test]
fn subdirectory_of_a_sealed_dir() {
    let test = "subdirectory_of_a_sealed_dir";
    if !root(test) {
        return;
    }
    let lab = Lab::new();
    std::fs::create_dir(lab.dir.join("sub")).unwrap();
    let ns = lab.run(
        r#"
        "$S" "$D"; echo "seal=$?"
        cat /proc/self/mountinfo > "$W/mi.1"
        "$S" --status "$D/sub" > "$W/st.out"; echo "st=$?"
        "$S" "$D/sub" 2> "$W/seal-sub.err"; echo "seal_sub=$?"
        "$S" --cleanup "$D/sub" 2> "$W/cleanup-sub.err"; echo "cleanup_sub=$?"
        cat /proc/self/mountinfo > "$W/mi.2"
        "#,
        None,
    );
    eprintln!("{ns}");
    assert_eq!(ns.rc("seal"), 0);
    assert_eq!(ns.rc("st"), 0, "{}", lab.read("st.out"));
    lab.assert_contains("st.out", "lies inside");
    assert_eq!(ns.rc("seal_sub"), 0, "{}", lab.read("seal-sub.err"));
    lab.assert_contains("seal-sub.err", "already sealed");
    assert_eq!(ns.rc("cleanup_sub"), 0, "{}", lab.read("cleanup-sub.err"));
    assert_eq!(lab.read("mi.1"), lab.read("mi.2"), "mounts changed");
}

/// System directories are refused without --force, with the reason, and
/// nothing is mounted.
#[test]
fn refuses_system_directories() {
    let test = "refuses_system_directories";
    if !root(test) {
        return;
    }
    let lab = Lab::new();
    let dirs = [
        "/usr/bin",
        "/bin",
        "/usr/local/bin",
        "/",
        "/usr",
        "/sbin",
        "/usr/sbin",
        "/usr/bin/",
    ];
    let mut script = String::from("cat /proc/self/mountinfo > \"$W/mi.0\"\n");
    for (i, d) in dirs.iter().enumerate() {
        script.push_str(&format!(
            "\"$S\" '{d}' 2> \"$W/err.{i}\"; echo \"rc{i}=$?\"\n"
        ));
    }
    script.push_str("cat /proc/self/mountinfo > \"$W/mi.1\"\n");
    let ns = lab.run(&script, None);
    eprintln!("{ns}");
    for (i, d) in dirs.iter().enumerate() {
        assert_eq!(ns.rc(&format!("rc{i}")), 1, "{d} was not refused");
        let err = lab.read(&format!("err.{i}"));
        let line = one_line_error(&err);
        assert!(
            line.contains("refusing to seal") && line.contains("system directory"),
            "{d}: {line}"
        );
        assert!(
            line.contains("/usr/libexec/sealrun") && line.contains("--force"),
            "{d}: {line}"
        );
    }
    // /bin is refused as what it resolves to (/usr/bin on merged-/usr hosts).
    let bin = lab.read("err.1");
    let canon = std::fs::canonicalize("/bin").unwrap();
    assert!(bin.contains(&canon.display().to_string()), "{bin}");
    assert_eq!(
        lab.read("mi.0"),
        lab.read("mi.1"),
        "a refused sealmount mounted something"
    );
}

/// Missing paths and files are one-line errors naming the path; nothing is
/// mounted; --status says "cannot tell" (2).
#[test]
fn bad_paths_are_one_line_errors() {
    let test = "bad_paths_are_one_line_errors";
    if !root(test) {
        return;
    }
    let lab = Lab::new();
    std::fs::write(lab.dir.join("file"), b"x").unwrap();
    let ns = lab.run(
        r#"
        cat /proc/self/mountinfo > "$W/mi.0"
        "$S" "$D/missing" 2> "$W/missing.err"; echo "missing=$?"
        "$S" "$D/file" 2> "$W/file.err"; echo "file=$?"
        "$S" --cleanup "$D/missing" 2> "$W/cleanup.err"; echo "cleanup=$?"
        "$S" --status "$D/missing" > "$W/status.out" 2> "$W/status.err"; echo "status=$?"
        "$S" --status "$D/file" > /dev/null 2> "$W/status-file.err"; echo "status_file=$?"
        cat /proc/self/mountinfo > "$W/mi.1"
        "#,
        None,
    );
    eprintln!("{ns}");
    let missing = lab.dir.join("missing").display().to_string();
    let file = lab.dir.join("file").display().to_string();
    for (key, err, path, why) in [
        ("missing", "missing.err", &missing, "ENOENT"),
        ("file", "file.err", &file, "not a directory"),
        ("cleanup", "cleanup.err", &missing, "ENOENT"),
        ("status", "status.err", &missing, "ENOENT"),
        ("status_file", "status-file.err", &file, "not a directory"),
    ] {
        let want = if key.starts_with("status") { 2 } else { 1 };
        assert_eq!(ns.rc(key), want, "{key}");
        let text = lab.read(err);
        let line = one_line_error(&text);
        assert!(
            line.contains(path.as_str()) && line.contains(why),
            "{key}: {line}"
        );
    }
    assert!(lab.read("status.out").is_empty());
    assert_eq!(
        lab.read("mi.0"),
        lab.read("mi.1"),
        "a failed sealmount mounted something"
    );
}

/// contrib/sealmount@.service passes `systemd-analyze verify` (a temp copy
/// whose ExecStart/ExecStop run the built binary; any diagnostic fails).
#[test]
fn systemd_unit_verifies() {
    let test = "systemd_unit_verifies";
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        skip(test, "systemd-analyze is not installed");
        return;
    }
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/sealmount@.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains("ExecStart=/usr/local/bin/sealmount \"%f\""),
        "{text}"
    );
    assert!(
        text.contains("ExecStop=/usr/local/bin/sealmount --cleanup"),
        "{text}"
    );
    assert!(
        text.contains("Type=oneshot") && text.contains("RemainAfterExit=yes"),
        "{text}"
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("sealmount@.service"),
        text.replace("/usr/local/bin/sealmount", SEALMOUNT),
    )
    .unwrap();
    let esc = Command::new("systemd-escape")
        .args(["-p", "/opt/sealrun/bin"])
        .output()
        .unwrap();
    let instance = format!(
        "sealmount@{}.service",
        String::from_utf8_lossy(&esc.stdout).trim()
    );
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", &instance])
        .env("SYSTEMD_UNIT_PATH", format!("{}:", tmp.path().display()))
        .output()
        .unwrap();
    let diag = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("systemd-analyze verify {instance}: {}\n{diag}", out.status);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{diag}"
    );
    assert!(
        diag.trim().is_empty(),
        "systemd-analyze verify printed diagnostics:\n{diag}"
    );
}
