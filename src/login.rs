//! One run of `ecr-login login`: registries -> skip the still-valid ones (--min-valid) ->
//! groups by endpoint and credentials -> one token per group, concurrently, under one
//! deadline -> every sink -> state file -> one exit code.

use std::collections::BTreeMap;
use std::time::SystemTime;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::ecr::{self, Token};
use crate::exit::{Code, classify, fail};
use crate::logging::{notify_status, timing};
use crate::registry::{self, Endpoint, Registry, Spec};
use crate::settings::{Credentials, Settings};
use crate::sink::{Sink, expiry_text};
use crate::state::{self, Record, State};
use crate::status::{self, Check};

/// Tallies what happened to each registry and keeps the worst code.
#[derive(Default)]
pub struct Report {
    pub ok: usize,
    pub skipped: usize,
    pub failed: usize,
    code: Option<Code>,
}

impl Report {
    pub fn fail(&mut self, subject: &str, err: &anyhow::Error) {
        self.failed += 1;
        self.also(subject, err);
    }

    /// A further failure of a registry already counted: logged, and its code weighed.
    pub fn also(&mut self, subject: &str, err: &anyhow::Error) {
        log::error!(registry = subject; "{subject}: {err:#}");
        self.code = Some(self.code.unwrap_or(Code::Ok).worst(classify(err)));
    }

    pub fn code(&self) -> Code {
        self.code.unwrap_or(Code::Ok)
    }
}

/// A registry to log in to, with the credentials that fetch its token.
pub type Wanted = (Registry, Credentials);

pub async fn run(settings: &Settings) -> Code {
    let deadline = Instant::now() + settings.timeout;
    let mut report = Report::default();

    let mut registries = resolve_registries(settings, &mut report).await;
    let sinks = Sink::configured(settings);
    if let Some(min_valid) = settings.min_valid {
        registries = skip_still_valid(settings, registries, &sinks, min_valid, &mut report);
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
    let logged_in = fetch_tokens(settings, groups, deadline, &mut report).await;

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

    deliver(settings, &sinks, &logged_in, deadline, &mut report).await;
    finish(&report, settings)
}

/// Every token to every sink; a registry counts as logged in only if every sink took it.
/// What each sink took is recorded in the state file.
async fn deliver(
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
        let results = sink.deliver(settings, logged_in, deadline).await;
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
                        state::fingerprint(&token.username, &token.password),
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
    if let Err(err) = state::update(&settings.state_dir, deadline.into_std(), |state| {
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
    report: &mut Report,
) -> Vec<Wanted> {
    let state = State::load(&settings.state_dir);
    let deadline = std::time::Instant::now() + settings.timeout;
    registries
        .into_iter()
        .filter(|(registry, _)| {
            let checks: Vec<Check> = sinks
                .iter()
                .map(|sink| {
                    status::check(
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
                        status::short_duration(left)
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
            let sdk = ecr::sdk_config(&home_region, settings.profile.as_deref(), credentials).await;
            sdks.insert(credentials.clone(), sdk);
        }
    }
    timing("AWS config loaded");

    let mut calls = JoinSet::new();
    for key in groups.keys().cloned() {
        let sdk = sdks[&key.1].clone();
        calls.spawn(async move {
            let endpoint = &key.0;
            let call = tokio::time::timeout_at(deadline, ecr::fetch_token(&sdk, endpoint));
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
    while let Some(joined) = calls.join_next().await {
        let (key, token) = joined.expect("token tasks do not panic");
        let members = groups.remove(&key).unwrap_or_default();
        match token {
            Ok(token) => {
                warn_if_expired(&key.0, &token);
                logged_in.extend(members.into_iter().map(|r| (r, token.clone())));
            }
            Err(err) => {
                for registry in members {
                    report.fail(&registry.host, &err);
                }
            }
        }
    }
    logged_in.sort_by(|a, b| a.0.host.cmp(&b.0.host));
    logged_in
}

/// Parse every registry; bare accounts get the configured or discovered region. Bad entries
/// are reported and skipped so the good ones still log in.
pub async fn resolve_registries(settings: &Settings, report: &mut Report) -> Vec<Wanted> {
    let mut hosts = Vec::new();
    let mut accounts = Vec::new();
    for input in &settings.registries {
        match registry::parse(&input.name) {
            Ok(Spec::Host(r)) => hosts.push((r, input.credentials.clone())),
            Ok(Spec::Account(a)) => accounts.push((a, input.credentials.clone())),
            Err(e) => report.fail(&input.name, &fail(Code::Usage, e.to_string())),
        }
    }
    if !accounts.is_empty() {
        let region = match &settings.region {
            Some(region) => Some(region.clone()),
            None => ecr::discover_region(settings.profile.as_deref()).await,
        };
        for (account, credentials) in accounts {
            let resolved = match &region {
                Some(region) => Registry::for_account(&account, region)
                    .map_err(|e| fail(Code::Usage, e.to_string())),
                None => Err(fail(
                    Code::Config,
                    "no region for a bare account ID: use --region, ECR_LOGIN_REGION, AWS_REGION, \
                     `region` in the config file or AWS profile, or a full registry hostname",
                )),
            };
            match resolved {
                Ok(r) => hosts.push((r, credentials)),
                Err(e) => report.fail(&account, &e),
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|(r, _)| seen.insert(r.host.clone()));
    hosts
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
            humantime::format_rfc3339_seconds(expires)
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

/// Errors that stop the run before any registry is tried (bad settings).
pub fn fail_early(err: &anyhow::Error) -> Code {
    let code = classify(err);
    log::error!("{err:#}");
    notify_status(&format!("failed: {err}"));
    code
}
