//! `ecr-login logout [REGISTRY...]`: remove what ecr-login wrote, where the state file says
//! it wrote it, and only if it is still what was written. `--dry-run` says what it would
//! remove and changes nothing.

use std::time::Instant;

use super::registries::resolve_registries;
use super::report::{Report, fail_early};
use crate::exit::Code;
use crate::settings::Settings;
use crate::sinks::{Removal, Sink};
use crate::state::{self, State};

pub async fn run(settings: &Settings) -> Code {
    let deadline = Instant::now() + settings.timeout;
    let mut report = Report::default();
    let state = match State::load(&settings.state_dir) {
        Ok(state) => state,
        Err(err) => return fail_early(&err),
    };
    let hosts: Option<Vec<String>> = if settings.registries.is_empty() {
        None
    } else {
        Some(
            resolve_registries(settings, &mut report)
                .await
                .into_iter()
                .map(|(r, _)| r.host)
                .collect(),
        )
    };
    // Sinks named on the command line narrow the logout to them.
    let sinks = settings.sinks_chosen.then(|| Sink::configured(settings));
    let wanted = |host: &str, sink: &Sink| {
        hosts.as_ref().is_none_or(|h| h.iter().any(|x| x == host))
            && sinks.as_ref().is_none_or(|s| s.contains(sink))
    };
    let (would, verb) = if settings.dry_run {
        ("would ", "log out")
    } else {
        ("", "logged out")
    };

    let mut done = Vec::new();
    for record in state
        .records
        .iter()
        .filter(|r| wanted(&r.registry, &r.sink))
    {
        let (host, sink) = (&record.registry, &record.sink);
        match sink.remove(host, &record.fingerprint, deadline, settings.dry_run) {
            Ok(Removal::Removed) => {
                log::info!(registry = host.as_str(); "{would}{verb} of {host} in {sink}");
                report.ok += 1;
                done.push(record.clone());
            }
            Ok(Removal::Absent) => {
                let note = if sink.readable() {
                    "nothing to remove"
                } else {
                    "printed to stdout: delete the Secret with kubectl"
                };
                log::info!(registry = host.as_str(); "{host} in {sink}: {note}");
                report.ok += 1;
                done.push(record.clone());
            }
            Ok(Removal::Changed) => {
                log::warn!(
                    registry = host.as_str();
                    "{host} in {sink}: holds other credentials than ecr-login wrote; left alone"
                );
                report.ok += 1;
                done.push(record.clone());
            }
            Err(err) => report.fail(host, &err),
        }
    }
    if let Some(hosts) = &hosts {
        for host in hosts
            .iter()
            .filter(|h| !state.records.iter().any(|r| &r.registry == *h))
        {
            log::info!("{host}: ecr-login has not written it anywhere; nothing to remove");
        }
    }
    if settings.dry_run {
        log::info!("dry run: would remove {} record(s)", done.len());
        return report.code();
    }
    if !done.is_empty()
        && let Err(err) = state::update(&settings.state_dir, deadline, |state| {
            state.records.retain(|r| !done.contains(r));
        })
    {
        report.fail("state", &err);
    }
    log::info!("removed {} record(s)", done.len());
    report.code()
}
