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
    let Some(hooks) = config
        .pointer_mut("/hooks/createContainer")
        .and_then(Value::as_array_mut)
    else {
        return false;
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
            Value::from(SUBCOMMAND),
            Value::from(rootfs.to_string_lossy().into_owned()),
            Value::from(path),
        ];
        args.extend(original);
        hook["path"] = Value::from("/proc/self/exe");
        hook["args"] = Value::from(args);
    }
    !hooks.is_empty()
}

/// The hidden subcommand's arguments: the directory, the hook's path, then
/// its argv (argv[0] first).
#[derive(clap::Args, Debug)]
pub struct HookInRootfs {
    pub rootfs: PathBuf,
    pub path: PathBuf,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub argv: Vec<OsString>,
}

/// Execs the hook in its directory; returns only on failure.
pub fn run(args: HookInRootfs) -> Result<u8> {
    let mut hook = std::process::Command::new(&args.path);
    if let Some((argv0, rest)) = args.argv.split_first() {
        hook.arg0(argv0).args(rest);
    }
    hook.current_dir(&args.rootfs);
    let err = hook.exec();
    Err(err).with_context(|| {
        format!(
            "failed to run createContainer hook {} in {}",
            args.path.display(),
            args.rootfs.display()
        )
    })
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
}
