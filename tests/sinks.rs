//! Every sink against moto and the real readers of what it writes: podman reads its auth
//! file, GNU tar unpacks the archive, kubernetes-validate checks the Secret against the
//! Kubernetes schema. Then several sinks in one run, and `logout`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const USE1_A: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com";
const EUW1_A: &str = "111122223333.dkr.ecr.eu-west-1.amazonaws.com";

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn decoded_auth(config: &serde_json::Value, host: &str) -> String {
    let auth = config["auths"][host]["auth"]
        .as_str()
        .unwrap_or_else(|| panic!("{host} in {config}"));
    String::from_utf8(b64_decode(auth)).unwrap()
}

#[test]
fn podman_auth_file_is_merged_and_podman_reads_it() {
    let podman = require("podman");
    let moto = moto();
    let password = moto_password(&moto.url(), "us-east-1");
    let dir = tempfile::tempdir().unwrap();
    let authfile = dir.path().join("containers/auth.json");
    fs::create_dir_all(authfile.parent().unwrap()).unwrap();
    fs::write(
        &authfile,
        r#"{"auths": {"quay.io": {"auth": "dTpw"}}, "credHelpers": {}}"#,
    )
    .unwrap();

    Run::new(&moto.url())
        .args([USE1_A, "--method", "podman", "--authfile"])
        .args([&authfile])
        .run()
        .expect_code(0);
    let config: serde_json::Value = serde_json::from_slice(&fs::read(&authfile).unwrap()).unwrap();
    assert_eq!(decoded_auth(&config, USE1_A), format!("AWS:{password}"));
    assert_eq!(
        config["auths"]["quay.io"]["auth"], "dTpw",
        "other entries kept"
    );
    assert_eq!(mode(&authfile), 0o600);

    let out = Command::new(&podman)
        .args(["login", "--get-login", "--authfile"])
        .arg(&authfile)
        .arg(USE1_A)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "AWS");

    // Default place: $XDG_RUNTIME_DIR/containers/auth.json, like podman's own.
    let runtime = tempfile::tempdir().unwrap();
    Run::new(&moto.url())
        .args([USE1_A, "--method", "podman"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .run()
        .expect_code(0);
    assert!(runtime.path().join("containers/auth.json").is_file());
}

#[test]
fn archive_holds_docker_config_for_the_mesos_fetcher() {
    let tar = require("tar");
    let moto = moto();
    let password = moto_password(&moto.url(), "us-east-1");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("docker.tar.gz");
    let run = Run::new(&moto.url());
    run.again(&moto.url())
        .args([USE1_A, "--method", "archive", "--archive"])
        .args([&archive])
        .run()
        .expect_code(0);
    run.again(&moto.url())
        .args([EUW1_A, "--sink", "archive"])
        .env("ECR_LOGIN_ARCHIVE", &archive)
        .run()
        .expect_code(0);
    assert_eq!(mode(&archive), 0o600);

    let listing = Command::new(&tar)
        .arg("-tvzf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(
        lines[0].starts_with("drwx------") && lines[0].ends_with(".docker/"),
        "{listing}"
    );
    assert!(
        lines[1].starts_with("-rw-------") && lines[1].ends_with(".docker/config.json"),
        "{listing}"
    );

    let sandbox = tempfile::tempdir().unwrap();
    let status = Command::new(&tar)
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(sandbox.path())
        .status()
        .unwrap();
    assert!(status.success());
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(sandbox.path().join(".docker/config.json")).unwrap())
            .unwrap();
    assert_eq!(decoded_auth(&config, USE1_A), format!("AWS:{password}"));
    assert_eq!(
        decoded_auth(&config, EUW1_A),
        format!("AWS:{password}"),
        "second run merged"
    );

    // Archive without a path: a usage error naming the flag.
    let done = Run::new(&moto.url())
        .args([USE1_A, "--method", "archive"])
        .run();
    done.expect_code(64);
    assert!(
        done.stderr().contains("--archive FILE"),
        "{}",
        done.stderr()
    );
}

fn validate_secret(manifest: &Path) -> String {
    let validator = require("kubernetes-validate");
    let out = Command::new(&validator)
        .args(["--strict", "-k", "1.32"])
        .arg(manifest)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn kube_secret_manifest_passes_the_kubernetes_schema() {
    let moto = moto();
    let password = moto_password(&moto.url(), "us-east-1");
    let dir = tempfile::tempdir().unwrap();

    // Stdout, for `| kubectl apply -f -`.
    let done = Run::new(&moto.url())
        .args([
            USE1_A,
            EUW1_A,
            "--method",
            "kube-secret",
            "--kube-secret",
            "ci/ecr-pull",
            "-q",
        ])
        .run();
    done.expect_code(0);
    let printed = dir.path().join("printed.json");
    fs::write(&printed, done.output.stdout.as_slice()).unwrap();
    let said = validate_secret(&printed);
    assert!(
        said.contains("passed for resource secret/ecr-pull"),
        "{said}"
    );

    let manifest: serde_json::Value = serde_json::from_slice(&done.output.stdout).unwrap();
    assert_eq!(manifest["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(manifest["metadata"]["namespace"], "ci");
    assert_eq!(
        manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "ecr-login"
    );
    assert_eq!(
        manifest["metadata"]["annotations"]["ecr-login/expires-at"],
        "2015-01-01T00:00:00Z"
    );
    let inner = b64_decode(manifest["data"][".dockerconfigjson"].as_str().unwrap());
    let config: serde_json::Value = serde_json::from_slice(&inner).unwrap();
    assert_eq!(decoded_auth(&config, USE1_A), format!("AWS:{password}"));
    assert_eq!(decoded_auth(&config, EUW1_A), format!("AWS:{password}"));

    // The validator really checks: a misspelt field fails it.
    let mut broken = manifest.clone();
    broken["stringdata"] = serde_json::json!({});
    let bad = dir.path().join("bad.json");
    fs::write(&bad, broken.to_string()).unwrap();
    let out = Command::new(require("kubernetes-validate"))
        .args(["--strict", "-k", "1.32"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the validator accepted an unknown field"
    );

    // A file: 0600, valid too.
    let file = dir.path().join("out/secret.json");
    Run::new(&moto.url())
        .args([
            USE1_A,
            "--method",
            "kube-secret",
            "--kube-secret",
            "ci/ecr-pull",
            "--kube-output",
        ])
        .args([&file])
        .run()
        .expect_code(0);
    assert_eq!(mode(&file), 0o600);
    validate_secret(&file);

    let done = Run::new(&moto.url())
        .args([USE1_A, "--method", "kube-secret", "--kube-secret", "CI/x"])
        .run();
    done.expect_code(64);
    assert!(
        done.stderr().contains("NAMESPACE/NAME"),
        "{}",
        done.stderr()
    );
}

#[test]
fn several_sinks_in_one_run_cost_one_call_and_logout_removes_only_ours() {
    let proxy = CountingProxy::start(&moto().url(), Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let authfile = dir.path().join("auth.json");
    let archive = dir.path().join("docker.tar.gz");
    let secret = dir.path().join("secret.json");
    let run = Run::new(&proxy.url());
    fs::create_dir_all(run.docker_dir()).unwrap();
    fs::write(
        run.config_json(),
        r#"{"auths": {"ghcr.io": {"auth": "Z2g6cA=="}}}"#,
    )
    .unwrap();

    let login = || {
        run.again(&proxy.url())
            .args([USE1_A])
            .every_file_sink(dir.path())
            .run()
    };
    let done = login();
    done.expect_code(0);
    assert_eq!(proxy.total_calls(), 1, "one token for every sink");
    assert_eq!(
        done.stderr()
            .matches(&format!("logged in to {USE1_A}"))
            .count(),
        4,
        "{}",
        done.stderr()
    );
    assert!(auth_of(&run.config_json(), USE1_A).is_some());
    assert!(auth_of(&authfile, USE1_A).is_some());
    assert!(archive.is_file() && secret.is_file());

    // status sees all four.
    let done = run.again(&proxy.url()).args(["status", "--json"]).run();
    assert_eq!(done.stdout().lines().count(), 4, "{}", done.stdout());

    // Someone else logged in to the same registry in podman's file: logout leaves that one.
    let mut podman: serde_json::Value =
        serde_json::from_slice(&fs::read(&authfile).unwrap()).unwrap();
    podman["auths"][USE1_A]["auth"] = "QVdTOnNvbWVvbmUtZWxzZQ==".into();
    fs::write(&authfile, podman.to_string()).unwrap();

    let done = run.again(&proxy.url()).args(["logout"]).run();
    done.expect_code(0);
    assert!(
        done.stderr()
            .contains("holds other credentials than ecr-login wrote; left alone"),
        "{}",
        done.stderr()
    );
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(run.config_json()).unwrap()).unwrap();
    assert!(config["auths"].get(USE1_A).is_none(), "{config}");
    assert_eq!(
        config["auths"]["ghcr.io"]["auth"], "Z2g6cA==",
        "other registries kept"
    );
    assert_eq!(
        auth_of(&authfile, USE1_A).as_deref(),
        Some("AWS:someone-else")
    );
    assert!(!archive.exists(), "an archive left empty is deleted");
    assert!(!secret.exists(), "a manifest left empty is deleted");

    // Nothing recorded any more: status is unhealthy, a second logout is a no-op.
    run.again(&proxy.url())
        .args(["status"])
        .run()
        .expect_code(1);
    run.again(&proxy.url())
        .args(["logout"])
        .run()
        .expect_code(0);
    assert_eq!(proxy.total_calls(), 1, "status and logout make no API call");

    // logout REGISTRY touches only that registry.
    login().expect_code(0);
    run.again(&proxy.url())
        .args([USE1_A, EUW1_A])
        .run()
        .expect_code(0);
    run.again(&proxy.url())
        .args(["logout", EUW1_A])
        .run()
        .expect_code(0);
    assert!(auth_of(&run.config_json(), EUW1_A).is_none());
    assert!(auth_of(&run.config_json(), USE1_A).is_some());
}

#[test]
fn one_failing_sink_does_not_stop_the_others() {
    let moto = moto();
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let mut run = Run::new(&moto.url()).args([USE1_A, "--method", "archive,config", "--archive"]);
    run = run.args([blocker.path().join("docker.tar.gz")]);
    let done = run.run();
    done.expect_code(73);
    assert!(
        done.stderr()
            .contains("logged in to 0 of 1 registries; exit 73/CANTCREAT"),
        "{}",
        done.stderr()
    );
    assert!(
        auth_of(&run.config_json(), USE1_A).is_some(),
        "config still written"
    );
}
