//! `-h`/`--help`/`help` in runc's layout: a `NAME:` section first, whose
//! line names the runc command (runc's users and its test suite read that
//! line), then clap's usage and options; `help TOPIC`/`TOPIC -h` for an
//! unknown topic says "No help topic for 'TOPIC'" and exits 3, as runc.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

/// Handles a help request in runc's forms (`-h`, `--help`, `help`, `help
/// CMD`, `CMD -h`), or returns `None` for clap to parse the line.
pub fn runc_style(args: &[OsString]) -> Option<ExitCode> {
    let words: Vec<&str> = args
        .iter()
        .skip(1)
        .map(|a| a.to_str())
        .collect::<Option<_>>()?;
    let words = after_global_options(&words)?;
    let is_help = |w: &str| w == "-h" || w == "--help";
    let topic = match words {
        [w] if is_help(w) || *w == "help" => None,
        ["help", topic] => Some(*topic),
        [topic, w, ..] if is_help(w) && !topic.starts_with('-') => Some(*topic),
        _ => return None,
    };
    let mut cli = Cli::command();
    let (name_line, mut command) = match topic {
        None => (
            "sealrun, as runc - Open Container Initiative runtime (its binary sealed by exeseal)"
                .to_owned(),
            cli,
        ),
        Some(topic) => {
            let Some(sub) = cli.find_subcommand_mut(topic) else {
                eprintln!("No help topic for '{topic}'");
                return Some(ExitCode::from(3));
            };
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            let about = lowercase_first(&about);
            (format!("sealrun, as runc {topic} - {about}"), sub.clone())
        }
    };
    // A closed pipe (`| head`) is not an error of ours.
    let _ = writeln!(
        std::io::stdout(),
        "NAME:\n   {name_line}\n\n{}",
        command.render_help()
    );
    Some(ExitCode::SUCCESS)
}

/// The words after the global options (`--root DIR`, `--debug`, ...), as
/// engines and runc's tests put them first.
fn after_global_options<'a>(words: &'a [&'a str]) -> Option<&'a [&'a str]> {
    use crate::early::{FLAG_OPTS, VALUE_OPTS};
    let mut i = 0;
    while let Some(word) = words.get(i) {
        let takes_value = |name: &str| name == "seal" || VALUE_OPTS.iter().any(|(l, _)| *l == name);
        if let Some(long) = word.strip_prefix("--").filter(|l| !l.is_empty()) {
            let (name, inline) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            if takes_value(name) {
                i += if inline { 1 } else { 2 };
                continue;
            }
            if FLAG_OPTS.iter().any(|(l, _)| *l == name) {
                i += 1;
                continue;
            }
        } else if let Some(short) = word.strip_prefix('-').and_then(|s| s.chars().next()) {
            if word.len() == 2 && VALUE_OPTS.iter().any(|(_, c)| *c == Some(short)) {
                i += 2;
                continue;
            }
            if word.len() == 2 && FLAG_OPTS.iter().any(|(_, c)| *c == Some(short)) {
                i += 1;
                continue;
            }
        }
        break;
    }
    words.get(i..)
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        std::iter::once("sealrun")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn help_forms_are_recognised_and_others_left_to_clap() {
        for line in [
            "-h",
            "--help",
            "help",
            "help exec",
            "exec -h",
            "list --help",
            "foo -h",
        ] {
            assert!(runc_style(&words(line)).is_some(), "{line}");
        }
        for line in [
            "--root /x -h",
            "--debug --root=/x exec -h",
            "-r /x --log-format json help list",
        ] {
            assert_eq!(runc_style(&words(line)), Some(ExitCode::SUCCESS), "{line}");
        }
        for line in ["list", "exec c1 sh -h", "--root /x list", "state c1"] {
            assert!(runc_style(&words(line)).is_none(), "{line}");
        }
    }

    #[test]
    fn unknown_topics_exit_3() {
        assert_eq!(runc_style(&words("foo -h")), Some(ExitCode::from(3)));
        assert_eq!(runc_style(&words("help foo")), Some(ExitCode::from(3)));
        assert_eq!(runc_style(&words("update -h")), Some(ExitCode::SUCCESS));
    }
}
