//! Sealing hook: protects the runtime binary against CVE-2019-5736-class
//! overwrites from inside the container before any container process exists.
//!
//! `main` calls [`protect`] once, right after argument parsing and logging
//! setup, and keeps the returned [`Protection`] alive until the process exits.
//! Modes that re-execute (overlayfs, memfd, tmpfile, hardened, auto) do so
//! inside `protect`: the process that continues past it runs from the sealed
//! handle. The rest of sealrun only consumes [`Protection::dmz`]: when set,
//! the container's final exec goes through that sealed shim (`executor.rs`).
//!
//! Every decision is logged at debug level as `seal: using <mode> ...` or
//! `seal: skipping <mode>: <why>` — stable lines tests and operators grep.

use std::fmt;
use std::os::fd::OwnedFd;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use exeseal::{Probe, Sealer, Strategy};

use crate::dmz_gate::Gate;
use libcontainer::oci_spec::runtime::{Capability, LinuxNamespaceType, LinuxSeccompAction, Spec};

/// How the runtime binary is sealed (`--seal`, env `SEALRUN_SEAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SealMode {
    /// Already sealed → nothing; else overlayfs; else dmz when safe; else
    /// memfd; else temp files; else refuse.
    #[default]
    Auto,
    /// Private copies only (huge-page tmpfs, memfd, then temp files): no
    /// image shared with the host binary, so a page-cache-write kernel bug
    /// stays in one call.
    Hardened,
    /// Re-exec from a private read-only overlayfs view of the binary (zero copy).
    Overlayfs,
    /// Re-exec from a copy in huge pages on a private read-only tmpfs.
    Hugetmpfs,
    /// Re-exec from a sealed memfd copy.
    Memfd,
    /// Re-exec from an unlinked O_TMPFILE (or unlinked temp file) copy.
    Tmpfile,
    /// Exec the workload through a small sealed dmz shim; runtime processes
    /// that enter the container are non-dumpable until then.
    Dmz,
    /// No protection at all (benchmark baseline and exploit tests only).
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
    /// With dmz for an exec: the container record's lock, held shared, for
    /// the runtime's stages to inherit (see `dmz_gate`).
    pub gate: Option<OwnedFd>,
}

/// The sealer for a mode that re-executes from a sealed copy of ourselves.
/// exeseal's default sealer plus its fault-injection knobs (`EXESEAL_FAIL`,
/// `EXESEAL_OVERLAY_LAYERS`): tests make strategies fail the way a host
/// without them would. They can only push sealing further down the order.
fn base() -> Result<Sealer> {
    Ok(Sealer::default().with_env_faults()?)
}

/// The first sealing step of a mode: the whole of it for modes that only
/// re-execute from a sealed copy, the zero-copy step for `auto`; none for
/// `none` and `dmz`.
fn first_sealer(mode: SealMode) -> Result<Option<Sealer>> {
    let only = |s: &[Strategy]| Ok(Some(base()?.only(s)));
    match mode {
        SealMode::Overlayfs => only(&[Strategy::Overlayfs]),
        SealMode::Hugetmpfs => only(&[Strategy::Hugetmpfs]),
        SealMode::Memfd => only(&[Strategy::Memfd]),
        SealMode::Tmpfile => only(&[Strategy::Tmpfile, Strategy::UnlinkedTemp]),
        SealMode::Hardened => only(&Strategy::PRIVATE_COPIES),
        SealMode::Auto => auto_zero_copy().map(Some),
        SealMode::Dmz | SealMode::None => Ok(None),
    }
}

/// The first sealing step, taken by [`early`] before clap ran.
pub struct Early {
    mode: SealMode,
    outcome: std::result::Result<exeseal::Protection, exeseal::Error>,
    /// The first image was sealrun's ELF entry point (`sys::entry`).
    at_entry: bool,
}

/// Called first thing in `main`. For a command line that
/// `early::seal_mode` can read without clap, takes the mode's first sealing
/// step right away: in a process not yet sealed, success means re-executing
/// from the sealed handle, so this only returns in the sealed image (with
/// the verified protection), on failure, or when it cannot tell the mode.
pub fn early() -> Option<Early> {
    let marker = crate::sys::entry::MARKER_ENV;
    // Never passed on to anything we start. Only with a re-exec token (which
    // exeseal then verifies) does it mean anything: a caller could set it.
    let at_entry =
        std::env::var_os(marker).is_some() && std::env::var_os(exeseal::REEXEC_ENV).is_some();
    std::env::remove_var(marker);
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mode = crate::early::seal_mode(&args, std::env::var_os("SEALRUN_SEAL").as_deref())?;
    // A bad fault-injection knob is reported by the normal path.
    let sealer = first_sealer(mode).ok()??;
    Some(Early {
        mode,
        outcome: sealer.ensure_sealed(),
        at_entry,
    })
}

/// Protects the running runtime binary. Does nothing unless the command
/// starts a container process (create, run, exec). `gate` judges whether
/// dmz would protect this start (`dmz_gate::judge`); only dmz decisions
/// need it. `early` is what [`early`] did before the command line was parsed.
pub fn protect(
    mode: SealMode,
    starts_container_process: bool,
    gate: impl FnOnce() -> Result<Gate>,
    early: Option<Early>,
) -> Result<Protection> {
    if !starts_container_process {
        return Ok(Protection::default());
    }
    let first = match early {
        Some(e) if e.mode == mode => {
            if e.at_entry {
                tracing::debug!("seal: sealed at the ELF entry point, before libc start-up");
            }
            Some(e.outcome)
        }
        // The early parse only returns modes clap agrees with (see
        // early.rs tests); sealed for another policy is not sealed for this one.
        Some(e) => bail!(
            "--seal {mode}: sealed for --seal {} before the command line was parsed; refusing to go on",
            e.mode
        ),
        None => first_sealer(mode)?.map(|s| s.ensure_sealed()),
    };
    match (mode, first) {
        (SealMode::None, _) => {
            tracing::warn!("seal: using none: sealing disabled (--seal none), the runtime binary is exposed to the container");
            Ok(Protection::default())
        }
        (SealMode::Dmz, _) => match gate()? {
            Gate::Closed(why) => bail!(
                "--seal dmz refused: {why}; use --seal auto, overlayfs or memfd for this container"
            ),
            Gate::Open(lock) => dmz(lock),
        },
        (SealMode::Auto, Some(zero_copy)) => auto(zero_copy, gate),
        (_, Some(outcome)) => {
            let p = outcome.with_context(|| format!("--seal {mode}"))?;
            log_using(p.name(), p.bytes_copied());
            Ok(Protection::default())
        }
        (_, None) => unreachable!("first_sealer has a sealer for every other mode"),
    }
}

fn log_using(mode: &str, bytes_copied: u64) {
    tracing::debug!(
        mode,
        bytes_copied,
        "seal: using {mode} ({bytes_copied} bytes copied)"
    );
}

/// `auto`'s first step: anything already sealed, else a zero-copy overlay.
/// It runs first again after a copy's re-exec, so it accepts those too.
fn auto_zero_copy() -> Result<Sealer> {
    Ok(base()?
        .only(&Strategy::ZERO_COPY)
        .accept_existing(true)
        .accept_reexec_from(&Strategy::PRIVATE_COPIES))
}

/// already sealed → overlayfs (direct, then in a user namespace) → dmz when
/// safe → memfd → temp files → refuse.
fn auto(
    zero_copy: std::result::Result<exeseal::Protection, exeseal::Error>,
    gate: impl FnOnce() -> Result<Gate>,
) -> Result<Protection> {
    // Each skipped mode's reason, for the final error if nothing works.
    let mut reasons: Vec<(Strategy, exeseal::Failure)> = match zero_copy {
        Ok(p) => {
            log_using(p.name(), p.bytes_copied());
            return Ok(Protection::default());
        }
        // Only "overlayfs did not work here" may fall through; a failed
        // re-exec or a bad token must stop us.
        Err(exeseal::Error::AllFailed(f)) => f,
        Err(e) => return Err(e).context("--seal auto"),
    };
    for (s, why) in &reasons {
        tracing::debug!("seal: skipping {s}: {why}");
    }
    let dmz_skipped = match gate() {
        Ok(Gate::Open(lock)) => return dmz(lock),
        Ok(Gate::Closed(why)) => why,
        Err(e) => format!("cannot judge the container: {e:#}"),
    };
    tracing::debug!("seal: skipping dmz: {dmz_skipped}");
    match base()?.only(&Strategy::PRIVATE_COPIES).ensure_sealed() {
        Ok(p) => {
            log_using(p.name(), p.bytes_copied());
            Ok(Protection::default())
        }
        Err(exeseal::Error::AllFailed(f)) => {
            reasons.extend(f);
            let list: Vec<String> = reasons.iter().map(|(s, e)| format!("{s}: {e}")).collect();
            bail!(
                "--seal auto: no protection available, refusing to run unprotected: {}; dmz: {dmz_skipped}",
                list.join("; ")
            )
        }
        Err(e) => Err(e).context("--seal auto"),
    }
}

fn dmz(gate: Option<OwnedFd>) -> Result<Protection> {
    // Non-dumpable: /proc/<pid>/exe of our processes that enter the
    // container (still the runtime binary until the final exec) is then only
    // reachable with CAP_SYS_PTRACE over the initial user namespace, which
    // the gate made sure no process of the container has. The flag is
    // inherited by the container's init and reset by its final execve.
    crate::sys::set_non_dumpable().context("seal: dmz: prctl(PR_SET_DUMPABLE, 0)")?;
    let fd = exeseal::dmz::sealed().context("seal: dmz: sealing the dmz shim")?;
    log_using("dmz", exeseal::dmz::elf().len() as u64);
    Ok(Protection {
        dmz: Some(fd),
        gate,
    })
}

/// Why dmz would not protect this container, if it would not.
///
/// With dmz the runtime binary is not copied; what keeps the container from
/// /proc/<runtime pid>/exe is non-dumpability, which CAP_SYS_PTRACE
/// overrides — unless the container lives in its own user namespace (its
/// capabilities then do not reach our processes; Linux >= 4.10 checks the
/// mm's user namespace).
pub fn dmz_unsafe_reason(spec: &Spec) -> Option<String> {
    // A credential change in a container process (setuid to the workload's
    // user) resets dumpability to fs.suid_dumpable; at 1 ("debug") any
    // process of the same uid could then open /proc/<pid>/exe.
    if std::fs::read_to_string("/proc/sys/fs/suid_dumpable").is_ok_and(|v| v.trim() == "1") {
        return Some("fs.suid_dumpable is 1, so container processes become dumpable when they change credentials".into());
    }
    if let Some(why) = seccomp_blocks_shim(spec) {
        return Some(why);
    }
    ptrace_reason(spec)
}

/// Why the process of `spec` could reach non-dumpable runtime processes of
/// the host (CAP_SYS_PTRACE in any of its sets, or no sets at all, and no
/// user namespace of its own), if it could.
pub fn ptrace_reason(spec: &Spec) -> Option<String> {
    let userns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User));
    if userns {
        return None;
    }
    let Some(caps) = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
    else {
        return Some("the process has no capability sets, so it keeps all of root's (CAP_SYS_PTRACE included) and has no user namespace".into());
    };
    let sets = [
        ("bounding", caps.bounding()),
        ("inheritable", caps.inheritable()),
        ("ambient", caps.ambient()),
        ("permitted", caps.permitted()),
        ("effective", caps.effective()),
    ];
    sets.iter()
        .find(|(_, set)| {
            set.as_ref()
                .is_some_and(|s| s.contains(&Capability::SysPtrace))
        })
        .map(|(name, _)| {
            format!("the container can gain CAP_SYS_PTRACE ({name} set) and has no user namespace")
        })
}

/// The profile's rules that name `call`.
fn naming<'r>(
    rules: &'r [libcontainer::oci_spec::runtime::LinuxSyscall],
    call: &str,
) -> Vec<&'r libcontainer::oci_spec::runtime::LinuxSyscall> {
    rules
        .iter()
        .filter(|r| r.names().iter().any(|n| n == call))
        .collect()
}

/// With dmz the workload's seccomp filter is already in place for two execs:
/// ours of the sealed shim (execveat) and the shim's of the program
/// (execve). Unless the profile lets both through unconditionally, dmz
/// would break a container that the other modes run fine.
fn seccomp_blocks_shim(spec: &Spec) -> Option<String> {
    let seccomp = spec.linux().as_ref()?.seccomp().as_ref()?;
    let allows = |a: LinuxSeccompAction| {
        matches!(
            a,
            LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
        )
    };
    let rules = seccomp.syscalls().as_deref().unwrap_or_default();
    let blocked: Vec<&str> = ["execveat", "execve"]
        .into_iter()
        .filter(|call| {
            let naming = naming(rules, call);
            let allowed = if naming.is_empty() {
                allows(seccomp.default_action())
            } else {
                // Conditional rules (with args) may not match: not enough.
                naming.iter().all(|r| allows(r.action()))
                    && naming
                        .iter()
                        .any(|r| r.args().as_ref().is_none_or(|a| a.is_empty()))
            };
            !allowed
        })
        .collect();
    if !blocked.is_empty() {
        return Some(format!(
            "the container's seccomp profile does not allow {} unconditionally, which the dmz shim's exec needs",
            blocked.join(" and ")
        ));
    }
    // The shim stats its argv[0] and itself first (it refuses to exec
    // itself): refused with an errno it goes on, but a profile that kills
    // or traps the call would end the workload before it starts.
    let stat = if cfg!(target_arch = "aarch64") {
        "newfstatat"
    } else {
        "stat"
    };
    let fatal = |a: LinuxSeccompAction| {
        matches!(
            a,
            LinuxSeccompAction::ScmpActKill
                | LinuxSeccompAction::ScmpActKillProcess
                | LinuxSeccompAction::ScmpActKillThread
                | LinuxSeccompAction::ScmpActTrap
                | LinuxSeccompAction::ScmpActTrace
                | LinuxSeccompAction::ScmpActNotify
        )
    };
    let naming = naming(rules, stat);
    let killed = if naming.is_empty() {
        fatal(seccomp.default_action())
    } else {
        naming.iter().any(|r| fatal(r.action()))
    };
    killed.then(|| {
        format!("the container's seccomp profile kills or traps {stat}, which the dmz shim calls before its exec")
    })
}

/// `sealrun seal-probe`: what `mode` would do on this host, without doing it.
pub fn probe(mode: SealMode, format: ProbeFormat) -> Result<()> {
    let report = probe_report(mode)?;
    match format {
        ProbeFormat::Json => println!("{}", serde_json::to_string(&report)?),
        ProbeFormat::Text => {
            println!("mode: {mode}");
            println!(
                "chosen: {}",
                report
                    .chosen
                    .as_deref()
                    .unwrap_or("none available (would refuse)")
            );
            if let Some(b) = report.bytes_copied {
                println!("bytes copied per call: {b}");
            }
            if let Some(c) = &report.current {
                println!("current binary: {c}");
            }
            for s in &report.skipped {
                println!("skipped {}: {}", s.mode, s.reason);
            }
        }
    }
    if report.chosen.is_none() {
        bail!("no protection available for --seal {mode}");
    }
    Ok(())
}

#[derive(Debug, serde::Serialize)]
struct Skipped {
    mode: String,
    reason: String,
}

#[derive(Debug, serde::Serialize)]
struct ProbeReport {
    mode: String,
    chosen: Option<String>,
    bytes_copied: Option<u64>,
    /// How the binary running this probe is protected already, if at all.
    current: Option<String>,
    skipped: Vec<Skipped>,
}

fn probe_report(mode: SealMode) -> Result<ProbeReport> {
    let mut report = ProbeReport {
        mode: mode.to_string(),
        chosen: None,
        bytes_copied: None,
        current: None,
        skipped: vec![],
    };
    let absorb = |report: &mut ProbeReport, p: Probe| {
        report.current = p.current.as_ref().map(|c| c.name().to_string());
        for (s, r) in &p.attempts {
            if let Err(e) = r {
                report.skipped.push(Skipped {
                    mode: s.name().into(),
                    reason: e.to_string(),
                });
            }
        }
        report.chosen = p.chosen();
        report.bytes_copied = p.bytes_copied();
    };
    match mode {
        SealMode::None => {
            report.chosen = Some("none".into());
            report.bytes_copied = Some(0);
        }
        SealMode::Dmz => {
            exeseal::dmz::sealed().context("sealing the dmz shim")?;
            report.chosen = Some("dmz".into());
            report.bytes_copied = Some(exeseal::dmz::elf().len() as u64);
        }
        SealMode::Auto => {
            absorb(&mut report, auto_zero_copy()?.probe()?);
            if report.chosen.is_none() {
                report.skipped.push(Skipped {
                    mode: "dmz".into(),
                    reason: "depends on the container: used only when no process in it has or can get CAP_SYS_PTRACE without a user namespace".into(),
                });
                let skipped = std::mem::take(&mut report.skipped);
                absorb(
                    &mut report,
                    base()?.only(&Strategy::PRIVATE_COPIES).probe()?,
                );
                report.skipped.splice(0..0, skipped);
            }
        }
        other => {
            let sealer = first_sealer(other)?.expect("re-exec modes have a sealer");
            absorb(&mut report, sealer.probe()?);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(caps: &[Capability], userns: bool) -> Spec {
        use libcontainer::oci_spec::runtime::{
            LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder, ProcessBuilder,
        };
        let set: std::collections::HashSet<Capability> = caps.iter().copied().collect();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(set.clone())
            .effective(set.clone())
            .permitted(set)
            .build()
            .unwrap();
        let mut spec = Spec::default();
        spec.set_process(Some(
            ProcessBuilder::default()
                .capabilities(caps)
                .build()
                .unwrap(),
        ));
        let mut ns = vec![LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Mount)
            .build()
            .unwrap()];
        if userns {
            ns.push(
                LinuxNamespaceBuilder::default()
                    .typ(LinuxNamespaceType::User)
                    .build()
                    .unwrap(),
            );
        }
        spec.set_linux(Some(
            LinuxBuilder::default().namespaces(ns).build().unwrap(),
        ));
        spec
    }

    #[test]
    fn dmz_safety_follows_ptrace_and_userns() {
        assert_eq!(
            dmz_unsafe_reason(&spec_with(&[Capability::Chown, Capability::Kill], false)),
            None
        );
        let why = dmz_unsafe_reason(&spec_with(&[Capability::SysPtrace], false)).unwrap();
        assert!(
            why.contains("CAP_SYS_PTRACE") && why.contains("bounding"),
            "{why}"
        );
        assert_eq!(
            dmz_unsafe_reason(&spec_with(&[Capability::SysPtrace], true)),
            None
        );
    }

    #[test]
    fn dmz_needs_a_seccomp_profile_that_lets_its_execs_through() {
        let with_seccomp = |profile: serde_json::Value| {
            let mut spec = spec_with(&[Capability::Chown], false);
            let mut linux = spec.linux().clone().unwrap_or_default();
            linux.set_seccomp(Some(serde_json::from_value(profile).unwrap()));
            spec.set_linux(Some(linux));
            dmz_unsafe_reason(&spec)
        };
        let rule =
            |names: &[&str], action: &str| serde_json::json!({"names": names, "action": action});
        let allow_all = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"});
        assert_eq!(with_seccomp(allow_all), None);
        let allowlist = serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [rule(&["read", "execve", "execveat"], "SCMP_ACT_ALLOW")]});
        assert_eq!(with_seccomp(allowlist), None);

        let no_execveat = serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [rule(&["read", "execve"], "SCMP_ACT_ALLOW")]});
        let why = with_seccomp(no_execveat).unwrap();
        assert!(
            why.contains("execveat") && !why.contains("and execve"),
            "{why}"
        );
        let denied = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [rule(&["execveat", "execve"], "SCMP_ACT_KILL")]});
        assert!(with_seccomp(denied)
            .unwrap()
            .contains("execveat and execve"));
        // The shim's stat: an errno is fine, a kill is not.
        let kill_default = serde_json::json!({"defaultAction": "SCMP_ACT_KILL",
            "syscalls": [rule(&["read", "execve", "execveat"], "SCMP_ACT_ALLOW")]});
        assert!(with_seccomp(kill_default)
            .unwrap()
            .contains("kills or traps"));
        let kill_with_stat = serde_json::json!({"defaultAction": "SCMP_ACT_KILL",
            "syscalls": [rule(&["read", "execve", "execveat", "stat", "newfstatat"], "SCMP_ACT_ALLOW")]});
        assert_eq!(with_seccomp(kill_with_stat), None);
        let conditional = serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["execve", "execveat"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}]});
        assert!(with_seccomp(conditional).is_some());
    }

    #[test]
    fn no_capability_sets_means_all_of_roots() {
        let mut spec = Spec::default();
        spec.set_process(Some(
            libcontainer::oci_spec::runtime::ProcessBuilder::default()
                .build()
                .unwrap(),
        ));
        spec.set_linux(None);
        let mut p = spec.process().clone().unwrap();
        p.set_capabilities(None);
        spec.set_process(Some(p));
        assert!(dmz_unsafe_reason(&spec).is_some());
    }
}
