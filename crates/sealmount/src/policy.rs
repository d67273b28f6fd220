//! Which directories sealmount refuses to seal without `--force`.
//!
//! Sealing makes *everything* in the directory read-only until
//! `sealmount --cleanup`, so a system directory would take package updates,
//! and every other program installed there, down with the runtime.

use std::path::Path;

/// Directories shared by many programs. Each is compared with the
/// canonical DIR both as written and canonicalized on this host (so `/bin`
/// is refused as itself and, on merged-/usr systems, as `/usr/bin`).
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/usr",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/local/lib",
    "/usr/local/libexec",
    "/opt",
    "/etc",
    "/var",
    "/home",
    "/root",
    "/tmp",
    "/boot",
    "/srv",
    "/run",
    "/proc",
    "/sys",
    "/dev",
];

/// Why sealing the canonical directory `dir` would seal far more than
/// intended, if it would.
pub fn refusal(dir: &Path) -> Option<String> {
    let system = SYSTEM_DIRS.iter().map(Path::new);
    // Named as itself first, then as what a listed path resolves to here.
    let hit = system
        .clone()
        .find(|sys| *sys == dir)
        .map(|_| String::new())
        .or_else(|| {
            system
                .filter_map(|sys| Some((sys, std::fs::canonicalize(sys).ok()?)))
                .find(|(_, canon)| canon == dir)
                .map(|(sys, _)| format!(" ({} resolves to it)", sys.display()))
        })?;
    Some(format!(
        "it is a system directory{hit}: sealing it would make everything in it read-only, not just \
         the runtime (package updates and other programs installed there would fail with EROFS \
         until `sealmount --cleanup`); install the runtime in a dedicated directory such as \
         /usr/libexec/sealrun or /opt/sealrun/bin and seal that, or pass --force"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_system_dirs_and_their_canonical_forms() {
        for d in ["/", "/usr", "/usr/bin", "/usr/local/bin", "/usr/sbin"] {
            assert!(refusal(Path::new(d)).is_some(), "{d} must be refused");
        }
        // On merged-/usr hosts /bin is a symlink: its target is refused too
        // (and named as what /bin resolves to).
        if let Ok(canon) = std::fs::canonicalize("/bin") {
            let why = refusal(&canon).expect("canonical /bin refused");
            assert!(why.contains("system directory"), "{why}");
            assert!(
                !why.contains("(/usr/bin resolves"),
                "named as itself first: {why}"
            );
        }
    }

    #[test]
    fn accepts_dedicated_dirs() {
        for d in [
            "/usr/libexec/sealrun",
            "/opt/sealrun/bin",
            "/tmp/x",
            "/usr/bin/x",
        ] {
            assert_eq!(refusal(Path::new(d)), None, "{d} must be accepted");
        }
    }

    #[test]
    fn reason_names_the_alternative() {
        let why = refusal(Path::new("/usr/bin")).unwrap();
        assert!(
            why.contains("/usr/libexec/sealrun") && why.contains("--force"),
            "{why}"
        );
    }
}
