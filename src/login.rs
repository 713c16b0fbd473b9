//! One run of `ecr-login login`: registries -> groups by endpoint -> one token per group,
//! concurrently, under one deadline -> the chosen sink -> one exit code.

use std::collections::BTreeMap;
use std::time::SystemTime;

use clap::ValueEnum;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cli::Method;
use crate::docker_config::{self, Entry, Stored};
use crate::ecr::{self, Token};
use crate::exit::{Code, classify, fail};
use crate::logging::notify_status;
use crate::registry::{self, Endpoint, Registry, Spec};
use crate::settings::Settings;

/// Tallies what happened to each registry and keeps the worst code.
#[derive(Default)]
struct Report {
    ok: usize,
    failed: usize,
    code: Option<Code>,
}

impl Report {
    fn fail(&mut self, subject: &str, err: &anyhow::Error) {
        let code = classify(err);
        log::error!(registry = subject; "{subject}: {err:#}");
        self.failed += 1;
        self.code = Some(self.code.unwrap_or(Code::Ok).worst(code));
    }

    fn succeed(&mut self) {
        self.ok += 1;
    }

    fn code(&self) -> Code {
        self.code.unwrap_or(Code::Ok)
    }
}

pub async fn run(settings: Settings) -> Code {
    let deadline = Instant::now() + settings.timeout;
    let mut report = Report::default();

    let registries = resolve_registries(&settings, &mut report).await;
    if registries.is_empty() {
        return finish(&report, &settings);
    }

    let mut groups: BTreeMap<Endpoint, Vec<Registry>> = BTreeMap::new();
    for registry in registries {
        groups
            .entry(registry.endpoint())
            .or_default()
            .push(registry);
    }
    log::debug!(
        "{} registries in {} endpoint group(s): one GetAuthorizationToken call each",
        groups.values().map(Vec::len).sum::<usize>(),
        groups.len()
    );
    let logged_in = fetch_tokens(&settings, groups, deadline, &mut report).await;

    // Lets the tests prove that a bug exits 70 (SOFTWARE); compiled out of release builds.
    #[cfg(debug_assertions)]
    if std::env::var_os("ECR_LOGIN_DEBUG_PANIC").is_some() {
        panic!("ECR_LOGIN_DEBUG_PANIC is set");
    }

    if settings.dry_run {
        for (registry, token) in &logged_in {
            log::info!(
                "dry run: would log in to {} with {} method ({})",
                registry.host,
                settings
                    .method
                    .to_possible_value()
                    .expect("no skipped variants")
                    .get_name(),
                describe_expiry(expiry_text(token).as_deref())
            );
            report.succeed();
        }
        return finish(&report, &settings);
    }

    match settings.method {
        Method::Config => store_in_config(&settings, &logged_in, deadline, &mut report),
        Method::Docker => login_with_docker(&settings, &logged_in, deadline, &mut report).await,
    }
    finish(&report, &settings)
}

/// One `GetAuthorizationToken` per endpoint group, all at once, each bounded by the deadline.
/// Returns every registry whose group got a token, sorted by host.
async fn fetch_tokens(
    settings: &Settings,
    mut groups: BTreeMap<Endpoint, Vec<Registry>>,
    deadline: Instant,
    report: &mut Report,
) -> Vec<(Registry, Token)> {
    // Bare accounts brought a region; otherwise any group's region serves STS and defaults.
    let home_region = settings.region.clone().unwrap_or_else(|| {
        groups
            .keys()
            .next()
            .map(|e| e.region.clone())
            .unwrap_or_default()
    });
    let sdk = ecr::sdk_config(&home_region, settings.profile.as_deref()).await;

    let mut calls = JoinSet::new();
    for endpoint in groups.keys().cloned() {
        let sdk = sdk.clone();
        calls.spawn(async move {
            let call = tokio::time::timeout_at(deadline, ecr::fetch_token(&sdk, &endpoint));
            let token = call.await.unwrap_or_else(|_| {
                Err(fail(
                    Code::TempFail,
                    format!(
                        "timed out waiting for ECR in {} (the deadline is --timeout)",
                        endpoint.region
                    ),
                ))
            });
            (endpoint, token)
        });
    }
    let mut logged_in = Vec::new();
    while let Some(joined) = calls.join_next().await {
        let (endpoint, token) = joined.expect("token tasks do not panic");
        let members = groups.remove(&endpoint).unwrap_or_default();
        match token {
            Ok(token) => {
                warn_if_expired(&endpoint, &token);
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

/// `docker login` one registry after another: docker's own read-modify-write of
/// config.json is not locked, so concurrent logins could lose entries.
async fn login_with_docker(
    settings: &Settings,
    logged_in: &[(Registry, Token)],
    deadline: Instant,
    report: &mut Report,
) {
    for (registry, token) in logged_in {
        let result = crate::docker_login::login(
            &settings.docker_bin,
            &settings.docker_config,
            &registry.host,
            &token.username,
            &token.password,
            deadline,
        )
        .await;
        match result {
            Ok(()) => {
                log_success(
                    registry,
                    token,
                    &format!("via {}", settings.docker_bin.display()),
                );
                report.succeed();
            }
            Err(err) => report.fail(&registry.host, &err),
        }
    }
}

/// Parse every registry; bare accounts get the configured or discovered region. Bad entries
/// are reported and skipped so the good ones still log in.
async fn resolve_registries(settings: &Settings, report: &mut Report) -> Vec<Registry> {
    let mut hosts = Vec::new();
    let mut accounts = Vec::new();
    for input in &settings.registries {
        match registry::parse(input) {
            Ok(Spec::Host(r)) => hosts.push(r),
            Ok(Spec::Account(a)) => accounts.push(a),
            Err(e) => report.fail(input, &fail(Code::Usage, e.to_string())),
        }
    }
    if !accounts.is_empty() {
        let region = match &settings.region {
            Some(region) => Some(region.clone()),
            None => ecr::discover_region(settings.profile.as_deref()).await,
        };
        for account in accounts {
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
                Ok(r) => hosts.push(r),
                Err(e) => report.fail(&account, &e),
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|r| seen.insert(r.host.clone()));
    hosts
}

fn store_in_config(
    settings: &Settings,
    logged_in: &[(Registry, Token)],
    deadline: Instant,
    report: &mut Report,
) {
    if logged_in.is_empty() {
        return;
    }
    let entries: Vec<Entry> = logged_in
        .iter()
        .map(|(r, t)| Entry {
            host: &r.host,
            username: &t.username,
            password: &t.password,
        })
        .collect();
    match docker_config::store(
        &settings.docker_config.join("config.json"),
        &entries,
        deadline.into_std(),
        docker_config::detect_default_store(),
    ) {
        Ok(results) => {
            for ((registry, token), result) in logged_in.iter().zip(results) {
                match result {
                    Ok(Stored::Auths) => {
                        let path = settings.docker_config.join("config.json");
                        log_success(registry, token, &format!("in {}", path.display()));
                        report.succeed();
                    }
                    Ok(Stored::Helper(name)) => {
                        log_success(registry, token, &format!("in credential helper {name}"));
                        report.succeed();
                    }
                    Err(err) => report.fail(&registry.host, &err),
                }
            }
        }
        Err(err) => {
            for (registry, _) in logged_in {
                report.fail(&registry.host, &err);
            }
        }
    }
}

fn log_success(registry: &Registry, token: &Token, where_: &str) {
    let expires = expiry_text(token);
    log::info!(
        registry = registry.host.as_str(), region = registry.region.as_str(), expires_at = expires.as_deref().unwrap_or_default();
        "logged in to {} {where_} ({})", registry.host, describe_expiry(expires.as_deref())
    );
}

fn expiry_text(token: &Token) -> Option<String> {
    token
        .expires_at
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
}

fn describe_expiry(expires: Option<&str>) -> String {
    match expires {
        Some(t) => format!("expires {t}"),
        None => "no expiry given".to_string(),
    }
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
    if report.failed == 0 {
        log::info!("{summary}");
    } else {
        // systemctl status names only systemd's own exit codes ("status=77"); this line,
        // shown there as Status:, names ours.
        summary.push_str(&format!("; exit {}", report.code()));
        log::warn!("{summary}");
    }
    notify_status(&summary);
    report.code()
}

/// Errors that stop the run before any registry is tried (bad settings).
pub fn fail_early(err: &anyhow::Error) -> Code {
    let code = classify(err);
    log::error!("{err:#}");
    notify_status(&format!("failed: {err}"));
    code
}
