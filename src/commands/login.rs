//! One run of `ecr-login login`: registries -> skip the still-valid ones (--min-valid) ->
//! groups by endpoint and credentials -> one token per group, concurrently, under one
//! deadline -> every sink -> state file -> one exit code.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use tokio::task::JoinSet;

use super::check::{self, Check};
use super::registries::{Wanted, resolve_registries};
use super::report::{Report, fail_early};
use crate::child;
use crate::ecr::{self, Credentials, Endpoint, Registry, Token};
use crate::exit::{Code, classify, fail};
use crate::logging::{notify_status, timing};
use crate::secret::fingerprint;
use crate::settings::Settings;
use crate::sinks::Sink;
use crate::state::{self, Record, State};
use crate::timestamp::{expiry_text, short_duration};

pub async fn run(settings: &Settings) -> Code {
    let deadline = Instant::now() + settings.timeout;
    let mut report = Report::default();

    let setup = match ecr::Setup::check(settings.profile.as_deref()).await {
        Ok(setup) => setup,
        Err(err) => return fail_early(&err),
    };
    let mut registries = resolve_registries(settings, &mut report).await;
    let sinks = Sink::configured(settings);
    if let Some(min_valid) = settings.min_valid {
        // Reading sinks can wait on a lock or a credential helper: off the runtime's thread,
        // so a signal still stops the loop at once.
        let (settings, sinks) = (settings.clone(), sinks.clone());
        (registries, report) = tokio::task::spawn_blocking(move || {
            let kept = skip_still_valid(
                &settings,
                registries,
                &sinks,
                min_valid,
                deadline,
                &mut report,
            );
            (kept, report)
        })
        .await
        .expect("the check does not panic");
    }
    if registries.is_empty() {
        return finish(&report, settings);
    }

    let mut groups: BTreeMap<(Endpoint, Credentials), Vec<Registry>> = BTreeMap::new();
    for (registry, credentials) in registries {
        groups
            .entry((registry.endpoint(), credentials))
            .or_default()
            .push(registry);
    }
    log::debug!(
        "{} registries in {} group(s) by endpoint and credentials: one GetAuthorizationToken call each",
        groups.values().map(Vec::len).sum::<usize>(),
        groups.len()
    );
    let logged_in = fetch_tokens(settings, &setup, groups, deadline, &mut report).await;

    // Lets the tests prove that a bug exits 70 (SOFTWARE); compiled out of release builds.
    #[cfg(debug_assertions)]
    if std::env::var_os("ECR_LOGIN_DEBUG_PANIC").is_some() {
        panic!("ECR_LOGIN_DEBUG_PANIC is set");
    }

    if settings.dry_run {
        for (registry, token) in &logged_in {
            let to: Vec<String> = sinks.iter().map(Sink::to_string).collect();
            log::info!(
                "dry run: would log in to {} in {} ({})",
                registry.host,
                to.join(", "),
                expiry_text(token.expires_at).1
            );
            report.ok += 1;
        }
        return finish(&report, settings);
    }

    // Writing waits on locks and runs programs: off the runtime's thread, like the check.
    let report = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || {
            deliver(&settings, &sinks, &logged_in, deadline, &mut report);
            report
        })
        .await
        .expect("delivery does not panic")
    };
    finish(&report, settings)
}

/// Every token to every sink; a registry counts as logged in only if every sink took it.
/// What each sink took is recorded in the state file.
fn deliver(
    settings: &Settings,
    sinks: &[Sink],
    logged_in: &[(Registry, Token)],
    deadline: Instant,
    report: &mut Report,
) {
    if logged_in.is_empty() {
        return;
    }
    let mut failures: Vec<Option<anyhow::Error>> = logged_in.iter().map(|_| None).collect();
    let mut records = Vec::new();
    for sink in sinks {
        let results = sink.deliver(settings, logged_in, deadline);
        timing(format_args!("delivered to {sink}"));
        for (((registry, token), result), failure) in
            logged_in.iter().zip(results).zip(failures.iter_mut())
        {
            match result {
                Ok(place) => {
                    let (expires, phrase) = expiry_text(token.expires_at);
                    log::info!(
                        registry = registry.host.as_str(), region = registry.region.as_str(), expires_at = expires.as_deref().unwrap_or_default();
                        "logged in to {} {place} ({phrase})", registry.host
                    );
                    records.push(Record::new(
                        &registry.host,
                        sink,
                        token.expires_at,
                        fingerprint(&token.username, &token.password),
                    ));
                }
                Err(err) if failure.is_none() => {
                    report.fail(&registry.host, &err);
                    *failure = Some(err);
                }
                Err(err) => report.also(&registry.host, &err),
            }
        }
    }
    report.ok += failures.iter().filter(|f| f.is_none()).count();
    // The credentials are delivered whatever happens here; a state file that cannot be
    // written only costs the next --min-valid run an API call.
    if let Err(err) = state::update(&settings.state_dir, deadline, |state| {
        for record in records {
            state::upsert(state, record);
        }
    }) {
        log::warn!("{err:#}");
    }
    timing("state recorded");
}

/// Drop registries whose credentials every sink still holds, unchanged, for longer than
/// `min_valid`. They cost no API call.
fn skip_still_valid(
    settings: &Settings,
    registries: Vec<Wanted>,
    sinks: &[Sink],
    min_valid: std::time::Duration,
    deadline: Instant,
    report: &mut Report,
) -> Vec<Wanted> {
    let state = State::load_or_empty(&settings.state_dir);
    registries
        .into_iter()
        .filter(|(registry, _)| {
            let checks: Vec<Check> = sinks
                .iter()
                .map(|sink| {
                    check::check(
                        state.find(&registry.host, sink),
                        sink,
                        &registry.host,
                        deadline,
                    )
                })
                .collect();
            let least = checks
                .iter()
                .map(|c| c.remaining_if_valid())
                .min()
                .flatten();
            match least {
                Some(left) if left > min_valid => {
                    log::info!(
                        registry = registry.host.as_str();
                        "{} is still valid for {} in every sink: skipped",
                        registry.host,
                        short_duration(left)
                    );
                    report.ok += 1;
                    report.skipped += 1;
                    false
                }
                _ => {
                    let why = checks
                        .iter()
                        .zip(sinks)
                        .find(|(c, _)| c.remaining_if_valid().is_none_or(|l| l <= min_valid))
                        .map(|(c, sink)| format!("{} in {sink}", c.describe()))
                        .unwrap_or_default();
                    log::debug!("{}: refreshing ({why})", registry.host);
                    true
                }
            }
        })
        .collect()
}

/// One `GetAuthorizationToken` per group, all at once, each bounded by the deadline.
/// Returns every registry whose group got a token, sorted by host.
async fn fetch_tokens(
    settings: &Settings,
    setup: &ecr::Setup,
    mut groups: BTreeMap<(Endpoint, Credentials), Vec<Registry>>,
    deadline: Instant,
    report: &mut Report,
) -> Vec<(Registry, Token)> {
    // Bare accounts brought a region; otherwise any group's region serves STS and defaults.
    let home_region = settings.region.clone().unwrap_or_else(|| {
        groups
            .keys()
            .next()
            .map(|(e, _)| e.region.clone())
            .unwrap_or_default()
    });
    let mut sdks = BTreeMap::new();
    for (_, credentials) in groups.keys() {
        if !sdks.contains_key(credentials) {
            let sdk = ecr::sdk_config(
                setup,
                &home_region,
                settings.profile.as_deref(),
                credentials,
            )
            .await;
            sdks.insert(credentials.clone(), sdk);
        }
    }
    timing("AWS config loaded");

    let mut calls = JoinSet::new();
    let keys: Vec<_> = groups.keys().cloned().collect();
    for key in keys {
        let sdk = match &sdks[&key.1] {
            Ok(sdk) => sdk.clone(),
            Err(err) => {
                let message = format!("{err:#}");
                let code = classify(err);
                for registry in groups.remove(&key).unwrap_or_default() {
                    report.fail(&registry.host, &fail(code, message.clone()));
                }
                continue;
            }
        };
        calls.spawn(async move {
            let endpoint = &key.0;
            let call = tokio::time::timeout_at(deadline.into(), ecr::fetch_token(&sdk, endpoint));
            let token = call.await.unwrap_or_else(|_| {
                Err(fail(
                    Code::TempFail,
                    format!(
                        "timed out waiting for ECR in {} (the deadline is --timeout)",
                        endpoint.region
                    ),
                ))
            });
            timing(format_args!("ECR answered for {}", endpoint.region));
            (key, token)
        });
    }
    let mut logged_in = Vec::new();
    let mut failed = false;
    while let Some(joined) = calls.join_next().await {
        let (key, token) = joined.expect("token tasks do not panic");
        let members = groups.remove(&key).unwrap_or_default();
        match token {
            Ok(token) => {
                warn_if_expired(&key.0, &token);
                logged_in.extend(members.into_iter().map(|r| (r, token.clone())));
            }
            Err(err) => {
                failed = true;
                for registry in members {
                    report.fail(&registry.host, &err);
                }
            }
        }
    }
    if failed {
        // A credential_process the SDK gave up on (our deadline, or its own) is still
        // running, maybe with children of its own: nothing of ours should outlive the call.
        child::kill_descendants();
    }
    logged_in.sort_by(|a, b| a.0.host.cmp(&b.0.host));
    logged_in
}

/// A token that is already expired on arrival points at clock skew or a test endpoint
/// (moto's tokens expire in 2015); it is stored anyway, as the service handed it out.
fn warn_if_expired(endpoint: &Endpoint, token: &Token) {
    if let Some(expires) = token.expires_at
        && expires <= SystemTime::now()
    {
        log::warn!(
            "the token for {} expired on arrival ({}); check the clock",
            endpoint.region,
            crate::timestamp::rfc3339(expires)
        );
    }
}

fn finish(report: &Report, settings: &Settings) -> Code {
    let total = report.ok + report.failed;
    let verb = if settings.dry_run {
        "checked"
    } else {
        "logged in to"
    };
    let mut summary = format!("{verb} {} of {total} registries", report.ok);
    if report.skipped > 0 {
        summary.push_str(&format!(" ({} still valid, skipped)", report.skipped));
    }
    if report.failed == 0 {
        log::info!("{summary}");
    } else {
        // systemctl status names only systemd's own exit codes ("status=77"); this line,
        // shown there as Status:, names ours.
        summary.push_str(&format!("; exit {}", report.code()));
        log::warn!("{summary}");
    }
    notify_status(&summary);
    timing("done");
    report.code()
}
