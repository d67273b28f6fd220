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
///
/// Parsed from a `BufReader<File>` on purpose: that is how libcontainer
/// parses it (oci-spec's `Spec::load`), and serde makes one copy of the
/// whole Spec deserializer per reader type. Parsing the bytes already read
/// (`from_slice`) or a `Value` (`from_value`) instead carried two more copies,
/// ~250 KB of the binary. serde_json's errors name the line and column here
/// as well; oci-spec's `Spec::load` only says "serde failed".
pub fn load_spec(path: &Path) -> Result<Spec> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    read_checked(&file, path)?;
    file.seek(SeekFrom::Start(0))
        .with_context(|| format!("failed to rewind {} (not a regular file?)", path.display()))?;
    serde_json::from_reader(BufReader::new(file))
        .with_context(|| format!("failed to parse {}", path.display()))
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
