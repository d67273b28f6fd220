//! exeseal-probe: run exeseal on itself and say what happened.
//!
//! Operators use it to see which strategy a host supports; the integration
//! tests and the benchmark use it as the "program under test".
//!
//! ```text
//! exeseal-probe ensure [--only S,S..|--hardened] [--wait]   seal (re-exec), print a JSON report
//! exeseal-probe status                                    how the current exe is protected
//! exeseal-probe probe [--only S,S..|--hardened]           what ensure would choose, and why
//! exeseal-probe dmz-exec PROGRAM [ARGS..]                 exec PROGRAM through a sealed dmz
//! exeseal-probe dmz-write PATH                            write the embedded dmz to PATH
//! exeseal-probe exit                                      exit 0 at once (fork+exec baseline)
//! ```

use std::ffi::CString;
use std::io::BufRead;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use exeseal::{Protection, Sealer, Strategy};

fn usage() -> ExitCode {
    eprintln!("usage: exeseal-probe ensure|status|probe [--only S,S..|--hardened] [--wait] | dmz-exec PROG [ARGS..] | dmz-write PATH | exit");
    ExitCode::from(2)
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn sealer(args: &[String]) -> Result<Sealer, String> {
    let mut s = Sealer::from_env().map_err(|e| e.to_string())?;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--hardened" => s = Sealer::hardened(),
            "--only" => {
                let list = it.next().ok_or("--only needs a list")?;
                let order = list
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<Vec<Strategy>, _>>()?;
                s = s.only(&order);
            }
            "--wait" => {}
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(s)
}

fn report(p: Option<&Protection>) -> String {
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!(
        "{{\"pid\":{},\"protection\":{},\"bytes_copied\":{},\"exe\":{},\"token_in_env\":{}}}",
        std::process::id(),
        p.map(|p| json_str(p.name()))
            .unwrap_or_else(|| "null".into()),
        p.map(Protection::bytes_copied).unwrap_or(0),
        json_str(&exe),
        std::env::var_os(exeseal::REEXEC_ENV).is_some()
    )
}

fn main() -> ExitCode {
    // EXESEAL_LOG=debug shows which strategy was chosen and why others were skipped.
    if let Ok(filter) = std::env::var("EXESEAL_LOG") {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        use tracing_subscriber::Layer;
        let targets: tracing_subscriber::filter::Targets = filter.parse().unwrap_or_default();
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(targets),
            )
            .init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        return usage();
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "exit" => ExitCode::SUCCESS,
        "ensure" => {
            let sealer = match sealer(rest) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("exeseal-probe: {e}");
                    return ExitCode::from(2);
                }
            };
            match sealer.ensure_sealed() {
                Ok(p) => {
                    println!("{}", report(Some(&p)));
                    if rest.iter().any(|a| a == "--wait") {
                        // Stay alive (running from the sealed image) until the
                        // test is done attacking /proc/<pid>/exe.
                        let _ = std::io::stdin().lock().lines().next();
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("exeseal-probe: {e}");
                    ExitCode::from(1)
                }
            }
        }
        "status" => match exeseal::self_protection() {
            Ok(p) => {
                println!("{}", report(p.as_ref()));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("exeseal-probe: {e}");
                ExitCode::from(1)
            }
        },
        "probe" => {
            let probe = match sealer(rest)
                .map_err(|e| e.to_string())
                .and_then(|s| s.probe().map_err(|e| e.to_string()))
            {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("exeseal-probe: {e}");
                    return ExitCode::from(1);
                }
            };
            let attempts: Vec<String> = probe
                .attempts
                .iter()
                .map(|(s, r)| match r {
                    Ok(n) => format!(
                        "{{\"strategy\":{},\"ok\":true,\"bytes_copied\":{n}}}",
                        json_str(s.name())
                    ),
                    Err(e) => format!(
                        "{{\"strategy\":{},\"ok\":false,\"error\":{}}}",
                        json_str(s.name()),
                        json_str(&e.to_string())
                    ),
                })
                .collect();
            println!(
                "{{\"current\":{},\"chosen\":{},\"bytes_copied\":{},\"attempts\":[{}]}}",
                probe
                    .current
                    .as_ref()
                    .map(|p| json_str(p.name()))
                    .unwrap_or_else(|| "null".into()),
                probe
                    .chosen()
                    .map(|c| json_str(&c))
                    .unwrap_or_else(|| "null".into()),
                probe
                    .bytes_copied()
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "null".into()),
                attempts.join(",")
            );
            if probe.chosen().is_some() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        "dmz-exec" => {
            if rest.is_empty() {
                return usage();
            }
            let dmz = match exeseal::dmz::sealed() {
                Ok(fd) => fd,
                Err(e) => {
                    eprintln!("exeseal-probe: sealing dmz: {e}");
                    return ExitCode::from(1);
                }
            };
            let argv: Vec<CString> = rest
                .iter()
                .map(|a| CString::new(a.as_bytes()).expect("no NUL in argv"))
                .collect();
            let envp: Vec<CString> = std::env::vars_os()
                .map(|(k, v)| {
                    let mut kv = k.as_bytes().to_vec();
                    kv.push(b'=');
                    kv.extend_from_slice(v.as_bytes());
                    CString::new(kv).expect("no NUL in env")
                })
                .collect();
            let e = exeseal::dmz::exec(std::os::fd::AsFd::as_fd(&dmz), &argv, &envp);
            eprintln!("exeseal-probe: {e}");
            ExitCode::from(1)
        }
        "dmz-write" => match rest.first() {
            Some(path) => match std::fs::write(path, exeseal::dmz::elf()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("exeseal-probe: write {path}: {e}");
                    ExitCode::from(1)
                }
            },
            None => usage(),
        },
        _ => usage(),
    }
}
