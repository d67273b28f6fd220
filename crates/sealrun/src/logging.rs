//! `tracing` setup from the runc-style global options.
//!
//! * `--log FILE` appends to FILE, otherwise logs go to stderr;
//! * `--log-format text|json` (default text), in logrus' formats as runc
//!   writes them (`logfmt`);
//! * `--debug` logs everything at debug level;
//! * `SEALRUN_LOG` (level and target directives such as `debug` or
//!   `warn,sealrun=trace`, as `tracing_subscriber::filter::Targets` reads
//!   them) overrides the level selection.
//!
//! Without `--debug`, warnings and errors are logged. On stderr, libcontainer's
//! and libcgroups' own error events are left out: every failure comes back to
//! `main` as an error chain that is printed once, on one line.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use liboci_cli::GlobalOpts;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::logfmt::RuncFormat;

/// Environment variable with level/target directives overriding the level.
pub const LOG_FILTER_ENV: &str = "SEALRUN_LOG";

/// Where log events end up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Stderr,
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

pub fn init(opts: &GlobalOpts) -> Result<Destination> {
    let format = match opts.log_format.as_deref() {
        None | Some("text") => Format::Text,
        Some("json") => Format::Json,
        Some(other) => bail!("invalid --log-format '{other}' (expected 'text' or 'json')"),
    };
    let file = opts.log.as_deref().map(open_log_file).transpose()?;
    let destination = if file.is_some() {
        Destination::File
    } else {
        Destination::Stderr
    };

    let filter = match std::env::var(LOG_FILTER_ENV) {
        Ok(directive) => directive
            .parse::<Targets>()
            .with_context(|| format!("invalid {LOG_FILTER_ENV}='{directive}'"))?,
        Err(_) if opts.debug => Targets::new().with_default(LevelFilter::DEBUG),
        Err(_) if destination == Destination::Stderr => Targets::new()
            .with_default(LevelFilter::WARN)
            .with_target("libcontainer", LevelFilter::OFF)
            .with_target("libcgroups", LevelFilter::OFF),
        Err(_) => Targets::new().with_default(LevelFilter::WARN),
    };

    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .event_format(RuncFormat {
            json: format == Format::Json,
        });
    // Error events of the processes libcontainer clones also go to the main
    // process, whatever the log level (see `init_errors`).
    let registry = tracing_subscriber::registry()
        .with(crate::init_errors::Layer.with_filter(LevelFilter::ERROR));
    let result = match file {
        Some(file) => registry
            .with(layer.with_writer(Mutex::new(file)).with_filter(filter))
            .try_init(),
        None => registry
            .with(layer.with_writer(std::io::stderr).with_filter(filter))
            .try_init(),
    };
    result.map_err(|err| anyhow::anyhow!("failed to install the log subscriber: {err}"))?;
    Ok(destination)
}

fn open_log_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("failed to open log file {}", path.display()))
}
