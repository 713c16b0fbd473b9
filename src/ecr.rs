//! AWS SDK setup in one place (region, credentials, IMDS bounds) and the
//! `GetAuthorizationToken` call with its errors mapped to exit codes.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_config::meta::region::RegionProviderChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecr::config::SharedHttpClient;
use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use base64::Engine;

use crate::exit::{Code, fail};
use crate::registry::Endpoint;
use crate::secret::Secret;
use crate::settings::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

/// Off AWS, instance metadata never answers; the SDK's default chain waits 3-4 s for it. A
/// region lookup that has not finished by then has failed.
const REGION_LOOKUP_BOUND: Duration = Duration::from_millis(1000);

/// The HTTPS client of every SDK call: rustls, the system trust store, proxies from
/// `HTTPS_PROXY`/`NO_PROXY`, as the SDK's default client; but with ring, not aws-lc. aws-lc
/// seeds its random generator from CPU jitter entropy on first use: 30 ms of CPU in every
/// run, more than all the rest of a login over HTTPS. One client, so the store loads once.
static HTTP_CLIENT: LazyLock<SharedHttpClient> = LazyLock::new(|| {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = aws_smithy_http_client::Connector::builder()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
});

/// For the providers built outside the SDK config loader (IMDS, a registry's profile).
fn provider_config() -> ProviderConfig {
    ProviderConfig::default().with_http_client(HTTP_CLIENT.clone())
}

/// What ECR handed out for one endpoint; valid for every registry in that region.
#[derive(Debug, Clone)]
pub struct Token {
    pub username: String,
    pub password: Secret,
    pub expires_at: Option<SystemTime>,
}

/// Region for bare account IDs when none was configured: `AWS_REGION`/`AWS_DEFAULT_REGION`,
/// the profile, then instance metadata with a short bound.
pub async fn discover_region(profile: Option<&str>) -> Option<String> {
    let imds = aws_config::imds::Client::builder()
        .configure(&provider_config())
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
    found.ok().flatten().map(|r| r.to_string())
}

/// The SDK config for one set of credentials: the chain for the registry's profile (else the
/// global one), then the registry's role assumed through STS if it names one; `region` for
/// STS and defaults. Endpoint overrides (`AWS_ENDPOINT_URL[_ECR]`), retries and proxies come
/// from the usual AWS environment and profile settings.
pub async fn sdk_config(
    region: &str,
    global_profile: Option<&str>,
    credentials: &Credentials,
) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .http_client(HTTP_CLIENT.clone());
    if let Some(profile) = global_profile {
        loader = loader.profile_name(profile);
    }
    // A registry that names a profile gets exactly that profile's credentials, even where
    // the default chain would prefer AWS_ACCESS_KEY_ID from the environment.
    if let Some(profile) = &credentials.profile {
        loader = loader.credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .configure(&provider_config())
                .profile_name(profile)
                .build(),
        );
    }
    let base = loader.load().await;
    let Some(role_arn) = &credentials.role_arn else {
        return base;
    };
    let mut role = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name("ecr-login")
        .configure(&base);
    if let Some(external_id) = &credentials.external_id {
        role = role.external_id(external_id);
    }
    let provider = role.build().await;
    base.into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
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
    Ok(Token {
        username,
        password,
        expires_at: expires_at.and_then(|t| SystemTime::try_from(*t).ok()),
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

/// Map an SDK error to the exit code an operator can act on, keeping the service's own words
/// (the whole chain, e.g. "ExpiredTokenException: The security token ... is expired").
fn sdk_failure<E>(err: SdkError<E, HttpResponse>, api: &str) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = match &err {
        SdkError::ServiceError(_) => {
            classify_service_error(err.code(), err.raw_response().map(|r| r.status().as_u16()))
        }
        _ if has_credentials_error(&err) => Code::NoPerm,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Code::TempFail,
        SdkError::ResponseError(_) => Code::Protocol,
        _ => Code::Software,
    };
    log::debug!(
        "GetAuthorizationToken failed: {}",
        DisplayErrorContext(&err)
    );
    // The service's own words when it gave them ("ThrottlingException: Rate exceeded"); the
    // SDK's chain for an error it could not name would end in a Debug dump of the metadata.
    let said = match (&err, err.code()) {
        (SdkError::ServiceError(_), Some(code)) => match err.message() {
            Some(text) => format!("{code}: {text}"),
            None => code.to_string(),
        },
        _ => error_chain(&err),
    };
    let mut message = format!("calling {api} GetAuthorizationToken: {said}");
    // An answer the SDK could not read (a proxy's HTML page, an XML error): show what it said.
    if let (SdkError::ServiceError(_), None) = (&err, err.code())
        && let Some(raw) = err.raw_response()
    {
        let body = raw
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        message.push_str(&format!(
            " (HTTP {}: {})",
            raw.status().as_u16(),
            text_of(&body)
        ));
    }
    fail(code, message)
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

/// Every layer's message on one line ("service error: ExpiredTokenException: ..."), skipping
/// layers that only repeat the one below; `DisplayErrorContext`'s debug dump goes to -v.
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
        | "RequestTimeout"
        | "RequestTimeoutException" => Code::TempFail,
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
        | "AuthFailure" => Code::NoPerm,
        _ => match status {
            Some(429) | Some(500..=599) => Code::TempFail,
            Some(401) | Some(403) => Code::NoPerm,
            _ => Code::Protocol,
        },
    }
}

fn has_credentials_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        cause = e.source();
    }
    false
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
}
