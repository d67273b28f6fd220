//! Waiting for a foreground container process, runc style: sealrun blocks
//! all signals, forwards them to the process, reaps children, and reports the
//! process' exit status (128 + signal number when killed by a signal).

use anyhow::{Context, Result};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Blocks every signal in the calling thread so they queue up for
/// [`wait_forwarding_signals`]. Call this after the container process has
/// been cloned (so it does not inherit the mask) and before it can exit.
pub fn block_signals() -> Result<SigSet> {
    let all = SigSet::all();
    all.thread_block()
        .context("failed to block signals (pthread_sigmask)")?;
    Ok(all)
}

/// Waits until `pid` exits, forwarding every signal sealrun receives to it
/// (SIGWINCH calls `on_resize` instead). Returns its exit code.
pub fn wait_forwarding_signals(
    pid: Pid,
    blocked: &SigSet,
    mut on_resize: impl FnMut(),
) -> Result<u8> {
    // The process may have exited before its SIGCHLD could be queued.
    if let Some(code) = reap(pid)? {
        return Ok(code);
    }
    loop {
        let signal = blocked
            .wait()
            .context("failed to wait for signals (sigwait)")?;
        match signal {
            Signal::SIGCHLD => {
                if let Some(code) = reap(pid)? {
                    return Ok(code);
                }
            }
            Signal::SIGWINCH => on_resize(),
            other => {
                tracing::debug!(signal = ?other, %pid, "forwarding signal to container process");
                if let Err(err) = kill(pid, other) {
                    tracing::warn!(signal = ?other, %pid, %err, "failed to forward signal");
                }
            }
        }
    }
}

/// Reaps every exited child; returns `pid`'s exit code once it is among them.
fn reap(pid: Pid) -> Result<Option<u8>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(child, code)) if child == pid => return Ok(Some(code as u8)),
            Ok(WaitStatus::Signaled(child, signal, _)) if child == pid => {
                return Ok(Some(128u8.wrapping_add(signal as u8)))
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => {
                anyhow::bail!("container process {pid} is not a child of sealrun (already reaped?)")
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(err).context("waitpid failed"),
        }
    }
}
