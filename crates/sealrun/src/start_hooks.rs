//! startContainer hooks, run by sealrun's executor in the container's init.
//!
//! The runtime spec runs them in the container after `start`, right before
//! the user process; runc does so as the last step of its init, under the
//! container's seccomp profile and credentials, and a failing hook stops
//! the container with runc's message on the init's stderr (`error running
//! hook #0: error running hook: signal: bad system call (core dumped),
//! stdout: , stderr: `): once `start` returned, that is the only place
//! left to say it, and `runc run`'s caller sees it there.
//!
//! libcontainer 0.7.0 runs them earlier in its init
//! (`process::init::process::container_init_process`) and, when one fails,
//! ends the init with status 255 and nothing on any stream; its error
//! (`hooks::HookError::Killed`) does not even keep the signal. So `prepare`
//! takes them out of the config libcontainer reads, and the executor runs
//! them here, as runc does, with runc's error.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use libcontainer::oci_spec::runtime::{Hook, Spec};
use serde_json::{json, Value};

/// The hooks, and the state they get on stdin (`pid` is the init's own,
/// filled in when they run).
#[derive(Clone)]
pub struct StartHooks {
    hooks: Vec<Hook>,
    state: Value,
}

impl StartHooks {
    /// The startContainer hooks of `spec` (the bundle's own config), if any.
    pub fn of(spec: &Spec, id: &str, bundle: &Path) -> Option<Self> {
        let hooks = spec.hooks().as_ref()?.start_container().clone()?;
        if hooks.is_empty() {
            return None;
        }
        let state = json!({
            "ociVersion": spec.version(),
            "id": id,
            "status": "created",
            "bundle": bundle,
            "annotations": spec.annotations().clone().unwrap_or_default(),
        });
        Some(Self { hooks, state })
    }

    /// Runs the hooks in order; on the first failure writes runc's message
    /// to stderr and returns it.
    pub fn run(&self) -> Result<(), String> {
        let mut state = self.state.clone();
        state["pid"] = json!(std::process::id());
        let state = state.to_string();
        for (i, hook) in self.hooks.iter().enumerate() {
            if let Err(e) = run_one(hook, &state) {
                let msg = format!("error running hook #{i}: {e}");
                let _ = writeln!(std::io::stderr(), "{msg}");
                return Err(msg);
            }
        }
        Ok(())
    }
}

/// Takes the startContainer hooks out of the config libcontainer reads;
/// whether there were any.
pub fn strip(config: &mut Value) -> bool {
    config
        .get_mut("hooks")
        .and_then(Value::as_object_mut)
        .and_then(|hooks| hooks.remove("startContainer"))
        .is_some()
}

/// One hook as runc's `Command.Run`: the state on stdin, output captured,
/// killed past its timeout.
fn run_one(hook: &Hook, state: &str) -> Result<(), String> {
    let path = hook.path();
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(path);
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    if let Some(env) = hook.env() {
        cmd.env_clear();
        for kv in env {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "fork/exec {}: {}",
                path.display(),
                crate::logfmt::go_error(&e)
            )
        })?;
    // The state goes in and the output comes out on threads of their own,
    // as runc's goroutines do: a hook that does not read its stdin, or
    // writes more than a pipe holds, must not stall the init before the
    // hook has exited (or its timeout has passed).
    let state = state.as_bytes().to_vec();
    let spawned = |child: &mut std::process::Child, what: &str, e: std::io::Error| {
        let _ = child.kill();
        let _ = child.wait();
        format!(
            "cannot start a thread for hook {}'s {what}: {e}",
            path.display()
        )
    };
    if let Some(mut stdin) = child.stdin.take() {
        let feed = std::thread::Builder::new().spawn(move || {
            let _ = stdin.write_all(&state);
        });
        if let Err(e) = feed {
            return Err(spawned(&mut child, "stdin", e));
        }
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let (stdout, stderr) = match (stdout, stderr) {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => return Err(spawned(&mut child, "output", e)),
    };
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| (Instant::now() + Duration::from_secs(t as u64), t));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("wait for hook {}: {e}", path.display())),
        }
        if let Some((at, secs)) = deadline {
            if Instant::now() >= at {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("hook ran past specified timeout of {secs}.0s"));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if status.success() {
        return Ok(());
    }
    // A process the hook left behind may hold its output open: what came
    // within a moment is what the error shows.
    let collect =
        |rx: std::sync::mpsc::Receiver<String>| rx.recv_timeout(OUTPUT_GRACE).unwrap_or_default();
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    Err(format!(
        "error running hook: {}, stdout: {stdout}, stderr: {stderr}",
        describe(status)
    ))
}

/// How long the output of a hook that has exited may take to arrive.
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// Reads `pipe` to its end on a thread; the text arrives on the channel.
fn drain(
    pipe: Option<impl Read + Send + 'static>,
) -> std::io::Result<std::sync::mpsc::Receiver<String>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        let _ = tx.send(text);
    })?;
    Ok(rx)
}

/// A failed wait status as Go's `ExitError` says it: `exit status 1`,
/// `signal: killed`, `signal: bad system call (core dumped)`.
fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let Some(sig) = status.signal() else {
        return status.to_string();
    };
    let core = if status.core_dumped() {
        " (core dumped)"
    } else {
        ""
    };
    format!("signal: {}{core}", signal_name(sig))
}

/// Go's names of signals (its `syscall` tables), which runc prints.
fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "hangup",
        libc::SIGINT => "interrupt",
        libc::SIGQUIT => "quit",
        libc::SIGILL => "illegal instruction",
        libc::SIGTRAP => "trace/breakpoint trap",
        libc::SIGABRT => "aborted",
        libc::SIGBUS => "bus error",
        libc::SIGFPE => "floating point exception",
        libc::SIGKILL => "killed",
        libc::SIGUSR1 => "user defined signal 1",
        libc::SIGSEGV => "segmentation fault",
        libc::SIGUSR2 => "user defined signal 2",
        libc::SIGPIPE => "broken pipe",
        libc::SIGALRM => "alarm clock",
        libc::SIGTERM => "terminated",
        libc::SIGXCPU => "CPU time limit exceeded",
        libc::SIGXFSZ => "file size limit exceeded",
        libc::SIGSYS => "bad system call",
        _ => return format!("signal {sig}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::oci_spec::runtime::HookBuilder;

    fn hook(args: &[&str], timeout: Option<i64>) -> Hook {
        let mut b = HookBuilder::default()
            .path("/bin/sh")
            .args(args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>());
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build().unwrap()
    }

    #[test]
    fn strip_takes_only_start_container_hooks() {
        let mut config = json!({"hooks": {"startContainer": [{"path": "/x"}], "poststart": []}});
        assert!(strip(&mut config));
        assert_eq!(config, json!({"hooks": {"poststart": []}}));
        assert!(!strip(&mut config));
        assert!(!strip(&mut json!({})));
    }

    #[test]
    fn failures_are_reported_in_runcs_words() {
        let state = r#"{"id":"x"}"#;
        assert_eq!(
            run_one(
                &hook(&["sh", "-c", "read s; [ \"$s\" = '{\"id\":\"x\"}' ]"], None),
                state
            ),
            Ok(())
        );
        assert_eq!(
            run_one(
                &hook(&["sh", "-c", "echo out; echo err >&2; exit 3"], None),
                state
            ),
            Err("error running hook: exit status 3, stdout: out\n, stderr: err\n".into())
        );
        assert_eq!(
            run_one(&hook(&["sh", "-c", "kill -SYS $$"], None), state)
                .map_err(|e| e.replace(" (core dumped)", "")),
            Err("error running hook: signal: bad system call, stdout: , stderr: ".into())
        );
        assert_eq!(
            run_one(&hook(&["sh", "-c", "sleep 5"], Some(1)), state),
            Err("hook ran past specified timeout of 1.0s".into())
        );
        // More output than a pipe holds, and no reading of stdin.
        let big = run_one(
            &hook(
                &["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; exit 1"],
                Some(5),
            ),
            &"s".repeat(200_000),
        );
        let big = big.unwrap_err();
        assert!(
            big.starts_with("error running hook: exit status 1, stdout: xxx"),
            "{}",
            &big[..80]
        );
        assert!(big.contains(&format!("stdout: {}, stderr: ", "x".repeat(300_000))));
        let missing = HookBuilder::default()
            .path("/no/such/hook")
            .build()
            .unwrap();
        assert_eq!(
            run_one(&missing, state),
            Err("fork/exec /no/such/hook: no such file or directory".into())
        );
    }
}
