//! Device access rules on cgroup v2, where the kernel has no `devices`
//! controller and a runtime must attach an eBPF program instead.
//!
//! ## Why sealrun does it
//!
//! libcgroups 0.7.0 does this only when built with its
//! `cgroupsv2_devices` feature (libbpf through libbpf-sys, C sources built
//! into the binary); without it `v2::devices::Devices::apply` returns
//! `Ok(())` having done nothing. On a pure cgroup v2 host a container then
//! opens any device it can `mknod`: with docker's default CAP_MKNOD it read
//! the host's block devices (measured: `mknod /dev/x b 7 0; head /dev/x`
//! succeeded, where the same spec on cgroup v1 gets EPERM).
//!
//! ## What the program enforces
//!
//! Exactly what the kernel's v1 `devices` controller would after the same
//! writes, so a container is confined the same on either host: the spec's
//! rules in order, then the defaults libcgroups' v1 controller appends
//! ([`default_rules`]), replayed through the v1 semantics ([`Rules::apply`])
//! and compiled to one `BPF_PROG_TYPE_CGROUP_DEVICE` program
//! ([`Rules::program`]). It is attached to the container's cgroup with
//! `BPF_F_ALLOW_MULTI` while the init waits for `start`, before any of the
//! container's code runs; programs attached above still apply too.

use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{bail, Context, Result};
use libcontainer::oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, Spec};

use crate::sys::{self, BpfInsn};

/// Device kinds as `struct bpf_cgroup_dev_ctx` numbers them
/// (`BPF_DEVCG_DEV_BLOCK`, `BPF_DEVCG_DEV_CHAR`).
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
/// Access bits (`BPF_DEVCG_ACC_*`), the same values the v1 controller uses.
const ACC_MKNOD: u8 = 1;
const ACC_READ: u8 = 2;
const ACC_WRITE: u8 = 4;
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Which devices a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Block,
    Char,
}

/// One exception of the v1 model: a device class (a `None` number is `*`)
/// and the accesses the exception is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exception {
    kind: Kind,
    major: Option<u32>,
    minor: Option<u32>,
    access: u8,
}

/// The v1 controller's state: a default and the exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    default_allow: bool,
    exceptions: Vec<Exception>,
}

impl Default for Rules {
    /// A fresh v1 cgroup under the root: everything allowed.
    fn default() -> Self {
        Self {
            default_allow: true,
            exceptions: Vec::new(),
        }
    }
}

impl Rules {
    /// The rules a container gets from its spec: its `devices` rules in
    /// order, then libcgroups' defaults, as its v1 controller writes them.
    pub fn for_spec(spec: &Spec) -> Result<Self> {
        let mut rules = Self::default();
        let spec_rules = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.devices().as_ref());
        for rule in spec_rules
            .into_iter()
            .flatten()
            .chain(default_rules().iter())
        {
            rules
                .apply(rule)
                .with_context(|| format!("bad device cgroup rule {rule:?}"))?;
        }
        Ok(rules)
    }

    /// One write to v1's `devices.allow` (rule.allow) or `devices.deny`,
    /// with the kernel's semantics (security/device_cgroup.c):
    /// - type `a` resets: the default becomes allow or deny, exceptions go;
    /// - a rule that agrees with the default removes the rule's access bits
    ///   from the exception with exactly its type and numbers (and drops
    ///   it when none are left);
    /// - a rule that disagrees adds an exception, merging access bits into
    ///   an exception with exactly its type and numbers.
    fn apply(&mut self, rule: &LinuxDeviceCgroup) -> Result<()> {
        let kind = match rule.typ().unwrap_or_default() {
            LinuxDeviceType::A => {
                self.default_allow = rule.allow();
                self.exceptions.clear();
                return Ok(());
            }
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
            LinuxDeviceType::P => bail!("type p (fifo) has no device cgroup rules"),
        };
        let number = |n: Option<i64>, what: &str| -> Result<Option<u32>> {
            match n {
                None | Some(-1) => Ok(None),
                // The program compares with a 32-bit signed immediate.
                Some(n) => match u32::try_from(n) {
                    Ok(n) if n <= i32::MAX as u32 => Ok(Some(n)),
                    _ => bail!("{what} number {n} is out of range"),
                },
            }
        };
        let mut access = 0;
        for c in rule.access().as_deref().unwrap_or("").chars() {
            access |= match c {
                'm' => ACC_MKNOD,
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                other => bail!("access {other:?} is not one of r, w, m"),
            };
        }
        let ex = Exception {
            kind,
            major: number(rule.major(), "major")?,
            minor: number(rule.minor(), "minor")?,
            access,
        };
        let same = |e: &Exception| e.kind == ex.kind && e.major == ex.major && e.minor == ex.minor;
        if rule.allow() == self.default_allow {
            for e in self.exceptions.iter_mut().filter(|e| same(e)) {
                e.access &= !ex.access;
            }
            self.exceptions.retain(|e| e.access != 0);
        } else if let Some(e) = self.exceptions.iter_mut().find(|e| same(e)) {
            e.access |= ex.access;
        } else {
            self.exceptions.push(ex);
        }
        Ok(())
    }

    /// Whether a request is allowed, as v1 judges it: with a deny default,
    /// when one exception covers every requested access; with an allow
    /// default, unless one exception shares any requested access. The
    /// compiled program must agree with this (see the tests).
    #[cfg(test)]
    fn allows(&self, kind: Kind, major: u32, minor: u32, access: u8) -> bool {
        let hit = |e: &&Exception| {
            e.kind == kind
                && e.major.is_none_or(|m| m == major)
                && e.minor.is_none_or(|m| m == minor)
                && if self.default_allow {
                    e.access & access != 0
                } else {
                    access & !e.access == 0
                }
        };
        match self.exceptions.iter().find(hit) {
            Some(_) => !self.default_allow,
            None => self.default_allow,
        }
    }

    /// The rules as a `BPF_PROG_TYPE_CGROUP_DEVICE` program: it returns 1
    /// (allow) or 0 (deny) for the request in `struct bpf_cgroup_dev_ctx
    /// { u32 access_type; u32 major; u32 minor; }`, where access_type is
    /// `access << 16 | type`.
    pub fn program(&self) -> Vec<BpfInsn> {
        // r2 = type, r3 = access, r4 = major, r5 = minor.
        let mut p = vec![
            ldx_w(2, 1, 0),
            mov_reg(3, 2),
            alu_imm(OP_AND, 2, 0xffff),
            alu_imm(OP_RSH, 3, 16),
            ldx_w(4, 1, 4),
            ldx_w(5, 1, 8),
        ];
        let verdict = i32::from(!self.default_allow);
        for e in &self.exceptions {
            // Each test jumps past the rest of this exception's block when
            // it does not match; the block ends in `r0 = verdict; exit`.
            let mut tests: Vec<(BpfInsn, bool)> = Vec::new(); // (insn, is_jump)
            let kind = match e.kind {
                Kind::Block => DEV_BLOCK,
                Kind::Char => DEV_CHAR,
            };
            tests.push((jmp_imm(OP_JNE, 2, kind), true));
            tests.push((mov_reg(1, 3), false));
            if self.default_allow {
                // Denied when any requested access is in the exception.
                tests.push((alu_imm(OP_AND, 1, i32::from(e.access)), false));
                tests.push((jmp_imm(OP_JEQ, 1, 0), true));
            } else {
                // Allowed when no requested access is outside it.
                tests.push((alu_imm(OP_AND, 1, i32::from(!e.access & ACC_ALL)), false));
                tests.push((jmp_imm(OP_JNE, 1, 0), true));
            }
            if let Some(major) = e.major {
                tests.push((jmp_imm(OP_JNE, 4, major as i32), true));
            }
            if let Some(minor) = e.minor {
                tests.push((jmp_imm(OP_JNE, 5, minor as i32), true));
            }
            let block_len = tests.len() + 2;
            for (i, (mut insn, is_jump)) in tests.into_iter().enumerate() {
                if is_jump {
                    // Offsets count from the next instruction.
                    insn.off = (block_len - i - 1) as i16;
                }
                p.push(insn);
            }
            p.push(mov_imm(0, verdict));
            p.push(exit());
        }
        p.push(mov_imm(0, i32::from(self.default_allow)));
        p.push(exit());
        p
    }
}

/// The rules libcgroups' v1 `devices` controller writes after the spec's
/// (`common::default_devices` as rwm, then `default_allow_devices`), so a
/// v2 container may use what the same container may use on v1: mknod of
/// any node; /dev/null, zero, full, tty, urandom, random; the console,
/// ptys and ptmx; tun.
fn default_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |kind, major, minor, access| device_rule(true, kind, major, minor, access);
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(5), Some(1), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
        rule(C, Some(10), Some(200), "rwm"),
    ]
}

/// One spec device rule (a `None` number: any).
fn device_rule(
    allow: bool,
    kind: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(Some(kind));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_owned()));
    r
}

/// Compiles the spec's device rules and attaches the program to the
/// container's cgroup v2 directory `cgroup`.
///
/// Only a process privileged in the initial user namespace may load
/// programs; a rootless runtime cannot, and needs not: its containers
/// cannot create device nodes (mknod of devices needs CAP_MKNOD in the
/// initial namespace), so they get the nodes bind-mounted from the host,
/// where the host's own permissions apply. Then EPERM is logged and
/// skipped; any other failure fails the create, never leaving the
/// container unconfined by accident.
pub fn confine(cgroup: &Path, spec: &Spec) -> Result<()> {
    let rules = Rules::for_spec(spec)?;
    let program = rules.program();
    let prog = match sys::load_cgroup_device_program(&program) {
        Ok(fd) => fd,
        Err(err)
            if err.kind() == std::io::ErrorKind::PermissionDenied
                && !rustix::process::geteuid().is_root() =>
        {
            tracing::debug!(error = %err, "not root: device rules left to the host's permissions");
            return Ok(());
        }
        Err(err) => return Err(err).context("failed to load the container's device rules"),
    };
    let dir = sys::open_dir_path(cgroup)?;
    sys::attach_cgroup_device_program(dir.as_fd(), prog.as_fd(), &cgroup.display().to_string())
        .context("failed to attach the container's device rules")?;
    tracing::debug!(cgroup = %cgroup.display(), exceptions = rules.exceptions.len(), default_allow = rules.default_allow, instructions = program.len(), "device rules attached");
    Ok(())
}

// Instruction encoding (include/uapi/linux/bpf.h, bpf_common.h).
const OP_AND: u8 = 0x50;
const OP_RSH: u8 = 0x70;
const OP_JEQ: u8 = 0x10;
const OP_JNE: u8 = 0x50;
const CLASS_ALU64: u8 = 0x07;
const CLASS_JMP: u8 = 0x05;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// `dst = *(u32 *)(src + off)` (BPF_LDX | BPF_MEM | BPF_W).
fn ldx_w(dst: u8, src: u8, off: i16) -> BpfInsn {
    insn(0x61, dst, src, off, 0)
}

/// `dst = src` (BPF_ALU64 | BPF_MOV | BPF_X).
fn mov_reg(dst: u8, src: u8) -> BpfInsn {
    insn(CLASS_ALU64 | 0xb0 | 0x08, dst, src, 0, 0)
}

/// `dst = imm` (BPF_ALU64 | BPF_MOV | BPF_K).
fn mov_imm(dst: u8, imm: i32) -> BpfInsn {
    insn(CLASS_ALU64 | 0xb0, dst, 0, 0, imm)
}

/// `dst op= imm` (BPF_ALU64 | op | BPF_K).
fn alu_imm(op: u8, dst: u8, imm: i32) -> BpfInsn {
    insn(CLASS_ALU64 | op, dst, 0, 0, imm)
}

/// `if dst op imm goto +off` (BPF_JMP | op | BPF_K); the offset is set by
/// the caller once the block's length is known.
fn jmp_imm(op: u8, dst: u8, imm: i32) -> BpfInsn {
    insn(CLASS_JMP | op, dst, 0, 0, imm)
}

/// `exit` (BPF_JMP | BPF_EXIT): return r0.
fn exit() -> BpfInsn {
    insn(CLASS_JMP | 0x90, 0, 0, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::device_rule as rule;

    fn rules(list: &[LinuxDeviceCgroup]) -> Rules {
        let mut r = Rules::default();
        for x in list {
            r.apply(x).unwrap();
        }
        r
    }

    /// A tiny interpreter for exactly the instructions `program` emits, so
    /// the compiled program can be checked against `allows` for every
    /// request without loading it into a kernel.
    fn run(p: &[BpfInsn], kind: i32, major: u32, minor: u32, access: u8) -> u64 {
        let ctx = [((access as u32) << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                0x61 => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                0xbf => r[dst] = r[src],
                0xb7 => r[dst] = i.imm as i64 as u64,
                0x57 => r[dst] &= i.imm as i64 as u64,
                0x77 => r[dst] >>= i.imm,
                0x15 | 0x55 => {
                    let eq = r[dst] == i.imm as i64 as u64;
                    if eq == (i.code == 0x15) {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                0x95 => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn agree(r: &Rules) {
        let p = r.program();
        for (kind, k) in [(Kind::Block, DEV_BLOCK), (Kind::Char, DEV_CHAR)] {
            for major in [0, 1, 5, 7, 10, 136, 254] {
                for minor in [0, 1, 2, 3, 5, 9, 200] {
                    for access in 1..=ACC_ALL {
                        let want = r.allows(kind, major, minor, access);
                        let got = run(&p, k, major, minor, access) == 1;
                        assert_eq!(
                            got, want,
                            "{kind:?} {major}:{minor} access {access:#b} under {r:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn runc_spec_default_denies_all_but_the_defaults() {
        use LinuxDeviceType::*;
        let mut spec_rules = vec![rule(false, A, None, None, "rwm")];
        spec_rules.extend(default_rules());
        let r = rules(&spec_rules);
        assert!(!r.default_allow);
        assert!(r.allows(Kind::Char, 1, 3, ACC_READ | ACC_WRITE));
        assert!(r.allows(Kind::Block, 7, 0, ACC_MKNOD));
        assert!(!r.allows(Kind::Block, 7, 0, ACC_READ));
        assert!(!r.allows(Kind::Char, 1, 1, ACC_READ), "/dev/mem");
        assert!(r.allows(Kind::Char, 136, 4, ACC_READ | ACC_WRITE), "a pty");
        agree(&r);
    }

    #[test]
    fn v1_semantics_partial_removal_and_merging() {
        use LinuxDeviceType::*;
        // deny default; allow 7:0 rw then m (merged); deny its r (removed).
        let r = rules(&[
            rule(false, A, None, None, "rwm"),
            rule(true, B, Some(7), Some(0), "rw"),
            rule(true, B, Some(7), Some(0), "m"),
            rule(false, B, Some(7), Some(0), "r"),
        ]);
        assert!(r.allows(Kind::Block, 7, 0, ACC_WRITE | ACC_MKNOD));
        assert!(!r.allows(Kind::Block, 7, 0, ACC_READ));
        agree(&r);
        // Removing every bit drops the exception.
        let r = rules(&[
            rule(false, A, None, None, "rwm"),
            rule(true, C, Some(42), None, "rw"),
            rule(false, C, Some(42), None, "rwm"),
        ]);
        assert!(r.exceptions.is_empty());
        // A deny of a wildcard does not touch a numbered exception (the
        // kernel removes only exact matches).
        let r = rules(&[
            rule(false, A, None, None, "rwm"),
            rule(true, C, Some(42), Some(1), "rw"),
            rule(false, C, Some(42), None, "rw"),
        ]);
        assert!(r.allows(Kind::Char, 42, 1, ACC_READ));
        agree(&r);
    }

    #[test]
    fn allow_default_with_a_blacklist() {
        use LinuxDeviceType::*;
        let r = rules(&[
            rule(true, A, None, None, "rwm"),
            rule(false, C, Some(1), None, "w"),
            rule(false, B, None, None, "r"),
        ]);
        assert!(r.allows(Kind::Char, 1, 3, ACC_READ));
        assert!(!r.allows(Kind::Char, 1, 3, ACC_READ | ACC_WRITE));
        assert!(!r.allows(Kind::Block, 254, 0, ACC_READ));
        assert!(r.allows(Kind::Block, 254, 0, ACC_WRITE));
        agree(&r);
        // The privileged spec: no rules at all, everything allowed.
        let r = rules(&[rule(true, A, None, None, "rwm")]);
        assert!(r.exceptions.is_empty() && r.default_allow);
        agree(&r);
    }

    #[test]
    fn bad_rules_are_named() {
        use LinuxDeviceType::*;
        let mut r = Rules::default();
        let err = r
            .apply(&rule(true, C, Some(1), Some(3), "rwx"))
            .unwrap_err();
        assert!(err.to_string().contains("'x'"), "{err}");
        let err = r
            .apply(&rule(true, C, Some(1 << 40), None, "r"))
            .unwrap_err();
        assert!(err.to_string().contains("major number"), "{err}");
        assert!(r.apply(&rule(true, P, None, None, "r")).is_err());
    }
}
