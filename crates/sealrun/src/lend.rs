//! Capabilities lent to a process `exec` starts, for work sealrun's executor
//! does in it after libcontainer has dropped to the process's capabilities,
//! where runc does that work before dropping them:
//! - loading the container's seccomp profile without no_new_privs takes
//!   CAP_SYS_ADMIN (`exec_seccomp`);
//! - giving the exec'd process's terminal to its user takes CAP_CHOWN
//!   (libcontainer 0.7.0's `tty::setup_console` leaves the pty it creates
//!   owned by root).
//!
//! The lent capabilities go into the process file's bounding, effective and
//! permitted sets only, never inheritable or ambient, so nothing but this
//! process before its exec can hold them. The executor takes them back in
//! two steps: out of the bounding set (which needs CAP_SETPCAP, lent too
//! when missing, and dropped last) before a seccomp filter is loaded, and
//! out of the effective and permitted sets after it, which is where runc
//! drops capabilities. Then the process execs with exactly what it asked
//! for: without them in the bounding set, not even a setuid-root or
//! file-capability program can get them back.

use std::collections::HashSet;

use libcontainer::capabilities::CapabilityExt;
use libcontainer::oci_spec::runtime::{Capability, Process};

/// What the executor takes back, per set; bounding in drop order.
#[derive(Clone, Default, Debug, PartialEq)]
pub struct GiveBack {
    bounding: Vec<caps::Capability>,
    effective: Vec<caps::Capability>,
    permitted: Vec<caps::Capability>,
}

/// Lends `wanted` capabilities that the process's effective set lacks (plus
/// CAP_SETPCAP when one of them is missing from its bounding set); returns
/// what to take back, or `None` when nothing had to be lent. A process
/// without a capabilities section keeps all of root's (libcontainer drops
/// nothing) and needs nothing.
pub fn lend(process: &mut Process, wanted: &[Capability]) -> Option<GiveBack> {
    let mut caps = process.capabilities().clone()?;
    let has = |set: &Option<HashSet<Capability>>, c: &Capability| {
        set.as_ref().is_some_and(|s| s.contains(c))
    };
    let mut lent: Vec<Capability> = wanted
        .iter()
        .filter(|c| !has(caps.effective(), c))
        .copied()
        .collect();
    if lent.is_empty() {
        return None;
    }
    let setpcap_needed = lent.iter().any(|c| !has(caps.bounding(), c))
        && !has(caps.effective(), &Capability::Setpcap);
    if setpcap_needed && !lent.contains(&Capability::Setpcap) {
        lent.push(Capability::Setpcap);
    }
    // CAP_SETPCAP is what drops the others from the bounding set: last.
    lent.sort_by_key(|c| *c == Capability::Setpcap);
    let mut back = GiveBack::default();
    for cap in &lent {
        let ours = cap.to_cap();
        if !has(caps.bounding(), cap) {
            back.bounding.push(ours);
        }
        if !has(caps.effective(), cap) {
            back.effective.push(ours);
        }
        if !has(caps.permitted(), cap) {
            back.permitted.push(ours);
        }
    }
    let with = |set: &Option<HashSet<Capability>>| {
        let mut set = set.clone().unwrap_or_default();
        set.extend(lent.iter().copied());
        Some(set)
    };
    let (b, e, p) = (
        with(caps.bounding()),
        with(caps.effective()),
        with(caps.permitted()),
    );
    caps.set_bounding(b).set_effective(e).set_permitted(p);
    process.set_capabilities(Some(caps));
    Some(back)
}

impl GiveBack {
    /// The lent capabilities by set, as JSON (`{"bounding": ["CAP_SYS_ADMIN"], ...}`).
    pub fn to_json(&self) -> serde_json::Value {
        let names = |set: &[caps::Capability]| -> Vec<String> {
            set.iter().map(ToString::to_string).collect()
        };
        serde_json::json!({
            "bounding": names(&self.bounding),
            "effective": names(&self.effective),
            "permitted": names(&self.permitted),
        })
    }

    /// Reads [`Self::to_json`]'s form back.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let set = |name: &str| -> Result<Vec<caps::Capability>, String> {
            value
                .get(name)
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    let c = c.as_str().unwrap_or_default();
                    c.parse::<caps::Capability>()
                        .map_err(|e| format!("lent capability {c:?}: {e}"))
                })
                .collect()
        };
        Ok(Self {
            bounding: set("bounding")?,
            effective: set("effective")?,
            permitted: set("permitted")?,
        })
    }

    /// Takes the lent capabilities out of `process`'s sets again (a process
    /// made from a config that still lends them).
    pub fn take_from(&self, process: &mut Process) {
        let Some(mut caps) = process.capabilities().clone() else {
            return;
        };
        let without = |set: &Option<HashSet<Capability>>, lent: &[caps::Capability]| {
            set.clone().map(|mut set| {
                set.retain(|c| !lent.contains(&c.to_cap()));
                set
            })
        };
        let (b, e, p) = (
            without(caps.bounding(), &self.bounding),
            without(caps.effective(), &self.effective),
            without(caps.permitted(), &self.permitted),
        );
        caps.set_bounding(b).set_effective(e).set_permitted(p);
        process.set_capabilities(Some(caps));
    }

    /// In the exec'd process: the lent capabilities out of the bounding set.
    pub fn bounding(&self) -> Result<(), String> {
        for cap in &self.bounding {
            caps::drop(None, caps::CapSet::Bounding, *cap)
                .map_err(|e| format!("failed to drop the lent {cap} from the bounding set: {e}"))?;
        }
        Ok(())
    }

    /// In the exec'd process: the lent capabilities out of the effective and
    /// permitted sets (effective first: it must stay within permitted).
    pub fn effective_and_permitted(&self) -> Result<(), String> {
        for (set, lent) in [
            (caps::CapSet::Effective, &self.effective),
            (caps::CapSet::Permitted, &self.permitted),
        ] {
            for cap in lent {
                caps::drop(None, set, *cap)
                    .map_err(|e| format!("failed to drop the lent {cap} ({set:?}): {e}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::oci_spec::runtime::LinuxCapabilitiesBuilder;

    fn process(sets: &[Capability]) -> Process {
        let set: HashSet<Capability> = sets.iter().copied().collect();
        let mut p = Process::default();
        p.set_capabilities(Some(
            LinuxCapabilitiesBuilder::default()
                .bounding(set.clone())
                .effective(set.clone())
                .permitted(set.clone())
                .inheritable(set.clone())
                .ambient(HashSet::new())
                .build()
                .unwrap(),
        ));
        p
    }

    #[test]
    fn lends_only_what_is_missing_and_only_in_three_sets() {
        let mut p = process(&[Capability::Chown, Capability::Setpcap]);
        let back = lend(&mut p, &[Capability::SysAdmin, Capability::Chown]).unwrap();
        assert_eq!(
            back,
            GiveBack {
                bounding: vec![caps::Capability::CAP_SYS_ADMIN],
                effective: vec![caps::Capability::CAP_SYS_ADMIN],
                permitted: vec![caps::Capability::CAP_SYS_ADMIN],
            }
        );
        let caps = p.capabilities().clone().unwrap();
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            assert!(set.as_ref().unwrap().contains(&Capability::SysAdmin));
        }
        assert!(!caps
            .inheritable()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysAdmin));
        assert!(caps.ambient().as_ref().unwrap().is_empty());
    }

    #[test]
    fn setpcap_is_lent_for_the_bounding_drop_and_dropped_last() {
        let mut p = process(&[Capability::Kill]);
        let back = lend(&mut p, &[Capability::Chown, Capability::SysAdmin]).unwrap();
        assert_eq!(back.bounding.last(), Some(&caps::Capability::CAP_SETPCAP));
        assert_eq!(back.bounding.len(), 3);
    }

    #[test]
    fn nothing_lent_when_present_or_all_of_roots() {
        assert!(lend(
            &mut process(&[Capability::SysAdmin]),
            &[Capability::SysAdmin]
        )
        .is_none());
        let mut all = Process::default();
        all.set_capabilities(None);
        assert!(lend(&mut all, &[Capability::SysAdmin]).is_none());
    }
}
