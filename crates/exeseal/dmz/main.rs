//! `dmz`: the last hop of a container's exec.
//!
//! The runtime seals a copy of this binary and `execveat`s it instead of the
//! container's program. If something in the container later re-executes
//! `/proc/self/exe` (the CVE-2019-5736 trick), it reaches these few hundred
//! harmless bytes rather than the runtime binary. This mirrors runc-dmz.
//!
//! # Calling convention
//!
//! The shim executes **its own `argv[0]`**, passing its whole `argv` and
//! `envp` through unchanged. The runtime therefore execs the sealed dmz fd
//! with `argv = [program, args...]`; from a shell that is
//! `bash -c 'exec -a /bin/echo ./dmz hi'`, which prints `hi`.
//!
//! It refuses to execute itself: an `argv[0]` that resolves to the shim's own
//! file (`/proc/self/exe`, as a `#!/proc/self/exe` entrypoint makes it) would
//! re-execute the shim forever; it fails with ELOOP instead.
//!
//! On failure it writes `exec <argv[0]>: <error>\n` to fd 2 and exits 127.
//! The error text matches Go's `syscall.Errno` strings (as runc-dmz did) so
//! callers see the same message whether the runtime or the shim failed;
//! errnos without a table entry print as `errno N`, which is also Go's style.
//!
//! No std, no libc: process entry, the raw syscalls and the two mem*
//! functions unoptimised builds need live in [`sys`], the only module with
//! `unsafe`.
//!
//! Size matters here (the release binary must stay within 1 KiB, checked by
//! tests/run.sh), which explains the few unidiomatic choices below; each is
//! there because it measurably shrank the binary.

#![no_std]
#![no_main]
// Without libc there is no strlen/memcpy to call: stop LLVM from turning
// our loops into calls to them.
#![no_builtins]
#![forbid(unsafe_op_in_unsafe_fn)]

mod sys;

/// Go's error strings for the errnos execve(2) realistically returns. Each
/// message is followed by a tag byte `0x80 | errno`; messages are ASCII, so
/// the high bit marks the tags. One flat string costs far fewer bytes than a
/// table of slices (each pointer+length pair alone is 16 bytes). Tag 0x80
/// ("errno 0") is dmz's own: there was no argv[0] to exec.
const ERRORS: &[u8] = b"\
no command\x80\
operation not permitted\x81\
no such file or directory\x82\
input/output error\x85\
argument list too long\x87\
exec format error\x88\
cannot allocate memory\x8c\
permission denied\x8d\
bad address\x8e\
not a directory\x94\
is a directory\x95\
invalid argument\x96\
text file busy\x9a\
file name too long\xa4\
too many levels of symbolic links\xa8";

const ELOOP: usize = 40;

fn strerror(errno: usize) -> Option<&'static [u8]> {
    let mut start = 0;
    for (i, &b) in ERRORS.iter().enumerate() {
        if b & 0x80 != 0 {
            if usize::from(b & 0x7f) == errno {
                return ERRORS.get(start..i);
            }
            start = i + 1;
        }
    }
    None
}

/// Formats `errno` in decimal into `buf`. The kernel's errnos are below
/// 4096, so four digits always suffice (u32 arithmetic is just smaller code).
fn decimal(errno: usize, buf: &mut [u8; 4]) -> &[u8] {
    let mut n = errno as u32;
    // Indexing with `i & 3` keeps every access visibly in bounds, so no
    // panic path (and the formatting machinery behind it) gets linked in.
    let mut i = 3;
    loop {
        buf[i & 3] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
        i -= 1;
    }
    &buf[i & 3..]
}

// Folded into `entry` so argc/argv/envp stay in registers; as a separate
// function this costs ~50 bytes.
#[inline(always)]
fn main(args: sys::Args) -> ! {
    // With no argv[0] there is nothing to exec: report errno 0, which reads
    // "no command" (Go's os/exec wording), i.e. `exec : no command`. Linux
    // >= 5.18 substitutes argv = [""] for an empty argv, so this is only
    // reachable on older kernels and not worth bytes for nicer spacing.
    //
    // A program that is the shim itself is refused with ELOOP, the errno the
    // kernel gives for an interpreter chain too deep: see
    // `Args::program_is_self`.
    let (program, errno) = match args.program() {
        Some(program) if args.program_is_self() => (program, ELOOP),
        Some(program) => (program, args.exec()),
        None => (&b""[..], 0),
    };
    let mut digits = [0; 4];
    let (what, detail) = match strerror(errno) {
        Some(msg) => (msg, &b""[..]),
        None => (&b"errno "[..], decimal(errno, &mut digits)),
    };
    sys::writev(
        2,
        &[
            sys::IoVec::new(b"exec "),
            sys::IoVec::new(program),
            sys::IoVec::new(b": "),
            sys::IoVec::new(what),
            sys::IoVec::new(detail),
            sys::IoVec::new(b"\n"),
        ],
    );
    sys::exit(127)
}

// Release builds contain no panic paths (nothing indexes out of bounds or
// overflows); should one ever be hit, fail like a failed exec.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::exit(127)
}
