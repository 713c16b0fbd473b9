//! Does a sink still hold what ecr-login wrote there, and for how long is it valid? The
//! state file says what was written; the sink says what it holds now. `status` reports it;
//! `login --min-valid` skips what is still good.

use std::time::{Duration, Instant, SystemTime};

use crate::sinks::{Held, Sink};
use crate::state::Record;
use crate::timestamp::short_duration;

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
    pub fn remaining_for_status(&self) -> Option<Duration> {
        match self {
            Check::Unreadable(record) => Some(record.remaining()).filter(|left| !left.is_zero()),
            other => other.remaining_if_valid(),
        }
    }

    pub fn record(&self) -> Option<&Record> {
        match self {
            Check::Valid(r, _)
            | Check::Expired(r)
            | Check::Changed(r, _)
            | Check::Unreadable(r)
            | Check::Error(r, _) => Some(r),
            Check::NotRecorded => None,
        }
    }

    pub fn word(&self) -> &'static str {
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

/// RFC 3339, or `-` for a time not known.
fn rfc3339(t: Option<SystemTime>) -> String {
    t.map(crate::timestamp::rfc3339)
        .unwrap_or_else(|| "-".into())
}
