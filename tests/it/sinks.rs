//! Every sink against moto and the real readers of what it writes: podman reads its auth
//! file, GNU tar unpacks the archive, kubernetes-validate checks the Secret against the
//! Kubernetes schema. Then several sinks in one run, and `logout`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// GNU tar's listing of `archive`, one member a line (`flags`: -tzf, or -tvzf with modes).
fn tar_list(tar: &Path, archive: &Path, flags: &str) -> Vec<String> {
    let out = Command::new(tar).arg(flags).arg(archive).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Unpack `archive` into `dir` with GNU tar, as the Mesos fetcher would.
fn untar(tar: &Path, archive: &Path, dir: &Path) {
    let status = Command::new(tar)
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
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

    let lines = tar_list(&tar, &archive, "-tvzf");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("drwx------") && lines[0].ends_with(".docker/"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("-rw-------") && lines[1].ends_with(".docker/config.json"),
        "{lines:?}"
    );

    let sandbox = tempfile::tempdir().unwrap();
    untar(&tar, &archive, sandbox.path());
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
    done.expect_stderr_contains("--archive FILE");
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
    done.expect_stderr_contains("NAMESPACE/NAME");
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
    done.expect_stderr_contains("holds other credentials than ecr-login wrote; left alone");
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
    done.expect_stderr_contains("logged in to 0 of 1 registries; exit 73/CANTCREAT");
    assert!(
        auth_of(&run.config_json(), USE1_A).is_some(),
        "config still written"
    );
}

#[test]
fn logout_dry_run_removes_nothing_and_unused_options_are_refused() {
    let moto = moto();
    let dir = tempfile::tempdir().unwrap();
    let run = Run::new(&moto.url());
    run.again(&moto.url())
        .args([USE1_A])
        .every_file_sink(dir.path())
        .run()
        .expect_code(0);
    let snapshot = |run: &Run| -> Vec<(String, Option<Vec<u8>>)> {
        let state = run.home.path().join(".local/state/ecr-login/state.json");
        [
            run.config_json(),
            dir.path().join("auth.json"),
            dir.path().join("docker.tar.gz"),
            dir.path().join("secret.json"),
            state,
        ]
        .into_iter()
        .map(|p| (p.display().to_string(), fs::read(&p).ok()))
        .collect()
    };
    let before = snapshot(&run);
    assert!(
        before.iter().all(|(_, bytes)| bytes.is_some()),
        "{before:?}"
    );

    run.again(&moto.url())
        .args(["logout", "--dry-run"])
        .run()
        .expect_code(0)
        .expect_stderr_contains(&format!("would log out of {USE1_A} in config"))
        .expect_stderr_contains("would remove 4 record(s)");
    assert_eq!(snapshot(&run), before, "--dry-run changed a file");
    run.again(&moto.url())
        .args(["logout"])
        .env("ECR_LOGIN_DRY_RUN", "true")
        .run()
        .expect_code(0);
    assert_eq!(snapshot(&run), before, "ECR_LOGIN_DRY_RUN changed a file");

    // Options a command does not use are refused, not ignored.
    for (args, says) in [
        (
            vec!["logout", "--min-valid", "1h"],
            "does not use --min-valid",
        ),
        (vec!["status", "--every", "1h"], "does not use --every"),
        (
            vec!["logout", "--docker-bin", "podman"],
            "does not use --docker-bin",
        ),
    ] {
        run.again(&moto.url())
            .args(&args)
            .run()
            .expect_code(64)
            .expect_stderr_contains(says);
    }
    assert_eq!(snapshot(&run), before);

    // Sinks named on the command line narrow logout (and status) to them.
    let authfile = dir.path().join("auth.json");
    let done = run
        .again(&moto.url())
        .args(["status", "--json", "--method", "podman", "--authfile"])
        .args([&authfile])
        .run();
    done.expect_code(1);
    assert_eq!(done.stdout().lines().count(), 1, "{}", done.stdout());
    run.again(&moto.url())
        .args(["logout", "--method", "podman", "--authfile"])
        .args([&authfile])
        .run()
        .expect_code(0);
    assert!(
        auth_of(&authfile, USE1_A).is_none(),
        "podman's entry removed"
    );
    assert!(
        auth_of(&run.config_json(), USE1_A).is_some(),
        "docker's kept"
    );
    assert!(dir.path().join("docker.tar.gz").exists());
}

/// An archive the operator made with other files in it (certificates, a long path, a
/// symlink): ecr-login changes its config.json and keeps every other member as it was.
#[test]
fn the_archive_keeps_every_other_member() {
    let tar = require("tar");
    let moto = moto();
    let password = moto_password(&moto.url(), "us-east-1");
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let long = format!("deep/{}/file.txt", "d".repeat(120));
    let cert = ".docker/certs.d/registry.example.com/ca.crt";
    for (path, text) in [
        (
            cert,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        ),
        (
            ".docker/config.json",
            r#"{"auths": {"ghcr.io": {"auth": "Z2g6cA=="}}, "psFormat": "x"}"#,
        ),
        (long.as_str(), "far down\n"),
        ("readme.txt", "ours\n"),
    ] {
        let path = tree.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
    }
    std::os::unix::fs::symlink("readme.txt", tree.join("link")).unwrap();
    let archive = dir.path().join("docker.tar.gz");
    let status = Command::new(&tar)
        .args(["--format=gnu", "-czf"])
        .arg(&archive)
        .arg("-C")
        .arg(&tree)
        .args([".docker", "deep", "readme.txt", "link"])
        .status()
        .unwrap();
    assert!(status.success());
    let listing = |archive: &Path| tar_list(&tar, archive, "-tzf");
    let before = listing(&archive);
    assert!(
        before
            .iter()
            .any(|l| l.ends_with("file.txt") && l.len() > 100)
    );

    let run = Run::new(&moto.url());
    run.again(&moto.url())
        .args([USE1_A, "--method", "archive", "--archive"])
        .args([&archive])
        .run()
        .expect_code(0);
    assert_eq!(listing(&archive), before, "members, names and order kept");
    let out = tempfile::tempdir().unwrap();
    untar(&tar, &archive, out.path());
    for path in [cert, long.as_str(), "readme.txt"] {
        assert_eq!(
            fs::read(out.path().join(path)).unwrap(),
            fs::read(tree.join(path)).unwrap(),
            "{path}"
        );
    }
    assert_eq!(
        fs::read_link(out.path().join("link")).unwrap(),
        Path::new("readme.txt")
    );
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(out.path().join(".docker/config.json")).unwrap()).unwrap();
    assert_eq!(decoded_auth(&config, USE1_A), format!("AWS:{password}"));
    assert_eq!(config["auths"]["ghcr.io"]["auth"], "Z2g6cA==");
    assert_eq!(config["psFormat"], "x");

    // Logging out takes our entry out and keeps the rest: the archive is not deleted.
    run.again(&moto.url()).args(["logout"]).run().expect_code(0);
    assert_eq!(listing(&archive), before);
}

/// Relative paths and `~` mean what the user means: recorded absolute, so status and
/// logout run from anywhere find the same files.
#[test]
fn relative_paths_and_tilde_are_recorded_absolute() {
    let moto = moto();
    let work = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut run = Run::new(&moto.url())
        .env("DOCKER_CONFIG", "rel/.docker")
        .args([
            USE1_A,
            "--method",
            "config,podman,archive,kube-secret",
            "--kube-secret",
            "ci/ecr",
            "--authfile",
            "rel/auth.json",
            "--archive",
            "rel/docker.tar.gz",
            "--kube-output",
            "rel/secret.json",
        ]);
    run.command().current_dir(work.path());
    run.run().expect_code(0);
    for file in [
        ".docker/config.json",
        "auth.json",
        "docker.tar.gz",
        "secret.json",
    ] {
        assert!(work.path().join("rel").join(file).is_file(), "{file}");
    }
    let mut status = run.again(&moto.url()).args(["status", "--json"]);
    status.command().current_dir(elsewhere.path());
    let done = status.run();
    let states: Vec<String> = done
        .stdout()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["state"].to_string())
        .collect();
    assert_eq!(states, vec!["\"expired\""; 4], "{}", done.stdout());
    let mut logout = run.again(&moto.url()).args(["logout"]);
    logout.command().current_dir(elsewhere.path());
    logout.run().expect_code(0);
    assert!(auth_of(&work.path().join("rel/.docker/config.json"), USE1_A).is_none());
    assert!(!work.path().join("rel/docker.tar.gz").exists());

    // `~` in the settings file is the home directory, not a directory named "~".
    let mut run = Run::new(&moto.url()).with_config("docker_config = \"~/.docker-ci\"\n");
    run = run.args([USE1_A]);
    run.command().current_dir(work.path());
    run.run().expect_code(0);
    assert!(auth_of(&run.home.path().join(".docker-ci/config.json"), USE1_A).is_some());
    assert!(!work.path().join("~").exists());
}

#[test]
fn secret_names_are_validated_as_kubernetes_does() {
    for bad in ["ci/a..b", "ci/a.-b", "ci/-a", "ci/a.", "c_i/x"] {
        Run::new(&moto().url())
            .args([USE1_A, "--method", "kube-secret", "--kube-secret", bad])
            .run()
            .expect_code(64)
            .expect_stderr_contains("NAMESPACE/NAME");
    }
}

/// The Secret's `expires-at` is when its first registry lapses, across the runs merged into
/// one manifest file.
#[test]
fn a_merged_secret_expires_with_its_earliest_registry() {
    let moto = moto();
    let soon = CountingProxy::start_with(
        &moto.url(),
        ProxyOptions {
            expires_in: Some(Duration::from_secs(3600)),
            ..Default::default()
        },
    );
    let later = CountingProxy::start_with(
        &moto.url(),
        ProxyOptions {
            expires_in: Some(Duration::from_secs(12 * 3600)),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.json");
    let login = |endpoint: &str, host: &str| {
        Run::new(endpoint)
            .args([
                host,
                "--method",
                "kube-secret",
                "--kube-secret",
                "ci/ecr",
                "--kube-output",
            ])
            .args([&file])
            .run()
            .expect_code(0);
        let manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        let at = manifest["metadata"]["annotations"]["ecr-login/expires-at"]
            .as_str()
            .unwrap()
            .to_string();
        let left = humantime::parse_rfc3339(&at)
            .unwrap()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        left.as_secs() / 3600
    };
    assert_eq!(login(&soon.url(), USE1_A), 0, "first registry: 1 hour");
    assert_eq!(
        login(&later.url(), EUW1_A),
        0,
        "the second lapses in 12 hours, but the first still in 1"
    );
    assert_eq!(
        login(&later.url(), USE1_A),
        11,
        "both refreshed for 12 hours"
    );
}
