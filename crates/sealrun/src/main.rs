//! sealrun: a runc-compatible OCI runtime on youki's libcontainer whose own
//! binary is sealed before any container process exists.

mod bindstage;
mod cgroupfs;
mod cli;
mod commands;
mod config;
mod devcgroup;
mod dmz_gate;
mod early;
mod exec_cgroup;
mod exec_seccomp;
mod executor;
mod help;
mod hooks;
mod init_errors;
mod lend;
mod logfmt;
mod logging;
mod mountns;
mod prepare;
mod record;
mod seal;
mod seccomp_stub;
mod start_hooks;
mod sys;
mod tmpcopyup;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;

use crate::cli::{Cli, Command, DEFAULT_ROOT};
use crate::commands::Runtime;
use crate::executor::SealExecutor;

fn main() -> ExitCode {
    // Before anything else: a sealed call's first image only re-executes.
    let early = seal::early();
    if let Some(code) = help::runc_style(&std::env::args_os().collect::<Vec<_>>()) {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return report_usage_error(err),
    };
    let log_destination = match logging::init(&cli.global) {
        Ok(destination) => destination,
        Err(err) => {
            eprintln!("sealrun: error: {err:#}");
            return ExitCode::FAILURE;
        }
    };

    // runc exits 255 when exec fails before the process runs (so that a
    // caller can tell it from the process's own status), 1 otherwise.
    let failure = if matches!(cli.command, Command::Exec(_)) {
        ExitCode::from(255)
    } else {
        ExitCode::FAILURE
    };
    match run(cli, early) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if log_destination == logging::Destination::File {
                tracing::error!("{err:#}");
            }
            eprintln!("sealrun: error: {err:#}");
            failure
        }
    }
}

fn run(mut cli: Cli, early: Option<seal::Early>) -> Result<u8> {
    let runtime = Runtime {
        root: cli
            .global
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
        systemd_cgroup: cli.global.systemd_cgroup,
    };
    // Read once, before anything else reads it (it may be a pipe).
    let _process_stash = match &mut cli.command {
        Command::Exec(args) => commands::exec::stash_process(&runtime, args)?,
        _ => None,
    };
    // Seal first: nothing may have started a container process before this.
    let mut protection = seal::protect(
        cli.seal,
        cli.command.starts_container_process(),
        || dmz_gate::judge(&runtime, &cli.command),
        early,
    )
    .context("failed to protect the runtime binary")?;
    commands::exec::forget_stash_env();
    if cli.command.starts_container_process() {
        init_errors::arm()?;
        // Container processes get exactly the spec's additionalGids, as
        // with runc. libcontainer 0.7.0 (`set_supplementary_gids`) calls
        // setgroups only for a non-empty list, so without one the init and
        // every exec'd process kept sealrun's caller's groups (a uid-1000
        // process in group root, disk, ...). Dropped here, before anything
        // forks, so all of them start with none.
        sys::drop_supplementary_groups().context("failed to leave the supplementary groups")?;
    }
    tracing::debug!(args = ?std::env::args_os().collect::<Vec<_>>(), seal = %cli.seal, "sealrun started");

    let code = match cli.command {
        Command::Create(args) => {
            let executor = SealExecutor::new(
                protection.dmz.take(),
                protection.gate.take(),
                args.preserve_fds,
            )?;
            commands::create::create(&runtime, args, executor).map(|()| 0)?
        }
        Command::Run(args) => {
            let executor = SealExecutor::new(
                protection.dmz.take(),
                protection.gate.take(),
                args.preserve_fds,
            )?;
            commands::run::run(&runtime, args, executor)?
        }
        Command::Exec(args) => {
            let executor = SealExecutor::new(
                protection.dmz.take(),
                protection.gate.take(),
                args.preserve_fds,
            )?;
            commands::exec::exec(&runtime, args, executor.for_exec())?
        }
        Command::Start(args) => commands::start::start(&runtime, args).map(|()| 0)?,
        Command::State(args) => commands::state::state(&runtime, args).map(|()| 0)?,
        Command::Kill(args) => commands::kill::kill(&runtime, args).map(|()| 0)?,
        Command::Delete(args) => commands::delete::delete(&runtime, args).map(|()| 0)?,
        Command::List(args) => commands::list::list(&runtime, args).map(|()| 0)?,
        Command::Ps(args) => commands::ps::ps(&runtime, args).map(|()| 0)?,
        Command::Pause(args) => commands::pause::pause(&runtime, args).map(|()| 0)?,
        Command::Resume(args) => commands::pause::resume(&runtime, args).map(|()| 0)?,
        Command::Features(_) => commands::features::features().map(|()| 0)?,
        Command::Spec(args) => commands::spec::spec(args).map(|()| 0)?,
        Command::CreateContainerHook(args) => hooks::run(args)?,
        Command::HostNsHook(args) => hooks::run_in_task_context(args)?,
        Command::Checkpoint(args) => {
            commands::checkpoint::checkpoint(&runtime, args).map(|()| 0)?
        }
        Command::Restore(args) => commands::checkpoint::restore(&runtime, args).map(|()| 0)?,
        Command::Events(args) => commands::events::events(&runtime, args).map(|()| 0)?,
        Command::Update(args) => commands::update::update(&runtime, args).map(|()| 0)?,
        Command::SealProbe(args) => seal::probe(cli.seal, args.format).map(|()| 0)?,
    };
    drop(protection);
    Ok(code)
}

/// Prints a clap error on one line (help and version go out unchanged).
fn report_usage_error(err: clap::Error) -> ExitCode {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
    }
    eprintln!("sealrun: error: {}", one_line_usage_error(&err));
    ExitCode::from(2)
}

fn one_line_usage_error(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim();
    let mut message = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    if let Some(ContextValue::Strings(valid)) = err.get(ContextKind::ValidValue) {
        message.push_str(&format!(" (possible values: {})", valid.join(", ")));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_seal_value_is_one_line_with_choices() {
        let err = Cli::try_parse_from(["sealrun", "--seal", "bogus", "list"]).unwrap_err();
        let msg = one_line_usage_error(&err);
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains("'bogus'") && msg.contains("--seal"), "{msg}");
        assert!(
            msg.contains("auto, hardened, overlayfs, hugetmpfs, memfd, tmpfile, dmz, none"),
            "{msg}"
        );
    }
}
