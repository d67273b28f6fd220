//! createContainer hooks run in the container's root filesystem, as runc
//! runs them.
//!
//! runc starts createContainer hooks (in the container's mount namespace,
//! before pivot_root) with the root filesystem as their working directory,
//! and hooks rely on it (runc's own hook test writes `./lib/...`).
//! libcontainer 0.7.0 (`process::init::process`, `hooks::run_hooks` with no
//! cwd) leaves them in the runtime's directory. So `prepare` rewrites each
//! createContainer hook into this runtime (`/proc/self/exe`: the init's own
//! image, host side, before any container process exists) running the
//! hidden subcommand [`SUBCOMMAND`], which changes into the rootfs and
//! execs the hook exactly as given (path, argv[0], arguments; environment,
//! stdin with the state and timeout are libcontainer's, as before).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

/// The hidden subcommand the rewritten hooks run.
pub const SUBCOMMAND: &str = "createcontainer-hook";

/// Rewrites the config's createContainer hooks to run in `rootfs`; whether
/// there were any.
pub fn wrap(config: &mut Value, rootfs: &Path) -> bool {
    wrap_kinds(config, &["createContainer"], SUBCOMMAND, rootfs)
}

/// The hidden subcommand that runs a hook in the host's mount namespace
/// (see `bindstage`).
pub const HOST_NS_SUBCOMMAND: &str = "hostns-hook";

/// Rewrites the prestart and createRuntime hooks (the ones sealrun's own
/// process runs while it builds the container) to run in the mount
/// namespace, root and working directory of thread `task`
/// (`/proc/<pid>/task/<tid>`); whether there were any.
pub fn wrap_in_task_context(config: &mut Value, task: &Path) -> bool {
    wrap_kinds(
        config,
        &["prestart", "createRuntime"],
        HOST_NS_SUBCOMMAND,
        task,
    )
}

/// Each hook of the `kinds` becomes `/proc/self/exe` (this runtime, in the
/// process that starts the hook) running `subcommand place path argv...`.
fn wrap_kinds(config: &mut Value, kinds: &[&str], subcommand: &str, place: &Path) -> bool {
    let mut any = false;
    for kind in kinds {
        let Some(hooks) = config
            .pointer_mut(&format!("/hooks/{kind}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for hook in hooks.iter_mut() {
            let Some(path) = hook.get("path").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            let original: Vec<Value> = hook
                .get("args")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_else(|| vec![Value::from(path.clone())]);
            let mut args = vec![
                Value::from("sealrun"),
                Value::from(subcommand),
                Value::from(place.to_string_lossy().into_owned()),
                Value::from(path),
            ];
            args.extend(original);
            hook["path"] = Value::from("/proc/self/exe");
            hook["args"] = Value::from(args);
            any = true;
        }
    }
    any
}

/// A wrapped hook's arguments (both hidden subcommands): where to run it
/// (`createcontainer-hook`: the rootfs; `hostns-hook`: the thread whose
/// mount namespace, root and cwd to take, `/proc/<pid>/task/<tid>`), the
/// hook's path, then its argv (argv[0] first).
#[derive(clap::Args, Debug)]
pub struct WrappedHook {
    pub place: PathBuf,
    pub path: PathBuf,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub argv: Vec<OsString>,
}

/// Execs the hook in its directory; returns only on failure.
pub fn run(args: WrappedHook) -> Result<u8> {
    let err = command(&args.path, &args.argv)
        .current_dir(&args.place)
        .exec();
    Err(err).with_context(|| {
        format!(
            "failed to run createContainer hook {} in {}",
            args.path.display(),
            args.place.display()
        )
    })
}

/// Takes the thread's mount namespace, root and cwd, and execs the hook
/// there; returns only on failure.
pub fn run_in_task_context(args: WrappedHook) -> Result<u8> {
    crate::bindstage::enter_task_context(&args.place)
        .with_context(|| format!("cannot run hook {}", args.path.display()))?;
    let err = command(&args.path, &args.argv).exec();
    Err(err).with_context(|| format!("failed to run hook {}", args.path.display()))
}

/// The hook exactly as given: path, argv[0], arguments.
fn command(path: &Path, argv: &[OsString]) -> std::process::Command {
    let mut hook = std::process::Command::new(path);
    if let Some((argv0, rest)) = argv.split_first() {
        hook.arg0(argv0).args(rest);
    }
    hook
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_container_hooks_are_wrapped_others_not() {
        let mut config = json!({"hooks": {
            "createContainer": [
                {"path": "/bin/sh", "args": ["sh", "-c", "touch ./x"], "timeout": 5},
                {"path": "/bin/true"}
            ],
            "createRuntime": [{"path": "/bin/true"}]
        }});
        assert!(wrap(&mut config, Path::new("/b/rootfs")));
        assert_eq!(
            config["hooks"]["createContainer"][0],
            json!({"path": "/proc/self/exe", "timeout": 5,
                   "args": ["sealrun", SUBCOMMAND, "/b/rootfs", "/bin/sh", "sh", "-c", "touch ./x"]})
        );
        assert_eq!(
            config["hooks"]["createContainer"][1]["args"],
            json!(["sealrun", SUBCOMMAND, "/b/rootfs", "/bin/true", "/bin/true"])
        );
        assert_eq!(
            config["hooks"]["createRuntime"][0],
            json!({"path": "/bin/true"})
        );
        assert!(!wrap(&mut json!({"hooks": {}}), Path::new("/r")));
    }

    #[test]
    fn runtime_hooks_are_wrapped_into_a_threads_context() {
        let mut config = json!({"hooks": {
            "prestart": [{"path": "/bin/true"}],
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "x"]}],
            "createContainer": [{"path": "/bin/true"}],
            "poststart": [{"path": "/bin/true"}]
        }});
        assert!(wrap_in_task_context(
            &mut config,
            Path::new("/proc/7/task/8")
        ));
        assert_eq!(
            config["hooks"]["prestart"][0]["args"],
            json!([
                "sealrun",
                HOST_NS_SUBCOMMAND,
                "/proc/7/task/8",
                "/bin/true",
                "/bin/true"
            ])
        );
        assert_eq!(
            config["hooks"]["createRuntime"][0]["args"],
            json!([
                "sealrun",
                HOST_NS_SUBCOMMAND,
                "/proc/7/task/8",
                "/bin/sh",
                "sh",
                "-c",
                "x"
            ])
        );
        assert_eq!(
            config["hooks"]["createContainer"][0],
            json!({"path": "/bin/true"})
        );
        assert_eq!(
            config["hooks"]["poststart"][0],
            json!({"path": "/bin/true"})
        );
        assert!(!wrap_in_task_context(
            &mut json!({"hooks": {"poststart": []}}),
            Path::new("/n")
        ));
    }
}
