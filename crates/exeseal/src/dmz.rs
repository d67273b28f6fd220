//! The dmz shim: a few hundred bytes of static code that only execve()s its
//! `argv[0]`. A container's final exec goes through a sealed copy of it, so a
//! `#!/proc/self/exe` entrypoint (which makes the kernel exec whatever is
//! /proc/self/exe at that moment) reaches the shim, never the runtime binary.

use std::ffi::CString;
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::{copy, Failure, Source, SysError};

/// The embedded shim (built from dmz/ by this crate's build script).
pub fn elf() -> &'static [u8] {
    crate::dmz_bytes::DMZ_ELF
}

/// A sealed, executable memfd copy of the shim (one per container start:
/// a few hundred bytes, so a private copy costs nothing worth sharing).
pub fn sealed() -> Result<OwnedFd, Failure> {
    copy::sealed_memfd(
        "exeseal:dmz",
        &Source::Bytes(elf()),
        Some(elf().len() as u64),
    )
    .map(|(fd, _)| fd)
}

/// Execute `argv` (`argv[0]` must be the program's path, already resolved)
/// through the sealed shim `dmz`. Returns only on failure.
pub fn exec(dmz: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> SysError {
    crate::sys::execveat(dmz, argv, envp)
}
