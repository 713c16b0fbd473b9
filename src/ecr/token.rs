//! The `GetAuthorizationToken` call (ECR, or ECR Public), and the token it hands out.

use std::time::SystemTime;

use anyhow::Result;
use aws_config::{Region, SdkConfig};
use base64::Engine;

use super::errors::sdk_failure;
use super::registry::{Endpoint, PUBLIC_REGION};
use crate::exit::{Code, fail};
use crate::secret::Secret;

/// What ECR handed out for one endpoint; valid for every registry in that region.
#[derive(Debug, Clone)]
pub struct Token {
    pub username: String,
    pub password: Secret,
    /// `None`: ECR did not say, which counts as expiring now.
    pub expires_at: Option<SystemTime>,
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
    let conf = aws_sdk_ecrpublic::config::Builder::from(sdk).region(Region::new(PUBLIC_REGION));
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
}
