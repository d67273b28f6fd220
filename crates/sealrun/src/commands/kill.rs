//! `sealrun kill ID [SIGNAL] [--all]`

use anyhow::{anyhow, Context, Result};
use libcontainer::signal::Signal;

use super::Runtime;
use crate::cli::Kill;

pub fn kill(runtime: &Runtime, args: Kill) -> Result<()> {
    let id = args.container_id.as_str();
    let signal = parse_signal(&args.signal)?;
    let mut container = runtime.load(id)?;
    container
        .kill(signal, args.all)
        .with_context(|| format!("failed to send signal {} to container {id}", args.signal))
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
