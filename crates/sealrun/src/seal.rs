//! Sealing hook: protects the runtime binary against CVE-2019-5736-class
//! overwrites from inside the container before any container process exists.
//!
//! `main` calls [`protect`] once, right after argument parsing and logging
//! setup, and keeps the returned [`Protection`] alive until the process exits.
//! The only thing the rest of sealrun consumes is [`Protection::dmz`]: when
//! set, the container's final exec goes through that sealed executable (see
//! `executor.rs`) instead of exec'ing the workload directly.
//!
//! The modes are placeholders until they are wired to the `exeseal` library;
//! only `none` works today.

use std::fmt;
use std::os::fd::OwnedFd;

use anyhow::bail;
use clap::ValueEnum;

/// How the runtime binary is sealed (`--seal`, env `SEALRUN_SEAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SealMode {
    /// Pick the best strategy this host supports.
    #[default]
    Auto,
    /// Strongest available protection; fail rather than fall back.
    Hardened,
    /// Re-exec from a read-only overlayfs view of the binary (zero copy).
    Overlayfs,
    /// Re-exec from a sealed memfd copy.
    Memfd,
    /// Re-exec from an unlinked, read-only O_TMPFILE copy.
    Tmpfile,
    /// Exec the workload through a small sealed dmz shim.
    Dmz,
    /// No protection at all (testing only).
    None,
}

impl fmt::Display for SealMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self
            .to_possible_value()
            .expect("SealMode has no skipped variants");
        f.write_str(value.get_name())
    }
}

/// Output format of `sealrun seal-probe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ProbeFormat {
    #[default]
    Text,
    Json,
}

/// What [`protect`] set up. Must stay alive until the process exits.
#[derive(Debug, Default)]
pub struct Protection {
    /// A sealed dmz executable (opened O_CLOEXEC). When set, the container's
    /// final exec is `execveat(dmz, "", [resolved_program, args..], envp,
    /// AT_EMPTY_PATH)` and the shim execs its own argv[0].
    pub dmz: Option<OwnedFd>,
}

/// Protects the running runtime binary. Does nothing unless the command
/// starts a container process (create, run, exec).
pub fn protect(
    mode: SealMode,
    command_starts_container_process: bool,
) -> anyhow::Result<Protection> {
    if !command_starts_container_process {
        return Ok(Protection::default());
    }
    match mode {
        SealMode::None => {
            tracing::warn!(
                "sealing disabled (--seal none): runtime binary is exposed to the container"
            );
            Ok(Protection::default())
        }
        other => bail!("seal mode {other} not wired yet"),
    }
}

/// `sealrun seal-probe`: reports what `mode` would do on this host.
pub fn probe(mode: SealMode, format: ProbeFormat) -> anyhow::Result<()> {
    let _ = format;
    bail!("seal-probe: seal mode {mode} not wired yet")
}
