//! `ecr-login status`: what each sink holds for each registry, checked against the state
//! file, and for how long it stays valid.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;

use super::check::check;
use super::registries::resolve_registries;
use super::report::{Report, fail_early};
use crate::exit::Code;
use crate::settings::Settings;
use crate::sinks::Sink;
use crate::state::State;

/// `status [REGISTRY...]`: one line per registry and sink on stdout; exit 0 only if every
/// one is ours, present, and valid for at least `--min-valid` (default: unexpired).
pub async fn run(settings: &Settings, json: bool) -> Code {
    let state = match State::load(&settings.state_dir) {
        Ok(state) => state,
        Err(err) => return fail_early(&err),
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
        resolve_registries(settings, &mut report)
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
