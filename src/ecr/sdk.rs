//! AWS SDK setup in one place: the trust store, retry settings, endpoint overrides, the
//! region lookup and the credentials each registry asks for. Settings the SDK would panic on,
//! or retry forever, are refused here first (78).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Result;
use aws_config::meta::region::RegionProviderChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::{RetryConfig, RetryMode};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_sdk_ecr::config::SharedHttpClient;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_types::os_shim_internal::{Env, Fs};

use super::credentials::Credentials;
use crate::exit::{Code, fail};

/// Off AWS, instance metadata never answers; the SDK's default chain waits 3-4 s for it. A
/// region lookup that has not finished by then has failed.
const REGION_LOOKUP_BOUND: Duration = Duration::from_millis(1000);

/// What every SDK config of a run shares, checked once before any call.
#[derive(Debug, Clone)]
pub struct Setup {
    retry: RetryConfig,
}

impl Setup {
    /// Check the AWS settings the SDK reads from the environment and the profile, and load
    /// the trust store: a bad one is a CONFIG error (78) here, not a panic or an endless
    /// retry later.
    pub async fn check(profile: Option<&str>) -> Result<Setup> {
        check_endpoint_urls()?;
        http_client()?;
        Ok(Setup {
            retry: retry_config(profile).await?,
        })
    }
}

/// The HTTPS client of every SDK call: rustls, the system trust store, proxies from
/// `HTTPS_PROXY`/`NO_PROXY`, as the SDK's default client; but with ring, not aws-lc. aws-lc
/// seeds its random generator from CPU jitter entropy on first use: 30 ms of CPU in every
/// run, more than all the rest of a login over HTTPS. One client, so the store loads once.
fn http_client() -> Result<SharedHttpClient> {
    static CLIENT: OnceLock<Result<SharedHttpClient, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            check_ca_certificates()?;
            Ok(
                aws_smithy_http_client::Builder::new().build_with_connector_fn(
                    |settings, components| {
                        let mut connector = aws_smithy_http_client::Connector::builder()
                            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
                        connector.set_connector_settings(settings.cloned());
                        if let Some(components) = components {
                            connector.set_sleep_impl(components.sleep_impl());
                        }
                        connector.set_proxy_config(Some(ProxyConfig::from_env()));
                        connector.build()
                    },
                ),
            )
        })
        .clone()
        .map_err(|message| fail(Code::Config, message))
}

/// The trust store the client loads (rustls-native-certs: `SSL_CERT_FILE`/`SSL_CERT_DIR`,
/// else the places openssl-probe finds) must hold a certificate: without one nothing can be
/// trusted, and the SDK would assert. Looked for by its PEM marker only: decoding the store
/// here as well would double the largest cost of a run.
fn check_ca_certificates() -> std::result::Result<(), String> {
    let file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let dirs: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR")
        .map(|dirs| {
            std::env::split_paths(&dirs)
                .filter(|d| !d.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let (file, dirs) = if file.is_some() || !dirs.is_empty() {
        (file, dirs)
    } else {
        let probed = openssl_probe::probe();
        (probed.cert_file, probed.cert_dir)
    };
    let holds_one = |path: &Path| {
        std::fs::read(path).is_ok_and(|bytes| {
            bytes
                .windows(PEM_CERTIFICATE.len())
                .any(|w| w == PEM_CERTIFICATE)
        })
    };
    let found = file.as_deref().is_some_and(holds_one)
        || dirs.iter().any(|dir| {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|entry| holds_one(&entry.path()))
        });
    if found {
        return Ok(());
    }
    Err(
        "no CA certificates found: install the ca-certificates package, or set SSL_CERT_FILE \
         to a PEM bundle"
            .to_string(),
    )
}

const PEM_CERTIFICATE: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// `AWS_ENDPOINT_URL` and every `AWS_ENDPOINT_URL_<SERVICE>`: a malformed one would fail
/// every call as if the network were down, and be retried forever.
fn check_endpoint_urls() -> Result<()> {
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|n| n.starts_with("AWS_ENDPOINT_URL")) else {
            continue;
        };
        let text = value.to_string_lossy();
        let uri = http::Uri::from_str(&text);
        let usable = uri.as_ref().is_ok_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
        });
        if !usable {
            return Err(fail(
                Code::Config,
                format!(
                    "invalid {name} {text:?}: expected an http:// or https:// URL, e.g. \
                     https://api.ecr.us-east-1.amazonaws.com"
                ),
            ));
        }
    }
    Ok(())
}

/// `AWS_MAX_ATTEMPTS`/`AWS_RETRY_MODE`, else `max_attempts`/`retry_mode` of the profile, as
/// the SDK reads them, but a bad value is an error instead of the SDK's panic.
async fn retry_config(profile: Option<&str>) -> Result<RetryConfig> {
    let profiles = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &EnvConfigFiles::default(),
        profile.map(|p| Cow::Owned(p.to_string())),
    )
    .await
    // A profile file the SDK cannot read is one it ignores too.
    .ok();
    // (value, its name, where it was set)
    let setting = |env: &'static str, key: &'static str| match std::env::var_os(env) {
        Some(value) => Some((value.to_string_lossy().into_owned(), env, "")),
        None => profiles
            .as_ref()
            .and_then(|p| p.get(key))
            .map(|v| (v.to_string(), key, " in the AWS profile")),
    };
    let mut config = RetryConfig::standard();
    if let Some((text, name, place)) = setting("AWS_MAX_ATTEMPTS", "max_attempts") {
        match text.parse::<u32>() {
            Ok(attempts) if attempts >= 1 => config = config.with_max_attempts(attempts),
            _ => {
                return Err(fail(
                    Code::Config,
                    format!(
                        "invalid {name} {text:?}{place}: expected a whole number of at least 1"
                    ),
                ));
            }
        }
    }
    if let Some((text, name, place)) = setting("AWS_RETRY_MODE", "retry_mode") {
        match RetryMode::from_str(&text) {
            Ok(mode) => config = config.with_retry_mode(mode),
            Err(_) => {
                return Err(fail(
                    Code::Config,
                    format!("invalid {name} {text:?}{place}: expected standard or adaptive"),
                ));
            }
        }
    }
    Ok(config)
}

/// For the providers built outside the SDK config loader (IMDS, a registry's profile).
fn provider_config() -> Result<ProviderConfig> {
    Ok(ProviderConfig::default().with_http_client(http_client()?))
}

/// Region for bare account IDs when none was configured: `AWS_REGION`/`AWS_DEFAULT_REGION`,
/// the profile, then instance metadata with a short bound.
pub async fn discover_region(profile: Option<&str>) -> Result<Option<String>> {
    let imds = aws_config::imds::Client::builder()
        .configure(&provider_config()?)
        .connect_timeout(Duration::from_millis(300))
        .read_timeout(Duration::from_millis(500))
        .max_attempts(1)
        .build();
    let mut from_profile = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(profile) = profile {
        from_profile = from_profile.profile_name(profile);
    }
    let chain = RegionProviderChain::first_try(
        aws_config::environment::EnvironmentVariableRegionProvider::new(),
    )
    .or_else(from_profile.build())
    .or_else(
        aws_config::imds::region::ImdsRegionProvider::builder()
            .imds_client(imds)
            .build(),
    );
    let found = tokio::time::timeout(REGION_LOOKUP_BOUND, chain.region()).await;
    Ok(found.ok().flatten().map(|r| r.to_string()))
}

/// The SDK config for one set of credentials: the chain for the registry's profile (else the
/// global one), then the registry's role assumed through STS if it names one; `region` for
/// STS and defaults. Endpoint overrides (`AWS_ENDPOINT_URL[_ECR]`) and proxies come from the
/// usual AWS environment and profile settings; retries from `setup`.
pub async fn sdk_config(
    setup: &Setup,
    region: &str,
    global_profile: Option<&str>,
    credentials: &Credentials,
) -> Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .retry_config(setup.retry.clone())
        .http_client(http_client()?);
    if let Some(profile) = global_profile {
        loader = loader.profile_name(profile);
    }
    // A registry that names a profile gets exactly that profile's credentials, even where
    // the default chain would prefer AWS_ACCESS_KEY_ID from the environment.
    if let Some(profile) = &credentials.profile {
        loader = loader.credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .configure(&provider_config()?)
                .profile_name(profile)
                .build(),
        );
    }
    let base = loader.load().await;
    let Some(role_arn) = &credentials.role_arn else {
        return Ok(base);
    };
    let mut role = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name("ecr-login")
        .configure(&base);
    if let Some(external_id) = &credentials.external_id {
        role = role.external_id(external_id);
    }
    let provider = role.build().await;
    Ok(base
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}
