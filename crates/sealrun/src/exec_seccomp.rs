//! The container's seccomp profile for the processes `exec` starts.
//!
//! An exec'd process is not a child of the container's init: the runtime
//! forks it outside and moves it in, so it inherits none of the init's
//! seccomp filter and must load the profile itself, as runc's exec does.
//! libcontainer 0.7.0 does not: `TenantContainerBuilder::adapt_spec_for_tenant`
//! builds the exec'd process's `linux` section without `seccomp`, so every
//! `exec` (`docker exec`, `kubectl exec`) ran unconfined. sealrun's executor
//! loads the container's profile instead, in the exec'd process, after
//! libcontainer has set it up and right before the final exec.
//!
//! Without `no_new_privs`, loading a filter takes CAP_SYS_ADMIN, which
//! the process has already given up by then (libcontainer drops to the
//! process's capabilities before the executor runs; runc loads the filter
//! before it drops them): `exec` lends it (see `lend`).
//!
//! A profile with `SCMP_ACT_NOTIFY` rules hands its listener fd to the
//! seccomp agent at `listenerPath`, as runc does: the executor passes it
//! over a socket pair to sealrun's `exec` process (the agent's socket is a
//! host path, out of the container's reach), which sends it to the agent
//! with the process's state and answers whether that worked. The process
//! waits for that answer before it execs, so no notifying syscall of the
//! workload can come before the agent has the fd.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use libcontainer::container::Container;
use libcontainer::oci_spec::runtime::{
    ContainerProcessStateBuilder, ContainerState, LinuxSeccomp, LinuxSeccompAction, State,
    StateBuilder,
};
use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType};

/// What the executor does in the exec'd process (cloned into it with the
/// executor).
#[derive(Clone)]
pub struct InProcess {
    profile: Arc<LinuxSeccomp>,
    /// The number of sealrun's end of the socket pair, which the process
    /// inherited with the clone: closed first, so that the process sees
    /// end-of-file if sealrun goes away instead of waiting forever.
    peer: Option<RawFd>,
    /// The exec'd process's end of the socket pair to sealrun (notify
    /// profiles only); close-on-exec, above the preserved fds.
    notify: Option<Arc<OwnedFd>>,
}

/// sealrun's side, kept in the `exec` process.
pub struct Plan {
    profile: Arc<LinuxSeccomp>,
    /// sealrun's end of the socket pair (notify profiles only).
    notify: Option<OwnedFd>,
}

/// The container's profile for an exec'd process, if the container has
/// one. `place` moves the exec'd process's socket end where libcontainer's
/// fd cleanup leaves it open.
pub fn plan(
    profile: Option<&LinuxSeccomp>,
    place: impl FnOnce(OwnedFd) -> Result<OwnedFd>,
) -> Result<Option<(Plan, InProcess)>> {
    let Some(profile) = profile else {
        return Ok(None);
    };
    let profile = Arc::new(profile.clone());
    let (ours, theirs) = if libcontainer::seccomp::is_notify(&profile) {
        let (a, b) = socket::socketpair(
            socket::AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context("failed to create the socket pair for the seccomp notify fd")?;
        (Some(a), Some(Arc::new(place(b)?)))
    } else {
        (None, None)
    };
    let peer = ours.as_ref().map(AsRawFd::as_raw_fd);
    Ok(Some((
        Plan {
            profile: profile.clone(),
            notify: ours,
        },
        InProcess {
            profile,
            peer,
            notify: theirs,
        },
    )))
}

impl InProcess {
    /// In the exec'd process, before its final exec: loads the profile,
    /// hands a notify fd to sealrun and waits for the agent to have it.
    pub fn apply(&self) -> Result<(), String> {
        if let Some(peer) = self.peer {
            // Our inherited copy of sealrun's end; not sealrun's own.
            let _ = nix::unistd::close(peer);
        }
        let notify = libcontainer::seccomp::initialize_seccomp(&self.profile)
            .map_err(|e| format!("failed to load the container's seccomp profile: {e}"))?;
        if let Some(fd) = notify {
            // SAFETY: initialize_seccomp returns the listener fd it created
            // and gives up ownership of it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let chan = self
                .notify
                .as_ref()
                .ok_or("seccomp notify fd without a channel to sealrun")?;
            hand_over(chan.as_raw_fd(), &fd)?;
        }
        Ok(())
    }
}

/// Sends the notify fd to sealrun and waits for its one-byte answer: 1 when
/// the agent has it.
fn hand_over(chan: RawFd, fd: &OwnedFd) -> Result<(), String> {
    let fds = [fd.as_raw_fd()];
    socket::sendmsg::<()>(
        chan,
        &[IoSlice::new(b"seccomp-notify-fd")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| format!("failed to pass the seccomp notify fd to sealrun: {e}"))?;
    let mut answer = [0u8; 1];
    match socket::recv(chan, &mut answer, MsgFlags::empty()) {
        Ok(1) if answer[0] == 1 => Ok(()),
        Ok(_) => Err("the seccomp agent did not get the notify fd (see sealrun's error)".into()),
        Err(e) => Err(format!(
            "failed to hear from sealrun about the seccomp agent: {e}"
        )),
    }
}

impl Plan {
    /// Starts serving the exec'd process's notify fd, if the profile has
    /// one, before libcontainer builds the process: libcontainer's
    /// `TenantContainerBuilder::build` only returns once that process has
    /// exec'd, and the process waits for the agent before it execs. A thread
    /// of this process does it, parked in `recvmsg` before `build` forks
    /// anything (so no fork copies a lock it holds); it forwards the fd to
    /// the agent with the state of `container` and the sender's pid (its
    /// SCM_CREDENTIALS, in sealrun's pid namespace) and answers the process.
    /// Join the handle once `build` returned.
    pub fn serve(self, container: &Container) -> Result<Option<Serving>> {
        if self.notify.is_none() {
            return Ok(None);
        }
        let state = StateBuilder::default()
            .version(libcontainer::oci_spec::runtime::VERSION)
            .id(container.id())
            .status(ContainerState::Running)
            .pid(container.pid().map_or(0, |p| p.as_raw()))
            .bundle(container.bundle().to_path_buf())
            .annotations(container.state.annotations.clone().unwrap_or_default())
            .build()?;
        self.serve_state(state)
    }

    /// [`Self::serve`] with the container's state already made.
    fn serve_state(self, state: State) -> Result<Option<Serving>> {
        let Some(chan) = self.notify else {
            return Ok(None);
        };
        let chan = Arc::new(chan);
        let ours = chan.clone();
        socket::setsockopt(&chan, socket::sockopt::PassCred, &true)
            .context("failed to ask for the exec'd process's credentials (SO_PASSCRED)")?;
        let profile = self.profile;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("seccomp-notify".into())
            .spawn(move || {
                let mut buf = [0u8; 64];
                let mut iov = [IoSliceMut::new(&mut buf)];
                let mut space = nix::cmsg_space!([RawFd; 1], libc::ucred);
                let _ = ready_tx.send(());
                let msg = socket::recvmsg::<()>(
                    chan.as_raw_fd(),
                    &mut iov,
                    Some(&mut space),
                    MsgFlags::MSG_CMSG_CLOEXEC,
                )
                .context("failed to receive the seccomp notify fd of the exec'd process")?;
                let (mut received, mut pid) = (None, 0);
                for cmsg in msg
                    .cmsgs()
                    .context("bad control message from the exec'd process")?
                {
                    match cmsg {
                        ControlMessageOwned::ScmRights(fds) => {
                            for fd in fds {
                                // SAFETY: SCM_RIGHTS installed these fds in
                                // this process for us; each is owned once.
                                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                                received.get_or_insert(fd);
                            }
                        }
                        ControlMessageOwned::ScmCredentials(creds) => pid = creds.pid(),
                        _ => {}
                    }
                }
                let Some(notify_fd) = received else {
                    // The process exec'd or died before loading the
                    // profile: its own error says why.
                    return Ok(());
                };
                let sent = send_to_agent(&profile, state, pid, &notify_fd);
                let answer = [u8::from(sent.is_ok())];
                let _ = socket::send(chan.as_raw_fd(), &answer, MsgFlags::empty());
                sent
            })
            .context("failed to start the thread serving the seccomp notify fd")?;
        // Parked (or about to be) in recvmsg, holding nothing.
        let _ = ready_rx.recv();
        Ok(Some(Serving { handle, chan: ours }))
    }
}

/// The thread of [`Plan::serve`].
pub struct Serving {
    handle: std::thread::JoinHandle<Result<()>>,
    chan: Arc<OwnedFd>,
}

impl Serving {
    /// Waits for the hand-over to end: the agent's answer was given, or the
    /// process exec'd or died without asking.
    pub fn finish(self) -> Result<()> {
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the thread serving the seccomp notify fd panicked"))?
    }

    /// When libcontainer failed to start the process: a process it left
    /// behind may still hold its end, so the thread is woken (its recvmsg
    /// sees end-of-file) rather than waited for. Returns the agent's error
    /// if the hand-over had already failed (the cause of the failure).
    pub fn abort(self) -> Result<()> {
        let _ = socket::shutdown(self.chan.as_raw_fd(), socket::Shutdown::Both);
        self.finish()
    }
}

/// runc's hand-over: one message on a fresh connection to `listenerPath`,
/// the container process state as JSON with the fd as SCM_RIGHTS.
fn send_to_agent(profile: &LinuxSeccomp, state: State, pid: i32, fd: &OwnedFd) -> Result<()> {
    let path = profile
        .listener_path()
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
        .context("the seccomp profile uses SCMP_ACT_NOTIFY but names no listenerPath")?;
    let process_state = ContainerProcessStateBuilder::default()
        .version(libcontainer::oci_spec::runtime::VERSION)
        .fds(vec!["seccompFd".to_owned()])
        .pid(pid)
        .metadata(profile.listener_metadata().clone().unwrap_or_default())
        .state(state)
        .build()?;
    let json = serde_json::to_vec(&process_state)?;
    let agent = connect(path).with_context(|| {
        format!(
            "failed to connect with seccomp agent specified in the seccomp profile: dial unix {}",
            path.display()
        )
    })?;
    let fds = [fd.as_fd().as_raw_fd()];
    socket::sendmsg::<()>(
        agent.as_raw_fd(),
        &[IoSlice::new(&json)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .with_context(|| {
        format!(
            "failed to send the seccomp fd to the agent at {}",
            path.display()
        )
    })?;
    Ok(())
}

/// How long an agent may keep sealrun waiting (a connect to a listener
/// whose backlog is full blocks, bounded by SO_SNDTIMEO on Unix sockets).
const AGENT_TIMEOUT: nix::sys::time::TimeVal = nix::sys::time::TimeVal::new(10, 0);

fn connect(path: &Path) -> Result<OwnedFd> {
    let sock = socket::socket(
        socket::AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    socket::setsockopt(&sock, socket::sockopt::SendTimeout, &AGENT_TIMEOUT)?;
    // `@name` is an abstract socket, as runc (Go's net.Dial) reads it.
    let bytes = path.as_os_str().as_encoded_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => socket::UnixAddr::new_abstract(name)?,
        None => socket::UnixAddr::new(path)?,
    };
    socket::connect(sock.as_raw_fd(), &addr)
        .map_err(|e| anyhow::anyhow!("connect: {}", crate::logfmt::go_errno(e)))?;
    Ok(sock)
}

/// Checks a profile before anything is built, in runc's words:
/// - a SCMP_ACT_NOTIFY rule on `write` (runc's refusal), `sendmsg`,
///   `recvmsg` or `recvfrom` is refused: the runtime's process makes these
///   calls (its log, the fd's hand-over and the answer) between loading the
///   filter and the agent getting the fd, and would wait on itself forever;
/// - a notify profile whose `listenerPath` does not exist: libcontainer
///   would only say "failed seccomp listener" once the init is half built.
///   (Abstract socket names, `@...`, cannot be checked without connecting.)
pub fn check_profile(profile: &LinuxSeccomp) -> Result<()> {
    if !libcontainer::seccomp::is_notify(profile) {
        return Ok(());
    }
    for rule in profile.syscalls().iter().flatten() {
        if rule.action() != LinuxSeccompAction::ScmpActNotify {
            continue;
        }
        // write: runc's refusal. The others carry the fd to sealrun and the
        // answer back (here and in libcontainer's init channel).
        if let Some(name) = rule
            .names()
            .iter()
            .find(|n| ["write", "sendmsg", "recvmsg", "recvfrom"].contains(&n.as_str()))
        {
            bail!("SCMP_ACT_NOTIFY cannot be used for the {name} syscall");
        }
    }
    if let Some(path) = profile.listener_path().as_deref() {
        let abstract_name = path.as_os_str().as_encoded_bytes().first() == Some(&b'@');
        if !path.as_os_str().is_empty() && !abstract_name {
            if let Err(err) = std::fs::symlink_metadata(path) {
                let desc = crate::logfmt::go_error(&err);
                bail!(
                    "failed to connect with seccomp agent specified in the seccomp profile: \
                     dial unix {}: connect: {desc}",
                    path.display()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify_profile(listener: &Path) -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": listener,
            "listenerMetadata": "meta",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }))
        .unwrap()
    }

    fn state() -> State {
        StateBuilder::default()
            .version("1.0.2")
            .id("c1")
            .status(ContainerState::Running)
            .pid(42)
            .bundle(std::path::PathBuf::from("/b"))
            .build()
            .unwrap()
    }

    /// The hand-over without a container: the process side sends an fd,
    /// sealrun's thread gives it to the agent with runc's state message
    /// (the sender's pid from its credentials) and answers; without an
    /// agent the answer is no, and the error names the socket in runc's
    /// words.
    #[test]
    fn notify_fd_reaches_the_agent_and_the_process_hears_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let agent = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (ours, theirs) = plan(Some(&notify_profile(&path)), Ok).unwrap().unwrap();
        let serving = ours.serve_state(state()).unwrap().unwrap();
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let chan = theirs.notify.clone().unwrap();
        let sender = std::thread::spawn(move || hand_over(chan.as_raw_fd(), &fd));
        let (conn, _) = agent.accept().unwrap();
        let mut buf = vec![0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let got_fd = msg
            .cmsgs()
            .unwrap()
            .any(|c| matches!(c, ControlMessageOwned::ScmRights(f) if f.len() == 1));
        let len = msg.bytes;
        let json: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
        assert!(got_fd, "the agent got no fd");
        assert_eq!(json["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(json["pid"], std::process::id());
        assert_eq!(json["metadata"], "meta");
        assert_eq!(json["state"]["id"], "c1");
        assert_eq!(sender.join().unwrap(), Ok(()));
        serving.finish().unwrap();

        // No agent any more.
        drop(agent);
        std::fs::remove_file(&path).unwrap();
        let (ours, theirs) = plan(Some(&notify_profile(&path)), Ok).unwrap().unwrap();
        let serving = ours.serve_state(state()).unwrap().unwrap();
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let err = hand_over(theirs.notify.as_ref().unwrap().as_raw_fd(), &fd).unwrap_err();
        assert!(err.contains("did not get the notify fd"), "{err}");
        let err = format!("{:#}", serving.finish().unwrap_err());
        assert!(
            err.contains(
                "failed to connect with seccomp agent specified in the seccomp profile: dial unix"
            ) && err.contains("no such file or directory"),
            "{err}"
        );
    }

    #[test]
    fn notify_on_write_is_refused() {
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/x",
            "syscalls": [{"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]
        }))
        .unwrap();
        let err = check_profile(&profile).unwrap_err().to_string();
        assert_eq!(err, "SCMP_ACT_NOTIFY cannot be used for the write syscall");
        // The hand-over's own calls would wait on themselves too.
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/x",
            "syscalls": [{"names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY"}]
        }))
        .unwrap();
        let err = check_profile(&profile).unwrap_err().to_string();
        assert_eq!(
            err,
            "SCMP_ACT_NOTIFY cannot be used for the sendmsg syscall"
        );
    }
}
