//! SDK errors as exit codes an operator can act on, and as text that never shows a token:
//! the service's code, message and HTTP status; failures of the credential source by their
//! cause (75 when it heals, 77 when it refuses, 78 when it is misconfigured).

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::result::ConnectorError;

use crate::exit::{Code, fail};

/// Map an SDK error to the exit code an operator can act on, in the service's own words:
/// its error code, message and HTTP status. A successful answer's body holds the token, so
/// no 2xx body is ever shown; any other body is shown with `authorizationToken` masked.
pub fn sdk_failure<E>(err: SdkError<E, HttpResponse>, api: &str) -> anyhow::Error
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
    use std::time::Duration;

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
