//! `sealrun events [--stats] [--interval D] ID`: the container's resource
//! usage and OOM kills as runc prints them, one JSON object per line:
//! `{"type":"stats","id":ID,"data":{...}}` every interval (default 5s; once
//! with `--stats`) and `{"type":"oom","id":ID}` when the kernel OOM-kills
//! a process in the container. Ends when the container is deleted or stops.
//!
//! `data` carries runc's field names (`cpu.usage.total`, `memory.usage.limit`,
//! `pids.current`, ...) filled from libcgroups' statistics. OOM kills are
//! read from the cgroup's own counter (v1 `memory.oom_control`, v2
//! `memory.events`), polled at most every 100 ms.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use libcgroups::common::CgroupManager;
use libcgroups::stats::{MemoryData, Stats};
use serde_json::{json, Value};

use super::Runtime;
use crate::record;

/// Display container events such as OOM notifications and resource usage
#[derive(Args, Debug)]
pub struct Events {
    /// Interval between stats reports (5s, 100ms, 1m)
    #[arg(long, default_value = "5s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Print the resource usage once and exit
    #[arg(long)]
    pub stats: bool,
    /// Container identifier
    pub container_id: String,
}

const OOM_POLL: Duration = Duration::from_millis(100);

pub fn events(runtime: &Runtime, args: Events) -> Result<()> {
    let id = args.container_id.clone();
    let mut container = runtime.load(&id)?;
    let manager = super::cgroup_manager(&container)?;
    let stats_event = || -> Result<String> {
        let stats = manager
            .stats()
            .with_context(|| format!("failed to read the statistics of container {id}"))?;
        Ok(event_line("stats", &id, Some(&runc_stats(&stats))))
    };
    let mut out = std::io::stdout().lock();
    if args.stats {
        writeln!(out, "{}", stats_event()?)?;
        return Ok(());
    }
    let oom_file = oom_counter_file(&record::read(&container.root)?.cgroups);
    let mut ooms = oom_file.as_deref().map(read_oom_kills).unwrap_or(0);
    let state = container.root.join("state.json");
    let mut next_stats = Instant::now();
    loop {
        // Stopped (libcontainer checks the init's pid and start time, so a
        // reused pid does not count) or deleted: the stream ends.
        if !state.exists()
            || container.refresh_status().is_err()
            || container.status() == libcontainer::container::ContainerStatus::Stopped
        {
            return Ok(());
        }
        if let Some(file) = &oom_file {
            let now = read_oom_kills(file);
            if now > ooms {
                writeln!(out, "{}", event_line("oom", &id, None))?;
                out.flush()?;
            }
            ooms = ooms.max(now);
        }
        if Instant::now() >= next_stats {
            // A container deleted meanwhile ends the stream quietly.
            match stats_event() {
                Ok(event) => writeln!(out, "{event}")?,
                Err(_) if !state.exists() => return Ok(()),
                Err(err) => return Err(err),
            }
            out.flush()?;
            next_stats = Instant::now() + args.interval;
        }
        std::thread::sleep(OOM_POLL.min(args.interval));
    }
}

/// One event as runc prints it: `type`, `id`, then `data`, in that order
/// (runc's users match the line's start; serde_json would sort the keys).
fn event_line(kind: &str, id: &str, data: Option<&Value>) -> String {
    let mut line = format!(
        "{{\"type\":{},\"id\":{}",
        Value::from(kind),
        Value::from(id)
    );
    if let Some(data) = data {
        line.push_str(&format!(",\"data\":{data}"));
    }
    line.push('}');
    line
}

/// The file whose counter grows with every OOM kill in the container's
/// memory cgroup, among its recorded cgroup directories.
fn oom_counter_file(dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().find_map(|d| {
        [d.join("memory.oom_control"), d.join("memory.events")]
            .into_iter()
            .find(|f| f.exists())
    })
}

/// `oom_kill N` from memory.oom_control (v1) or memory.events (v2).
fn read_oom_kills(file: &Path) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("oom_kill "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// libcgroups' statistics under runc's names (runc's `types.Stats`).
fn runc_stats(s: &Stats) -> Value {
    let memory = |m: &MemoryData| json!({"usage": m.usage, "max": m.max_usage, "failcnt": m.fail_count, "limit": m.limit});
    let blkio = |entries: &[libcgroups::stats::BlkioDeviceStat]| -> Value {
        entries
            .iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op_type.clone().unwrap_or_default(), "value": e.value}))
            .collect()
    };
    json!({
        "cpu": {
            "usage": {
                "total": s.cpu.usage.usage_total,
                "percpu": s.cpu.usage.per_core_usage_total,
                "percpu_kernel": s.cpu.usage.per_core_usage_kernel,
                "percpu_user": s.cpu.usage.per_core_usage_user,
                "kernel": s.cpu.usage.usage_kernel,
                "user": s.cpu.usage.usage_user,
            },
            "throttling": {
                "periods": s.cpu.throttling.periods,
                "throttledPeriods": s.cpu.throttling.throttled_periods,
                "throttledTime": s.cpu.throttling.throttled_time,
            },
        },
        "memory": {
            "cache": s.memory.cache,
            "usage": memory(&s.memory.memory),
            "swap": memory(&s.memory.memswap),
            "kernel": memory(&s.memory.kernel),
            "kernelTCP": memory(&s.memory.kernel_tcp),
            "raw": s.memory.stats,
        },
        "pids": {"current": s.pids.current, "limit": s.pids.limit},
        "blkio": {
            "ioServiceBytesRecursive": blkio(&s.blkio.service_bytes),
            "ioServicedRecursive": blkio(&s.blkio.serviced),
            "ioQueueRecursive": blkio(&s.blkio.queued),
            "ioServiceTimeRecursive": blkio(&s.blkio.service_time),
            "ioWaitTimeRecursive": blkio(&s.blkio.wait_time),
            "ioMergedRecursive": blkio(&s.blkio.merged),
            "ioTimeRecursive": blkio(&s.blkio.time),
            "sectorsRecursive": blkio(&s.blkio.sectors),
        },
        "hugetlb": s.hugetlb.iter().map(|(size, h)| {
            (size.clone(), json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.fail_count}))
        }).collect::<serde_json::Map<String, Value>>(),
    })
}

/// `5s`, `100ms`, `1m`, `1h`, `1.5s`, or plain seconds.
pub fn parse_interval(value: &str) -> std::result::Result<Duration, String> {
    let v = value.trim();
    let (number, unit) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid interval '{value}' (e.g. 5s, 100ms, 1m)"))?;
    let seconds = match unit {
        "ns" => number / 1e9,
        "us" | "µs" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => {
            return Err(format!(
                "invalid interval unit in '{value}' (ns, us, ms, s, m, h)"
            ))
        }
    };
    if seconds.is_nan() || seconds <= 0.0 || !seconds.is_finite() {
        return Err(format!("interval '{value}' must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_like_go_durations() {
        assert_eq!(parse_interval("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_interval("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("-1s").is_err());
        assert!(parse_interval("5x").is_err());
    }

    #[test]
    fn oom_kills_are_read_from_either_counter() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = dir.path().join("memory.oom_control");
        std::fs::write(&v1, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").unwrap();
        assert_eq!(read_oom_kills(&v1), 3);
        let v2 = dir.path().join("memory.events");
        std::fs::write(&v2, "low 0\nhigh 0\nmax 2\noom 2\noom_kill 1\n").unwrap();
        assert_eq!(read_oom_kills(&v2), 1);
        assert_eq!(oom_counter_file(&[dir.path().to_owned()]), Some(v1));
    }

    #[test]
    fn events_start_with_type_and_id() {
        assert_eq!(event_line("oom", "c1", None), r#"{"type":"oom","id":"c1"}"#);
        let line = event_line("stats", "c\"1", Some(&json!({"pids": {"current": 1}})));
        assert_eq!(
            line,
            r#"{"type":"stats","id":"c\"1","data":{"pids":{"current":1}}}"#
        );
        let _: Value = serde_json::from_str(&line).unwrap();
    }

    #[test]
    fn stats_carry_runcs_names() {
        let mut stats = Stats::default();
        stats.cpu.usage.usage_total = 42;
        stats.pids.current = 3;
        stats.memory.memory.limit = 1024;
        let v = runc_stats(&stats);
        assert_eq!(v["cpu"]["usage"]["total"], 42);
        assert_eq!(v["pids"]["current"], 3);
        assert_eq!(v["memory"]["usage"]["limit"], 1024);
    }
}
