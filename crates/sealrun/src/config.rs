//! Reading the JSON files a caller hands sealrun (config.json, `exec
//! --process`) within limits: a file larger than [`MAX_BYTES`] or nested
//! deeper than [`MAX_DEPTH`] is refused with a one-line error before it is
//! parsed, so a hostile bundle cannot make the runtime (running as root,
//! before any container exists) spend unbounded memory or stack on it.
//! runc's decoder refuses nesting past 10,000 levels ("exceeded max
//! depth"); real configs are a few KiB and nest 5 or 6 levels, so these limits
//! only ever meet abuse.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{bail, Context, Result};
use libcontainer::oci_spec::runtime::Spec;

/// Largest JSON file sealrun reads (a docker or CRI config is a few KiB;
/// 10,000 mounts or env entries stay well below this).
pub const MAX_BYTES: u64 = 32 << 20;

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 1000;

/// The bytes of `path`, checked against the limits. Reads at most
/// `MAX_BYTES + 1` bytes whatever the file claims (it may be a pipe).
pub fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    read_checked(&file, path)
}

/// A config.json as oci-spec's `Spec`, checked against the limits first.
pub fn load_spec(path: &Path) -> Result<Spec> {
    load_spec_and_bytes(path).map(|(spec, _)| spec)
}

/// [`load_spec`], and the bytes it was parsed from (checked against the
/// limits), for a caller that also reads the JSON as such.
///
/// Parsed from a `BufReader<File>` on purpose: that is how libcontainer
/// parses it (oci-spec's `Spec::load`), and serde makes one copy of the
/// whole Spec deserializer per reader type. Parsing the bytes already read
/// (`from_slice`) or a `Value` (`from_value`) instead carried two more copies,
/// ~600 KB of the binary. serde_json's errors name the line and column here
/// as well; oci-spec's `Spec::load` only says "serde failed". The file is
/// read twice, so it must not change in between: its identity, size and
/// times are compared around both reads (a file rewritten meanwhile is
/// refused, as its bytes and its parse could disagree).
pub fn load_spec_and_bytes(path: &Path) -> Result<(Spec, Vec<u8>)> {
    let mut file =
        File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let before = identity(&file, path)?;
    let bytes = read_checked(&file, path)?;
    file.seek(SeekFrom::Start(0))
        .with_context(|| format!("failed to rewind {} (not a regular file?)", path.display()))?;
    // Exactly `BufReader<File>` (a `&File` or `&mut BufReader` reader would
    // be a type of its own, with its own deserializer): parsed from a
    // duplicate of the fd, while `file` stays for the check after.
    let reader = file
        .try_clone()
        .with_context(|| format!("failed to duplicate the fd of {}", path.display()))?;
    let spec = serde_json::from_reader(BufReader::new(reader))
        .with_context(|| format!("failed to parse {}", path.display()))?;
    if identity(&file, path)? != before {
        bail!("{} changed while it was being read", path.display());
    }
    Ok((spec, bytes))
}

/// What tells a rewrite of an open file: device, inode, size, and its
/// modification and change times (fine-grained once they have been read
/// since Linux 6.13's multigrain timestamps, to the clock tick before).
fn identity(file: &File, path: &Path) -> Result<(u64, u64, u64, i64, i64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = file
        .metadata()
        .with_context(|| format!("failed to stat {}", path.display()))?;
    Ok((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// Reads `file` (named `path`) whole, within the limits.
fn read_checked(file: &File, path: &Path) -> Result<Vec<u8>> {
    // Room for a typical config up front: read_to_end on a `Take` has no
    // size hint and would otherwise grow from 32 bytes, one read(2) per
    // doubling (ten for a 4 KiB config).
    let mut bytes = Vec::with_capacity(64 << 10);
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("failed to read {}", path.display()))?;
    if bytes.len() as u64 > MAX_BYTES {
        bail!(
            "{} is larger than {} MiB; refusing to parse it",
            path.display(),
            MAX_BYTES >> 20
        );
    }
    if let Some(offset) = too_deep(&bytes, MAX_DEPTH) {
        bail!(
            "{} nests arrays and objects deeper than {MAX_DEPTH} levels (at byte {offset}); refusing to parse it",
            path.display()
        );
    }
    Ok(bytes)
}

/// The offset at which `json` first nests deeper than `max`, if it does
/// (brackets inside strings do not count).
fn too_deep(json: &[u8], max: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert_eq!(too_deep(br#"{"a":[1,{"b":2}]}"#, 3), None);
        assert_eq!(too_deep(br#"{"a":[1,{"b":2}]}"#, 2), Some(8));
        assert_eq!(too_deep(br#"{"a":"[[[[\"{{{{"}"#, 1), None);
        let deep = "[".repeat(100_000);
        assert_eq!(too_deep(deep.as_bytes(), MAX_DEPTH), Some(MAX_DEPTH));
    }

    #[test]
    fn a_config_rewritten_in_place_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"ociVersion":"1.0.2"}"#).unwrap();
        let file = File::open(&path).unwrap();
        let before = identity(&file, &path).unwrap();
        // Same size, other bytes: only the times tell (a tick apart).
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, r#"{"ociVersion":"1.0.3"}"#).unwrap();
        assert_ne!(identity(&file, &path).unwrap(), before);
        let (spec, bytes) = load_spec_and_bytes(&path).unwrap();
        assert_eq!(spec.version(), "1.0.3");
        assert_eq!(bytes, br#"{"ociVersion":"1.0.3"}"#);
    }

    #[test]
    fn oversized_and_deep_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("deep.json");
        std::fs::write(
            &deep,
            format!("{{\"a\":{}1{}}}", "[".repeat(5000), "]".repeat(5000)),
        )
        .unwrap();
        let err = format!("{:#}", read_limited(&deep).unwrap_err());
        assert!(
            err.contains("deep.json nests") && err.contains("1000 levels"),
            "{err}"
        );

        let big = dir.path().join("big.json");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_BYTES + 1).unwrap();
        let err = format!("{:#}", read_limited(&big).unwrap_err());
        assert!(err.contains("big.json is larger than 32 MiB"), "{err}");

        let ok = dir.path().join("ok.json");
        std::fs::write(&ok, r#"{"ociVersion":"1.0.2"}"#).unwrap();
        assert_eq!(read_limited(&ok).unwrap(), br#"{"ociVersion":"1.0.2"}"#);
    }
}
