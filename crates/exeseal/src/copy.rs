//! Private copies of a binary: an O_TMPFILE on a tmpfs of our own (with
//! huge pages, or without), a sealed memfd, an O_TMPFILE or an unlinked temp
//! file in a directory. They cost one copy of the binary per call but share
//! no page cache with the host's file, which is why `hardened` mode wants
//! them.
//!
//! ## Why file modes are not enough
//!
//! A container holding CAP_DAC_OVERRIDE (docker's default set) reopens a
//! copy it reached through `/proc/<pid>/exe` for writing whatever its mode
//! bits say, and the copy's owner may chmod it. What stops a write is the
//! kernel: a memfd's seals, a read-only mount, or the immutable inode flag
//! (which only CAP_LINUX_IMMUTABLE, outside docker's default set, may
//! clear). Every file copy here ends with at least one of the last two, or
//! the strategy fails and the next one is tried.

use std::ffi::OsStr;
#[cfg(test)]
use std::os::fd::AsRawFd;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{IFlags, MemfdFlags, Mode, OFlags, SealFlags};
use rustix::io::Errno;
use rustix::mount::MountAttrFlags;

use crate::sys::{self, CopyStep, SysError};
use crate::Failure;

/// The seals that make a memfd immutable: no writes, no size change, and no
/// way to remove these seals again.
pub const REQUIRED_SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Where the bytes come from.
pub enum Source<'a> {
    /// A readable (not O_PATH) file, copied from its current offset to EOF
    /// (a whole-folio copy maps it from offset 0): pass a fresh descriptor
    /// per copy, since copying moves the offset.
    Fd(BorrowedFd<'a>),
    /// Bytes in memory (the embedded dmz shim), written as they are.
    Bytes(&'a [u8]),
}

/// Copy `src` into `dst` in the kernel where possible and return the byte count.
///
/// copy_file_range is a page-cache-to-page-cache copy (or a reflink on some
/// filesystems); sendfile is the fallback across filesystems; read/write only
/// where neither works (e.g. procfs-backed sources).
pub fn copy_all(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<u64, SysError> {
    let mut total: u64 = 0;
    let mut use_cfr = true;
    let mut use_sendfile = true;
    loop {
        let step = if use_cfr {
            sys::copy_file_range(src, dst)?
        } else if use_sendfile {
            sys::sendfile(src, dst)?
        } else {
            let mut buf = vec![0u8; 1 << 20];
            let n = sys::read(src, &mut buf)?;
            sys::write_all(dst, &buf[..n])?;
            CopyStep::Copied(n)
        };
        match step {
            // An in-kernel copy that moves nothing from offset 0 may be a
            // source it cannot handle (procfs-like files report size 0):
            // let the next method decide; read() returning 0 is the real EOF.
            CopyStep::Copied(0) if total == 0 && (use_cfr || use_sendfile) => {
                if use_cfr {
                    use_cfr = false;
                } else {
                    use_sendfile = false;
                }
            }
            CopyStep::Copied(0) => return Ok(total),
            CopyStep::Copied(n) => total += n as u64,
            // Only switch methods before the first byte: a mid-copy failure
            // must not leave a half-copied file behind a different offset.
            CopyStep::Unsupported(e) if total == 0 => {
                tracing::trace!(errno = %e, cfr = use_cfr, "in-kernel copy unavailable, falling back");
                if use_cfr {
                    use_cfr = false;
                } else {
                    use_sendfile = false;
                }
            }
            CopyStep::Unsupported(e) => {
                return Err(SysError::new("copy (mid-file)", "binary copy", e));
            }
        }
    }
}

fn fill(dst: BorrowedFd<'_>, source: &Source<'_>, expected: Option<u64>) -> Result<u64, Failure> {
    let copied = match source {
        Source::Fd(fd) => copy_all(*fd, dst)?,
        Source::Bytes(bytes) => {
            sys::write_all(dst, bytes)?;
            bytes.len() as u64
        }
    };
    check_size(dst, copied, expected)
}

/// [`fill`] for a file on huge pages: sized first, then written from a
/// mapping of the source in one write(2), so the kernel fills each huge
/// page in one piece.
///
/// Why not sendfile: it writes through a pipe, 64 KiB at a time, and tmpfs
/// zeroes the rest of a huge page that a write leaves partly filled (the
/// page must be up to date once written). That zeroing was a third of all
/// of sealrun's kernel time in a `--seal hugetmpfs run` (perf: 1.9 ms of
/// memset per run for a 6.7 MB binary, against 1.2 ms of copying). A source
/// that cannot be mapped (empty, or not a regular file) takes [`fill`].
fn fill_whole_folios(
    dst: BorrowedFd<'_>,
    source: &Source<'_>,
    expected: Option<u64>,
) -> Result<u64, Failure> {
    let Source::Fd(src) = source else {
        return fill(dst, source, expected);
    };
    let st = sys::fstat(*src)?;
    let len = st.st_size as u64;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || len == 0 {
        return fill(dst, source, expected);
    }
    // A source truncated under the mapping makes write(2) fail with EFAULT
    // (the kernel's copy meets the hole; nothing here reads the bytes), so
    // the strategy fails rather than copy a short binary.
    let map = sys::Mapped::file(*src, len as usize)?;
    sys::set_len(dst, len)?;
    sys::write_all(dst, map.bytes())?;
    check_size(dst, len, expected)
}

/// The copy is only good if the file holds what was copied and, where the
/// caller knows it, what it expected.
fn check_size(dst: BorrowedFd<'_>, copied: u64, expected: Option<u64>) -> Result<u64, Failure> {
    let size = sys::fstat(dst)?.st_size as u64;
    if size != copied || expected.is_some_and(|e| e != copied) {
        return Err(Failure::Unsuitable(format!(
            "short copy: copied {copied} bytes, file has {size}, expected {expected:?}"
        )));
    }
    Ok(copied)
}

/// A sealed, executable memfd holding a copy of `source`.
pub fn sealed_memfd(
    name: &str,
    source: &Source<'_>,
    expected: Option<u64>,
) -> Result<(OwnedFd, u64), Failure> {
    // Copy and seal on one CPU: see sys::on_one_cpu for the EBUSY it avoids.
    sys::on_one_cpu(|| sealed_memfd_here(name, source, expected))
}

fn sealed_memfd_here(
    name: &str,
    source: &Source<'_>,
    expected: Option<u64>,
) -> Result<(OwnedFd, u64), Failure> {
    let base = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // memfd names are limited to 249 bytes (EINVAL beyond, which would look
    // like "no MFD_EXEC" below): keep a char-boundary prefix.
    let name = match name
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|&end| end <= 200)
        .last()
    {
        Some(end) if end < name.len() => &name[..end],
        _ => name,
    };
    // Linux 6.3 added MFD_EXEC (and vm.memfd_noexec, which may forbid
    // executable memfds unless MFD_EXEC is passed); older kernels reject the
    // unknown flag with EINVAL, so retry without it.
    let fd = match sys::memfd_create(name, base | MemfdFlags::EXEC) {
        Err(e) if e.errno == Errno::INVAL => sys::memfd_create(name, base)?,
        other => other?,
    };
    let copied = fill(fd.as_fd(), source, expected)?;
    sys::fchmod(fd.as_fd(), 0o511)?;
    // F_SEAL_EXEC (6.3+) freezes the mode bits so nobody can make the copy
    // non-executable or setuid later; unknown on older kernels (EINVAL).
    match retry_busy(|| sys::add_seals(fd.as_fd(), SealFlags::EXEC)) {
        Err(e) if e.errno == Errno::INVAL => {
            tracing::debug!("F_SEAL_EXEC not supported by this kernel")
        }
        other => other?,
    }
    retry_busy(|| sys::add_seals(fd.as_fd(), REQUIRED_SEALS))?;
    let seals = sys::get_seals(fd.as_fd())?;
    if !seals.contains(REQUIRED_SEALS) {
        return Err(Failure::Unsuitable(format!(
            "memfd seals are {seals:?} after sealing"
        )));
    }
    Ok((fd, copied))
}

/// How many times to ask for F_SEAL_WRITE before giving up.
const SEAL_ATTEMPTS: u32 = 3;

/// Run `op` (an F_ADD_SEALS that includes, or implies, F_SEAL_WRITE) again
/// while it fails with EBUSY, at most [`SEAL_ATTEMPTS`] times in all.
///
/// Why: the kernel grants F_SEAL_WRITE only once no page of the file holds an
/// extra reference; it drains the LRU batches, waits up to ~150 ms, then gives
/// up with EBUSY. One CPU (see [`sys::on_one_cpu`]) removes the usual cause,
/// yet CI still saw it once in a few hundred sealed runs on a busy 2-CPU
/// machine (Linux 6.18), and here an unpinned loop met it once in 500 with the
/// very next call succeeding at once: the reference is transient. (This VM
/// runs DAMON — kdamond with a physical-address `pageout` scheme — which
/// takes page references while it samples and isolates pages: a likely
/// holder.) The kernel does the waiting, so no sleep is added; a reference
/// that outlives three rounds (a writable mapping or a pipe holding a page:
/// someone else is touching our memfd) is a real refusal and fails the
/// strategy.
fn retry_busy(mut op: impl FnMut() -> Result<(), SysError>) -> Result<(), SysError> {
    let mut attempt = 1;
    loop {
        match op() {
            Err(e) if e.errno == Errno::BUSY && attempt < SEAL_ATTEMPTS => {
                tracing::debug!(attempt, "{e}; asking again");
                attempt += 1;
            }
            Err(mut e) if e.errno == Errno::BUSY => {
                e.op = format!("{} (refused {SEAL_ATTEMPTS} times)", e.op);
                return Err(e);
            }
            other => return other,
        }
    }
}

/// How a private tmpfs asks for huge pages (`huge=` of tmpfs), best first.
/// `always` backs the whole file with 2 MiB pages where the kernel finds
/// them; `within_size` the part of it that fills whole huge pages.
///
/// `within_size` first: the copy is sized before it is written, so every
/// whole 2 MiB of it gets a huge page and the tail small pages, and the copy
/// holds exactly its own size (`always` rounds it up to the next 2 MiB and
/// zeroes that rest).
const HUGE_POLICIES: [&str; 2] = ["within_size", "always"];

/// An O_TMPFILE copy on a tmpfs nobody else has: created with fsopen,
/// mounted detached (no namespace lists it), and once the copy is written,
/// its only mount made read-only and dropped, so the copy is reachable only
/// through the O_PATH handle returned, on a mount no one can reconfigure.
///
/// With `huge`, the tmpfs uses transparent huge pages whatever the host's
/// `shmem_enabled` says: a 6 MB binary then needs 3 page allocations
/// instead of ~1,500, which is most of what a private copy costs (measured
/// in the issue: exec from the copy 2.4 ms vs 4.7 ms from a memfd). Kernels
/// without THP refuse both `huge=` values (EINVAL): the strategy fails and
/// the caller moves on.
///
/// The write barrier is the mount: read-only before the handle is returned
/// (a reopen for writing through /proc/<pid>/exe gets EROFS, whatever the
/// caller's capabilities), and dissolved when its fd closes, so nothing can
/// clone it (open_tree) or clear the flag (mount_setattr): both need the
/// mount to be in a namespace. The immutable flag is added too where tmpfs
/// supports it (Linux 6.0+), so even a writable path to the inode could not
/// be used.
pub fn private_tmpfs(
    huge: bool,
    source: &Source<'_>,
    expected: Option<u64>,
) -> Result<(OwnedFd, u64), Failure> {
    let fs = sys::fsopen("tmpfs")?;
    if huge {
        let mut refused = Vec::new();
        let ok = HUGE_POLICIES.iter().any(|policy| {
            match sys::fsconfig_set_string(fs.as_fd(), "huge", OsStr::new(policy)) {
                Ok(()) => true,
                Err(e) => {
                    refused.push(e.to_string());
                    false
                }
            }
        });
        if !ok {
            return Err(Failure::Unsuitable(format!(
                "this kernel's tmpfs offers no huge pages: {}",
                refused.join("; ")
            )));
        }
    }
    sys::fsconfig_set_string(fs.as_fd(), "mode", OsStr::new("0700"))?;
    sys::fsconfig_create(fs.as_fd(), "private tmpfs")?;
    let mnt = sys::fsmount(
        fs.as_fd(),
        MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV,
        "private tmpfs",
    )?;
    drop(fs);
    let rw = sys::openat(
        mnt.as_fd(),
        OsStr::new("."),
        OFlags::TMPFILE | OFlags::RDWR | OFlags::EXCL,
        Mode::from_raw_mode(0o700),
    )?;
    let copied = if huge {
        fill_whole_folios(rw.as_fd(), source, expected)?
    } else {
        fill(rw.as_fd(), source, expected)?
    };
    sys::fchmod(rw.as_fd(), 0o500)?;
    match sys::add_inode_flags(rw.as_fd(), IFlags::IMMUTABLE) {
        // tmpfs has inode flags since Linux 6.0; the read-only mount is the
        // barrier that does not depend on them.
        Err(e) if e.errno == Errno::NOTTY || e.errno == Errno::INVAL => {
            tracing::debug!("{e}: the private tmpfs copy relies on its read-only mount")
        }
        other => other?,
    }
    let handle = sys::reopen(rw.as_fd(), OFlags::PATH)?;
    // The mount refuses to become read-only while a file is open for
    // writing on it (EBUSY).
    drop(rw);
    make_read_only(mnt.as_fd())?;
    Ok((handle, copied))
}

/// How long [`make_read_only`] waits for other processes to let go of the
/// copy's writable file, in all.
const RDONLY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Makes the private tmpfs mount read-only once our writable fd is closed.
///
/// In a multithreaded caller, a fork in another thread at the wrong moment
/// gives its child a duplicate of that fd (the same open file), which it
/// holds until it execs (O_CLOEXEC) or exits; meanwhile the kernel refuses
/// the read-only flag with EBUSY. Seen in 24 of 100 copies made while two
/// threads spawned `true` in a loop (`hugetmpfs_copy_survives_concurrent_forks`).
/// The window is a fork-to-exec, so it is waited out, backing off from
/// 50 µs, for at most [`RDONLY_WAIT`]; the copy is never returned writable.
fn make_read_only(mnt: BorrowedFd<'_>) -> Result<(), SysError> {
    let start = std::time::Instant::now();
    let mut pause = std::time::Duration::from_micros(50);
    loop {
        match sys::mount_setattr(
            mnt,
            MountAttrFlags::MOUNT_ATTR_RDONLY
                | MountAttrFlags::MOUNT_ATTR_NOSUID
                | MountAttrFlags::MOUNT_ATTR_NODEV,
            MountAttrFlags::empty(),
            "private tmpfs",
        ) {
            Err(e) if e.errno == Errno::BUSY && start.elapsed() < RDONLY_WAIT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// Directories a temp copy may go to, in order: the caller's (runtime state
/// dir), $TMPDIR, then the usual suspects. Duplicates are dropped.
pub fn candidate_dirs(preferred: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = preferred.to_vec();
    if let Some(t) = std::env::var_os("TMPDIR").filter(|t| !t.is_empty()) {
        dirs.push(PathBuf::from(t));
    }
    for d in ["/tmp", "/var/tmp", "/dev/shm", "/run"] {
        dirs.push(PathBuf::from(d));
    }
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// Open `dir` and check that files in it could be executed at all.
fn exec_capable_dir(dir: &Path) -> Result<OwnedFd, Failure> {
    let fd = sys::open(dir, OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty())?;
    let vfs = sys::fstatvfs(fd.as_fd())?;
    if vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::NOEXEC) {
        return Err(Failure::Unsuitable(format!(
            "{} is mounted noexec",
            dir.display()
        )));
    }
    Ok(fd)
}

/// Turn a just-written private file into an O_PATH handle with no writer left:
/// a write fd would make execve fail with ETXTBSY and would be a way back in.
///
/// The file lives on a shared, writable filesystem, so the immutable inode
/// flag is the barrier against a container that reopens it for writing
/// (mode bits do not stop CAP_DAC_OVERRIDE, and the owner may chmod). Where
/// it cannot be set (no CAP_LINUX_IMMUTABLE, a filesystem without inode
/// flags), the copy is refused rather than left writable.
fn finish_private_file(rw: OwnedFd, what: &str) -> Result<OwnedFd, Failure> {
    sys::fchmod(rw.as_fd(), 0o500)?;
    sys::add_inode_flags(rw.as_fd(), IFlags::IMMUTABLE).map_err(|e| {
        Failure::Unsuitable(format!(
            "{what} cannot be made immutable, so a container could write it: {e}"
        ))
    })?;
    let st = sys::fstat(rw.as_fd())?;
    if st.st_nlink != 0 {
        return Err(Failure::Unsuitable(format!(
            "{what} still has {} links",
            st.st_nlink
        )));
    }
    let handle = sys::reopen(rw.as_fd(), OFlags::PATH)?;
    drop(rw);
    Ok(handle)
}

/// An O_TMPFILE copy: never has a name, so nothing can open it by path.
pub fn o_tmpfile(
    dirs: &[PathBuf],
    source: &Source<'_>,
    expected: Option<u64>,
) -> Result<(OwnedFd, u64), Failure> {
    try_dirs(dirs, |dir, dir_fd| {
        // O_EXCL: the file can never be linked into the filesystem later.
        let rw = sys::openat(
            dir_fd,
            OsStr::new("."),
            OFlags::TMPFILE | OFlags::RDWR | OFlags::EXCL,
            Mode::from_raw_mode(0o700),
        )
        .map_err(|e| SysError {
            target: format!("{} (O_TMPFILE)", dir.display()),
            ..e
        })?;
        let copied = fill(rw.as_fd(), source, expected)?;
        Ok((finish_private_file(rw, "O_TMPFILE copy")?, copied))
    })
}

/// A classic temp file, unlinked right after creation: the last resort for
/// filesystems without O_TMPFILE. Its name exists for microseconds, created
/// O_EXCL with mode 0700 in a directory we chose.
pub fn unlinked_temp(
    dirs: &[PathBuf],
    source: &Source<'_>,
    expected: Option<u64>,
) -> Result<(OwnedFd, u64), Failure> {
    try_dirs(dirs, |dir, dir_fd| {
        let mut attempt = 0;
        let (rw, name) = loop {
            let name = format!(
                ".exeseal-{}-{}",
                std::process::id(),
                crate::random_suffix(attempt)
            );
            match sys::openat(
                dir_fd,
                OsStr::new(&name),
                OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::NOFOLLOW,
                Mode::from_raw_mode(0o700),
            ) {
                Ok(fd) => break (fd, name),
                Err(e) if e.errno == Errno::EXIST && attempt < 16 => attempt += 1,
                Err(e) => {
                    return Err(SysError {
                        target: dir.join(&name).display().to_string(),
                        ..e
                    }
                    .into())
                }
            }
        };
        let unlinked = sys::unlinkat(dir_fd, OsStr::new(&name));
        unlinked?;
        let copied = fill(rw.as_fd(), source, expected)?;
        Ok((finish_private_file(rw, "unlinked temp copy")?, copied))
    })
}

fn try_dirs<T>(
    dirs: &[PathBuf],
    mut f: impl FnMut(&Path, BorrowedFd<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let mut reasons = Vec::new();
    for dir in candidate_dirs(dirs) {
        match exec_capable_dir(&dir).and_then(|fd| f(&dir, fd.as_fd())) {
            Ok(v) => return Ok(v),
            Err(e) => {
                tracing::debug!(dir = %dir.display(), error = %e, "temp dir unusable");
                reasons.push(format!("{}: {e}", dir.display()));
            }
        }
    }
    Err(Failure::Unsuitable(format!(
        "no usable directory ({})",
        reasons.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_copy_is_exact_and_holds_only_its_own_size() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIPPED huge-page copy: a tmpfs of our own needs root");
            return;
        }
        const HUGE: usize = 2 << 20;
        // Two whole huge pages and a tail that fills no third one.
        let data: Vec<u8> = (0..2 * HUGE + 12_345).map(|i| (i % 251) as u8).collect();
        let mut src = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut src, &data).unwrap();
        let fd = sys::open(src.path(), OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let (handle, copied) =
            match private_tmpfs(true, &Source::Fd(fd.as_fd()), Some(data.len() as u64)) {
                Err(Failure::Unsuitable(why)) if why.contains("no huge pages") => {
                    eprintln!("SKIPPED huge-page copy: {why}");
                    return;
                }
                other => other.unwrap(),
            };
        assert_eq!(copied, data.len() as u64);
        let readable = sys::reopen(handle.as_fd(), OFlags::RDONLY).unwrap();
        let copy = std::fs::read(format!("/proc/self/fd/{}", readable.as_raw_fd())).unwrap();
        assert!(copy == data, "the copy has the source's bytes");
        // `always` (or a copy not sized first) rounds the file up to whole
        // huge pages: 6 MiB held for 4 MiB and a bit.
        let held = sys::fstat(handle.as_fd()).unwrap().st_blocks as u64 * 512;
        assert_eq!(
            held,
            (data.len() as u64).div_ceil(4096) * 4096,
            "memory the copy holds"
        );
    }

    fn busy() -> Result<(), SysError> {
        Err(SysError::new("fcntl(F_ADD_SEALS)", "fd 9", Errno::BUSY))
    }

    #[test]
    fn ebusy_is_asked_again_then_given_up() {
        let mut calls = 0;
        assert_eq!(
            retry_busy(|| {
                calls += 1;
                if calls < SEAL_ATTEMPTS {
                    busy()
                } else {
                    Ok(())
                }
            }),
            Ok(())
        );
        assert_eq!(calls, SEAL_ATTEMPTS, "succeeds on the last allowed attempt");

        calls = 0;
        let err = retry_busy(|| {
            calls += 1;
            busy()
        })
        .unwrap_err();
        assert_eq!((err.errno, calls), (Errno::BUSY, SEAL_ATTEMPTS), "bounded");

        calls = 0;
        let err = retry_busy(|| {
            calls += 1;
            Err(SysError::new("op", "fd 9", Errno::PERM))
        })
        .unwrap_err();
        assert_eq!(
            (err.errno, calls),
            (Errno::PERM, 1),
            "other errors are not retried"
        );
    }

    /// The kernel behaviour the retry relies on: a page reference makes
    /// F_SEAL_WRITE fail with EBUSY, and once it is gone the next request
    /// succeeds. A pipe holding a spliced page stands in for the transient
    /// LRU-batch reference, released after the first refusal.
    #[test]
    fn seal_write_succeeds_once_a_page_reference_is_dropped() {
        use rustix::pipe::{pipe, splice, SpliceFlags};
        let fd = sys::memfd_create(
            "exeseal-pin-test",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .unwrap();
        assert_eq!(rustix::io::write(&fd, &[7u8; 4096]).unwrap(), 4096);
        let (r, w) = pipe().unwrap();
        let mut off = 0u64;
        let pinned = splice(&fd, Some(&mut off), &w, None, 4096, SpliceFlags::empty()).unwrap();
        assert_eq!(pinned, 4096);
        let mut pin = Some((r, w));
        let mut refusals = 0;
        retry_busy(|| {
            let out = sys::add_seals(fd.as_fd(), SealFlags::WRITE);
            if out.as_ref().is_err_and(|e| e.errno == Errno::BUSY) {
                refusals += 1;
                pin = None;
            }
            out
        })
        .unwrap();
        assert_eq!(
            refusals, 1,
            "the spliced page must have blocked the first F_SEAL_WRITE"
        );
        assert!(sys::get_seals(fd.as_fd())
            .unwrap()
            .contains(SealFlags::WRITE));
    }
}
