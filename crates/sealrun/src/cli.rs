//! Command line: liboci-cli's runc-compatible structs plus sealrun's own
//! `--seal` option and `seal-probe` subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use liboci_cli::GlobalOpts;

use crate::seal::{ProbeFormat, SealMode};

/// Default `--root`: where container state directories live.
pub const DEFAULT_ROOT: &str = "/run/sealrun";

/// `sealrun -v`: runc's three lines (tools such as `docker info` parse the
/// first, runc's tests the first three), naming runc's version this one is
/// compatible with.
pub const VERSION: &str = concat!(
    "version ",
    env!("CARGO_PKG_VERSION"),
    " (runc version 1.1.5 compatible)\ncommit: ",
    env!("SEALRUN_COMMIT"),
    "\nspec: 1.0.2-dev\nlibcontainer: 0.7.0"
);

/// sealrun: a runc-compatible OCI runtime whose binary is sealed against
/// overwrites from inside the container.
#[derive(Parser, Debug)]
#[command(
    name = "sealrun",
    version = VERSION,
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,

    /// Print the version
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,

    /// How to protect the runtime binary from the container
    #[arg(
        long,
        value_name = "MODE",
        env = "SEALRUN_SEAL",
        value_enum,
        default_value_t = SealMode::Auto,
        global = true
    )]
    pub seal: SealMode,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (it waits for `start`)
    Create(liboci_cli::Create),
    /// Start a created container
    Start(liboci_cli::Start),
    /// Print the state of a container as OCI state JSON
    State(liboci_cli::State),
    /// Send a signal to a container's init process (default TERM)
    Kill(Kill),
    /// Delete a container and release its resources
    Delete(liboci_cli::Delete),
    /// Create and start a container; in the foreground, exit with its status
    Run(liboci_cli::Run),
    /// Run a new process inside a running container
    Exec(Exec),
    /// List containers
    List(liboci_cli::List),
    /// List the processes running inside a container
    Ps(liboci_cli::Ps),
    /// Suspend all processes of a container
    Pause(liboci_cli::Pause),
    /// Resume a paused container
    Resume(liboci_cli::Resume),
    /// Print the features this runtime supports (JSON)
    Features(liboci_cli::Features),
    /// Write a default config.json into a bundle
    Spec(liboci_cli::Spec),
    /// Checkpoint a running container (options checked as runc checks them; CRIU is not wired in)
    Checkpoint(crate::commands::checkpoint::Checkpoint),
    /// Restore a container from a previous checkpoint (options checked; CRIU is not wired in)
    Restore(crate::commands::checkpoint::Restore),
    /// Display container events such as OOM notifications and resource usage
    Events(crate::commands::events::Events),
    /// Update the resource limits of a container
    Update(crate::commands::update::Update),
    /// Report what the selected --seal mode would do on this host
    SealProbe(SealProbe),
    /// Internal: run a createContainer hook in the container's rootfs
    #[command(name = "createcontainer-hook", hide = true)]
    CreateContainerHook(crate::hooks::WrappedHook),
    /// Internal: run a prestart/createRuntime hook in the host's mount
    /// namespace (see `bindstage`)
    #[command(name = "hostns-hook", hide = true)]
    HostNsHook(crate::hooks::WrappedHook),
}

impl Command {
    /// Whether the command starts a process inside a container, which is
    /// what the runtime binary must be sealed against.
    pub fn starts_container_process(&self) -> bool {
        matches!(
            self,
            Command::Create(_) | Command::Run(_) | Command::Exec(_)
        )
    }
}

/// Send a signal to a container
#[derive(Args, Debug)]
pub struct Kill {
    /// Container identifier
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
    /// Signal name or number (KILL, SIGKILL, 9)
    #[arg(default_value = "TERM")]
    pub signal: String,
    /// Send the signal to all processes of the container
    #[arg(short, long)]
    pub all: bool,
}

/// `exec`: runc's options. liboci-cli's struct takes one `--cgroup`; runc
/// takes it once per controller group on cgroup v1
/// (`--cgroup memory:a --cgroup cpu,cpuacct:b`).
#[derive(Args, Debug)]
pub struct Exec {
    /// Unix socket (file) path, which will receive the file descriptor of the
    /// writing end of the pseudoterminal
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (VAR=value; repeatable)
    #[arg(short, long, value_parser = parse_env, num_args = 1)]
    pub env: Vec<(String, String)>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short, long, value_parser = parse_user)]
    pub user: Option<(u32, Option<u32>)>,
    /// Additional gids (repeatable)
    #[arg(long, short = 'g', num_args = 1)]
    pub additional_gids: Vec<u32>,
    /// Path to the process.json
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process id to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Set the asm process label for the process, commonly used with selinux
    #[arg(long)]
    pub process_label: Option<String>,
    /// Set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set the no new privileges value for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability to the bounding set for the process (repeatable)
    #[arg(long, short = 'c', num_args = 1)]
    pub cap: Vec<String>,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long, default_value = "0")]
    pub preserve_fds: i32,
    /// Allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,
    /// Run the process in a (sub-)cgroup of the container's: PATH, or on
    /// cgroup v1 CONTROLLER[,CONTROLLER]:PATH (repeatable)
    #[arg(long, value_name = "[CONTROLLERS:]PATH", num_args = 1)]
    pub cgroup: Vec<String>,
    /// Container identifier
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
    /// The command to run in the container
    #[arg(required = false, trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// `VAR=value` of `exec --env`.
fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("invalid VAR=value: no `=` found in `{s}`"))
}

/// `<uid>[:<gid>]` of `exec --user`.
fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let number = |n: &str| {
        n.parse::<u32>()
            .map_err(|e| format!("invalid id {n:?} in {s:?}: {e}"))
    };
    match s.split_once(':') {
        Some((uid, gid)) => Ok((number(uid)?, Some(number(gid)?))),
        None => Ok((number(s)?, None)),
    }
}

#[derive(Args, Debug)]
pub struct SealProbe {
    /// Output format
    #[arg(long, value_enum, default_value_t = ProbeFormat::Text)]
    pub format: ProbeFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seal_defaults_to_auto_and_parses_every_mode() {
        let cli = Cli::try_parse_from(["sealrun", "list"]).unwrap();
        assert_eq!(cli.seal, SealMode::Auto);
        for mode in [
            "auto",
            "hardened",
            "overlayfs",
            "hugetmpfs",
            "memfd",
            "tmpfile",
            "dmz",
            "none",
        ] {
            let cli = Cli::try_parse_from(["sealrun", "--seal", mode, "list"]).unwrap();
            assert_eq!(cli.seal.to_string(), mode);
        }
        assert!(Cli::try_parse_from(["sealrun", "--seal", "bogus", "list"]).is_err());
    }

    #[test]
    fn version_is_runcs_three_lines() {
        let err = Cli::try_parse_from(["sealrun", "-v"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
        let text = err.render().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("sealrun version ") && lines[0].contains("runc version 1.1.5"),
            "{text}"
        );
        assert!(lines[1].starts_with("commit: "), "{text}");
        assert_eq!(lines[2], "spec: 1.0.2-dev");
    }

    #[test]
    fn kill_signal_defaults_to_term() {
        let cli = Cli::try_parse_from(["sealrun", "kill", "c1"]).unwrap();
        match cli.command {
            Command::Kill(k) => {
                assert_eq!((k.container_id.as_str(), k.signal.as_str()), ("c1", "TERM"))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn only_create_run_exec_start_container_processes() {
        for (args, expected) in [
            (&["sealrun", "create", "c"][..], true),
            (&["sealrun", "run", "c"][..], true),
            (&["sealrun", "exec", "c", "true"][..], true),
            (&["sealrun", "start", "c"][..], false),
            (&["sealrun", "state", "c"][..], false),
            (&["sealrun", "seal-probe"][..], false),
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.command.starts_container_process(), expected, "{args:?}");
        }
    }
}
