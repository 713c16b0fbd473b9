//! `ecr-login status`: what each sink holds for each registry, checked against the state
//! file, and for how long it stays valid. Also the check `--min-valid` uses to skip.

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::docker_config::Held;
use crate::exit::Code;
use crate::login::{self, Report};
use crate::settings::Settings;
use crate::sink::Sink;
use crate::state::{Record, State};

/// What one sink holds for one registry, compared with what ecr-login wrote there.
#[derive(Debug, Clone)]
pub enum Check {
    /// Ours and unexpired; `None` remaining if ECR gave no expiry.
    Valid(Record, Option<Duration>),
    Expired(Record),
    /// ecr-login has no record of writing it there.
    NotRecorded,
    /// The sink no longer holds what was written (logged out, or replaced).
    Changed(Record, &'static str),
    /// Printed to stdout: nothing to read back.
    Unreadable(Record),
    /// Reading the sink failed.
    Error(Record, String),
}

/// Compare the record of `host` in `sink` with what the sink holds now.
pub fn check(record: Option<&Record>, sink: &Sink, host: &str, deadline: Instant) -> Check {
    let Some(record) = record.cloned() else {
        return Check::NotRecorded;
    };
    if !sink.readable() {
        return Check::Unreadable(record);
    }
    match sink.held(host, deadline) {
        Err(err) => Check::Error(record, format!("{err:#}")),
        Ok(Held::Absent) => Check::Changed(record, "no longer there"),
        Ok(Held::Present(fp)) if fp != record.fingerprint => {
            Check::Changed(record, "replaced by other credentials")
        }
        Ok(Held::Present(_)) => match record.remaining() {
            Some(left) if left.is_zero() => Check::Expired(record),
            left => Check::Valid(record, left),
        },
    }
}

impl Check {
    /// Time left if the credentials are ours, present and unexpired (no expiry: forever).
    pub fn remaining_if_valid(&self) -> Option<Duration> {
        match self {
            Check::Valid(_, left) => Some(left.unwrap_or(Duration::MAX)),
            _ => None,
        }
    }

    /// For `status`: like `remaining_if_valid`, but a manifest printed to stdout is judged
    /// by its expiry alone (nothing can be read back). Skipping never trusts it: a skipped
    /// run would print nothing into `kubectl apply -f -`.
    fn remaining_for_status(&self) -> Option<Duration> {
        match self {
            Check::Unreadable(record) => match record.remaining() {
                Some(left) if left.is_zero() => None,
                left => Some(left.unwrap_or(Duration::MAX)),
            },
            other => other.remaining_if_valid(),
        }
    }

    fn record(&self) -> Option<&Record> {
        match self {
            Check::Valid(r, _)
            | Check::Expired(r)
            | Check::Changed(r, _)
            | Check::Unreadable(r)
            | Check::Error(r, _) => Some(r),
            Check::NotRecorded => None,
        }
    }

    fn word(&self) -> &'static str {
        match self {
            Check::Valid(..) => "valid",
            Check::Expired(_) => "expired",
            Check::NotRecorded => "missing",
            Check::Changed(..) => "changed",
            Check::Unreadable(_) => "unknown",
            Check::Error(..) => "error",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Check::Valid(r, Some(left)) => format!(
                "valid until {} ({} left)",
                rfc3339(r.expires_at()),
                short_duration(*left)
            ),
            Check::Valid(_, None) => "valid (no expiry given)".to_string(),
            Check::Expired(r) => format!("expired at {}", rfc3339(r.expires_at())),
            Check::NotRecorded => "never written by ecr-login".to_string(),
            Check::Changed(_, why) => format!("changed: {why}"),
            Check::Unreadable(r) => format!(
                "printed to stdout at {}, expires {} (cannot be read back)",
                rfc3339(Some(
                    SystemTime::UNIX_EPOCH + Duration::from_secs(r.written_at)
                )),
                rfc3339(r.expires_at())
            ),
            Check::Error(_, err) => format!("cannot check: {err}"),
        }
    }
}

fn rfc3339(t: Option<SystemTime>) -> String {
    t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| "-".into())
}

/// `11h 58m`, `4m 10s`: precise enough for a health check, short enough for a log line.
pub fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs / 60 % 60, secs % 60) {
        (h, m, _) if h > 0 => format!("{h}h {m}m"),
        (_, m, s) if m > 0 => format!("{m}m {s}s"),
        (_, _, s) => format!("{s}s"),
    }
}

/// `status [REGISTRY...]`: one line per registry and sink on stdout; exit 0 only if every
/// one is ours, present, and valid for at least `--min-valid` (default: unexpired).
pub async fn run(settings: &Settings, json: bool) -> Code {
    let state = State::load(&settings.state_dir);
    let deadline = Instant::now() + settings.timeout;
    let min_valid = settings.min_valid.unwrap_or(Duration::ZERO);

    // Named registries against the configured sinks; else everything recorded.
    let mut report = Report::default();
    let pairs: Vec<(String, Sink)> = if settings.registries.is_empty() {
        state
            .records
            .iter()
            .map(|r| (r.registry.clone(), r.sink.clone()))
            .collect()
    } else {
        let sinks = Sink::configured(settings);
        login::resolve_registries(settings, &mut report)
            .await
            .into_iter()
            .flat_map(|(r, _)| sinks.iter().map(move |s| (r.host.clone(), s.clone())))
            .collect()
    };
    if pairs.is_empty() && report.failed == 0 {
        log::error!(
            "nothing to check: no registries given and none recorded in {}",
            crate::state::path(&settings.state_dir).display()
        );
        return Code::Stale;
    }

    let mut healthy = report.failed == 0;
    for (host, sink) in &pairs {
        let check = check(state.find(host, sink), sink, host, deadline);
        let ok = check
            .remaining_for_status()
            .is_some_and(|left| left >= min_valid);
        healthy &= ok;
        if json {
            let record = check.record();
            let line = json!({
                "registry": host,
                "sink": sink,
                "state": check.word(),
                "ok": ok,
                "expires_at": record.and_then(|r| r.expires_at()).map(|t| rfc3339(Some(t))),
                "remaining_seconds": check.remaining_for_status().filter(|d| *d != Duration::MAX).map(|d| d.as_secs()),
                "written_at": record.map(|r| r.written_at),
                "detail": check.describe(),
            });
            println!("{line}");
        } else {
            let mark = if ok { "ok" } else { "STALE" };
            println!("{mark:5}  {host}  {sink}  {}", check.describe());
        }
    }
    match report.code() {
        Code::Ok if healthy => Code::Ok,
        Code::Ok => Code::Stale,
        code => code,
    }
}
