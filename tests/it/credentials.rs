//! Per-registry credentials (a profile, or a role assumed through moto's STS) and ECR Public.
//! The proxy records which access key signed each call, so the tests see whose credentials
//! fetched which token.

use std::fs;
use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;

const TOKEN_CALL: &str = "amazonec2containerregistry_v20150921.getauthorizationtoken";

#[test]
fn a_registry_may_assume_its_own_role_and_shares_calls_with_its_peers() {
    let proxy = CountingProxy::start(&moto().url(), Duration::ZERO);
    let mut run = Run::new(&proxy.url());
    let config = run.home.path().join("config.toml");
    fs::write(
        &config,
        format!(
            "registries = [\n  \"{USE1_A}\",\n  \
             {{ registry = \"{USE1_B}\", role_arn = \"arn:aws:iam::444455556666:role/ecr-pull\", external_id = \"build-fleet\" }},\n  \
             {{ registry = \"{EUW1_B}\", role_arn = \"arn:aws:iam::444455556666:role/ecr-pull\", external_id = \"build-fleet\" }},\n]\n"
        ),
    )
    .unwrap();
    run = run.args(["--config".as_ref(), config.as_os_str()]);
    run.run().expect_code(0);

    let log = proxy.log();
    let assumed: Vec<_> = log.iter().filter(|c| c.target == "AssumeRole").collect();
    assert_eq!(
        assumed.len(),
        1,
        "one AssumeRole for both of the role's groups: {log:?}"
    );
    assert!(
        assumed[0].body.contains("ExternalId=build-fleet"),
        "{}",
        assumed[0].body
    );
    assert!(
        assumed[0].body.contains("RoleSessionName=ecr-login"),
        "{}",
        assumed[0].body
    );
    assert_eq!(
        assumed[0].key, "AKIDEXAMPLE",
        "the role is assumed with the base credentials"
    );

    let mut calls: Vec<(String, bool)> = log
        .iter()
        .filter(|c| c.target == TOKEN_CALL)
        .map(|c| (c.region.clone(), c.key.starts_with("ASIA")))
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        [
            ("eu-west-1".to_string(), true),
            ("us-east-1".to_string(), false),
            ("us-east-1".to_string(), true),
        ],
        "us-east-1 twice (base and role credentials), eu-west-1 once with the role: {log:?}"
    );
    for host in [USE1_A, USE1_B, EUW1_B] {
        assert!(auth_of(&run.config_json(), host).is_some(), "{host}");
    }
}

#[test]
fn a_registry_may_name_its_own_profile() {
    let proxy = CountingProxy::start(&moto().url(), Duration::ZERO);
    let mut run = Run::new(&proxy.url());
    let credentials = run.home.path().join("credentials");
    fs::write(
        &credentials,
        "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = s\n",
    )
    .unwrap();
    let config = run.home.path().join("config.toml");
    fs::write(
        &config,
        format!(
            "registries = [\"{USE1_A}\", {{ registry = \"{USE1_B}\", profile = \"other\" }}]\n"
        ),
    )
    .unwrap();
    run = run
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .args(["--config".as_ref(), config.as_os_str()]);
    run.run().expect_code(0);
    let mut keys: Vec<String> = proxy
        .log()
        .iter()
        .filter(|c| c.target == TOKEN_CALL)
        .map(|c| c.key.clone())
        .collect();
    keys.sort();
    // AKIDEXAMPLE comes from the environment: the named profile wins for its registry only.
    assert_eq!(keys, ["AKIDEXAMPLE", "AKIDOTHER"]);

    // A profile that does not exist: that registry fails with 78 (the settings name a profile
    // the AWS config lacks: an operator's fix), the other still logs in.
    fs::write(
        &config,
        format!(
            "registries = [\"{USE1_A}\", {{ registry = \"{USE1_B}\", profile = \"missing\" }}]\n"
        ),
    )
    .unwrap();
    let run = run
        .again(&proxy.url())
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
    let done = run.args(["--config".as_ref(), config.as_os_str()]).run();
    done.expect_code(78);
    done.expect_stderr_contains("logged in to 1 of 2 registries");
}

/// moto has no ECR Public API (5.2.x), so the tests serve its one call themselves, checking
/// that the request is ECR Public's: its target, and SigV4 scoped to us-east-1/ecr-public.
fn ecr_public_stub() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let mut reader = BufReader::new(client.try_clone().unwrap());
            while let Ok(Some((head, _))) = read_request(&mut reader) {
                seen.lock().unwrap().push(head.clone());
                let lower = head.to_ascii_lowercase();
                let ok = lower
                    .contains("x-amz-target: spencerfrontendservice.getauthorizationtoken")
                    && lower.contains("/us-east-1/ecr-public/aws4_request");
                let (status, body) = if ok {
                    // base64("AWS:public-password"); expires in 2030.
                    (
                        200,
                        r#"{"authorizationData":{"authorizationToken":"QVdTOnB1YmxpYy1wYXNzd29yZA==","expiresAt":1.893456E9}}"#,
                    )
                } else {
                    (
                        400,
                        r#"{"__type":"InvalidParameterException","message":"not an ECR Public call"}"#,
                    )
                };
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if (&client).write_all(response.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (port, heads)
}

#[test]
fn ecr_public_uses_its_own_api_in_us_east_1() {
    let moto = moto();
    let password = moto_password(&moto.url(), "eu-west-1");
    let (port, heads) = ecr_public_stub();
    let mut run = Run::new(&moto.url())
        .env(
            "AWS_ENDPOINT_URL_ECR_PUBLIC",
            format!("http://127.0.0.1:{port}"),
        )
        .args([
            "https://public.ecr.aws/nginx/nginx",
            "ecr-public.aws.com/docker/library/redis",
            EUW1_B,
            "--region",
            "eu-west-1",
        ]);
    let done = run.run();
    done.expect_code(0);
    assert_eq!(
        heads.lock().unwrap().len(),
        1,
        "one ECR Public call for both of its names"
    );
    for host in ["public.ecr.aws", "ecr-public.aws.com"] {
        assert_eq!(
            auth_of(&run.config_json(), host).as_deref(),
            Some("AWS:public-password"),
            "{host}"
        );
    }
    assert_eq!(
        auth_of(&run.config_json(), EUW1_B),
        Some(format!("AWS:{password}"))
    );
    done.expect_stderr_contains("logged in to public.ecr.aws");
    done.expect_stderr_contains("expires 2030-01-01T00:00:00Z");
}

/// A role named for a registry in the settings file is used wherever that registry is named:
/// on the command line too.
#[test]
fn a_registry_named_on_the_command_line_keeps_its_role_from_the_file() {
    let proxy = CountingProxy::start(&moto().url(), Duration::ZERO);
    let run = Run::new(&proxy.url()).with_config(&format!(
        "registries = [{{ registry = \"{USE1_B}\", role_arn = \"arn:aws:iam::444455556666:role/ecr-pull\" }}]\n"
    ));
    // Named another way (a URL with a path), and on the command line.
    let mut run = run.args([format!("https://{USE1_B}/team/app")]);
    run.run().expect_code(0);
    let log = proxy.log();
    assert_eq!(
        log.iter().filter(|c| c.target == "AssumeRole").count(),
        1,
        "{log:?}"
    );
    let signed_by: Vec<&str> = log
        .iter()
        .filter(|c| c.target == TOKEN_CALL)
        .map(|c| c.key.as_str())
        .collect();
    assert!(
        signed_by.len() == 1 && signed_by[0].starts_with("ASIA"),
        "the token call must use the role's credentials: {signed_by:?}"
    );
}

const STS_THROTTLED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
    <Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>";
const STS_DOWN: &str = "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>\
    <Message>try again</Message></Error><RequestId>2</RequestId></ErrorResponse>";
const STS_DENIED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
    <Message>not allowed to assume</Message></Error><RequestId>3</RequestId></ErrorResponse>";

/// A credential source that is throttled, failing or unreachable heals: 75, retried by the
/// unit. One that refuses needs an operator: 77.
#[test]
fn a_struggling_credential_source_is_75_and_a_refusing_one_77() {
    let moto = moto();
    let role = format!(
        "registries = [{{ registry = \"{USE1_B}\", role_arn = \"arn:aws:iam::444455556666:role/ecr-pull\" }}]\n"
    );
    for (status, body, code) in [
        (400, STS_THROTTLED, 75),
        (500, STS_DOWN, 75),
        (403, STS_DENIED, 77),
    ] {
        let proxy = CountingProxy::start_with(
            &moto.url(),
            ProxyOptions {
                fault: Some((status, body, 99)),
                fault_on: Some("AssumeRole"),
                ..Default::default()
            },
        );
        Run::new(&proxy.url())
            .env("AWS_MAX_ATTEMPTS", "2")
            .with_config(&role)
            .run()
            .expect_code(code);
    }

    // STS unreachable.
    let closed = format!("http://127.0.0.1:{}", free_port());
    Run::new(&moto.url())
        .env("AWS_ENDPOINT_URL_STS", &closed)
        .env("AWS_MAX_ATTEMPTS", "1")
        .with_config(&role)
        .run()
        .expect_code(75);

    // Instance metadata answering 500: the credentials chain's last source is down.
    let imds = canned_server(500, "oops");
    Run::new(&moto.url())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{imds}"),
        )
        .args([USE1_A, "--timeout", "20s"])
        .run()
        .expect_code(75);
}
