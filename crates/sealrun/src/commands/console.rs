//! A terminal for foreground containers (`run` of a `terminal: true` spec,
//! `exec --tty`).
//!
//! libcontainer 0.7 only hands out a container's pty master through a console
//! socket. In the foreground, sealrun is its own console socket: it listens on
//! a private socket, passes that to libcontainer, receives the master, and
//! relays it to its own stdio (host terminal in raw mode, window size
//! propagated on SIGWINCH), like runc.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg, Termios};

use crate::sys;

/// How long to wait for libcontainer to send the pty master once the
/// container process exists (it is sent before `build` returns).
const MASTER_TIMEOUT: Duration = Duration::from_secs(10);

/// A listening console socket in a private directory under `--root`.
pub struct ConsoleSocket {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn new(root: &Path) -> Result<Self> {
        let dir = root.join(format!(".console-{}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| {
                format!(
                    "failed to create console socket directory {}",
                    dir.display()
                )
            })?;
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("failed to listen on console socket {}", path.display()));
        match listener {
            Ok(listener) => Ok(Self {
                dir,
                path,
                listener,
            }),
            Err(err) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(err)
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master libcontainer sent over the socket.
    pub fn receive_master(&self) -> Result<OwnedFd> {
        self.listener.set_nonblocking(true)?;
        let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(MASTER_TIMEOUT).unwrap_or(PollTimeout::MAX);
        if poll(&mut fds, timeout).context("failed to wait on the console socket")? == 0 {
            bail!("no terminal arrived on the console socket within {MASTER_TIMEOUT:?}");
        }
        let (stream, _) = self
            .listener
            .accept()
            .context("failed to accept on the console socket")?;
        stream.set_nonblocking(false)?;
        sys::recv_fd(stream.as_fd()).context("failed to receive the container's pty master")
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Relays the container's terminal to sealrun's stdio until [`Relay::finish`].
pub struct Relay {
    master: OwnedFd,
    raw_mode: Option<Termios>,
    stop: OwnedFd,
    output: Option<JoinHandle<()>>,
}

impl Relay {
    /// Starts relaying. Signals must already be blocked in the calling thread
    /// (the relay threads inherit that mask and never take signals).
    pub fn start(master: OwnedFd) -> Result<Self> {
        let stdin = io::stdin();
        let raw_mode = if stdin.is_terminal() {
            let original =
                termios::tcgetattr(stdin.as_fd()).context("failed to read terminal attributes")?;
            let mut raw = original.clone();
            termios::cfmakeraw(&mut raw);
            termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
                .context("failed to put the terminal in raw mode")?;
            Some(original)
        } else {
            None
        };
        let (stop_read, stop) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("failed to create a pipe")?;

        let mut to_master = File::from(
            master
                .try_clone()
                .context("failed to duplicate the pty master")?,
        );
        // Ends with sealrun's stdin, or with the process (write error).
        std::thread::spawn(move || {
            let _ = io::copy(&mut io::stdin().lock(), &mut to_master);
        });
        let from_master = File::from(
            master
                .try_clone()
                .context("failed to duplicate the pty master")?,
        );
        let output = std::thread::spawn(move || {
            if let Err(err) = copy_output(from_master, stop_read) {
                tracing::warn!(%err, "failed to relay the container's terminal output");
            }
        });

        let relay = Self {
            master,
            raw_mode,
            stop,
            output: Some(output),
        };
        relay.resize();
        Ok(relay)
    }

    /// Gives the container's terminal the size of sealrun's.
    pub fn resize(&self) {
        let stdin = io::stdin();
        if stdin.is_terminal() {
            if let Err(err) = sys::copy_window_size(stdin.as_fd(), self.master.as_fd()) {
                tracing::debug!(%err, "failed to resize the container's terminal");
            }
        }
    }

    /// Flushes what the container wrote and restores the host terminal.
    pub fn finish(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(output) = self.output.take() {
            let _ = nix::unistd::write(&self.stop, b"x");
            let _ = output.join();
        }
        if let Some(original) = self.raw_mode.take() {
            let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &original);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Copies the pty master to stdout until the terminal closes (EIO: all slave
/// ends are gone) or `stop` becomes readable; then drains what is already
/// buffered without waiting for more.
fn copy_output(mut master: File, stop: OwnedFd) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let mut buf = [0u8; 8192];
    let mut stopping = false;
    loop {
        let (master_ready, stop_ready) = {
            let mut fds = [
                PollFd::new(master.as_fd(), PollFlags::POLLIN),
                PollFd::new(stop.as_fd(), PollFlags::POLLIN),
            ];
            let timeout = if stopping {
                PollTimeout::ZERO
            } else {
                PollTimeout::NONE
            };
            poll(&mut fds, timeout)?;
            let ready = |fd: &PollFd<'_>| {
                fd.revents().is_some_and(|r| {
                    r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                })
            };
            (ready(&fds[0]), ready(&fds[1]))
        };
        if master_ready {
            match master.read(&mut buf) {
                Ok(0) => return out.flush(),
                Ok(n) => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                    continue;
                }
                Err(err) if err.raw_os_error() == Some(libc::EIO) => return out.flush(),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
        if stopping {
            return out.flush();
        }
        stopping = stop_ready;
    }
}
