//! `sealrun kill ID [SIGNAL] [--all]`

use anyhow::{anyhow, Context, Result};
use libcontainer::error::LibcontainerError;
use libcontainer::signal::Signal;

use super::Runtime;
use crate::cli::Kill;

pub fn kill(runtime: &Runtime, args: Kill) -> Result<()> {
    let id = args.container_id.as_str();
    let mut container = runtime.load(id)?;
    if args.signal.trim() == "0" {
        return probe(&mut container, args.all);
    }
    let signal = parse_signal(&args.signal)?;
    match container.kill(signal, args.all) {
        Ok(()) => Ok(()),
        // libcontainer records the new status after signalling. When that
        // write fails because the state is gone, the container was deleted
        // meanwhile (typically by the foreground `run` reaping it after this
        // very signal): the signal was delivered.
        Err(LibcontainerError::State(err)) if !container.root.join("state.json").exists() => {
            tracing::debug!(id, %err, "container deleted while it was being signalled");
            Ok(())
        }
        Err(err) => Err(err)
            .with_context(|| format!("failed to send signal {} to container {id}", args.signal)),
    }
}

/// Signal 0 (libcontainer's `Signal` has none): checks that the container's
/// init exists, as kill(2) does; with `--all` (every process of the
/// container, possibly none) there is nothing to check, as in runc.
fn probe(container: &mut libcontainer::container::Container, all: bool) -> Result<()> {
    if all {
        return Ok(());
    }
    let id = container.id().to_owned();
    let pid = container
        .pid()
        .with_context(|| format!("container {id} has no init pid"))?;
    nix::sys::signal::kill(pid, None)
        .with_context(|| format!("container {id} is not running (init pid {pid})"))
}

/// Accepts `KILL`, `SIGKILL`, `kill` and `9`.
pub fn parse_signal(value: &str) -> Result<Signal> {
    let value = value.trim();
    let parsed = match value.parse::<i32>() {
        Ok(number) => Signal::try_from(number).ok(),
        Err(_) => Signal::try_from(value).ok(),
    };
    parsed.ok_or_else(|| {
        anyhow!("invalid signal '{value}' (use a name like KILL or SIGTERM, or a number)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        for ok in ["KILL", "SIGKILL", "kill", "9", "TERM", "15", "SIGUSR1"] {
            assert!(parse_signal(ok).is_ok(), "{ok}");
        }
        for bad in ["", "NOPE", "SIGNOPE", "0", "99", "-9"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
