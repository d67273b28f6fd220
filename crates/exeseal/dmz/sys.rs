//! Everything `unsafe` in dmz: the process entry point, the raw syscalls and
//! the memset/memcpy that unoptimised builds call.
//!
//! There is no libc to lean on, so `_start` is written in assembly and hands
//! argc, argv and envp from the kernel's initial stack
//! (`argc, argv[0..argc], NULL, envp..., NULL, auxv...`) to [`entry`].
//! Nothing ever writes to that stack area, which is what makes the `'static`
//! borrows below sound.

use core::arch::{asm, global_asm};
use core::marker::PhantomData;
use core::mem::MaybeUninit;

// Another architecture needs its own `_start` and syscall numbers/ABI below.
// A silent fallback (e.g. linking libc) would quietly give up the tiny, sealed
// shim this crate exists for, so refuse to build instead.
#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!("dmz supports only Linux on x86_64 and aarch64; port _start and the syscalls in crates/exeseal/dmz/sys.rs");

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const WRITEV: usize = 20;
    pub const EXECVE: usize = 59;
    pub const EXIT_GROUP: usize = 231;
    pub const STAT: usize = 4;
}
#[cfg(target_arch = "aarch64")]
mod nr {
    pub const WRITEV: usize = 66;
    pub const EXECVE: usize = 221;
    pub const EXIT_GROUP: usize = 94;
    // aarch64 has no stat(2); newfstatat(AT_FDCWD, path, buf, 0) is the same.
    pub const NEWFSTATAT: usize = 79;
}

// x86_64: popping argc leaves rsp 8 bytes off 16-byte alignment, which is
// exactly what a callee sees after `call` pushed its return address, so a
// plain jmp enters `entry` with a correctly aligned frame (and `entry` never
// returns, so it needs no return address).
#[cfg(target_arch = "x86_64")]
global_asm!(
    ".globl _start",
    "_start:",
    "pop rdi",
    "mov rsi, rsp",
    "lea rdx, [rsi + rdi*8 + 8]",
    "jmp {entry}",
    entry = sym entry,
);
// aarch64: sp must stay 16-byte aligned, so read argc without popping.
#[cfg(target_arch = "aarch64")]
global_asm!(
    ".globl _start",
    "_start:",
    "ldr x0, [sp]",
    "add x1, sp, #8",
    "add x2, x1, x0, lsl #3",
    "add x2, x2, #8",
    "b {entry}",
    entry = sym entry,
);

/// # Safety
/// Only `_start` may call this, with the kernel-provided argc, argv and envp.
unsafe extern "C" fn entry(argc: usize, argv: *const *const u8, envp: *const *const u8) -> ! {
    crate::main(Args { argc, argv, envp })
}

/// The process's arguments and environment, straight off the initial stack.
/// Only [`entry`] can construct one, so the pointers are always the kernel's.
pub struct Args {
    argc: usize,
    argv: *const *const u8,
    envp: *const *const u8,
}

impl Args {
    /// `argv[0]` without its NUL terminator, or `None` if argv is empty.
    pub fn program(&self) -> Option<&'static [u8]> {
        if self.argc == 0 {
            return None;
        }
        // SAFETY: argc > 0, so argv[0] points at a NUL-terminated string the
        // kernel copied onto our stack; it is never modified and lives until
        // the process exits or execs, hence 'static.
        unsafe {
            let s = *self.argv;
            let mut len = 0;
            while *s.add(len) != 0 {
                len += 1;
            }
            Some(core::slice::from_raw_parts(s, len))
        }
    }

    /// Whether `argv[0]` names the very file this process runs from (same
    /// device and inode as `/proc/self/exe`). A container entrypoint that is
    /// a `#!/proc/self/exe` script gets the kernel to start the shim again as
    /// its interpreter, with `argv[0] = "/proc/self/exe"`; exec'ing that
    /// would start the shim again, with the same argv, forever (each round a
    /// full execve, spinning a CPU while `exec` never returns). The same
    /// holds for any other name of the shim (`/proc/1/exe` when it is pid 1,
    /// a `/proc/self/fd/N` link, a symlink to a copy), hence the inode test
    /// rather than a string compare. If `argv[0]` cannot be stat'ed, the
    /// execve that follows reports why.
    pub fn program_is_self(&self) -> bool {
        let mut program = MaybeUninit::<[u128; 9]>::uninit();
        let mut own = MaybeUninit::<[u128; 9]>::uninit();
        // SAFETY: argv[0] is a NUL-terminated string on the initial stack
        // (with argc == 0 it is the NULL terminator and stat fails with
        // EFAULT); the buffers are large enough for the kernel's struct stat
        // (144 bytes on x86_64, 128 on aarch64), and are read only after the
        // kernel filled them.
        unsafe {
            if stat(self.argv.read(), program.as_mut_ptr()) != 0
                || stat(c"/proc/self/exe".as_ptr().cast(), own.as_mut_ptr()) != 0
            {
                return false;
            }
            let (program, own) = (program.assume_init_ref(), own.assume_init_ref());
            // st_dev and st_ino are the first 16 bytes on both architectures.
            program[0] == own[0]
        }
    }

    /// `execve(argv[0], argv, envp)`. Returns only on failure, with the errno.
    pub fn exec(&self) -> usize {
        // SAFETY: all three pointers come from the kernel's initial stack and
        // are NULL-terminated as execve requires; with argc == 0, argv[0] is
        // the NULL terminator and the kernel reports EFAULT. A successful
        // execve never returns, so nothing here can observe the old image.
        let ret = unsafe {
            syscall3(
                nr::EXECVE,
                self.argv.read() as usize,
                self.argv as usize,
                self.envp as usize,
            )
        };
        ret.wrapping_neg() as usize
    }
}

/// One `struct iovec` for writev(2), borrowing the bytes it points at.
#[repr(C)]
pub struct IoVec<'a> {
    base: *const u8,
    len: usize,
    _bytes: PhantomData<&'a [u8]>,
}

impl<'a> IoVec<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        IoVec {
            base: bytes.as_ptr(),
            len: bytes.len(),
            _bytes: PhantomData,
        }
    }
}

/// Writes all of `iov` with a single writev(2), so concurrent writers to the
/// same stderr can't interleave inside our message. Errors are ignored: if
/// even stderr is unusable there is nobody left to tell.
// Out of line on purpose: if the syscall were inlined, `entry` would be a
// leaf function using the red zone, and LLVM then materialises every small
// constant with a 10-byte movabs instead of a 3-byte push/pop.
#[inline(never)]
pub fn writev(fd: usize, iov: &[IoVec<'_>]) {
    // SAFETY: every IoVec borrows a live byte slice for at least this call,
    // and the kernel only reads them.
    unsafe { syscall3(nr::WRITEV, fd, iov.as_ptr() as usize, iov.len()) };
}

pub fn exit(code: usize) -> ! {
    // SAFETY: exit_group takes no pointers and does not return.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        asm!("syscall", in("rax") nr::EXIT_GROUP, in("rdi") code, options(noreturn, nostack));
        #[cfg(target_arch = "aarch64")]
        asm!("svc 0", in("x8") nr::EXIT_GROUP, in("x0") code, options(noreturn, nostack));
    }
}

/// stat(2): 0 on success, else minus the errno.
///
/// # Safety
/// `path` must be NUL-terminated (or invalid, for EFAULT) and `buf` valid for
/// writing a `struct stat`.
// Out of line: called twice, and inlined twice it costs more bytes.
#[inline(never)]
unsafe fn stat(path: *const u8, buf: *mut [u128; 9]) -> isize {
    let ret: isize;
    // SAFETY: as the caller vouches; the asm clobbers only what the
    // kernel's syscall ABI says it clobbers.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        asm!("syscall", inlateout("rax") nr::STAT as isize => ret, in("rdi") path, in("rsi") buf,
             lateout("rcx") _, lateout("r11") _, options(nostack));
        #[cfg(target_arch = "aarch64")]
        asm!("svc 0", in("x8") nr::NEWFSTATAT, inlateout("x0") -100isize => ret, in("x1") path,
             in("x2") buf, in("x3") 0usize, options(nostack));
    }
    ret
}

/// # Safety
/// The syscall must be one whose pointer arguments are valid for it.
#[inline(always)]
unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; the asm only clobbers
    // what the kernel's syscall ABI says it clobbers.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a1, in("rsi") a2,
             in("rdx") a3, lateout("rcx") _, lateout("r11") _, options(nostack));
        #[cfg(target_arch = "aarch64")]
        asm!("svc 0", in("x8") n, inlateout("x0") a1 as isize => ret, in("x1") a2,
             in("x2") a3, options(nostack));
    }
    ret
}

// Unoptimised (dev-profile) code calls memset/memcpy for plain array
// initialisation and copies, and without libc nothing else provides them.
// Optimised builds never reference them and --gc-sections drops them. They
// are written as simple loops: #![no_builtins] stops LLVM from "optimising"
// these loops back into calls to themselves.

/// # Safety
/// Standard C contract: `dst` is valid for `n` writable bytes.
#[unsafe(no_mangle)]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: i < n, and the caller guarantees n writable bytes at dst.
        unsafe { dst.add(i).write(c as u8) };
    }
    dst
}

/// # Safety
/// Standard C contract: `src`/`dst` are valid for `n` bytes and don't overlap.
#[unsafe(no_mangle)]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: i < n, and the caller guarantees n valid bytes at both.
        unsafe { dst.add(i).write(src.add(i).read()) };
    }
    dst
}
