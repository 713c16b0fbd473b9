//! Under systemd: structured journal fields and `STATUS=` over sd_notify, decoded from the
//! sockets ecr-login writes to (tests/support/journal.sh), and never the token.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;

/// Run ecr-login against `endpoint` as systemd would; its exit code, its stderr and every
/// journal record and notification it sent (JSON lines).
fn under_systemd(endpoint: &str, args: &[&str]) -> (Option<i32>, String, String) {
    require("unshare");
    require_root("sockets of our own on /run in a private mount namespace");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("journal.jsonl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/journal.sh");
    let output = Command::new(script)
        .arg(&out)
        // A hermetic environment, except for the two variables journal.sh sets up.
        .args(["/bin/sh", "-c", "exec /usr/bin/env -i JOURNAL_STREAM=\"$JOURNAL_STREAM\" NOTIFY_SOCKET=\"$NOTIFY_SOCKET\" \"$@\"", "sh"])
        .args(["PATH=/nonexistent", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret"])
        .args(["AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"])
        .arg(format!("AWS_ENDPOINT_URL={endpoint}"))
        .arg(format!("HOME={}", work.path().display()))
        // Tests run as root, whose default state directory is the machine's /var/lib/ecr-login.
        .arg(format!("STATE_DIRECTORY={}", work.path().join("state").display()))
        .arg(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    (output.status.code(), stderr, text)
}

#[test]
fn logs_go_to_the_journal_with_fields_and_status_goes_to_systemd() {
    let moto = moto();
    let (code, stderr, text) = under_systemd(&moto.url(), &[USE1_A, EUW1_B, "-vv"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stderr, "",
        "with the journal connected nothing goes to stderr"
    );

    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let journal: Vec<_> = records
        .iter()
        .filter(|r| r["_SOCKET"] == "journal")
        .collect();

    let login = journal
        .iter()
        .find(|r| {
            r["REGISTRY"] == USE1_A && r["MESSAGE"].as_str().unwrap_or("").starts_with("logged in")
        })
        .unwrap_or_else(|| panic!("no login record for {USE1_A}:\n{text}"));
    assert_eq!(login["REGION"], "us-east-1");
    assert_eq!(login["EXPIRES_AT"], "2015-01-01T00:00:00Z");
    assert_eq!(login["SYSLOG_IDENTIFIER"], "ecr-login");
    // systemd-journal-logger maps info to NOTICE (5), warnings to 4, errors to 3.
    assert_eq!(login["PRIORITY"], "5");
    assert!(
        journal
            .iter()
            .any(|r| r["REGISTRY"] == EUW1_B && r["REGION"] == "eu-west-1"),
        "{text}"
    );
    // No timestamps of our own: journald adds them.
    assert!(
        !login["MESSAGE"].as_str().unwrap().starts_with("20"),
        "{login}"
    );

    let status: Vec<_> = records
        .iter()
        .filter_map(|r| r["NOTIFY"].as_str())
        .collect();
    assert_eq!(status, ["STATUS=logged in to 2 of 2 registries"], "{text}");

    let password = moto_password(&moto.url(), "us-east-1");
    let token = token_of(&password);
    assert!(
        !text.contains(&password) && !text.contains(&token),
        "the token reached the journal"
    );
}

#[test]
fn an_unreadable_answer_holding_a_token_never_reaches_the_journal() {
    let (body, secrets) = token_body(r#","expiresAt":"tomorrow""#);
    let port = canned_server(200, Box::leak(body.into_boxed_str()));
    let (code, stderr, text) =
        under_systemd(&format!("http://127.0.0.1:{port}"), &[USE1_A, "-vvv"]);
    assert_eq!(code, Some(76), "{stderr}");
    assert!(
        text.contains("is not a GetAuthorizationToken response"),
        "the failure is logged: {text}"
    );
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the token reached the journal"
        );
        assert!(!stderr.contains(secret.as_str()));
    }
}
