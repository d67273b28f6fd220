//! runc's log formats, for the tools that read them.
//!
//! runc logs through logrus, and its users parse that: containerd's shim
//! reads the `--log` file (JSON) to tell the user why a create failed, and
//! scripts grep `level=debug`. So every event is written as logrus writes
//! it:
//! - text: `time="2026-12-04T14:28:21Z" level=debug msg="..." key=value`
//!   (a value is quoted when it holds anything but `[A-Za-z0-9-._/@^+]`);
//! - json: `{"level":"debug","msg":"...","time":"2026-12-04T14:28:21Z", "key": "value"}`
//!   on one line.
//!
//! Levels are logrus' names (`warning`, not `warn`); times are RFC 3339 in
//! UTC, to the second, as logrus' default.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// An I/O error as Go (so runc) words it: `no such file or directory`,
/// lower case, no `(os error N)`. Engines and runc's tests match these.
pub fn go_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => go_errno(nix::errno::Errno::from_raw(errno)),
        None => e.to_string(),
    }
}

/// [`go_error`] for an errno.
pub fn go_errno(errno: nix::errno::Errno) -> String {
    errno.desc().to_lowercase()
}

/// A `tracing` event formatter writing logrus' text or JSON lines.
pub struct RuncFormat {
    pub json: bool,
}

impl<S, N> FormatEvent<S, N> for RuncFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = render(
            self.json,
            &rfc3339(SystemTime::now()),
            *event.metadata().level(),
            &fields.message,
            &fields.others,
        );
        writeln!(writer, "{line}")
    }
}

/// One log line, without its newline.
fn render(json: bool, time: &str, level: Level, msg: &str, fields: &[(String, String)]) -> String {
    let level = level_name(level);
    if json {
        let mut map = serde_json::Map::new();
        map.insert("level".into(), level.into());
        map.insert("msg".into(), msg.into());
        map.insert("time".into(), time.into());
        for (k, v) in fields {
            map.entry(k.clone()).or_insert_with(|| v.clone().into());
        }
        return serde_json::Value::Object(map).to_string();
    }
    let mut line = format!("time=\"{time}\" level={level} msg={}", quote(msg));
    for (k, v) in fields {
        let _ = write!(line, " {k}={}", quote(v));
    }
    line
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// logrus' text quoting: bare when only "safe" characters, else quoted
/// with `"` and `\` escaped and control characters written as escapes.
fn quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if safe {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `2026-12-04T14:28:21Z` for `time` (UTC; days to a civil date by Howard
/// Hinnant's algorithm, valid for any time after 1970).
fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The event's message and its other fields, as text.
#[derive(Default)]
pub(crate) struct Fields {
    pub(crate) message: String,
    pub(crate) others: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = value;
        } else {
            self.others.push((field.name().to_owned(), value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn text_lines_are_logrus_lines() {
        let fields = vec![
            ("id".to_owned(), "c1".to_owned()),
            ("path".to_owned(), "/a b".to_owned()),
        ];
        assert_eq!(
            render(
                false,
                "2026-12-04T14:28:21Z",
                Level::DEBUG,
                "nsexec container setup",
                &fields
            ),
            r#"time="2026-12-04T14:28:21Z" level=debug msg="nsexec container setup" id=c1 path="/a b""#
        );
        assert_eq!(
            render(false, "T", Level::WARN, "say \"hi\"\n", &[]),
            r#"time="T" level=warning msg="say \"hi\"\n""#
        );
    }

    #[test]
    fn json_lines_carry_level_msg_time() {
        let line = render(
            true,
            "2026-12-04T14:28:21Z",
            Level::ERROR,
            "unable to apply caps: operation not permitted",
            &[("pid".into(), "7".into())],
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "unable to apply caps: operation not permitted");
        assert_eq!(v["time"], "2026-12-04T14:28:21Z");
        assert_eq!(v["pid"], "7");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // 2024-02-29T23:59:59Z: a leap day.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_709_251_199)),
            "2024-02-29T23:59:59Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_796_380_101)),
            "2026-12-04T10:28:21Z"
        );
    }
}
