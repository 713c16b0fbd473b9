//! AWS SDK setup in one place (trust store, retry settings, endpoints, region, credentials,
//! IMDS bounds) and the `GetAuthorizationToken` call with its errors mapped to exit codes.
//! Settings the SDK would panic on, or retry forever, are refused here first (78).

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_config::meta::region::RegionProviderChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::{RetryConfig, RetryMode};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_sdk_ecr::config::SharedHttpClient;
use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_types::os_shim_internal::{Env, Fs};
use base64::Engine;

use crate::exit::{Code, fail};
use crate::registry::Endpoint;
use crate::secret::Secret;
use crate::settings::Credentials;

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
            let trust = trust_store()?;
            Ok(
                aws_smithy_http_client::Builder::new().build_with_connector_fn(
                    move |settings, components| {
                        let context = TlsContext::builder()
                            .with_trust_store(trust.clone())
                            .build()
                            .expect("a trust store is all the context there is");
                        let mut connector = aws_smithy_http_client::Connector::builder()
                            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                            .tls_context(context);
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

/// The system's CA certificates (`SSL_CERT_FILE`/`SSL_CERT_DIR`, else the distribution's
/// bundle), keeping only those rustls accepts: the SDK would panic on the others, and on
/// an empty store.
fn trust_store() -> std::result::Result<TrustStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut accepted = rustls::RootCertStore::empty();
    let mut pem = String::new();
    for cert in found.certs {
        if accepted.add(cert.clone()).is_ok() {
            let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in body.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
    }
    if accepted.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "no CA certificates found{why}: install the ca-certificates package, or set \
             SSL_CERT_FILE to a PEM bundle"
        ));
    }
    Ok(TrustStore::empty().with_pem_certificate(pem.into_bytes()))
}

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

/// What ECR handed out for one endpoint; valid for every registry in that region.
#[derive(Debug, Clone)]
pub struct Token {
    pub username: String,
    pub password: Secret,
    /// `None`: ECR did not say, which counts as expiring now.
    pub expires_at: Option<SystemTime>,
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

/// One `GetAuthorizationToken` call for `endpoint`, without the deprecated `registryIds`.
pub async fn fetch_token(sdk: &SdkConfig, endpoint: &Endpoint) -> Result<Token> {
    if endpoint.public {
        return fetch_public_token(sdk).await;
    }
    let mut conf =
        aws_sdk_ecr::config::Builder::from(sdk).region(Region::new(endpoint.region.clone()));
    // Only force the flavour on; leave AWS_USE_FIPS_ENDPOINT and friends in charge otherwise.
    // An explicit endpoint URL replaces the flavour's endpoint (the SDK refuses both at once).
    if !has_endpoint_override(sdk, "ECR") {
        if endpoint.fips {
            conf = conf.use_fips(true);
        }
        if endpoint.dual_stack {
            conf = conf.use_dual_stack(true);
        }
    }
    let client = aws_sdk_ecr::Client::from_conf(conf.build());
    let output = client
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| sdk_failure(e, "ECR"))?;
    let data = output
        .authorization_data()
        .first()
        .ok_or_else(|| fail(Code::Protocol, "ECR returned no authorization data"))?;
    token_from(data.authorization_token(), data.expires_at())
}

/// ECR Public's `GetAuthorizationToken` (`ecr-public`, us-east-1 only; the caller also needs
/// `sts:GetServiceBearerToken`).
async fn fetch_public_token(sdk: &SdkConfig) -> Result<Token> {
    let conf = aws_sdk_ecrpublic::config::Builder::from(sdk)
        .region(Region::new(crate::registry::PUBLIC_REGION));
    let client = aws_sdk_ecrpublic::Client::from_conf(conf.build());
    let output = client
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| sdk_failure(e, "ECR Public"))?;
    let data = output
        .authorization_data()
        .ok_or_else(|| fail(Code::Protocol, "ECR Public returned no authorization data"))?;
    token_from(data.authorization_token(), data.expires_at())
}

fn token_from(
    encoded: Option<&str>,
    expires_at: Option<&aws_sdk_ecr::primitives::DateTime>,
) -> Result<Token> {
    let encoded =
        encoded.ok_or_else(|| fail(Code::Protocol, "ECR returned no authorization token"))?;
    let (username, password) = decode_token(encoded)?;
    let expires_at = match expires_at {
        None => None,
        Some(t) => Some(
            SystemTime::try_from(*t)
                .ok()
                .filter(|t| crate::timestamp::epoch_secs(*t).is_some())
                .ok_or_else(|| {
                    fail(
                        Code::Protocol,
                        format!("ECR returned an expiry outside 1970-9999 ({} s)", t.secs()),
                    )
                })?,
        ),
    };
    Ok(Token {
        username,
        password,
        expires_at,
    })
}

/// `AWS_ENDPOINT_URL[_ECR]` or `endpoint_url` in the profile, the way the SDK looks it up.
fn has_endpoint_override(sdk: &SdkConfig, service_id: &str) -> bool {
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("all fields set");
    sdk.endpoint_url().is_some()
        || sdk
            .service_config()
            .is_some_and(|c| c.load_config(key).is_some())
}

/// `base64("AWS:password")` into its parts. Errors never quote the token.
pub fn decode_token(encoded: &str) -> Result<(String, Secret)> {
    let malformed = |what: &str| {
        fail(
            Code::Protocol,
            format!("ECR returned a malformed authorization token ({what})"),
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed("not base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| malformed("not UTF-8"))?;
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok((user.to_string(), Secret::new(password.to_string())))
        }
        _ => Err(malformed("no user:password")),
    }
}

/// Map an SDK error to the exit code an operator can act on, in the service's own words:
/// its error code, message and HTTP status. A successful answer's body holds the token, so
/// no 2xx body is ever shown; any other body is shown with `authorizationToken` masked.
fn sdk_failure<E>(err: SdkError<E, HttpResponse>, api: &str) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = classify_sdk_error(&err);
    let status = err.raw_response().map(|r| r.status().as_u16());
    let said = match (&err, err.code(), status) {
        (SdkError::ServiceError(_), Some(service_code), _) => {
            let message = err.message().map(|m| format!(": {m}")).unwrap_or_default();
            let status = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
            format!("{service_code}{message}{status}")
        }
        (SdkError::ServiceError(_), None, Some(status @ 200..=299)) => format!(
            "the answer (HTTP {status}) is not a GetAuthorizationToken response (its body, \
             which may hold a token, is not shown)"
        ),
        // An answer the SDK could not name (a proxy's HTML page, an XML error): its words.
        (SdkError::ServiceError(_), None, Some(status)) => {
            let body = err
                .raw_response()
                .and_then(|r| r.body().bytes())
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            format!("HTTP {status}: {}", text_of(&mask_tokens(&body)))
        }
        _ if applying_endpoint_failed(&err) => {
            "the endpoint URL (endpoint_url in the AWS profile?) is not a valid URL".to_string()
        }
        _ => error_chain(&err),
    };
    let request_id = err
        .raw_response()
        .and_then(|r| r.headers().get("x-amzn-requestid"))
        .map(|id| format!(", request id {id}"))
        .unwrap_or_default();
    log::debug!("{api} GetAuthorizationToken failed: {said}{request_id}");
    fail(code, format!("calling {api} GetAuthorizationToken: {said}"))
}

/// The exit code of an SDK error: the service's error code first, then the HTTP status;
/// failures of the credential source by their cause.
fn classify_sdk_error<E>(err: &SdkError<E, HttpResponse>) -> Code
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(_) => {
            classify_service_error(err.code(), err.raw_response().map(|r| r.status().as_u16()))
        }
        _ => match credentials_error(err) {
            Some(credentials) => classify_credentials_error(credentials),
            None if applying_endpoint_failed(err) => Code::Config,
            None => match err {
                SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Code::TempFail,
                SdkError::ResponseError(_) => Code::Protocol,
                SdkError::ConstructionFailure(_) => Code::Config,
                _ => Code::Software,
            },
        },
    }
}

/// A credentials provider's failure: missing, denied or invalid credentials need an
/// operator (77); a source that is slow, throttled, down or unreachable heals (75); a
/// provider that is misconfigured is 78.
fn classify_credentials_error(err: &CredentialsError) -> Code {
    match err {
        CredentialsError::CredentialsNotLoaded(_) => Code::NoPerm,
        CredentialsError::ProviderTimedOut(_) => Code::TempFail,
        CredentialsError::InvalidConfiguration(_) => Code::Config,
        _ => cause_code(err).unwrap_or(Code::NoPerm),
    }
}

/// What the cause of a provider's failure says: an STS answer (classified like ECR's), an
/// unreachable or slow endpoint, or an instance metadata error.
fn cause_code(err: &(dyn std::error::Error + 'static)) -> Option<Code> {
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(sts) = e.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>() {
            return Some(classify_sdk_error(sts));
        }
        if let Some(sts) =
            e.downcast_ref::<SdkError<AssumeRoleWithWebIdentityError, HttpResponse>>()
        {
            return Some(classify_sdk_error(sts));
        }
        if e.is::<ConnectorError>() {
            return Some(Code::TempFail);
        }
        if let Some(imds) = e.downcast_ref::<aws_config::imds::client::error::ImdsError>() {
            use aws_config::imds::client::error::ImdsError;
            return Some(match imds {
                ImdsError::ErrorResponse(answer) => {
                    classify_service_error(None, Some(answer.response().status().as_u16()))
                }
                _ => Code::TempFail,
            });
        }
        cause = e.source();
    }
    None
}

/// The credentials error in an error's chain, if getting credentials is what failed.
fn credentials_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a CredentialsError> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(credentials) = e.downcast_ref::<CredentialsError>() {
            return Some(credentials);
        }
        cause = e.source();
    }
    None
}

/// The SDK could not put the configured endpoint URL into the request (only a malformed
/// `endpoint_url` in a profile gets this far: the environment's are checked up front).
fn applying_endpoint_failed(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.to_string().starts_with("failed to apply endpoint") {
            return true;
        }
        cause = e.source();
    }
    false
}

/// `"authorizationToken": "..."` with the value replaced, wherever it appears.
fn mask_tokens(body: &str) -> String {
    const FIELD: &str = "authorizationToken";
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(FIELD) {
        let after = at + FIELD.len();
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        // Up to the opening quote of the value, then past its closing quote.
        let Some(open) = rest
            .find(':')
            .and_then(|c| rest[c..].find('"').map(|q| c + q + 1))
        else {
            break;
        };
        out.push_str(&rest[..open]);
        let value = &rest[open..];
        let close = value.find('"').unwrap_or(value.len());
        out.push_str("***");
        rest = &value[close..];
    }
    out.push_str(rest);
    out
}

/// The words of an HTML/XML/JSON error body on one short line.
fn text_of(body: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let line = words.join(" ");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}

/// Every layer's message on one line ("dispatch failure: io error: ... Connection refused"),
/// skipping layers that only repeat the one below.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = Some(err);
    while let Some(e) = cause {
        let text = e.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = e.source();
    }
    parts.join(": ")
}

pub fn classify_service_error(code: Option<&str>, status: Option<u16>) -> Code {
    match code.unwrap_or_default() {
        "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "ServerException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalFailure"
        | "InternalError"
        | "RequestTimeout"
        | "RequestTimeoutException"
        | "IDPCommunicationError" => Code::TempFail,
        "AccessDeniedException"
        | "AccessDenied"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredTokenException"
        | "ExpiredToken"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "MissingAuthenticationToken"
        | "IncompleteSignature"
        | "NotAuthorized"
        | "AuthFailure"
        | "InvalidIdentityToken"
        | "IDPRejectedClaim" => Code::NoPerm,
        _ => match status {
            Some(429) | Some(500..=599) => Code::TempFail,
            Some(401) | Some(403) => Code::NoPerm,
            _ => Code::Protocol,
        },
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn decodes_user_and_password() {
        let (user, password) = decode_token(&b64("AWS:s3cr:et")).unwrap();
        assert_eq!(user, "AWS");
        assert_eq!(password.expose(), "s3cr:et");
    }

    #[test]
    fn malformed_tokens_are_protocol_errors_without_the_token() {
        for token in [
            "not base64 !!",
            &b64("no-colon-here"),
            &b64(":nopassuser"),
            &b64("AWS:"),
        ] {
            let err = decode_token(token).unwrap_err();
            assert_eq!(crate::exit::classify(&err), Code::Protocol, "{token}");
            assert!(!err.to_string().contains(token), "{err}");
            assert!(!err.to_string().contains("no-colon-here"), "{err}");
        }
    }

    #[test]
    fn error_bodies_become_one_line() {
        let xml = "<?xml version=\"1.0\"?>\n<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code>\
                   <Message>The security token included in the request is invalid.</Message></Error></Errors></ErrorResponse>";
        assert_eq!(
            text_of(xml),
            "InvalidClientTokenId The security token included in the request is invalid."
        );
        assert_eq!(text_of(&"x".repeat(400)).len(), 303);
    }

    #[test]
    fn service_errors_map_to_codes() {
        let cases = [
            (Some("ThrottlingException"), Some(400), Code::TempFail),
            (Some("ServerException"), Some(500), Code::TempFail),
            (None, Some(503), Code::TempFail),
            (None, Some(429), Code::TempFail),
            (Some("AccessDeniedException"), Some(400), Code::NoPerm),
            (Some("ExpiredTokenException"), Some(400), Code::NoPerm),
            (Some("UnrecognizedClientException"), Some(400), Code::NoPerm),
            (None, Some(403), Code::NoPerm),
            (Some("InvalidParameterException"), Some(400), Code::Protocol),
            (None, None, Code::Protocol),
        ];
        for (code, status, expected) in cases {
            assert_eq!(
                classify_service_error(code, status),
                expected,
                "{code:?} {status:?}"
            );
        }
    }

    #[test]
    fn token_fields_are_masked_in_any_body_shown() {
        assert_eq!(
            mask_tokens(r#"{"authorizationToken": "QVdTOnB3", "x": 1, "authorizationToken":"b"}"#),
            r#"{"authorizationToken": "***", "x": 1, "authorizationToken":"***"}"#
        );
        assert_eq!(mask_tokens("<h1>503</h1>"), "<h1>503</h1>");
        // A field cut off mid-value still loses its value.
        assert_eq!(
            mask_tokens(r#"{"authorizationToken":"QVdT"#),
            r#"{"authorizationToken":"***"#
        );
    }

    #[test]
    fn credential_failures_map_to_what_heals_and_what_needs_an_operator() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let io = || {
            ConnectorError::io(Box::new(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            )))
        };
        let cases = [
            (CredentialsError::not_loaded("no credentials"), Code::NoPerm),
            (
                CredentialsError::provider_timed_out(Duration::from_secs(5)),
                Code::TempFail,
            ),
            (
                CredentialsError::invalid_configuration("profile x is not defined"),
                Code::Config,
            ),
            (CredentialsError::provider_error(io()), Code::TempFail),
            (
                CredentialsError::provider_error("the process said no"),
                Code::NoPerm,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(classify_credentials_error(&err), code, "{err}");
        }
    }
}
