//! The cause of a failure inside the container's init, carried back to the
//! `sealrun` process that reports it.
//!
//! libcontainer 0.7.0 sends the main process only the top of the init's
//! error (`exec_failed(e.to_string())`, `container_intermediate_process`):
//! "failed to prepare rootfs", "failed to unix syscall". Which mount, which
//! path and which errno were logged by the init as error events just before,
//! and reached only a `--debug --log` file. So sealrun's subscriber has one
//! more layer: error events of any process other than sealrun's own (the
//! intermediate and init processes libcontainer clones, which keep the
//! subscriber) are also written, one line each, into a pipe the main process
//! reads when the create or exec fails ([`take`]), and [`explain`] turns
//! them into the one-line cause appended to the error.
//!
//! The write end is close-on-exec, and the init closes it itself before it
//! waits for `start` (`SealExecutor::validate`): no container process keeps
//! it.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::OnceLock;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

use crate::logfmt::Fields;

/// The pipe (read end, write end) and the pid of the process that made it.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    owner: u32,
}

static PIPE: OnceLock<Pipe> = OnceLock::new();

/// Makes the pipe; from now on, processes cloned from this one report their
/// error events into it. Both ends are non-blocking: a full pipe drops
/// events, it never stalls an init.
pub fn arm() -> std::io::Result<()> {
    let (read, write) = rustix::pipe::pipe_with(
        rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
    )
    .map_err(|e| {
        std::io::Error::new(
            std::io::Error::from(e).kind(),
            format!("pipe2 for the init's errors: {e}"),
        )
    })?;
    let _ = PIPE.set(Pipe {
        read,
        write,
        owner: std::process::id(),
    });
    Ok(())
}

/// In a cloned process: closes its copies of both ends (the init calls
/// this before it waits for `start`) and stops reporting there.
pub fn disarm_in_child() {
    let Some(pipe) = PIPE.get() else {
        return;
    };
    let pid = std::process::id();
    if pipe.owner == pid || CLOSED_IN.set(pid).is_err() {
        return;
    }
    // The static `PIPE` owns these descriptors and is never dropped, so
    // nothing closes them a second time; CLOSED_IN keeps the layer from
    // writing to the number afterwards, and `take` runs only in the owner.
    crate::sys::close_static_fd(pipe.write.as_raw_fd());
    crate::sys::close_static_fd(pipe.read.as_raw_fd());
}

/// The cloned process that closed its write end (never written to there).
static CLOSED_IN: OnceLock<u32> = OnceLock::new();

/// The error events the cloned processes reported, oldest first.
pub fn take() -> Vec<String> {
    let Some(pipe) = PIPE.get().filter(|p| p.owner == std::process::id()) else {
        return Vec::new();
    };
    let mut bytes = Vec::new();
    let mut reader = std::fs::File::from(match pipe.read.try_clone() {
        Ok(fd) => fd,
        Err(_) => return Vec::new(),
    });
    // Non-blocking: stops at EAGAIN once the pipe is empty.
    let _ = reader.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The tracing layer that writes error events of cloned processes.
pub struct Layer;

impl<S: Subscriber> tracing_subscriber::Layer<S> for Layer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(pipe) = PIPE.get() else {
            return;
        };
        let pid = std::process::id();
        if pipe.owner == pid || CLOSED_IN.get() == Some(&pid) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = fields.message;
        for (key, value) in fields.others {
            line.push_str(&format!(" {key}={value}"));
        }
        let mut line = line.replace('\n', " ");
        // One write of at most PIPE_BUF bytes is atomic: lines never mix.
        // (str::floor_char_boundary is newer than the crate's MSRV.)
        let mut end = line.len().min(4000);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('\n');
        let _ = rustix::io::write(pipe.write.as_fd(), line.as_bytes());
    }
}

/// The cause in the init's error events, in one line: the most specific
/// failure (which mount, which path) and the errno, or `None` when they say
/// nothing beyond what the error already says. `top` is libcontainer's
/// message; `cwd` the process's working directory from the config.
pub fn explain(events: &[String], top: &str, cwd: Option<&str>) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut errno: Option<String> = None;
    for event in events {
        // The init repeats the error it sends: nothing new.
        if event.starts_with("failed to initialize container process") {
            continue;
        }
        // The fields are Debug'd errors: their `Other("...")` texts and
        // their errno say what the message does not.
        let (message, fields) = match event.find(" err=").or_else(|| event.find(" e=")) {
            Some(at) => event.split_at(at),
            None => (event.as_str(), ""),
        };
        if let Some(found) = os_error(event) {
            errno = Some(found);
        }
        let mut message = simplify_mount(message.trim());
        if message.contains("chdir") {
            if let Some(cwd) = cwd {
                message = format!("{message} to {cwd:?} (process.cwd)");
            }
        }
        // What the error already says is not said again.
        let mut said: Vec<String> = Vec::new();
        if !message.is_empty() && !top.contains(&message) {
            said.push(message);
        }
        said.extend(other_texts(fields));
        let said = said.join(": ");
        if !said.is_empty() && !parts.contains(&said) {
            parts.push(said);
        }
    }
    if parts.is_empty() && errno.is_none() {
        return None;
    }
    let mut cause = parts.join(": ");
    if let Some(errno) = errno {
        if !cause.is_empty() {
            cause.push_str(": ");
        }
        cause.push_str(&errno);
    }
    Some(cause)
}

/// `failed to mount Mount { destination: "/x", typ: Some("tmpfs"), source:
/// Some("tmpfs"), .. }: why` (libcontainer's Debug of the spec mount) as
/// `failed to mount tmpfs on /x (source tmpfs): why`.
fn simplify_mount(message: &str) -> String {
    let Some(start) = message.find("Mount { destination: ") else {
        return message.to_owned();
    };
    let Some(len) = message[start..].find(" }") else {
        return message.to_owned();
    };
    let body = &message[start..start + len];
    let quoted = |key: &str| {
        let at = body.find(key)? + key.len();
        let rest = &body[at..];
        let end = rest.find('"')?;
        Some(rest[..end].to_owned())
    };
    let dest = quoted("destination: \"").unwrap_or_default();
    let typ = quoted("typ: Some(\"").unwrap_or_else(|| "bind".into());
    let source = quoted("source: Some(\"");
    let described = match source {
        Some(source) => format!("{typ} on {dest} (source {source})"),
        None => format!("{typ} on {dest}"),
    };
    format!(
        "{}{described}{}",
        &message[..start],
        &message[start + len + 2..]
    )
}

/// The last OS error in an event: `Os { code: 20, .. message: "Not a
/// directory" }` (a Debug'd io::Error), `Sys(ENOENT)` or `e=ENOENT` (nix's
/// Errno), as "Not a directory (ENOTDIR)".
fn os_error(event: &str) -> Option<String> {
    if let Some(at) = event.rfind("Os { code: ") {
        let rest = &event[at + "Os { code: ".len()..];
        let code: i32 = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        return Some(format!(
            "{} ({})",
            std::io::Error::from_raw_os_error(code)
                .to_string()
                .split(" (os error")
                .next()
                .unwrap_or_default(),
            exeseal::sys::errno_name(code)
        ));
    }
    // nix's Errno, Debug'd or displayed by name: `e=ENOENT`,
    // `Nix(EINVAL)`, `Sys(EPERM)`; the last one is the innermost.
    let (name, code) = event
        .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
        .filter(|word| word.len() > 2 && word.starts_with('E'))
        .filter_map(|word| Some((word, errno_code(word)?)))
        .next_back()?;
    Some(format!(
        "{} ({name})",
        std::io::Error::from_raw_os_error(code)
            .to_string()
            .split(" (os error")
            .next()
            .unwrap_or_default()
    ))
}

/// The texts of `Other("...")` variants in Debug'd errors (libcontainer's
/// errors without an errno, e.g. "filesystem proc must be mounted on
/// ordinary directory").
fn other_texts(fields: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut rest = fields;
    while let Some(at) = rest.find("Other(\"") {
        rest = &rest[at + "Other(\"".len()..];
        // The text is Debug-escaped: quotes inside are \".
        let mut end = None;
        let bytes = rest.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    end = Some(i);
                    break;
                }
                _ => i += 1,
            }
        }
        let Some(end) = end else { break };
        texts.push(rest[..end].replace("\\\"", "\""));
        rest = &rest[end..];
    }
    texts
}

/// The number of an errno name (the ones libcontainer's init meets).
fn errno_code(name: &str) -> Option<i32> {
    (1..134).find(|&code| exeseal::sys::errno_name(code) == name)
}

/// libcontainer's error for a failure inside the container's init, with the
/// cause its processes reported appended, and its doubled wording
/// ("exec process failed with error error in executing process : ") said
/// once. Other errors pass through unchanged. `cwd` is the process's
/// working directory from the config, for a failed chdir.
pub fn with_cause<E>(err: E, cwd: Option<&str>) -> anyhow::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let text = err.to_string();
    // The init's error, as libcontainer words it when it arrives where the
    // main process waits for "ready", or for a hook request (when the spec
    // has hooks: what docker's bundles have).
    const DOUBLED: &str = "exec process failed with error error in executing process : ";
    const UNEXPECTED: &str = "received unexpected message: ExecFailed(\"";
    let (before, init_error) = if let Some(at) = text.find(DOUBLED) {
        (&text[..at], text[at + DOUBLED.len()..].to_owned())
    } else if let Some(at) = text.find(UNEXPECTED) {
        let rest = &text[at + UNEXPECTED.len()..];
        let end = rest.find("\")").unwrap_or(rest.len());
        (&text[..at], rest[..end].replace("\\\"", "\""))
    } else {
        return anyhow::Error::new(err);
    };
    let top = format!("{before}container init failed: {init_error}");
    match explain(&take(), &top, cwd) {
        Some(cause) => anyhow::anyhow!("{top}: {cause}"),
        None => anyhow::anyhow!("{top}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_failure_names_the_mount_and_the_errno() {
        let events = vec![
            r#"failed to mount Mount { destination: "/bin/busybox/x", typ: Some("tmpfs"), source: Some("tmpfs"), options: None, uid_mappings: None, gid_mappings: None }: openat2 subpath failed"#.to_owned(),
            r#"failed to prepare rootfs err=Mount(Pathrs(Error(RawOsError { operation: "openat2 subpath", source: Openat2 { path: "/bin/busybox/x", source: Os { code: 20, kind: NotADirectory, message: "Not a directory" } } })))"#.to_owned(),
            "failed to initialize container process: failed to prepare rootfs".to_owned(),
        ];
        assert_eq!(
            explain(&events, "failed to prepare rootfs", None).unwrap(),
            "failed to mount tmpfs on /bin/busybox/x (source tmpfs): openat2 subpath failed: Not a directory (ENOTDIR)"
        );
    }

    #[test]
    fn a_chdir_failure_names_the_cwd_and_the_errno() {
        let events = vec!["failed to chdir e=ENOENT".to_owned()];
        assert_eq!(
            explain(&events, "failed to unix syscall", Some("/no/such")).unwrap(),
            "failed to chdir to \"/no/such\" (process.cwd): No such file or directory (ENOENT)"
        );
    }

    #[test]
    fn other_texts_and_nix_errnos_are_kept() {
        let events = vec![
            r#"failed to prepare rootfs err=Mount(Other("filesystem proc must be mounted on ordinary directory"))"#.to_owned(),
        ];
        assert_eq!(
            explain(&events, "failed to prepare rootfs", None).unwrap(),
            "filesystem proc must be mounted on ordinary directory"
        );
        let events = vec![
            r#"failed to mount Mount { destination: "/etc", typ: Some("bind"), source: Some("/x"), options: None }: syscall"#.to_owned(),
            "failed to prepare rootfs err=Mount(Syscall(Nix(EINVAL)))".to_owned(),
        ];
        assert_eq!(
            explain(&events, "failed to prepare rootfs", None).unwrap(),
            "failed to mount bind on /etc (source /x): syscall: Invalid argument (EINVAL)"
        );
    }

    #[test]
    fn both_wordings_of_an_init_failure_are_recognised() {
        #[derive(Debug)]
        struct E(&'static str);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {}
        for text in [
            "failed to create container: exec process failed with error error in executing process : failed to prepare rootfs",
            "failed to create container: received unexpected message: ExecFailed(\"failed to prepare rootfs\"), expected: HookRequest",
        ] {
            assert_eq!(
                with_cause(E(text), None).to_string(),
                "failed to create container: container init failed: failed to prepare rootfs"
            );
        }
        assert_eq!(with_cause(E("other"), None).to_string(), "other");
    }

    #[test]
    fn nothing_new_is_none() {
        let events =
            vec!["failed to initialize container process: failed to prepare rootfs".to_owned()];
        assert_eq!(explain(&events, "failed to prepare rootfs", None), None);
        assert_eq!(explain(&[], "x", None), None);
    }
}
