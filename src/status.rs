//! `ecr-login status`: what each sink holds for each registry, checked against the state
//! file, and for how long it stays valid. Also the check `--min-valid` uses to skip.

use std::io::Write;
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
    /// Ours, with this much time left.
    Valid(Record, Duration),
    /// Ours, but expired, or of unknown expiry (which counts as expired).
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
            left if left.is_zero() => Check::Expired(record),
            left => Check::Valid(record, left),
        },
    }
}

impl Check {
    /// Time left if the credentials are ours, present and unexpired.
    pub fn remaining_if_valid(&self) -> Option<Duration> {
        match self {
            Check::Valid(_, left) => Some(*left),
            _ => None,
        }
    }

    /// For `status`: like `remaining_if_valid`, but a manifest printed to stdout is judged
    /// by its expiry alone (nothing can be read back). Skipping never trusts it: a skipped
    /// run would print nothing into `kubectl apply -f -`.
    fn remaining_for_status(&self) -> Option<Duration> {
        match self {
            Check::Unreadable(record) => Some(record.remaining()).filter(|left| !left.is_zero()),
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
            Check::Valid(r, left) => format!(
                "valid until {} ({} left)",
                rfc3339(r.expires_at()),
                short_duration(*left)
            ),
            Check::Expired(r) if r.expires_at().is_none() => {
                "expiry unknown, so treated as expired".to_string()
            }
            Check::Expired(r) => format!("expired at {}", rfc3339(r.expires_at())),
            Check::NotRecorded => "never written by ecr-login".to_string(),
            Check::Changed(_, why) => format!("changed: {why}"),
            Check::Unreadable(r) => format!(
                "printed to stdout at {}, expires {} (cannot be read back)",
                rfc3339(r.written_at()),
                rfc3339(r.expires_at())
            ),
            Check::Error(_, err) => format!("cannot check: {err}"),
        }
    }
}

fn rfc3339(t: Option<SystemTime>) -> String {
    t.map(crate::timestamp::rfc3339)
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
    let state = match State::load(&settings.state_dir) {
        Ok(state) => state,
        Err(err) => return login::fail_early(&err),
    };
    let deadline = Instant::now() + settings.timeout;
    let min_valid = settings.min_valid.unwrap_or(Duration::ZERO);

    // Named registries against the configured sinks; else everything recorded.
    let mut report = Report::default();
    let sinks = Sink::configured(settings);
    let pairs: Vec<(String, Sink)> = if settings.registries.is_empty() {
        // Sinks named on the command line narrow it to them.
        state
            .records
            .iter()
            .filter(|r| !settings.sinks_chosen || sinks.contains(&r.sink))
            .map(|r| (r.registry.clone(), r.sink.clone()))
            .collect()
    } else {
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
    let mut out = std::io::stdout().lock();
    for (host, sink) in &pairs {
        let check = check(state.find(host, sink), sink, host, deadline);
        let ok = check
            .remaining_for_status()
            .is_some_and(|left| left >= min_valid);
        healthy &= ok;
        let line = if json {
            let record = check.record();
            json!({
                "registry": host,
                "sink": sink,
                "state": check.word(),
                "ok": ok,
                "expires_at": record.and_then(|r| r.expires_at()).map(crate::timestamp::rfc3339),
                "remaining_seconds": check.remaining_for_status().map(|d| d.as_secs()),
                "written_at": record.map(|r| r.written_at),
                "detail": check.describe(),
            })
            .to_string()
        } else {
            let mark = if ok { "ok" } else { "STALE" };
            format!("{mark:5}  {host}  {sink}  {}", check.describe())
        };
        // A reader that stopped listening (`status | head -1`) has what it wanted.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Code::Ok;
        }
    }
    match report.code() {
        Code::Ok if healthy => Code::Ok,
        Code::Ok => Code::Stale,
        code => code,
    }
}
