//! The fault matrix: every way the API, the network, the target file system and the docker
//! CLI can fail, injected against the real binary. Each case asserts the exit code, the
//! message, the wall-time bound, and that config.json is byte-identical to before (or
//! validly updated where the case succeeds). Faults ECR can produce but moto cannot come from
//! the tests' proxy in front of moto (`ProxyOptions::fault`), on loopback only.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::time::Duration;

use crate::common::*;

const EXISTING: &str = "{\n\t\"auths\": {\n\t\t\"ghcr.io\": {\"auth\": \"Z2g6cA==\"}\n\t},\n\t\"psFormat\": \"table\"\n}";

struct Case {
    name: &'static str,
    status: u16,
    body: &'static str,
    /// How many calls get the fault (then moto answers).
    times: usize,
    code: i32,
    says: &'static str,
    /// Calls the SDK makes (AWS_MAX_ATTEMPTS=3): retryable faults are retried.
    attempts: usize,
}

#[rustfmt::skip]
const API_FAULTS: &[Case] = &[
    Case { name: "throttling", status: 400, body: r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#, times: 99, code: 75, says: "ThrottlingException: Rate exceeded", attempts: 3 },
    Case { name: "throttling, then healed", status: 400, body: r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#, times: 2, code: 0, says: "logged in to 1 of 1", attempts: 3 },
    Case { name: "500", status: 500, body: r#"{"__type":"ServerException","message":"internal failure"}"#, times: 99, code: 75, says: "ServerException: internal failure", attempts: 3 },
    Case { name: "503 with an HTML page", status: 503, body: "<html><body><h1>503 Service Unavailable</h1></body></html>", times: 99, code: 75, says: "503 Service Unavailable", attempts: 3 },
    Case { name: "malformed JSON", status: 200, body: r#"{"authorizationData": [{"authorizationTok"#, times: 99, code: 76, says: "calling ECR GetAuthorizationToken", attempts: 1 },
    Case { name: "token not base64", status: 200, body: r#"{"authorizationData":[{"authorizationToken":"%%%not-base64%%%","expiresAt":1.9E9}]}"#, times: 99, code: 76, says: "malformed authorization token (not base64)", attempts: 1 },
    Case { name: "token without a colon", status: 200, body: r#"{"authorizationData":[{"authorizationToken":"QVdTbm9jb2xvbg==","expiresAt":1.9E9}]}"#, times: 99, code: 76, says: "malformed authorization token (no user:password)", attempts: 1 },
    Case { name: "no authorization data", status: 200, body: r#"{"authorizationData":[]}"#, times: 99, code: 76, says: "no authorization data", attempts: 1 },
    Case { name: "expired session token", status: 400, body: r#"{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}"#, times: 99, code: 77, says: "ExpiredTokenException: The security token included in the request is expired", attempts: 1 },
    Case { name: "access denied", status: 400, body: r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::111122223333:user/ci is not authorized to perform: ecr:GetAuthorizationToken"}"#, times: 99, code: 77, says: "is not authorized to perform: ecr:GetAuthorizationToken", attempts: 1 },
];

#[test]
fn api_faults_retry_as_configured_then_exit_with_their_code() {
    let moto = moto();
    for case in API_FAULTS {
        let proxy = CountingProxy::start_with(
            &moto.url(),
            ProxyOptions {
                fault: Some((case.status, case.body, case.times)),
                ..Default::default()
            },
        );
        let mut run =
            Run::new(&proxy.url())
                .env("AWS_MAX_ATTEMPTS", "3")
                .args([USE1_A, "--timeout", "20s"]);
        fs::create_dir_all(run.docker_dir()).unwrap();
        fs::write(run.config_json(), EXISTING).unwrap();
        let done = run.run();
        assert_eq!(done.code(), case.code, "{}: {}", case.name, done.stderr());
        assert!(
            done.stderr().contains(case.says),
            "{}: {}",
            case.name,
            done.stderr()
        );
        assert_eq!(
            proxy.total_calls(),
            case.attempts,
            "{}: attempts",
            case.name
        );
        // Retries back off, but well inside the deadline.
        assert!(
            done.elapsed < Duration::from_secs(15),
            "{}: {:?}",
            case.name,
            done.elapsed
        );
        let after = fs::read_to_string(run.config_json()).unwrap();
        if case.code == 0 {
            assert!(after.contains("ghcr.io") && auth_of(&run.config_json(), USE1_A).is_some());
        } else {
            assert_eq!(after, EXISTING, "{}: config.json changed", case.name);
        }
        // The malformed token is never echoed.
        assert!(
            !done.stderr().contains("not-base64") && !done.stderr().contains("QVdTbm9jb2xvbg"),
            "{}",
            case.name
        );
    }
}

#[test]
fn network_faults_exit_75_within_the_deadline() {
    let _exclusive = exclusive();
    let never_answers = format!("http://127.0.0.1:{}", silent_server());
    let refused = format!("http://127.0.0.1:{}", free_port());
    for (name, endpoint, bound) in [
        (
            "never answers",
            never_answers.as_str(),
            Duration::from_secs(4),
        ),
        (
            "connection refused",
            refused.as_str(),
            Duration::from_secs(4),
        ),
        // .invalid never resolves (RFC 2606).
        (
            "DNS failure",
            "http://ecr.example.invalid",
            Duration::from_secs(4),
        ),
    ] {
        let mut run = Run::new(endpoint).args([USE1_A, "--timeout", "3s"]);
        fs::create_dir_all(run.docker_dir()).unwrap();
        fs::write(run.config_json(), EXISTING).unwrap();
        let done = run.run();
        assert_eq!(done.code(), 75, "{name}: {}", done.stderr());
        assert!(done.elapsed < bound, "{name}: took {:?}", done.elapsed);
        assert_eq!(
            fs::read_to_string(run.config_json()).unwrap(),
            EXISTING,
            "{name}"
        );
    }
}

/// What happens to each odd state of an existing config.json; README "Existing config.json".
#[test]
fn existing_config_states_have_defined_outcomes_and_lose_nothing() {
    require_root("files owned by another user (chown)");
    let moto = moto();
    let password = moto_password(&moto.url(), "us-east-1");

    // Empty file: counts as {}.
    let mut run = Run::new(&moto.url()).args([USE1_A]);
    fs::create_dir_all(run.docker_dir()).unwrap();
    fs::write(run.config_json(), "").unwrap();
    run.run().expect_code(0);
    assert_eq!(
        auth_of(&run.config_json(), USE1_A),
        Some(format!("AWS:{password}"))
    );

    // Malformed: 65, untouched.
    let mut run = Run::new(&moto.url()).args([USE1_A]);
    fs::create_dir_all(run.docker_dir()).unwrap();
    fs::write(run.config_json(), "{\"auths\": ").unwrap();
    let done = run.run();
    done.expect_code(65);
    done.expect_stderr_contains("not valid JSON")
        .expect_stderr_contains("left untouched");
    assert_eq!(
        fs::read_to_string(run.config_json()).unwrap(),
        "{\"auths\": "
    );

    // A directory: 73, untouched.
    let mut run = Run::new(&moto.url()).args([USE1_A]);
    fs::create_dir_all(run.config_json()).unwrap();
    run.run().expect_code(73);
    assert!(run.config_json().is_dir());

    // Mode 0644: written 0600, with a warning; content kept.
    let mut run = Run::new(&moto.url()).args([USE1_A]);
    fs::create_dir_all(run.docker_dir()).unwrap();
    fs::write(run.config_json(), EXISTING).unwrap();
    fs::set_permissions(run.config_json(), fs::Permissions::from_mode(0o644)).unwrap();
    let done = run.run();
    done.expect_code(0);
    done.expect_stderr_contains("mode 644 gave others access");
    assert_eq!(
        fs::metadata(run.config_json()).unwrap().mode() & 0o777,
        0o600
    );
    assert!(
        fs::read_to_string(run.config_json())
            .unwrap()
            .contains("ghcr.io")
    );

    // Owned by another user (as root): the owner is kept, entries too.
    let mut run = Run::new(&moto.url()).args([USE1_A]);
    fs::create_dir_all(run.docker_dir()).unwrap();
    fs::write(run.config_json(), EXISTING).unwrap();
    std::os::unix::fs::chown(run.config_json(), Some(65534), Some(65534)).unwrap();
    run.run().expect_code(0);
    let meta = fs::metadata(run.config_json()).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert!(
        fs::read_to_string(run.config_json())
            .unwrap()
            .contains("ghcr.io")
    );

    // A symlink to a file the same user owns: followed, the link kept, the target updated.
    let mut run = Run::new(&moto.url()).args([USE1_A]);
    let real = run.home.path().join("dotfiles/docker-config.json");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::write(&real, EXISTING).unwrap();
    fs::create_dir_all(run.docker_dir()).unwrap();
    std::os::unix::fs::symlink(&real, run.config_json()).unwrap();
    run.run().expect_code(0);
    assert!(
        fs::symlink_metadata(run.config_json())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(auth_of(&real, USE1_A), Some(format!("AWS:{password}")));
    assert!(fs::read_to_string(&real).unwrap().contains("ghcr.io"));

    // A symlink into a directory another user owns: refused (73), the target untouched.
    let mut run = Run::new(&moto.url()).args([USE1_A]);
    let foreign = run.home.path().join("foreign");
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("config.json"), EXISTING).unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    fs::create_dir_all(run.docker_dir()).unwrap();
    std::os::unix::fs::symlink(foreign.join("config.json"), run.config_json()).unwrap();
    let done = run.run();
    done.expect_code(73);
    done.expect_stderr_contains("refusing to follow symlink");
    assert_eq!(
        fs::read_to_string(foreign.join("config.json")).unwrap(),
        EXISTING
    );
}

/// A read-only or full file system under the docker config: 73, the old file intact. Runs in
/// a private mount namespace with a tiny tmpfs, so the machine's mounts never change.
#[test]
fn read_only_or_full_target_exits_73_and_keeps_the_old_file() {
    require("unshare");
    require_root("a tmpfs in a private mount namespace");
    let moto = moto();
    for (name, setup) in [
        ("read-only", "mount -o remount,ro \"$DOCKER_CONFIG\""),
        (
            "full",
            "head -c 1048576 /dev/zero > \"$DOCKER_CONFIG/fill\" 2>/dev/null || true",
        ),
    ] {
        let script = format!(
            "set -e
             mount -t tmpfs -o size=64k,mode=0700 tmpfs \"$DOCKER_CONFIG\"
             printf '%s' \"$EXISTING\" > \"$DOCKER_CONFIG/config.json\"
             {setup}
             code=0; PATH=\"$HOME/bin\" \"$ECR_LOGIN\" {USE1_A} || code=$?
             cp \"$DOCKER_CONFIG/config.json\" \"$HOME/after.json\"
             ls -a \"$DOCKER_CONFIG\" > \"$HOME/listing\"
             exit $code"
        );
        let wrapped = format!(
            "exec unshare --mount --propagation private sh -c '{}'",
            script.replace('\'', "'\\''")
        );
        let mut run = Run::via_sh(&moto.url(), &wrapped);
        fs::create_dir_all(run.docker_dir()).unwrap();
        run = run.env("EXISTING", EXISTING);
        let done = run.run();
        assert_eq!(done.code(), 73, "{name}: {}", done.stderr());
        assert_eq!(
            fs::read_to_string(run.home.path().join("after.json")).unwrap(),
            EXISTING,
            "{name}"
        );
        let listing = fs::read_to_string(run.home.path().join("listing")).unwrap();
        assert!(
            !listing.contains(".tmp"),
            "{name}: temp file left: {listing}"
        );
    }
}

#[test]
fn docker_method_faults() {
    let moto = moto();
    // Missing docker: 69.
    let done = Run::new(&moto.url())
        .args([USE1_A, "--method", "docker"])
        .run();
    done.expect_code(69);
    done.expect_stderr_contains("docker not found");

    // docker exits non-zero: refused (77) and a network error (75), each from its own words.
    for (said, code) in [
        (
            "Error response from daemon: Get \"https://x/v2/\": unauthorized: authentication required",
            77,
        ),
        (
            "Error response from daemon: Get \"https://x/v2/\": dial tcp 10.0.0.1:443: connect: connection refused",
            75,
        ),
    ] {
        let run = Run::new(&moto.url()).args([USE1_A, "--method", "docker"]);
        fake_docker(
            &run,
            &format!("/bin/cat >/dev/null; echo '{said}' >&2; exit 1"),
        );
        let mut run = run;
        let done = run.run();
        assert_eq!(done.code(), code, "{}", done.stderr());
    }

    // docker hangs, with a child of its own: both killed at the deadline, 75.
    let run = Run::new(&moto.url()).args([USE1_A, "--method", "docker", "--timeout", "2s"]);
    let pids = run.home.path().join("hung");
    fake_docker(&run, &hang_with_a_child(&pids));
    let mut run = run;
    let done = run.run();
    done.expect_code(75)
        .expect_stderr_contains("did not finish before the deadline (killed)");
    assert!(done.elapsed < Duration::from_secs(4), "{:?}", done.elapsed);
    expect_gone(&pids);
}

fn fake_docker(run: &Run, body: &str) {
    let bin = run.home.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let path = bin.join("docker");
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A writer that does not take our lock (docker's own `login`/`logout`: read, change, write
/// a temp file, rename) racing ecr-login. The outcome, documented in the README: the file is
/// always valid JSON and nothing else is damaged, but whichever rename lands second wins, so
/// one side's change can be lost; ecr-login's next run restores its entry.
#[test]
fn an_unlocked_writer_can_win_a_race_but_never_tears_the_file() {
    let _exclusive = exclusive();
    let moto = moto();
    let run = Run::new(&moto.url());
    fs::create_dir_all(run.docker_dir()).unwrap();
    let path = run.config_json();
    fs::write(&path, EXISTING).unwrap();
    let rounds = 30;
    let (mut ours_lost, mut theirs_lost) = (0, 0);
    for i in 0..rounds {
        let host = format!(
            "{:012}.dkr.ecr.us-east-1.amazonaws.com",
            300_000_000_000u64 + i
        );
        let theirs = format!("other-{i}.example");
        let mut ecr = run.again(&moto.url()).args([host.as_str(), "-qq"]);
        let child = ecr.command().spawn().unwrap();
        // docker-style: read, think for a moment, write a temp file, rename; no lock.
        let writer = {
            let (path, theirs) = (path.clone(), theirs.clone());
            std::thread::spawn(move || {
                let mut config: serde_json::Value =
                    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
                std::thread::sleep(Duration::from_millis(i * 10));
                config["auths"][&theirs] = serde_json::json!({"auth": "dTpw"});
                let tmp = path.with_extension("docker-tmp");
                fs::write(&tmp, config.to_string()).unwrap();
                fs::rename(&tmp, &path).unwrap();
            })
        };
        assert!(child.wait_with_output().unwrap().status.success());
        writer.join().unwrap();
        let config: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(config["psFormat"], "table", "other keys are never damaged");
        assert!(config["auths"]["ghcr.io"].is_object());
        ours_lost += usize::from(config["auths"].get(&host).is_none());
        theirs_lost += usize::from(config["auths"].get(&theirs).is_none());
        // The next run puts ours back.
        run.again(&moto.url())
            .args([host.as_str(), "-qq"])
            .run()
            .expect_code(0);
        assert!(auth_of(&path, &host).is_some());
    }
    eprintln!(
        "{rounds} races with an unlocked writer: ecr-login's entry lost {ours_lost} times, \
         the writer's {theirs_lost} times; the file was valid JSON every time"
    );
}

#[test]
fn a_hung_credential_helper_and_its_children_are_killed_at_the_deadline() {
    let moto = moto();
    let mut run = Run::new(&moto.url()).args([USE1_A, "--timeout", "2s"]);
    let pids = run.home.path().join("pids");
    let bin = run.home.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-stuck");
    fs::write(
        &helper,
        format!("#!/bin/sh\n{}\n", hang_with_a_child(&pids)),
    )
    .unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(run.docker_dir()).unwrap();
    fs::write(run.config_json(), r#"{"credsStore": "stuck"}"#).unwrap();
    let done = run.run();
    done.expect_code(75)
        .expect_stderr_contains("docker-credential-stuck store did not finish before the deadline");
    assert!(done.elapsed < Duration::from_secs(4), "{:?}", done.elapsed);
    expect_gone(&pids);
}

#[test]
fn a_hung_credential_process_and_its_children_are_killed_at_the_deadline() {
    let moto = moto();
    let run = Run::new(&moto.url());
    let pids = run.home.path().join("pids");
    let aws_config = run.home.path().join("aws-config");
    fs::write(
        &aws_config,
        format!(
            "[default]\ncredential_process = /bin/sh -c '{}'\n",
            hang_with_a_child(&pids).replace("/bin/cat >/dev/null; ", "")
        ),
    )
    .unwrap();
    let done = run
        .again(&moto.url())
        // The SDK runs credential_process through `sh` from PATH.
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_CONFIG_FILE", &aws_config)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args([USE1_A, "--timeout", "2s"])
        .run();
    done.expect_code(75);
    assert!(done.elapsed < Duration::from_secs(4), "{:?}", done.elapsed);
    expect_gone(&pids);
}

#[test]
fn a_fifo_in_place_of_config_json_is_refused_not_waited_on() {
    let moto = moto();
    for planted in ["config.json", "config.json.lock"] {
        let mut run = Run::new(&moto.url()).args([USE1_A, "--timeout", "20s"]);
        fs::create_dir_all(run.docker_dir()).unwrap();
        make_fifo(&run.docker_dir().join(planted));
        let done = run.run();
        done.expect_code(73);
        assert!(
            done.elapsed < Duration::from_secs(10),
            "{planted}: {:?}",
            done.elapsed
        );
        assert!(
            fs::symlink_metadata(run.docker_dir().join(planted))
                .unwrap()
                .file_type()
                .is_fifo(),
            "{planted} replaced"
        );
    }
}

/// Two paths to one file (a symlinked config.json, and its target directly) take one lock:
/// the target's. Held by someone else, the run through the link waits for it.
#[test]
fn the_lock_is_the_resolved_files() {
    let moto = moto();
    let mut run = Run::new(&moto.url()).args([USE1_A, "--timeout", "2s"]);
    let real = run.home.path().join("dotfiles/config.json");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::write(&real, EXISTING).unwrap();
    fs::create_dir_all(run.docker_dir()).unwrap();
    std::os::unix::fs::symlink(&real, run.config_json()).unwrap();
    let lock = fs::File::create(real.with_file_name("config.json.lock")).unwrap();
    lock.try_lock().unwrap();
    run.run()
        .expect_code(75)
        .expect_stderr_contains("timed out waiting for the lock");
    assert_eq!(fs::read_to_string(&real).unwrap(), EXISTING);
    drop(lock);
    run.run().expect_code(0);
    assert!(auth_of(&real, USE1_A).is_some());
}

/// Root writing a docker config in a directory a user controls acts as that user: what
/// the user planted there (a symlink to a directory of root's) gives them nothing, and what
/// is written belongs to them.
#[test]
fn root_writes_into_a_users_directory_as_that_user() {
    require_root("it runs ecr-login as root on a directory another user owns");
    let moto = moto();
    let base = tempfile::tempdir().unwrap();
    let home = base.path().join("home");
    fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
    // The base must be passable for the user, as /home is.
    fs::set_permissions(base.path(), fs::Permissions::from_mode(0o755)).unwrap();

    // A fresh ~/.docker: made by the user, so theirs.
    let docker = home.join(".docker");
    Run::new(&moto.url())
        .env("DOCKER_CONFIG", &docker)
        .args([USE1_A])
        .run()
        .expect_code(0);
    for path in [docker.clone(), docker.join("config.json")] {
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65534, 65534),
            "{}",
            path.display()
        );
    }

    // ~/.docker planted as a symlink to a directory of root's: refused, untouched.
    let victim = base.path().join("victim");
    fs::create_dir(&victim).unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o755)).unwrap();
    let planted = home.join(".docker-planted");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(65534), Some(65534)).unwrap();
    Run::new(&moto.url())
        .env("DOCKER_CONFIG", &planted)
        .args([USE1_A])
        .run()
        .expect_code(73);
    assert_eq!(
        fs::read_dir(&victim).unwrap().count(),
        0,
        "root wrote through the user's symlink"
    );
}
