//! Times ecr-login writes and reads: RFC 3339 text and seconds since the epoch, each made in
//! one place and safe for any input. Docker, the journal and Kubernetes all take RFC 3339
//! between 1970 and 9999; anything outside is refused where it comes in. And durations as
//! people read them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const LAST_SECOND: u64 = 253_402_300_799;

/// The time `secs` after the epoch, if RFC 3339 can write it.
pub fn from_epoch_secs(secs: u64) -> Option<SystemTime> {
    (secs <= LAST_SECOND).then(|| UNIX_EPOCH + Duration::from_secs(secs))
}

/// Whole seconds since the epoch, if the time is one RFC 3339 can write.
pub fn epoch_secs(t: SystemTime) -> Option<u64> {
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs <= LAST_SECOND).then_some(secs)
}

/// `2026-11-24T06:12:09Z`. Times outside 1970-9999 cannot reach here from outside (they
/// are refused on the way in), so they are written as the nearest end of the range.
pub fn rfc3339(t: SystemTime) -> String {
    let clamped = match epoch_secs(t) {
        Some(_) => t,
        None if t < UNIX_EPOCH => UNIX_EPOCH,
        None => UNIX_EPOCH + Duration::from_secs(LAST_SECOND),
    };
    humantime::format_rfc3339_seconds(clamped).to_string()
}

/// When a token expires, for log lines: `(RFC 3339 text for the EXPIRES_AT field, phrase)`,
/// formatted once.
pub fn expiry_text(expires_at: Option<SystemTime>) -> (Option<String>, String) {
    let text = expires_at.map(rfc3339);
    let phrase = match &text {
        Some(t) => format!("expires {t}"),
        None => "no expiry given".to_string(),
    };
    (text, phrase)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_time_has_a_text() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(u64::MAX / 4)),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_420_070_400)),
            "2015-01-01T00:00:00Z"
        );
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(short_duration(Duration::from_secs(43_080)), "11h 58m");
        assert_eq!(short_duration(Duration::from_secs(250)), "4m 10s");
        assert_eq!(short_duration(Duration::from_secs(9)), "9s");
    }

    #[test]
    fn epoch_seconds_round_trip_inside_the_range_only() {
        let t = from_epoch_secs(1_893_456_000).unwrap();
        assert_eq!(epoch_secs(t), Some(1_893_456_000));
        assert_eq!(from_epoch_secs(LAST_SECOND + 1), None);
        assert_eq!(from_epoch_secs(u64::MAX), None);
        assert_eq!(epoch_secs(UNIX_EPOCH - Duration::from_secs(1)), None);
    }
}
