//! `--method docker` driving the real docker CLI against a real registry (Debian's
//! docker-registry with htpasswd auth) under a real ECR hostname, inside a private network
//! and mount namespace (tests/support/netns.sh). Also proves the token stays off every argv.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::common::*;

struct Outcome {
    code: i32,
    stderr: String,
    work: tempfile::TempDir,
    /// Every process command line seen while the run was going on.
    argvs: Vec<String>,
}

/// Run ecr-login inside the namespace with the registry accepting `registry_password`;
/// scan every process's argv meanwhile.
fn run_in_netns(registry_password: &str, hosts: &[&str], args: &[&str]) -> Outcome {
    let docker = require("docker");
    require("docker-registry");
    require("unshare");
    require_root("a private network and mount namespace (unshare), with a registry on port 443");
    // It scans every argv on the machine: no other test's processes beside it.
    let _alone = exclusive();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    fs::create_dir_all(home.join("bin")).unwrap();
    // A wrapper that records the argv docker receives, and lingers so the scanner sees it.
    let wrapper = work.path().join("docker-wrapper");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n/bin/cat /proc/$$/cmdline >> {argv}\n/bin/echo >> {argv}\n/bin/sleep 0.3\nexec {docker} \"$@\"\n",
            argv = work.path().join("argv.log").display(),
            docker = docker.display()
        ),
    )
    .unwrap();
    make_executable(&wrapper);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/netns.sh");
    let mut cmd = Command::new(script);
    cmd.arg(work.path().join("ns"))
        .args(hosts)
        .arg("--")
        .env("REGISTRY_PASSWORD", registry_password);
    // Inside: a hermetic environment; PATH without `pass`, so docker keeps credentials in
    // config.json rather than detecting a default store.
    cmd.args([
        "env",
        "-i",
        "PATH=/nonexistent",
        "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY=secret",
    ])
    .args([
        "AWS_CONFIG_FILE=/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
        "AWS_EC2_METADATA_DISABLED=true",
    ])
    .arg(format!("HOME={}", home.display()))
    // Tests run as root, whose default state directory is the machine's /var/lib/ecr-login.
    .arg(format!(
        "XDG_STATE_HOME={}",
        home.join(".local/state").display()
    ))
    .arg("AWS_ENDPOINT_URL=http://127.0.0.1:5000")
    .arg(bin())
    .args(["--method", "docker", "--docker-bin"])
    .arg(&wrapper)
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());

    let child = cmd.spawn().expect("running tests/support/netns.sh");
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let scanner = {
        let (done, seen) = (done.clone(), seen.clone());
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                for argv in all_argvs() {
                    seen.lock().unwrap().push(argv);
                }
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let output = child.wait_with_output().unwrap();
    done.store(true, Ordering::SeqCst);
    scanner.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_ne!(
        output.status.code(),
        Some(99),
        "the namespace harness failed:\n{stderr}"
    );
    let argvs = seen.lock().unwrap().clone();
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stderr,
        work,
        argvs,
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn all_argvs() -> Vec<String> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .collect()
}

fn config_of(outcome: &Outcome) -> PathBuf {
    outcome.work.path().join("home/.docker/config.json")
}

#[test]
fn docker_login_stores_credentials_and_the_token_never_reaches_argv_or_logs() {
    let password = moto_password(&moto().url(), "us-east-1");
    let outcome = run_in_netns(&password, &[USE1_A], &[USE1_A, "-vv"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains(&format!("logged in to {USE1_A} via")),
        "{}",
        outcome.stderr
    );

    // docker itself wrote the credentials it verified against the registry.
    assert_eq!(
        auth_of(&config_of(&outcome), USE1_A),
        Some(format!("AWS:{password}"))
    );

    // The argv docker got, recorded by the wrapper, and every argv seen on the machine.
    let recorded = fs::read_to_string(outcome.work.path().join("argv.log")).unwrap();
    assert!(
        recorded.contains("login\0--username\0AWS\0--password-stdin\0"),
        "{recorded:?}"
    );
    assert!(
        outcome
            .argvs
            .iter()
            .any(|a| a.contains("--password-stdin") && a.contains(USE1_A)),
        "the scanner never saw docker's argv, so it proves nothing"
    );
    let token = token_of(&password);
    for secret in [password.as_str(), token.as_str()] {
        assert!(!recorded.contains(secret));
        assert!(
            !outcome.argvs.iter().any(|a| a.contains(secret)),
            "token in an argv"
        );
        assert!(
            !outcome.stderr.contains(secret),
            "token in the log:\n{}",
            outcome.stderr
        );
    }
}

#[test]
fn docker_method_exits_77_when_the_registry_refuses() {
    let outcome = run_in_netns("not-the-token", &[USE1_A], &[USE1_A]);
    assert_eq!(outcome.code, 77, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("401 Unauthorized"),
        "{}",
        outcome.stderr
    );
    assert!(auth_of(&config_of(&outcome), USE1_A).is_none());
}

#[test]
fn docker_method_exits_75_when_the_registry_is_unreachable() {
    // The second host resolves nowhere inside the namespace: no DNS can answer.
    let other = "444455556666.dkr.ecr.us-east-1.amazonaws.com";
    let password = moto_password(&moto().url(), "us-east-1");
    let outcome = run_in_netns(&password, &[USE1_A], &[USE1_A, other]);
    assert_eq!(outcome.code, 75, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(&format!("logged in to {USE1_A}")),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        auth_of(&config_of(&outcome), USE1_A),
        Some(format!("AWS:{password}"))
    );
    assert!(auth_of(&config_of(&outcome), other).is_none());
}
