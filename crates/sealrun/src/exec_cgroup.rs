//! `exec --cgroup`: the sub-cgroup(s) an exec'd process runs in.
//!
//! runc takes either one path for every controller (`--cgroup sub`, the only
//! form cgroup v2 has) or, on cgroup v1, paths per controller group
//! (`--cgroup memory:a --cgroup cpu,cpuacct:b`); controllers not named stay
//! in the container's own cgroup. libcontainer 0.7.0 has the first form only
//! (`TenantContainerBuilder::with_sub_cgroup` takes one path, for every
//! controller, and creates it where it is missing; runc refuses that).
//! The base of every path is the container's cgroup as `create` recorded
//! it, not where its init is now (a systemd init moves itself down).
//!
//! The single path goes to libcontainer once sealrun has checked that it
//! exists in every hierarchy. For per-controller paths, before anything is
//! built, sealrun opens `cgroup.procs` of each named sub-cgroup on the host
//! (a missing one is the error, as in runc).
//! The descriptors go to the exec'd process with the executor, which
//! writes "0" (itself) into each first thing before its exec: the kernel
//! checks a cgroup v1 migration against the credentials of whoever *opened*
//! the file (root, here), so no path inside the container is resolved and
//! no privilege is needed there. The descriptors are close-on-exec, so the
//! workload never holds a host handle.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

/// What `--cgroup` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubCgroups {
    /// No `--cgroup`: the container's own cgroup.
    None,
    /// One path below the container's cgroup, for every controller.
    All(String),
    /// cgroup v1: a path per controller (`cpu` and `cpuacct` separately,
    /// as runc keys them).
    PerController(BTreeMap<String, String>),
}

/// runc's reading of the `--cgroup` values (`getSubCgroupPaths`): a plain
/// path only alone, `CTRL[,CTRL...]:PATH` otherwise.
pub fn parse(values: &[String]) -> Result<SubCgroups> {
    let mut per = BTreeMap::new();
    for value in values {
        match value.split_once(':') {
            None if values.len() == 1 => return Ok(SubCgroups::All(value.clone())),
            None => bail!("invalid --cgroup argument: {value} (missing <controller>: prefix)"),
            Some((controllers, path)) => {
                for ctrl in controllers.split(',') {
                    if ctrl.is_empty() {
                        bail!("invalid --cgroup argument: {value} (empty controller name)");
                    }
                    if per.insert(ctrl.to_owned(), path.to_owned()).is_some() {
                        bail!("invalid --cgroup argument(s): controller {ctrl} specified multiple times");
                    }
                }
            }
        }
    }
    Ok(if per.is_empty() {
        SubCgroups::None
    } else {
        SubCgroups::PerController(per)
    })
}

/// `sub` below `base`, refused if it would leave it (runc's and
/// libcontainer's "is not a sub cgroup path").
fn below(base: &Path, sub: &str) -> Result<PathBuf> {
    let mut out = base.to_path_buf();
    for c in Path::new(sub).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if out != base => {
                out.pop();
            }
            Component::ParentDir => bail!("{sub} is not a sub cgroup path"),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// The descriptors an exec'd process writes itself into (see the module
/// docs), cloned into it with the executor.
#[derive(Clone)]
pub struct InProcess {
    procs: Arc<Vec<OwnedFd>>,
}

impl InProcess {
    /// Opens `cgroup.procs` of every sub-cgroup `per` names; `dir_of` gives
    /// the container's own cgroup directory of a v1 controller (none on
    /// cgroup v2, where runc knows no controller names either). `place`
    /// moves each descriptor where libcontainer's fd cleanup leaves it
    /// open. `None` when there is nothing to move (the container's own).
    pub fn open(
        per: &BTreeMap<String, String>,
        dir_of: impl Fn(&str) -> Option<PathBuf>,
        mut place: impl FnMut(OwnedFd) -> Result<OwnedFd>,
    ) -> Result<Option<Self>> {
        // One target per hierarchy: co-mounted controllers (cpu,cpuacct)
        // share one directory, so one path for all of them.
        let mut targets: BTreeMap<PathBuf, (&str, PathBuf)> = BTreeMap::new();
        for (ctrl, sub) in per {
            let dir = dir_of(ctrl).with_context(|| format!("unknown controller {ctrl}"))?;
            let target = below(&dir, sub)?;
            if let Some((other, earlier)) = targets.get(&dir) {
                if *earlier != target {
                    bail!(
                        "invalid --cgroup arguments: {other} and {ctrl} share the hierarchy at {} but were given different paths",
                        dir.display()
                    );
                }
            }
            targets.insert(dir, (ctrl.as_str(), target));
        }
        let mut procs = Vec::new();
        for (dir, (_, target)) in targets {
            if target == dir {
                continue; // the process starts there anyway
            }
            let file = target.join("cgroup.procs");
            let fd = std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .map_err(|e| adding_error(&file, &e))?;
            procs.push(place(fd.into())?);
        }
        Ok((!procs.is_empty()).then(|| Self {
            procs: Arc::new(procs),
        }))
    }

    /// In the exec'd process, first thing in the executor: moves it into
    /// each sub-cgroup. The descriptors are close-on-exec: gone when the
    /// workload starts.
    pub fn apply(&self) -> Result<(), String> {
        for fd in self.procs.iter() {
            rustix::io::write(fd.as_fd(), b"0").map_err(|e| {
                format!(
                    "adding pid {} to cgroups: write {}: {e}",
                    std::process::id(),
                    fd_path(fd)
                )
            })?;
        }
        Ok(())
    }
}

/// One path for every controller (`--cgroup sub`): libcontainer moves the
/// process there (`with_sub_cgroup`; on cgroup v2 straight into it, which a
/// container cgroup with controllers enabled for its children requires),
/// but it creates a sub-cgroup that is missing, and runc refuses one. So
/// every hierarchy's `sub` (below the container's `dirs`) must exist first.
pub fn check_all(dirs: &[PathBuf], sub: &str) -> Result<()> {
    for dir in dirs {
        let file = below(dir, sub)?.join("cgroup.procs");
        if let Err(e) = std::fs::metadata(&file) {
            return Err(adding_error(&file, &e));
        }
    }
    Ok(())
}

/// runc's (Go's) wording, which engines and its tests match.
fn adding_error(file: &Path, e: &std::io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "adding pid to cgroups: open {}: {}",
        file.display(),
        crate::logfmt::go_error(e)
    )
}

fn fd_path(fd: &OwnedFd) -> String {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_or_else(
        |_| format!("fd {}", fd.as_raw_fd()),
        |p| p.display().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn reads_cgroup_arguments_as_runc() {
        assert_eq!(parse(&[]).unwrap(), SubCgroups::None);
        assert_eq!(
            parse(&args(&["sub"])).unwrap(),
            SubCgroups::All("sub".into())
        );
        let per = parse(&args(&["memory:a", "cpu,cpuacct:b/c"])).unwrap();
        let want: BTreeMap<String, String> = [("memory", "a"), ("cpu", "b/c"), ("cpuacct", "b/c")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(per, SubCgroups::PerController(want));
        // The path is all after the first colon.
        let colon = parse(&args(&["memory:a:b"])).unwrap();
        let want: BTreeMap<String, String> = [("memory".to_owned(), "a:b".to_owned())].into();
        assert_eq!(colon, SubCgroups::PerController(want));
        for (bad, says) in [
            (&["a", "memory:b"][..], "missing <controller>: prefix"),
            (&[",cpu:x"][..], "empty controller name"),
            (
                &["cpu:a", "cpu,memory:b"][..],
                "controller cpu specified multiple times",
            ),
        ] {
            let err = parse(&args(bad)).unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn sub_cgroups_stay_below_the_containers() {
        let base = Path::new("/sys/fs/cgroup/memory/ctr");
        assert_eq!(below(base, "a/b").unwrap(), base.join("a/b"));
        assert_eq!(below(base, "/a/./b/../c").unwrap(), base.join("a/c"));
        assert_eq!(below(base, "/").unwrap(), base);
        let err = below(base, "..").unwrap_err().to_string();
        assert_eq!(err, ".. is not a sub cgroup path");
        assert!(below(base, "a/../../x").is_err());
    }
}
