//! Sealing before clap and logging: the first image of a sealed call only
//! exists to re-execute, so everything it does before that is pure overhead.
//! Parsing the full runc CLI and setting up tracing cost ~0.5 ms there
//! (`bench/RESULTS.md`), and the re-executed image does both again anyway.
//!
//! [`seal_mode`] reads argv and `SEALRUN_SEAL` for the one case it can
//! decide for sure: global options only, then `create`, `run` or `exec`,
//! with `--seal` (if any) before the subcommand. Anything else (an unknown
//! option, `--seal` after the subcommand, an invalid mode, `-h`/`--help`/
//! `-v`/`--version` as words of their own) returns `None` and sealing
//! happens after clap, as before: this path may only start sealing earlier,
//! never decide differently. (A line clap then rejects, or combined short
//! flags like `-dh`, costs a wasted seal; nothing is left behind.)
//!
//! The price: the first image's own debug lines (which layer forms it
//! skipped and why, "re-executing from sealed handle") go nowhere, since
//! logging is not set up yet. The sealed image logs the outcome (`seal:
//! using ...`), and every failure still reaches the user with its reasons. `main` checks that the
//! mode clap parses is the mode sealed for here (`seal::protect`), and
//! `tests::agrees_with_clap` holds the two parsers together.

use std::ffi::{OsStr, OsString};

use clap::ValueEnum;

use crate::seal::SealMode;

/// Global options of `Cli` that take a value (long, short).
pub(crate) const VALUE_OPTS: &[(&str, Option<char>)] = &[
    ("log", Some('l')),
    ("log-format", None),
    ("root", Some('r')),
];
/// Global flags of `Cli`.
pub(crate) const FLAG_OPTS: &[(&str, Option<char>)] =
    &[("debug", None), ("systemd-cgroup", Some('s'))];
/// Subcommands that start a container process (`Command::starts_container_process`).
const SEALED_COMMANDS: &[&str] = &["create", "run", "exec"];

/// The `--seal` mode of a command line that starts a container process, if
/// it can be told without clap. `env_seal` is `SEALRUN_SEAL`.
pub fn seal_mode(args: &[OsString], env_seal: Option<&OsStr>) -> Option<SealMode> {
    let mut seal: Option<&str> = None;
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if name == "seal" {
                seal = Some(match inline {
                    Some(v) => v,
                    None => rest.next()?.to_str()?,
                });
            } else if VALUE_OPTS.iter().any(|(l, _)| *l == name) {
                if inline.is_none() {
                    rest.next()?;
                }
            } else if !(inline.is_none() && FLAG_OPTS.iter().any(|(l, _)| *l == name)) {
                return None;
            }
        } else if let Some(short) = arg.strip_prefix('-') {
            // One short option per word, value in the next word: anything
            // fancier (-sr DIR, -rDIR) is left to clap.
            let mut chars = short.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return None;
            };
            if VALUE_OPTS.iter().any(|(_, s)| *s == Some(c)) {
                rest.next()?;
            } else if !FLAG_OPTS.iter().any(|(_, s)| *s == Some(c)) {
                return None;
            }
        } else {
            if !SEALED_COMMANDS.contains(&arg) {
                return None;
            }
            // `--seal` is global: after the subcommand it would override the
            // one seen here; help and version print without running. Both
            // are clap's to handle. (Also bails on an exec'd command that
            // merely contains such a word: only ever the slower path.)
            let clap_decides = |a: &OsString| {
                let a = a.as_encoded_bytes();
                a.starts_with(b"--seal")
                    || [&b"-h"[..], b"--help", b"-v", b"--version"].contains(&a)
            };
            if rest.any(clap_decides) {
                return None;
            }
            let value = match seal {
                Some(v) => v,
                None => match env_seal {
                    // clap rejects an empty one ("a value is required").
                    Some(v) if v.is_empty() => return None,
                    Some(v) => v.to_str()?,
                    None => return Some(SealMode::default()),
                },
            };
            return SealMode::from_str(value, false).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::cli::Cli;

    fn args(line: &str) -> Vec<OsString> {
        std::iter::once("sealrun")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    /// The option tables above are `Cli`'s global options, no more, no less.
    #[test]
    fn tables_match_the_cli() {
        let cmd = Cli::command();
        let mut from_clap: Vec<(String, Option<char>, bool)> = cmd
            .get_arguments()
            .filter(|a| {
                a.get_long()
                    .is_some_and(|l| l != "seal" && l != "help" && l != "version")
            })
            .map(|a| {
                (
                    a.get_long().unwrap().to_owned(),
                    a.get_short(),
                    a.get_action().takes_values(),
                )
            })
            .collect();
        let mut ours: Vec<(String, Option<char>, bool)> = VALUE_OPTS
            .iter()
            .map(|(l, s)| (l.to_string(), *s, true))
            .chain(FLAG_OPTS.iter().map(|(l, s)| (l.to_string(), *s, false)))
            .collect();
        from_clap.sort();
        ours.sort();
        assert_eq!(ours, from_clap);
        let starting: Vec<&str> = cmd
            .get_subcommands()
            .map(|s| s.get_name())
            .filter(|name| {
                let line = match *name {
                    "exec" => "exec ctr true",
                    "create" | "run" => &format!("{name} ctr") as &str,
                    _ => return false,
                };
                Cli::try_parse_from(args(line))
                    .unwrap()
                    .command
                    .starts_container_process()
            })
            .collect();
        assert_eq!(starting, SEALED_COMMANDS);
    }

    /// Wherever the early parse gives a mode, clap parses the same line to
    /// the same mode and a container-starting command.
    #[test]
    fn agrees_with_clap() {
        let cases: &[(&str, Option<&str>, Option<SealMode>)] = &[
            ("run ctr", None, Some(SealMode::Auto)),
            (
                "--seal overlayfs run -b /b ctr",
                None,
                Some(SealMode::Overlayfs),
            ),
            ("--seal=memfd create ctr", None, Some(SealMode::Memfd)),
            (
                "--root /r --log /l --log-format json --debug -s --seal tmpfile run ctr",
                None,
                Some(SealMode::Tmpfile),
            ),
            (
                "-r /r -l /l --root=/x --seal hardened exec ctr sh",
                None,
                Some(SealMode::Hardened),
            ),
            ("run ctr", Some("memfd"), Some(SealMode::Memfd)),
            (
                "--seal hugetmpfs create ctr",
                None,
                Some(SealMode::Hugetmpfs),
            ),
            ("run ctr", Some("hardened"), Some(SealMode::Hardened)),
            ("run ctr", Some("overlayfs"), Some(SealMode::Overlayfs)),
            ("--seal=auto -s exec ctr true", None, Some(SealMode::Auto)),
            (
                "--seal none --seal overlayfs run ctr",
                None,
                Some(SealMode::Overlayfs),
            ),
            (
                "--seal overlayfs --seal none run ctr",
                None,
                Some(SealMode::None),
            ),
            ("--seal none run ctr", Some("memfd"), Some(SealMode::None)),
            ("run ctr", Some(""), None),
            ("--seal dmz exec ctr ls -l", None, Some(SealMode::Dmz)),
            // Left to clap:
            ("run --seal memfd ctr", None, None),
            ("--seal overlayfs run --seal=memfd ctr", None, None),
            ("exec ctr sh -c --seal", None, None),
            ("--seal bogus run ctr", None, None),
            ("run ctr", Some("bogus"), None),
            ("--seal Memfd run ctr", None, None),
            ("--unknown run ctr", None, None),
            ("-sr /r run ctr", None, None),
            ("--debug=true run ctr", None, None),
            ("--seal", None, None),
            ("--root", None, None),
            ("list", None, None),
            ("state ctr", None, None),
            ("seal-probe", None, None),
            ("run --help", None, None),
            ("", None, None),
        ];
        for (line, env, want) in cases {
            let got = seal_mode(&args(line), env.map(OsStr::new));
            assert_eq!(got, *want, "{line:?} env {env:?}");
            // The entry point's parser (sys::entry) is stricter still: it
            // takes a line only where this one gives the mode it seals for.
            use crate::sys::entry::{tests::plan, Plan};
            match plan(line, *env) {
                Some(Plan::Overlay) => assert!(
                    matches!(got, Some(SealMode::Auto | SealMode::Overlayfs)),
                    "entry point took {line:?} env {env:?} for the overlay, early parse says {got:?}"
                ),
                Some(Plan::HugeCopy) => assert!(
                    matches!(got, Some(SealMode::Hugetmpfs | SealMode::Hardened)),
                    "entry point took {line:?} env {env:?} for a private copy, early parse says {got:?}"
                ),
                None => {}
            }
            if let Some(mode) = got {
                // clap reads SEALRUN_SEAL from the real environment; compare
                // only lines that do not depend on it.
                if env.is_none() && std::env::var_os("SEALRUN_SEAL").is_none() {
                    let cli =
                        Cli::try_parse_from(args(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
                    assert_eq!(cli.seal, mode, "{line}");
                    assert!(cli.command.starts_container_process(), "{line}");
                }
            }
        }
    }
}
