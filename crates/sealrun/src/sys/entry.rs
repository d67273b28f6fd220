//! The first image of a plain sealed call, run at the ELF entry point: build
//! the overlay and re-execute before libc or Rust start at all.
//!
//! Why: with `--seal overlayfs` (and `auto`) every call starts the runtime
//! twice, and the first start exists only to re-execute. For the 5.7 MB
//! static-PIE binary that start costs ~0.7 ms more than a tiny program's:
//! glibc's self-relocation writes every page of .data.rel.ro (~77
//! copy-on-write faults), then IFUNC resolution, stdio, Rust's runtime
//! set-up and argv/env copies — all for an image that is replaced a few
//! syscalls later. A prototype launcher doing only the syscalls below cut
//! overlayfs from 1.13x to 1.05x of `--seal none` (bench/RESULTS.md).
//!
//! The linker's entry point (`-e sealrun_entry`, build.rs) is
//! [`sealrun_entry`]: it calls [`fast_entry`] with the initial stack and,
//! if that returns, restores the stack and jumps to glibc's `_start` as if
//! nothing had happened. So this path may only ever *decline*: on any doubt
//! (an option it does not know, another mode, not root, no shared dummy
//! layer yet, any failed syscall) it closes what it opened and returns, and
//! the normal path (`early.rs`, then clap) decides, with full error reports.
//! The re-executed image verifies its protection exactly as after the
//! normal path's re-exec (exeseal's token checks), so a mistake here can
//! cost a refused start, never an unprotected one.
//!
//! The rules of this code, because it runs before relocation: no libc call,
//! no std, no allocation, no panic (raw pointers and checked loops instead
//! of indexing), no static holding a pointer (tables of strings would hold
//! unrelocated addresses: comparisons are spelled out), and byte loops use
//! volatile accesses so LLVM cannot turn them into memcmp/memcpy/strlen
//! calls (IFUNCs not yet resolved). Integer constants and string literals
//! are fine: both are reached PC-relative. A mistake there would not go
//! unnoticed: an unrelocated pointer or IFUNC call crashes every sealed
//! start, and `plain_lines_seal_at_the_entry_point_others_after_libc_start`
//! (tests/seal_modes.rs) fails unless this path really sealed.
//!
//! The private-copy modes (`hugetmpfs`, and `hardened`, whose first choice
//! it is) take the same shortcut with exeseal's huge-page copy: a detached
//! tmpfs of our own, the binary written in whole huge pages, the mount made
//! read-only before the re-exec. Their first image pays glibc's start-up
//! too, and on a virtual machine that includes ~0.45 ms of trapping CPUID
//! instructions (glibc's cache-size probe, perf here), per start.
//!
//! Only x86_64 has the entry stub; elsewhere sealrun starts normally.

#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use core::mem::MaybeUninit;
use core::ptr::{read_volatile, write_volatile};

macro_rules! marker_env {
    () => {
        "_SEALRUN_SEALED_AT_ENTRY"
    };
}
/// Set in the re-executed image's environment (and removed first thing in
/// `main`), so logs and tests can tell which path sealed.
pub const MARKER_ENV: &str = marker_env!();
/// `MARKER_ENV=1`, NUL-terminated: the entry this path adds.
const MARKER_ENTRY: &str = concat!(marker_env!(), "=1\0");

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl sealrun_entry",
    ".type sealrun_entry,@function",
    "sealrun_entry:",
    // The kernel's initial stack (argc, argv, envp, auxv) and %rdx (the
    // dynamic linker's atexit hook; 0 for a static binary) must reach
    // _start untouched: keep them in callee-saved registers.
    "  mov r12, rsp",
    "  mov r13, rdx",
    "  mov rdi, rsp",
    "  and rsp, -16",
    "  call {fast}",
    "  mov rsp, r12",
    "  mov rdx, r13",
    "  jmp _start",
    fast = sym fast_entry,
);

/// Seals and re-executes, or returns (declines) — see the module docs.
///
/// # Safety
/// `sp` is the initial process stack: argc, argv[argc] + NULL, envp + NULL.
#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn fast_entry(sp: *const usize) {
    let argc = *sp;
    if argc == 0 {
        return; // (Linux 5.18+ never starts a program so) argv[1] would be envp
    }
    let argv = sp.add(1) as *const *const u8;
    let envp = argv.add(argc + 1);
    let mut fds = Fds::new();
    let _ = seal_and_reexec(argv, envp, &mut fds);
    // Declined: close what we opened; the normal path starts clean.
}

/// Why the fast path declined; only for tests (the process never says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decline {
    Line,
    Env,
    NotRoot,
    Exe,
    Dummy,
    Mount,
    Copy,
    Exec,
}

/// How a command line this path takes is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// `overlayfs` or `auto`: the zero-copy overlay.
    Overlay,
    /// `hugetmpfs` or `hardened`: a private copy in huge pages.
    HugeCopy,
}

/// How to seal a command line, if this path takes it (`overlayfs` or
/// `auto`, stated or by default; `hugetmpfs` or `hardened`). Stricter than
/// `early::seal_mode`: it may decline lines that one takes, never take a
/// line differently.
///
/// # Safety
/// `argv` is a NULL-terminated array of NUL-terminated strings; `seal_env`
/// is null or a NUL-terminated string.
pub unsafe fn takes_line(argv: *const *const u8, seal_env: *const u8) -> Option<Plan> {
    let mut seal: *const u8 = core::ptr::null();
    let mut i = 1;
    loop {
        let arg = *argv.add(i);
        if arg.is_null() || !is_ascii(arg) {
            return None; // early.rs bails on non-UTF-8: never take more
        }
        i += 1;
        if let Some(v) = after(arg, b"--seal=") {
            seal = v;
        } else if eq(arg, b"--seal") {
            seal = *argv.add(i);
            if seal.is_null() || !is_ascii(seal) {
                return None;
            }
            i += 1;
        } else if after(arg, b"--root=").is_some()
            || after(arg, b"--log=").is_some()
            || after(arg, b"--log-format=").is_some()
            || eq(arg, b"--debug")
            || eq(arg, b"--systemd-cgroup")
            || eq(arg, b"-s")
        {
        } else if eq(arg, b"--root")
            || eq(arg, b"-r")
            || eq(arg, b"--log")
            || eq(arg, b"-l")
            || eq(arg, b"--log-format")
        {
            let value = *argv.add(i);
            if value.is_null() || !is_ascii(value) {
                return None;
            }
            i += 1;
        } else if eq(arg, b"run") || eq(arg, b"create") || eq(arg, b"exec") {
            break;
        } else {
            return None;
        }
    }
    // After the subcommand: a later --seal or a help/version word is clap's.
    loop {
        let arg = *argv.add(i);
        if arg.is_null() {
            break;
        }
        i += 1;
        if after(arg, b"--seal").is_some()
            || eq(arg, b"-h")
            || eq(arg, b"--help")
            || eq(arg, b"-V")
            || eq(arg, b"--version")
        {
            return None;
        }
    }
    if seal.is_null() {
        seal = seal_env;
    }
    if seal.is_null() || eq(seal, b"auto") || eq(seal, b"overlayfs") {
        Some(Plan::Overlay)
    } else if eq(seal, b"hugetmpfs") || eq(seal, b"hardened") {
        Some(Plan::HugeCopy)
    } else {
        None
    }
}

unsafe fn seal_and_reexec(
    argv: *const *const u8,
    envp: *const *const u8,
    fds: &mut Fds,
) -> Result<(), Decline> {
    // Room for the token, the marker and the NULL after the copied entries.
    let mut env: [MaybeUninit<*const u8>; MAX_ENV + 3] =
        [const { MaybeUninit::uninit() }; MAX_ENV + 3];
    let (n, seal_env) = scan_env(envp, env.as_mut_ptr() as *mut *const u8)?;
    let plan = takes_line(argv, seal_env).ok_or(Decline::Line)?;
    if raw::geteuid() != 0 {
        return Err(Decline::NotRoot); // the user-namespace path is the normal one's
    }

    // The running binary, by path, and proof that the path still names it.
    let mut path: [MaybeUninit<u8>; PATH_MAX] = [const { MaybeUninit::uninit() }; PATH_MAX];
    let p = path.as_mut_ptr() as *mut u8;
    let len = raw::readlink(c"/proc/self/exe".as_ptr().cast(), p, PATH_MAX - 1)
        .map_err(|_| Decline::Exe)?;
    write_volatile(p.add(len), 0);
    let exe = fds
        .push(raw::open(c"/proc/self/exe".as_ptr().cast(), O_PATH, 0))
        .ok_or(Decline::Exe)?;
    let exe_st = raw::fstat(exe).ok_or(Decline::Exe)?;
    // Already on an overlay (sealmount) or a sealed memfd (memfd-bind): the
    // normal path accepts or rejects those. A plain file on tmpfs is sealed
    // like any other (detect.rs judges tmpfs files by their seals too).
    let magic = raw::fstatfs_type(exe).ok_or(Decline::Exe)?;
    if magic == OVERLAYFS_MAGIC {
        return Err(Decline::Exe);
    }
    if magic == TMPFS_MAGIC || magic == HUGETLBFS_MAGIC {
        let readable = fds
            .push(raw::open(
                c"/proc/self/exe".as_ptr().cast(),
                libc::O_RDONLY | libc::O_CLOEXEC,
                0,
            ))
            .ok_or(Decline::Exe)?;
        match raw::get_seals(readable) {
            Some(seals) if seals & libc::F_SEAL_WRITE == 0 => {}
            _ => return Err(Decline::Exe),
        }
    }
    if plan == Plan::HugeCopy {
        return huge_copy_and_reexec(argv, &mut env, n, &exe_st, fds);
    }
    let slash = last_slash(p, len).ok_or(Decline::Exe)?;
    if slash == 0 || read_volatile(p) != b'/' || ends_with(p, len, b" (deleted)") {
        return Err(Decline::Exe);
    }
    write_volatile(p.add(slash), 0);
    let name = p.add(slash + 1);
    let dir = fds
        .push(raw::open(p, O_PATH | libc::O_DIRECTORY, 0))
        .ok_or(Decline::Exe)?;
    let at = fds
        .push(raw::openat(dir, name, O_PATH | libc::O_NOFOLLOW))
        .ok_or(Decline::Exe)?;
    let at_st = raw::fstat(at).ok_or(Decline::Exe)?;
    if at_st.st_dev != exe_st.st_dev || at_st.st_ino != exe_st.st_ino {
        return Err(Decline::Exe);
    }

    // The shared dummy layer, only as exeseal would accept it (root's, not
    // group/other-writable, empty); creating it is the normal path's job.
    let run = fds
        .push(raw::open(
            c"/run/exeseal".as_ptr().cast(),
            O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        ))
        .ok_or(Decline::Dummy)?;
    only_root_writes(run)?;
    let empty = fds
        .push(raw::openat(
            run,
            c"empty".as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        ))
        .ok_or(Decline::Dummy)?;
    only_root_writes(empty)?;
    if !raw::dir_is_empty(empty) {
        return Err(Decline::Dummy);
    }

    // The overlay, as exeseal's fd-shared form builds it.
    let fs = fds
        .push(raw::fsopen(c"overlay".as_ptr().cast()))
        .ok_or(Decline::Mount)?;
    let lower = c"lowerdir+".as_ptr().cast();
    raw::fsconfig(fs, libc::FSCONFIG_SET_FD, lower, core::ptr::null(), dir)
        .ok_or(Decline::Mount)?;
    raw::fsconfig(fs, libc::FSCONFIG_SET_FD, lower, core::ptr::null(), empty)
        .ok_or(Decline::Mount)?;
    raw::fsconfig(
        fs,
        libc::FSCONFIG_SET_STRING,
        c"xino".as_ptr().cast(),
        c"off".as_ptr().cast(),
        0,
    )
    .ok_or(Decline::Mount)?;
    raw::fsconfig_create(fs).ok_or(Decline::Mount)?;
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOSUID;
    let mnt = fds.push(raw::fsmount(fs, attrs)).ok_or(Decline::Mount)?;
    let sealed = fds
        .push(raw::openat(mnt, name, O_PATH | libc::O_NOFOLLOW))
        .ok_or(Decline::Mount)?;
    let st = raw::fstat(sealed).ok_or(Decline::Mount)?;
    // exeseal's verify_same_content: with xino=off the lower inode number.
    if st.st_mode & libc::S_IFMT != libc::S_IFREG
        || st.st_ino != exe_st.st_ino
        || st.st_size != exe_st.st_size
        || (st.st_mtime, st.st_mtime_nsec) != (exe_st.st_mtime, exe_st.st_mtime_nsec)
        || (st.st_ctime, st.st_ctime_nsec) != (exe_st.st_ctime, exe_st.st_ctime_nsec)
    {
        return Err(Decline::Mount);
    }

    reexec(sealed, argv, &mut env, n, b"overlayfs", &st, 0)
}

/// The environment for the sealed image (the caller's `n` entries, exeseal's
/// token naming `strategy` and `sealed`'s inode, the marker), then the
/// re-exec from `sealed`; returns only if execveat failed.
unsafe fn reexec(
    sealed: i32,
    argv: *const *const u8,
    env: &mut [MaybeUninit<*const u8>; MAX_ENV + 3],
    n: usize,
    strategy: &[u8],
    st: &libc::stat,
    bytes_copied: u64,
) -> Result<(), Decline> {
    let mut token: [MaybeUninit<u8>; TOKEN_MAX] = [const { MaybeUninit::uninit() }; TOKEN_MAX];
    let t = token.as_mut_ptr() as *mut u8;
    write_token(t, strategy, st.st_dev, st.st_ino, bytes_copied);
    env.as_mut_ptr().add(n).write(MaybeUninit::new(t));
    env.as_mut_ptr()
        .add(n + 1)
        .write(MaybeUninit::new(MARKER_ENTRY.as_ptr()));
    env.as_mut_ptr()
        .add(n + 2)
        .write(MaybeUninit::new(core::ptr::null()));
    raw::execveat(sealed, argv, env.as_ptr() as *const *const u8);
    Err(Decline::Exec)
}

/// exeseal's `hugetmpfs` strategy (`copy::private_tmpfs`), step for step,
/// so the re-executed image passes the same check (detect.rs): an O_TMPFILE
/// copy (no name, no link) on a tmpfs of our own with huge pages, mode 0500,
/// immutable where tmpfs has inode flags, its only mount detached and made
/// read-only before the re-exec, and kept only as an O_PATH handle. Sized
/// first and written from a populated mapping in one write(2), so the kernel
/// fills whole huge pages (copy.rs says why). Any failure declines: the
/// normal path then tries the mode's strategies in order, with full errors.
unsafe fn huge_copy_and_reexec(
    argv: *const *const u8,
    env: &mut [MaybeUninit<*const u8>; MAX_ENV + 3],
    n: usize,
    exe_st: &libc::stat,
    fds: &mut Fds,
) -> Result<(), Decline> {
    let src = fds
        .push(raw::open(
            c"/proc/self/exe".as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC,
            0,
        ))
        .ok_or(Decline::Exe)?;
    let src_st = raw::fstat(src).ok_or(Decline::Exe)?;
    let size = src_st.st_size as usize;
    if src_st.st_mode & libc::S_IFMT != libc::S_IFREG
        || src_st.st_dev != exe_st.st_dev
        || src_st.st_ino != exe_st.st_ino
        || size == 0
    {
        return Err(Decline::Exe);
    }

    let fs = fds
        .push(raw::fsopen(c"tmpfs".as_ptr().cast()))
        .ok_or(Decline::Mount)?;
    let set = |key: &core::ffi::CStr, value: &core::ffi::CStr| {
        raw::fsconfig(
            fs,
            libc::FSCONFIG_SET_STRING,
            key.as_ptr().cast(),
            value.as_ptr().cast(),
            0,
        )
    };
    // exeseal's HUGE_POLICIES, in its order.
    set(c"huge", c"within_size")
        .or_else(|| set(c"huge", c"always"))
        .ok_or(Decline::Mount)?;
    set(c"mode", c"0700").ok_or(Decline::Mount)?;
    raw::fsconfig_create(fs).ok_or(Decline::Mount)?;
    let mnt = fds
        .push(raw::fsmount(
            fs,
            libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        ))
        .ok_or(Decline::Mount)?;
    let rw = fds
        .push(raw::openat_mode(
            mnt,
            c".".as_ptr().cast(),
            libc::O_TMPFILE | libc::O_RDWR | libc::O_EXCL | libc::O_CLOEXEC,
            0o700,
        ))
        .ok_or(Decline::Copy)?;
    raw::ftruncate(rw, size).ok_or(Decline::Copy)?;
    let map = raw::mmap_populated(src, size).ok_or(Decline::Copy)?;
    let written = raw::write_all(rw, map, size);
    raw::munmap(map, size);
    written.ok_or(Decline::Copy)?;
    match raw::fstat(rw) {
        Some(st) if st.st_size as usize == size => {}
        _ => return Err(Decline::Copy),
    }
    raw::fchmod(rw, 0o500).ok_or(Decline::Copy)?;
    match raw::add_immutable(rw) {
        // tmpfs has inode flags from Linux 6.0; the read-only mount is the
        // barrier that does not depend on them (as in exeseal).
        Ok(()) | Err(libc::ENOTTY) | Err(libc::EINVAL) => {}
        Err(_) => return Err(Decline::Copy),
    }
    // The O_PATH handle to execute, through /proc/self/fd/N: the writable
    // descriptor must be closed first (a mount with a file open for writing
    // cannot become read-only, and a file open for writing cannot run).
    let mut fd_path: [MaybeUninit<u8>; 32] = [const { MaybeUninit::uninit() }; 32];
    let fp = fd_path.as_mut_ptr() as *mut u8;
    let mut k = copy(fp, b"/proc/self/fd/");
    k += decimal(fp.add(k), rw as u64);
    write_volatile(fp.add(k), 0);
    let sealed = fds.push(raw::open(fp, O_PATH, 0)).ok_or(Decline::Copy)?;
    fds.close(rw);
    raw::mount_setattr(
        mnt,
        libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
    )
    .ok_or(Decline::Mount)?;
    let st = raw::fstat(sealed).ok_or(Decline::Copy)?;
    if st.st_size as usize != size || st.st_nlink != 0 || st.st_mode & 0o7777 != 0o500 {
        return Err(Decline::Copy);
    }
    reexec(sealed, argv, env, n, b"hugetmpfs", &st, size as u64)
}

/// Copies the environment's pointers to `out` (at most [`MAX_ENV`]) and
/// finds `SEALRUN_SEAL`: the first one, as getenv (so clap) reads it.
/// Declines where the normal path must decide: an exeseal knob or a previous
/// re-exec's token or marker, an empty `SEALRUN_SEAL` (clap's error), more
/// than `MAX_ENV` entries.
///
/// # Safety
/// `envp` is a NULL-terminated array of C strings; `out` has room for
/// `MAX_ENV` pointers.
pub unsafe fn scan_env(
    envp: *const *const u8,
    out: *mut *const u8,
) -> Result<(usize, *const u8), Decline> {
    let mut n = 0;
    let mut seal_env: *const u8 = core::ptr::null();
    loop {
        let e = *envp.add(n);
        if e.is_null() {
            return Ok((n, seal_env));
        }
        if n == MAX_ENV
            || after(e, b"_EXESEAL_").is_some()
            || after(e, b"EXESEAL_").is_some()
            || after(e, MARKER_ENV.as_bytes()).is_some()
        {
            return Err(Decline::Env);
        }
        if let Some(v) = after(e, b"SEALRUN_SEAL=") {
            if seal_env.is_null() {
                if read_volatile(v) == 0 {
                    return Err(Decline::Env);
                }
                seal_env = v;
            }
        }
        out.add(n).write(e);
        n += 1;
    }
}

/// exeseal's re-exec token, `_EXESEAL_REEXEC=1:STRATEGY:DEV:INO:BYTES`,
/// NUL-terminated (`tests::token_matches_exeseal` ties it to exeseal's encoder).
///
/// # Safety
/// `out` has room for [`TOKEN_MAX`] bytes; `strategy` is at most 16 bytes.
pub unsafe fn write_token(out: *mut u8, strategy: &[u8], dev: u64, ino: u64, bytes: u64) -> usize {
    let mut k = copy(out, exeseal::REEXEC_ENV.as_bytes());
    k += copy(out.add(k), b"=1:");
    k += copy(out.add(k), strategy);
    k += copy(out.add(k), b":");
    k += decimal(out.add(k), dev);
    k += copy(out.add(k), b":");
    k += decimal(out.add(k), ino);
    k += copy(out.add(k), b":");
    k += decimal(out.add(k), bytes);
    write_volatile(out.add(k), 0);
    k
}

pub const TOKEN_MAX: usize = 128;
const MAX_ENV: usize = 512;
const PATH_MAX: usize = 4096;
const O_PATH: i32 = libc::O_PATH | libc::O_CLOEXEC;
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;
const TMPFS_MAGIC: i64 = 0x0102_1994;
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

unsafe fn only_root_writes(fd: i32) -> Result<(), Decline> {
    match raw::fstat(fd) {
        Some(st) if st.st_uid == 0 && st.st_mode & 0o022 == 0 => Ok(()),
        _ => Err(Decline::Dummy),
    }
}

/// The string after `prefix` in the C string `s`, if it starts with it.
unsafe fn after(s: *const u8, prefix: &[u8]) -> Option<*const u8> {
    let mut i = 0;
    while i < prefix.len() {
        if read_volatile(s.add(i)) != *prefix.as_ptr().add(i) {
            return None; // also stops at s's NUL: no prefix byte is 0
        }
        i += 1;
    }
    Some(s.add(i))
}

unsafe fn is_ascii(s: *const u8) -> bool {
    let mut i = 0;
    loop {
        match read_volatile(s.add(i)) {
            0 => return true,
            c if c >= 0x80 => return false,
            _ => i += 1,
        }
    }
}

/// C string `s` equals `lit`.
unsafe fn eq(s: *const u8, lit: &[u8]) -> bool {
    matches!(after(s, lit), Some(rest) if read_volatile(rest) == 0)
}

unsafe fn ends_with(s: *const u8, len: usize, suffix: &[u8]) -> bool {
    len >= suffix.len() && eq(s.add(len - suffix.len()), suffix)
}

unsafe fn last_slash(s: *const u8, len: usize) -> Option<usize> {
    let mut i = len;
    while i > 0 {
        i -= 1;
        if read_volatile(s.add(i)) == b'/' {
            return Some(i);
        }
    }
    None
}

/// Copies `src` to `dst`; returns its length.
unsafe fn copy(dst: *mut u8, src: &[u8]) -> usize {
    let mut i = 0;
    while i < src.len() {
        write_volatile(dst.add(i), *src.as_ptr().add(i));
        i += 1;
    }
    i
}

/// Writes `v` in decimal; returns the number of digits (at most 20).
unsafe fn decimal(dst: *mut u8, mut v: u64) -> usize {
    let mut digits = 1;
    let mut rest = v / 10;
    while rest > 0 {
        digits += 1;
        rest /= 10;
    }
    let mut i = digits;
    while i > 0 {
        i -= 1;
        write_volatile(dst.add(i), b'0' + (v % 10) as u8);
        v /= 10;
    }
    digits
}

/// Descriptors this path opened, closed when it declines.
struct Fds {
    fds: [i32; 12],
    n: usize,
}

impl Fds {
    fn new() -> Self {
        Self {
            fds: [-1; 12],
            n: 0,
        }
    }

    /// Records `fd`; with no room left, closes it and declines (`None`).
    fn push(&mut self, fd: Option<i32>) -> Option<i32> {
        let fd = fd?;
        let Some(slot) = self.fds.get_mut(self.n) else {
            // SAFETY: just opened by this path, held nowhere else.
            unsafe { raw::close(fd) };
            return None;
        };
        *slot = fd;
        self.n += 1;
        Some(fd)
    }
}

impl Fds {
    /// Closes `fd` (one of ours) before the others.
    fn close(&mut self, fd: i32) {
        for slot in self.fds.iter_mut().take(self.n) {
            if *slot == fd {
                // SAFETY: opened by this path and recorded once.
                unsafe { raw::close(fd) };
                *slot = -1;
            }
        }
    }
}

impl Drop for Fds {
    fn drop(&mut self) {
        // iter().take(): no slice bounds check, whose panic path would
        // reach relocated data.
        for &fd in self.fds.iter().take(self.n) {
            if fd >= 0 {
                // SAFETY: descriptors this path opened and nothing else holds.
                unsafe { raw::close(fd) };
            }
        }
    }
}

/// Raw system calls: the `syscall` instruction, no libc (not started yet).
/// Each returns `None`/`Err` on any error: the caller only declines.
mod raw {
    use core::mem::MaybeUninit;

    #[cfg(target_arch = "x86_64")]
    unsafe fn syscall(n: i64, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
        let ret: isize;
        core::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d, in("r8") e,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
        ret
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn syscall(_: i64, _: usize, _: usize, _: usize, _: usize, _: usize) -> isize {
        -(libc::ENOSYS as isize)
    }

    /// [`syscall`] with a sixth argument (r9), for mmap's offset.
    #[cfg(target_arch = "x86_64")]
    unsafe fn syscall6(n: i64, a: [usize; 6]) -> isize {
        let ret: isize;
        core::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
        ret
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn syscall6(_: i64, _: [usize; 6]) -> isize {
        -(libc::ENOSYS as isize)
    }

    fn fd(r: isize) -> Option<i32> {
        (r >= 0).then_some(r as i32)
    }

    pub unsafe fn geteuid() -> u32 {
        syscall(libc::SYS_geteuid, 0, 0, 0, 0, 0) as u32
    }

    pub unsafe fn readlink(path: *const u8, buf: *mut u8, max: usize) -> Result<usize, ()> {
        let r = syscall(
            libc::SYS_readlinkat,
            libc::AT_FDCWD as usize,
            path as usize,
            buf as usize,
            max,
            0,
        );
        if r < 0 || r as usize >= max {
            return Err(());
        }
        Ok(r as usize)
    }

    pub unsafe fn open(path: *const u8, flags: i32, mode: u32) -> Option<i32> {
        fd(syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as usize,
            path as usize,
            flags as usize,
            mode as usize,
            0,
        ))
    }

    pub unsafe fn openat(dir: i32, name: *const u8, flags: i32) -> Option<i32> {
        fd(syscall(
            libc::SYS_openat,
            dir as usize,
            name as usize,
            flags as usize,
            0,
            0,
        ))
    }

    pub unsafe fn openat_mode(dir: i32, name: *const u8, flags: i32, mode: u32) -> Option<i32> {
        fd(syscall(
            libc::SYS_openat,
            dir as usize,
            name as usize,
            flags as usize,
            mode as usize,
            0,
        ))
    }

    pub unsafe fn ftruncate(fd: i32, len: usize) -> Option<()> {
        (syscall(libc::SYS_ftruncate, fd as usize, len, 0, 0, 0) == 0).then_some(())
    }

    pub unsafe fn fchmod(fd: i32, mode: u32) -> Option<()> {
        (syscall(libc::SYS_fchmod, fd as usize, mode as usize, 0, 0, 0) == 0).then_some(())
    }

    /// A read-only private mapping of `len` bytes of `fd`, populated.
    pub unsafe fn mmap_populated(fd: i32, len: usize) -> Option<*const u8> {
        let r = syscall6(
            libc::SYS_mmap,
            [
                0,
                len,
                libc::PROT_READ as usize,
                (libc::MAP_PRIVATE | libc::MAP_POPULATE) as usize,
                fd as usize,
                0, // offset
            ],
        );
        // Errors are -4095..=-1; any other value is the address.
        (!(-4095..0).contains(&r)).then_some(r as *const u8)
    }

    pub unsafe fn munmap(addr: *const u8, len: usize) {
        syscall(libc::SYS_munmap, addr as usize, len, 0, 0, 0);
    }

    /// write(2) until `len` bytes from `buf` are written.
    pub unsafe fn write_all(fd: i32, buf: *const u8, len: usize) -> Option<()> {
        let mut done = 0;
        while done < len {
            let r = syscall(
                libc::SYS_write,
                fd as usize,
                buf.add(done) as usize,
                len - done,
                0,
                0,
            );
            if r == -(libc::EINTR as isize) {
                continue;
            }
            if r <= 0 {
                return None;
            }
            done += r as usize;
        }
        Some(())
    }

    /// Adds FS_IMMUTABLE_FL to the inode's flags; the errno on failure.
    pub unsafe fn add_immutable(fd: i32) -> Result<(), i32> {
        let mut flags: libc::c_long = 0;
        let get = &mut flags as *mut libc::c_long as usize;
        let r = syscall(libc::SYS_ioctl, fd as usize, FS_IOC_GETFLAGS, get, 0, 0);
        if r < 0 {
            return Err(-r as i32);
        }
        flags |= FS_IMMUTABLE_FL;
        let set = &flags as *const libc::c_long as usize;
        let r = syscall(libc::SYS_ioctl, fd as usize, FS_IOC_SETFLAGS, set, 0, 0);
        if r < 0 {
            return Err(-r as i32);
        }
        Ok(())
    }
    const FS_IOC_GETFLAGS: usize = 0x8008_6601;
    const FS_IOC_SETFLAGS: usize = 0x4008_6602;
    const FS_IMMUTABLE_FL: libc::c_long = 0x10;

    /// mount_setattr(fd, "", AT_EMPTY_PATH) setting `attrs`.
    pub unsafe fn mount_setattr(fd: i32, attrs: u64) -> Option<()> {
        // struct mount_attr: attr_set, attr_clr, propagation, userns_fd.
        let attr: [u64; 4] = [attrs, 0, 0, 0];
        let r = syscall(
            libc::SYS_mount_setattr,
            fd as usize,
            c"".as_ptr() as usize,
            libc::AT_EMPTY_PATH as usize,
            attr.as_ptr() as usize,
            core::mem::size_of_val(&attr),
        );
        (r == 0).then_some(())
    }

    pub unsafe fn close(fd: i32) {
        syscall(libc::SYS_close, fd as usize, 0, 0, 0, 0);
    }

    pub unsafe fn fstat(fd: i32) -> Option<libc::stat> {
        let mut st = MaybeUninit::<libc::stat>::uninit();
        let r = syscall(
            libc::SYS_fstat,
            fd as usize,
            st.as_mut_ptr() as usize,
            0,
            0,
            0,
        );
        (r == 0).then(|| st.assume_init())
    }

    pub unsafe fn get_seals(fd: i32) -> Option<i32> {
        let r = syscall(
            libc::SYS_fcntl,
            fd as usize,
            libc::F_GET_SEALS as usize,
            0,
            0,
            0,
        );
        (r >= 0).then_some(r as i32)
    }

    pub unsafe fn fstatfs_type(fd: i32) -> Option<i64> {
        let mut st = MaybeUninit::<libc::statfs>::uninit();
        let r = syscall(
            libc::SYS_fstatfs,
            fd as usize,
            st.as_mut_ptr() as usize,
            0,
            0,
            0,
        );
        // f_type's width differs between architectures.
        #[allow(clippy::unnecessary_cast)]
        (r == 0).then(|| st.assume_init().f_type as i64)
    }

    /// Only "." and ".." in the directory open at `fd`.
    pub unsafe fn dir_is_empty(fd: i32) -> bool {
        let mut buf = MaybeUninit::<[u8; 1024]>::uninit();
        let p = buf.as_mut_ptr() as *mut u8;
        loop {
            let r = syscall(libc::SYS_getdents64, fd as usize, p as usize, 1024, 0, 0);
            if r == 0 {
                return true;
            }
            if r < 0 {
                return false;
            }
            // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
            let mut off = 0usize;
            while off < r as usize {
                let rec = p.add(off);
                let reclen = core::ptr::read_unaligned(rec.add(16) as *const u16) as usize;
                let name = rec.add(19);
                if !(super::eq(name, b".") || super::eq(name, b"..")) || reclen == 0 {
                    return false;
                }
                off += reclen;
            }
        }
    }

    pub unsafe fn fsopen(fs: *const u8) -> Option<i32> {
        fd(syscall(
            libc::SYS_fsopen,
            fs as usize,
            libc::FSOPEN_CLOEXEC as usize,
            0,
            0,
            0,
        ))
    }

    pub unsafe fn fsconfig(
        fs: i32,
        cmd: u32,
        key: *const u8,
        value: *const u8,
        aux: i32,
    ) -> Option<()> {
        let r = syscall(
            libc::SYS_fsconfig,
            fs as usize,
            cmd as usize,
            key as usize,
            value as usize,
            aux as usize,
        );
        (r == 0).then_some(())
    }

    /// FSCONFIG_CMD_CREATE: the superblock of the configured context.
    pub unsafe fn fsconfig_create(fs: i32) -> Option<()> {
        fsconfig(
            fs,
            libc::FSCONFIG_CMD_CREATE,
            core::ptr::null(),
            core::ptr::null(),
            0,
        )
    }

    pub unsafe fn fsmount(fs: i32, attrs: u64) -> Option<i32> {
        fd(syscall(
            libc::SYS_fsmount,
            fs as usize,
            libc::FSMOUNT_CLOEXEC as usize,
            attrs as usize,
            0,
            0,
        ))
    }

    pub unsafe fn execveat(fd: i32, argv: *const *const u8, envp: *const *const u8) {
        syscall(
            libc::SYS_execveat,
            fd as usize,
            c"".as_ptr() as usize,
            argv as usize,
            envp as usize,
            libc::AT_EMPTY_PATH as usize,
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::ffi::CString;

    use super::*;

    fn argv(line: &str) -> (Vec<CString>, Vec<*const u8>) {
        let owned: Vec<CString> = std::iter::once("sealrun")
            .chain(line.split_whitespace())
            .map(|s| CString::new(s).unwrap())
            .collect();
        let mut ptrs: Vec<*const u8> = owned.iter().map(|c| c.as_ptr().cast()).collect();
        ptrs.push(std::ptr::null());
        (owned, ptrs)
    }

    pub(crate) fn takes(line: &str, env: Option<&str>) -> bool {
        plan(line, env) == Some(Plan::Overlay)
    }

    pub(crate) fn plan(line: &str, env: Option<&str>) -> Option<Plan> {
        let (_keep, ptrs) = argv(line);
        let env = env.map(|v| CString::new(v).unwrap());
        let env_ptr = env.as_ref().map_or(std::ptr::null(), |c| c.as_ptr().cast());
        // SAFETY: NULL-terminated array of live C strings; env live or null.
        unsafe { takes_line(ptrs.as_ptr(), env_ptr) }
    }

    #[test]
    fn takes_plain_overlayfs_and_auto_lines_only() {
        for line in [
            "run -b b c",
            "--root /x run c",
            "--root=/x --seal overlayfs run c",
            "--seal=auto -r /x --log f --log-format json --debug -s exec c true",
            "--systemd-cgroup create c",
        ] {
            assert!(takes(line, None), "{line}");
        }
        for line in [
            "",
            "state c",
            "--seal memfd run c",
            "--seal none run c",
            "--seal",
            "--root",
            "--unknown run c",
            "run c --seal overlayfs",
            "run --help",
            "exec c -V",
            "-dh run c",
        ] {
            assert!(!takes(line, None), "{line}");
        }
        assert!(!takes("run c", Some("memfd")));
        assert!(takes("run c", Some("overlayfs")));
        assert!(
            !takes("--seal memfd run c", Some("overlayfs")),
            "the flag wins"
        );
        assert!(
            !takes("--root /caf\u{e9} run c", None),
            "non-ASCII: early.rs's to judge"
        );
        assert!(!takes("--root=/caf\u{e9} run c", None));
    }

    #[test]
    fn takes_private_copy_lines_for_the_huge_page_copy() {
        for line in [
            "--seal hugetmpfs run -b b c",
            "--seal=hardened --root /x create c",
            "--seal hardened exec c true",
        ] {
            assert_eq!(plan(line, None), Some(Plan::HugeCopy), "{line}");
        }
        assert_eq!(plan("run c", Some("hardened")), Some(Plan::HugeCopy));
        for line in [
            "--seal memfd run c",
            "--seal tmpfile run c",
            "--seal dmz run c",
            "--seal hardened state c",
        ] {
            assert_eq!(plan(line, None), None, "{line}");
        }
    }

    fn scan(env: &[&str]) -> Result<(usize, Option<String>), Decline> {
        let owned: Vec<CString> = env.iter().map(|e| CString::new(*e).unwrap()).collect();
        let mut ptrs: Vec<*const u8> = owned.iter().map(|c| c.as_ptr().cast()).collect();
        ptrs.push(std::ptr::null());
        let mut out = vec![std::ptr::null(); MAX_ENV];
        // SAFETY: NULL-terminated array of live C strings; out has MAX_ENV slots.
        let (n, seal) = unsafe { scan_env(ptrs.as_ptr(), out.as_mut_ptr())? };
        assert_eq!(&out[..n], &ptrs[..n], "pointers copied in order");
        // SAFETY: `seal` points into one of `owned`'s strings, still alive.
        let seal = (!seal.is_null()).then(|| {
            unsafe { std::ffi::CStr::from_ptr(seal.cast()) }
                .to_str()
                .unwrap()
                .to_owned()
        });
        Ok((n, seal))
    }

    #[test]
    fn environment_scan_reads_like_getenv_and_leaves_knobs_to_the_normal_path() {
        assert_eq!(scan(&["A=1", "B=2"]), Ok((2, None)));
        assert_eq!(
            scan(&["SEALRUN_SEAL=hardened", "SEALRUN_SEAL=overlayfs"]),
            Ok((2, Some("hardened".into()))),
            "the first one wins, as in getenv"
        );
        for knob in [
            "EXESEAL_FAIL=",
            "EXESEAL_OVERLAY_LAYERS=fd",
            "_EXESEAL_REEXEC=1:x",
            "_SEALRUN_SEALED_AT_ENTRY=1",
            "SEALRUN_SEAL=",
        ] {
            assert_eq!(scan(&["A=1", knob]), Err(Decline::Env), "{knob}");
        }
        let many: Vec<String> = (0..=MAX_ENV).map(|i| format!("V{i}=x")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(scan(&many[..MAX_ENV]).map(|r| r.0), Ok(MAX_ENV));
        assert_eq!(scan(&many), Err(Decline::Env), "more than MAX_ENV");
    }

    #[test]
    fn token_matches_exeseal() {
        for (dev, ino) in [(0, 0), (2049, 1_234_567), (u64::MAX, u64::MAX)] {
            let mut buf = [0u8; TOKEN_MAX];
            for (strategy, name, bytes) in [
                (exeseal::Strategy::Overlayfs, "overlayfs", 0),
                (exeseal::Strategy::Hugetmpfs, "hugetmpfs", u64::MAX),
            ] {
                assert_eq!(strategy.name(), name);
                // SAFETY: buf has TOKEN_MAX bytes.
                let len =
                    unsafe { write_token(buf.as_mut_ptr(), name.as_bytes(), dev, ino, bytes) };
                assert_eq!(buf[len], 0, "NUL-terminated");
                let ours = std::str::from_utf8(&buf[..len]).unwrap();
                let theirs = exeseal::reexec_env_entry(strategy, dev, ino, bytes);
                assert_eq!(ours, theirs);
            }
        }
    }
}
