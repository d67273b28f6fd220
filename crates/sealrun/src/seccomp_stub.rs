//! `-ENOSYS` for syscalls newer than the container's seccomp profile.
//!
//! A profile lists the syscalls its author knew; with a deny-by-errno
//! default (`SCMP_ACT_ERRNO`, docker's, podman's and Kubernetes' profiles)
//! every syscall added to the kernel since fails with EPERM. Programs probe
//! new syscalls and fall back only on ENOSYS ("this kernel has no such
//! call"): glibc's clone3 for pthread_create, statx, faccessat2, openat2.
//! EPERM makes them fail instead. runc prepends a stub to the filter that
//! answers ENOSYS for every syscall number above the highest one the
//! profile names, per architecture. libcontainer 0.7.0
//! (`seccomp::initialize_seccomp`) loads libseccomp's filter as it is.
//!
//! sealrun adds the stub as a second filter, loaded after the profile's.
//! The kernel runs every filter and keeps the most restrictive action; of
//! equal actions, the most recently loaded filter's value. The stub only
//! ever answers ALLOW (lowest precedence: the profile decides) or ERRNO
//! (ENOSYS) for a number above the profile's highest, where a profile with
//! an errno default answers ERRNO too: so the stub can change the errno the
//! profile returns there, and nothing else. Profiles whose default is not
//! an errno get no stub (with a kill or trap default the profile's answer
//! would win anyway; with allow, log, trace or notify the stub would deny).
//!
//! Loading a filter takes no_new_privs or CAP_SYS_ADMIN: `lend` provides the
//! latter where the process has neither, as for `exec_seccomp`.

use libcontainer::oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag,
};
use libseccomp::{ScmpArch, ScmpSyscall};

use crate::sys;

/// `seccomp_data.arch` values (linux/audit.h: EM_* | 64-bit | little-endian
/// flags), which libc does not export.
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const AUDIT_ARCH_RISCV64: u32 = 0xC000_00F3;
const AUDIT_ARCH_S390X: u32 = 0x8000_0016;
const AUDIT_ARCH_PPC64LE: u32 = 0xC000_0015;

/// The x32 ABI's syscalls are x86_64's audit arch with this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The stub, as classic BPF for seccomp(2).
#[derive(Clone, Debug)]
pub struct Stub {
    program: Vec<libc::sock_filter>,
    /// seccomp(2) flags for the load.
    flags: libc::c_ulong,
}

/// The architectures the stub knows (the profile's names for them, their
/// audit arch), and how libseccomp numbers their syscalls.
fn arch_info(arch: Arch) -> Option<(ScmpArch, u32)> {
    Some(match arch {
        Arch::ScmpArchX86_64 => (ScmpArch::X8664, AUDIT_ARCH_X86_64),
        Arch::ScmpArchX32 => (ScmpArch::X32, AUDIT_ARCH_X86_64),
        Arch::ScmpArchX86 => (ScmpArch::X86, AUDIT_ARCH_I386),
        Arch::ScmpArchAarch64 => (ScmpArch::Aarch64, AUDIT_ARCH_AARCH64),
        Arch::ScmpArchArm => (ScmpArch::Arm, AUDIT_ARCH_ARM),
        Arch::ScmpArchRiscv64 => (ScmpArch::Riscv64, AUDIT_ARCH_RISCV64),
        Arch::ScmpArchS390x => (ScmpArch::S390X, AUDIT_ARCH_S390X),
        Arch::ScmpArchPpc64le => (ScmpArch::Ppc64Le, AUDIT_ARCH_PPC64LE),
        _ => return None,
    })
}

/// This machine's architecture, which libseccomp's filter always covers.
fn native() -> Option<Arch> {
    Some(if cfg!(target_arch = "x86_64") {
        Arch::ScmpArchX86_64
    } else if cfg!(target_arch = "aarch64") {
        Arch::ScmpArchAarch64
    } else if cfg!(target_arch = "x86") {
        Arch::ScmpArchX86
    } else if cfg!(target_arch = "arm") {
        Arch::ScmpArchArm
    } else if cfg!(target_arch = "riscv64") {
        Arch::ScmpArchRiscv64
    } else if cfg!(target_arch = "s390x") {
        Arch::ScmpArchS390x
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        Arch::ScmpArchPpc64le
    } else {
        return None;
    })
}

/// libseccomp's pseudo-numbers for the socket and ipc calls an arch
/// multiplexes (`__PNR_socket` -101 ... `__PNR_shmctl` -224); names the arch
/// does not have at all get numbers below -10000 and are left out.
const MULTIPLEXED: std::ops::RangeInclusive<i32> = -299..=-100;

/// The arches (of those the stub knows) with socketcall(2) and ipc(2).
fn multiplexes(arch: ScmpArch) -> bool {
    matches!(arch, ScmpArch::X86 | ScmpArch::S390X | ScmpArch::Ppc64Le)
}

/// The highest syscall number of `names` on `arch` (names that do not exist
/// there count not). None when a name is a multiplexed socket or ipc call
/// there (x86, s390x, ppc64le): libseccomp then also matches the direct
/// syscalls, numbered above the rest, and a limit taken from the others
/// would answer ENOSYS where the profile allows.
fn highest(names: &[String], arch: ScmpArch) -> Option<u32> {
    let mut max = None;
    for name in names {
        let Ok(nr) = ScmpSyscall::from_name_by_arch(name, arch) else {
            continue;
        };
        let nr = nr.as_raw_syscall();
        // On arches without socketcall/ipc (x86_64 and the rest) such a
        // number only says the call does not exist there (`send`, `recv`).
        if MULTIPLEXED.contains(&nr) && multiplexes(arch) {
            return None;
        }
        if nr >= 0 {
            max = max.max(Some(nr as u32));
        }
    }
    max
}

/// Whether the profile lets the process load another filter: the stub is
/// loaded under it, and a profile that denies seccomp(2) would make every
/// start fail (profiles recorded from a workload rarely list it).
fn allows_seccomp(profile: &LinuxSeccomp) -> bool {
    profile.syscalls().iter().flatten().any(|rule| {
        matches!(
            rule.action(),
            LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
        ) && rule.args().as_ref().is_none_or(Vec::is_empty)
            && rule.names().iter().any(|n| n == "seccomp")
    })
}

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

const LD_NR: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
const JEQ: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
const JGT: u32 = libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K;
const JSET: u32 = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
const RET: u32 = libc::BPF_RET | libc::BPF_K;
/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

fn ret_allow() -> libc::sock_filter {
    stmt(RET, libc::SECCOMP_RET_ALLOW)
}

fn ret_enosys() -> libc::sock_filter {
    stmt(RET, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32)
}

impl Stub {
    /// The stub for `profile`, whose rules name `names` (all of the
    /// bundle's, `prepare::seccomp_stub`), if it needs one: an errno default,
    /// seccomp(2) allowed, and an architecture the stub knows.
    pub fn for_profile(profile: &LinuxSeccomp, names: &[String]) -> Option<Self> {
        if profile.default_action() != LinuxSeccompAction::ScmpActErrno || !allows_seccomp(profile)
        {
            return None;
        }
        let mut arches: Vec<Arch> = profile.architectures().clone().unwrap_or_default();
        arches.extend(native());
        // The highest number named on `arch`, if the filter covers it and
        // names anything there (else the profile keeps all its numbers).
        let max_of = |arch: Arch| -> Option<u32> {
            let (scmp, _) = arch_info(arch)?;
            arches.contains(&arch).then(|| highest(names, scmp))?
        };
        let mut program = vec![stmt(LD_NR, ARCH_OFFSET)];
        let mut done = Vec::new();
        for &arch in &arches {
            let Some((_, audit)) = arch_info(arch) else {
                continue;
            };
            // x32 shares x86_64's audit arch: one block for both.
            if done.contains(&audit) {
                continue;
            }
            done.push(audit);
            if audit == AUDIT_ARCH_X86_64 {
                let (max64, max32) = (max_of(Arch::ScmpArchX86_64), max_of(Arch::ScmpArchX32));
                if max64.is_some() || max32.is_some() {
                    program.extend(block_x86_64(
                        max64.unwrap_or(u32::MAX),
                        max32.map_or(u32::MAX, |m| m | X32_SYSCALL_BIT),
                    ));
                }
            } else if let Some(max) = max_of(arch) {
                program.extend([
                    jump(JEQ, audit, 0, 4),
                    stmt(LD_NR, NR_OFFSET),
                    jump(JGT, max, 0, 1),
                    ret_enosys(),
                    ret_allow(),
                ]);
            }
        }
        if program.len() == 1 {
            return None;
        }
        program.push(ret_allow());
        // The profile's flags that concern the whole process: without
        // SPEC_ALLOW on this load too, the kernel turns the speculative
        // store bypass mitigation back on; LOG logs what the stub answers.
        let flags = profile
            .flags()
            .iter()
            .flatten()
            .map(|f| match f {
                LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                    libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
                }
                _ => 0,
            })
            .fold(0, |a, b| a | b);
        Some(Self { program, flags })
    }

    /// Loads the stub as a filter of the calling thread (process: the
    /// processes it is loaded in are single-threaded).
    pub fn load(&self) -> Result<(), String> {
        sys::load_seccomp_filter(&self.program, self.flags)
            .map_err(|e| format!("failed to load the -ENOSYS stub of the seccomp profile: {e}"))
    }
}

/// x86_64's block: x32 numbers (bit 30 set) against their own limit
/// (u32::MAX: none, the profile decides).
fn block_x86_64(max64: u32, max32: u32) -> [libc::sock_filter; 9] {
    [
        jump(JEQ, AUDIT_ARCH_X86_64, 0, 8),
        stmt(LD_NR, NR_OFFSET),
        jump(JSET, X32_SYSCALL_BIT, 3, 0),
        jump(JGT, max64, 0, 1),
        ret_enosys(),
        ret_allow(),
        jump(JGT, max32, 0, 1),
        ret_enosys(),
        ret_allow(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::oci_spec::runtime::{LinuxSeccompBuilder, LinuxSyscallBuilder};

    fn owned(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn profile_of(default: LinuxSeccompAction, names: Vec<String>) -> LinuxSeccomp {
        LinuxSeccompBuilder::default()
            .default_action(default)
            .architectures(vec![
                Arch::ScmpArchX86_64,
                Arch::ScmpArchX86,
                Arch::ScmpArchX32,
            ])
            .syscalls(vec![LinuxSyscallBuilder::default()
                .names(names)
                .action(LinuxSeccompAction::ScmpActAllow)
                .build()
                .unwrap()])
            .build()
            .unwrap()
    }

    /// The stub of a profile allowing `names` and seccomp(2).
    fn stub(default: LinuxSeccompAction, names: &[&str]) -> Option<Stub> {
        let mut names = owned(names);
        names.push("seccomp".into());
        Stub::for_profile(&profile_of(default, names.clone()), &names)
    }

    #[test]
    fn only_errno_defaults_that_allow_seccomp_get_a_stub() {
        for default in [
            LinuxSeccompAction::ScmpActAllow,
            LinuxSeccompAction::ScmpActLog,
            LinuxSeccompAction::ScmpActKill,
            LinuxSeccompAction::ScmpActTrace,
            LinuxSeccompAction::ScmpActNotify,
        ] {
            assert!(stub(default, &["read"]).is_none(), "{default:?}");
        }
        assert!(stub(LinuxSeccompAction::ScmpActErrno, &["read"]).is_some());
        // A profile that denies seccomp(2) would refuse the stub's load.
        let names = owned(&["read"]);
        let no_seccomp = profile_of(LinuxSeccompAction::ScmpActErrno, names.clone());
        assert!(Stub::for_profile(&no_seccomp, &names).is_none());
    }

    #[test]
    fn socketcall_arches_keep_the_profiles_answers() {
        // On x86 (i386) `socket` is a socketcall pseudo-number; libseccomp
        // also matches the direct socket syscall (359), above `read`.
        assert_eq!(highest(&owned(&["read", "socket"]), ScmpArch::X86), None);
        assert!(highest(&owned(&["read", "socket"]), ScmpArch::X8664).is_some());
        // A name x86_64 does not have at all is left out, not a reason to
        // drop the stub (`send` is a socketcall pseudo-number there too).
        assert_eq!(
            highest(
                &owned(&["read", "socketcall", "_llseek", "send"]),
                ScmpArch::X8664
            ),
            Some(0)
        );
    }

    /// What the stub answers for a syscall of `arch` (audit arch) and
    /// number `nr`: a classic-BPF interpreter for the few instructions it
    /// uses, so every arch's block (and its jump offsets) is checked, not
    /// only the one this machine runs.
    fn answer(stub: &Stub, arch: u32, nr: u32) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = stub.program[pc];
            let code = u32::from(i.code);
            let jump = |taken: bool| pc + 1 + usize::from(if taken { i.jt } else { i.jf });
            pc = match code {
                LD_NR => {
                    acc = if i.k == ARCH_OFFSET { arch } else { nr };
                    pc + 1
                }
                JEQ => jump(acc == i.k),
                JGT => jump(acc > i.k),
                JSET => jump(acc & i.k != 0),
                RET => return i.k,
                other => panic!("instruction {other:#x} at {pc}"),
            };
        }
    }

    #[test]
    fn every_arch_block_answers_above_its_own_limit() {
        let stub = stub(LinuxSeccompAction::ScmpActErrno, &["read"]).unwrap();
        let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        let allow = libc::SECCOMP_RET_ALLOW;
        let limit = |arch| {
            ScmpSyscall::from_name_by_arch("seccomp", arch)
                .unwrap()
                .as_raw_syscall() as u32
        };
        for (audit, max) in [
            (AUDIT_ARCH_X86_64, limit(ScmpArch::X8664)),
            (AUDIT_ARCH_X86_64, limit(ScmpArch::X32)),
            (AUDIT_ARCH_I386, limit(ScmpArch::X86)),
        ] {
            assert_eq!(answer(&stub, audit, max), allow, "{audit:#x} {max}");
            assert_eq!(
                answer(&stub, audit, max + 1),
                enosys,
                "{audit:#x} {}",
                max + 1
            );
            assert_eq!(answer(&stub, audit, 0), allow);
        }
        // An arch the profile does not cover: the profile decides.
        assert_eq!(answer(&stub, AUDIT_ARCH_AARCH64, 5000), allow);
    }

    fn errno_under_stub(stub: &Stub, nr: libc::c_long) -> i32 {
        crate::sys::errno_in_child_after(|| stub.load(), nr)
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn numbers_above_the_profile_get_enosys_others_pass() {
        // seccomp (317) is the highest name here.
        let stub = stub(
            LinuxSeccompAction::ScmpActErrno,
            &["read", "getppid", "close"],
        )
        .unwrap();
        assert_eq!(errno_under_stub(&stub, 1000), libc::ENOSYS);
        assert_eq!(
            errno_under_stub(&stub, libc::SYS_getrandom),
            libc::ENOSYS,
            "318"
        );
        assert_eq!(errno_under_stub(&stub, libc::SYS_clone3), libc::ENOSYS);
        // At or below the highest: the stub allows; the kernel answers.
        assert_eq!(errno_under_stub(&stub, libc::SYS_getppid), 0);
        assert_eq!(errno_under_stub(&stub, libc::SYS_close), libc::EBADF);
        // x32 numbers (bit 30) are judged against x32's own highest.
        let x32_max = ScmpSyscall::from_name_by_arch("seccomp", ScmpArch::X32)
            .unwrap()
            .as_raw_syscall() as u32;
        assert!(x32_max & X32_SYSCALL_BIT != 0);
        let limits: Vec<u32> = stub
            .program
            .iter()
            .filter(|i| u32::from(i.code) == JGT)
            .map(|i| i.k)
            .collect();
        assert!(limits.contains(&x32_max), "{limits:x?}");
        assert!(limits.contains(&(libc::SYS_seccomp as u32)), "{limits:x?}");
        // The i386 block has its own limit too.
        let i386_max = ScmpSyscall::from_name_by_arch("seccomp", ScmpArch::X86)
            .unwrap()
            .as_raw_syscall() as u32;
        assert!(limits.contains(&i386_max), "{limits:x?}");
    }
}
