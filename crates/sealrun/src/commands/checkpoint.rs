//! `sealrun checkpoint` / `sealrun restore`: runc's options, checked as runc
//! checks them, then a clear refusal. CRIU is not wired into sealrun, so
//! nothing is dumped or restored; what a caller gets wrong (no such
//! container, a container in the wrong state, a bad `--parent-path`,
//! `--page-server` or `--manage-cgroups-mode`) is still named first, in
//! runc's words, so scripts and engines see the same errors for the same
//! mistakes. Nothing is created on the way: runc makes the image directory
//! before it fails, sealrun does not, as a refused command leaves nothing.

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use libcontainer::container::ContainerStatus;

use super::Runtime;

/// The options checkpoint and restore share (runc's `criuOptions`).
#[derive(Args, Debug)]
pub struct Criu {
    /// Path for criu image files
    #[arg(long)]
    pub image_path: Option<PathBuf>,
    /// Path for saving work files and logs
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// Allow open tcp connections
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks, for safety
    #[arg(long)]
    pub file_locks: bool,
    /// Use userfaultfd to lazily restore memory pages
    #[arg(long)]
    pub lazy_pages: bool,
    /// Cgroups mode: 'soft' (default), 'full' and 'strict'
    #[arg(long)]
    pub manage_cgroups_mode: Option<String>,
    /// Create a namespace, but don't restore its properties
    #[arg(long)]
    pub empty_ns: Vec<String>,
    /// Enable auto deduplication of memory images
    #[arg(long)]
    pub auto_dedup: bool,
}

/// Checkpoint a running container
#[derive(Args, Debug)]
pub struct Checkpoint {
    #[command(flatten)]
    pub criu: Criu,
    /// Path for previous criu image files in pre-dump
    #[arg(long)]
    pub parent_path: Option<PathBuf>,
    /// Leave the process running after checkpointing
    #[arg(long)]
    pub leave_running: bool,
    /// Criu writes \0 to this FD once lazy-pages is ready
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub status_fd: i32,
    /// ADDRESS:PORT of the page server
    #[arg(long)]
    pub page_server: Option<String>,
    /// Dump container's memory information only, leave the container running after this
    #[arg(long)]
    pub pre_dump: bool,
    /// Container identifier
    pub container_id: String,
}

/// Restore a container from a previous checkpoint
#[derive(Args, Debug)]
pub struct Restore {
    #[command(flatten)]
    pub criu: Criu,
    /// Path to an AF_UNIX socket which will receive the console's pseudoterminal master
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Path to the root of the bundle directory
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Disable the use of the subreaper used to reap reparented processes
    #[arg(long)]
    pub no_subreaper: bool,
    /// Do not use pivot root to jail process inside rootfs
    #[arg(long)]
    pub no_pivot: bool,
    /// LSM profile to be used during restore, as TYPE:NAME
    #[arg(long)]
    pub lsm_profile: Option<String>,
    /// LSM mount context to be used during restore
    #[arg(long)]
    pub lsm_mount_context: Option<String>,
    /// Container identifier
    pub container_id: String,
}

const NOT_WIRED: &str = "sealrun cannot checkpoint or restore containers: CRIU is not wired into it; use runc for containers that need it";

pub fn checkpoint(runtime: &Runtime, args: Checkpoint) -> Result<()> {
    let id = args.container_id.as_str();
    let container = runtime.load(id)?;
    let status = container.status();
    if matches!(status, ContainerStatus::Created | ContainerStatus::Stopped) {
        // runc's status words are lower case (libcontainer's Display is not).
        let status = status.to_string().to_lowercase();
        bail!("Container cannot be checkpointed in {status} state");
    }
    check_image_paths(args.criu.image_path.as_deref(), args.parent_path.as_deref())?;
    if let Some(server) = &args.page_server {
        check_page_server(server)?;
    }
    check_common(&args.criu)?;
    bail!("checkpoint of container {id}: {NOT_WIRED}")
}

pub fn restore(runtime: &Runtime, args: Restore) -> Result<()> {
    let id = args.container_id.as_str();
    runtime.container_dir(id)?;
    check_image_paths(args.criu.image_path.as_deref(), None)?;
    check_common(&args.criu)?;
    bail!("restore of container {id}: {NOT_WIRED}")
}

/// What runc checks of the shared options, after the image paths.
fn check_common(criu: &Criu) -> Result<()> {
    check_manage_cgroups_mode(criu.manage_cgroups_mode.as_deref())?;
    check_empty_ns(&criu.empty_ns)
}

/// runc's `prepareImagePaths`: the parent image is named relative to the
/// image directory and must be a directory there.
fn check_image_paths(image: Option<&Path>, parent: Option<&Path>) -> Result<()> {
    let Some(parent) = parent.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.is_absolute() {
        bail!("--parent-path must be relative");
    }
    let image = match image.filter(|p| !p.as_os_str().is_empty()) {
        Some(image) => image.to_path_buf(),
        // runc's default image directory.
        None => std::env::current_dir()
            .context("failed to read the working directory")?
            .join("checkpoint"),
    };
    let real_parent = go_clean(&image.join(parent));
    match std::fs::metadata(&real_parent) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => bail!(
            "invalid --parent-path: stat {}: not a directory",
            real_parent.display()
        ),
        Err(err) => bail!(
            "invalid --parent-path: stat {}: {}",
            real_parent.display(),
            crate::logfmt::go_error(&err)
        ),
    }
}

/// Go's `filepath.Join` cleans its result lexically (`a/./b/../c` -> `a/c`);
/// the error names the path as runc would.
fn go_clean(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(part),
            },
            _ => out.push(part),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

fn check_page_server(server: &str) -> Result<()> {
    let usage = "Use --page-server ADDRESS:PORT to specify page server";
    let Some((address, port)) = server.rsplit_once(':') else {
        bail!(usage);
    };
    let address = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    if address.is_empty() || port.is_empty() || (address.contains(':') && !server.starts_with('['))
    {
        bail!(usage);
    }
    if port.parse::<i64>().is_err() {
        bail!("Invalid port number");
    }
    Ok(())
}

fn check_manage_cgroups_mode(mode: Option<&str>) -> Result<()> {
    match mode {
        None | Some("" | "soft" | "full" | "strict") => Ok(()),
        Some(_) => bail!("Invalid manage cgroups mode"),
    }
}

/// Only the network namespace can be left empty (runc does not manage
/// network devices).
fn check_empty_ns(names: &[String]) -> Result<()> {
    match names.iter().find(|ns| ns.as_str() != "network") {
        Some(ns) => bail!("namespace {ns:?} is not supported"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_path_is_checked_as_runc_checks_it() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image");
        std::fs::create_dir(&image).unwrap();
        std::fs::create_dir(dir.path().join("parent")).unwrap();
        std::fs::write(dir.path().join("file"), b"").unwrap();

        let abs = check_image_paths(Some(&image), Some(&dir.path().join("parent")));
        assert_eq!(
            abs.unwrap_err().to_string(),
            "--parent-path must be relative"
        );

        let missing = check_image_paths(Some(&image), Some(Path::new("./parent")))
            .unwrap_err()
            .to_string();
        assert_eq!(
            missing,
            format!(
                "invalid --parent-path: stat {}/parent: no such file or directory",
                image.display()
            )
        );

        let file = check_image_paths(Some(&image), Some(Path::new("../file")))
            .unwrap_err()
            .to_string();
        assert_eq!(
            file,
            format!(
                "invalid --parent-path: stat {}/file: not a directory",
                dir.path().display()
            )
        );

        check_image_paths(Some(&image), Some(Path::new("../parent"))).unwrap();
        check_image_paths(Some(&image), None).unwrap();
    }

    #[test]
    fn criu_options_are_checked_as_runc_checks_them() {
        for good in ["host:1234", "10.0.0.1:80", "[::1]:80"] {
            check_page_server(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in ["host", ":80", "host:", "::1:80"] {
            assert!(check_page_server(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(
            check_page_server("host:http").unwrap_err().to_string(),
            "Invalid port number"
        );
        check_manage_cgroups_mode(Some("strict")).unwrap();
        assert!(check_manage_cgroups_mode(Some("hard")).is_err());
        check_empty_ns(&["network".into()]).unwrap();
        assert_eq!(
            check_empty_ns(&["network".into(), "pid".into()])
                .unwrap_err()
                .to_string(),
            "namespace \"pid\" is not supported"
        );
    }
}
