//! Expiry awareness against moto: the state file, `--min-valid` skipping (counted at the
//! proxy), and `ecr-login status` as a health check. moto's tokens expire in 2015, so a
//! proxy of the tests' own rewrites `expiresAt` where a future expiry is needed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::*;

fn valid_for(hours: u64) -> CountingProxy {
    CountingProxy::start_with(
        &moto().url(),
        ProxyOptions {
            expires_in: Some(Duration::from_secs(hours * 3600)),
            ..Default::default()
        },
    )
}

fn state_json(run: &Run) -> serde_json::Value {
    let path = run.home.path().join(".local/state/ecr-login/state.json");
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn min_valid_skips_fresh_registries_without_an_api_call() {
    let proxy = valid_for(12);
    let first = Run::new(&proxy.url()).args([USE1_A, EUW1_A]);
    let mut run = first;
    run.run().expect_code(0);
    assert_eq!(proxy.total_calls(), 2);

    let state = state_json(&run);
    let records = state["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{state}");
    assert_eq!(records[0]["sink"]["kind"], "config");
    assert!(
        records[0]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    // 12 h left > 1 h: nothing to do, no call at all.
    let done = run
        .again(&proxy.url())
        .args([USE1_A, EUW1_A, "--min-valid", "1h"])
        .run();
    done.expect_code(0);
    assert_eq!(proxy.total_calls(), 2, "a skipped run made an API call");
    assert_eq!(proxy.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
    done.expect_stderr_contains("still valid for 11h 59m in every sink: skipped");
    done.expect_stderr_contains("(2 still valid, skipped)");

    // 12 h left < 13 h: refresh both.
    run.again(&proxy.url())
        .args([USE1_A, EUW1_A, "--min-valid", "13h"])
        .run()
        .expect_code(0);
    assert_eq!(proxy.total_calls(), 4);

    // Env name works too; a registry never logged in is fetched, the fresh one skipped.
    let other = "444455556666.dkr.ecr.us-east-1.amazonaws.com";
    run.again(&proxy.url())
        .args([USE1_A, other])
        .env("ECR_LOGIN_MIN_VALID", "30m")
        .run()
        .expect_code(0);
    assert_eq!(proxy.calls().get("us-east-1"), Some(&3));
    assert_eq!(proxy.total_calls(), 5);
}

#[test]
fn min_valid_refreshes_credentials_the_sink_no_longer_holds() {
    let proxy = valid_for(12);
    let mut run = Run::new(&proxy.url()).args([USE1_A]);
    run.run().expect_code(0);
    let before = fs::read_to_string(run.config_json()).unwrap();

    // Someone ran `docker logout`: the entry is gone, though the state says it is valid.
    let mut config: serde_json::Value = serde_json::from_str(&before).unwrap();
    config["auths"].as_object_mut().unwrap().remove(USE1_A);
    fs::write(run.config_json(), config.to_string()).unwrap();
    let done = run
        .again(&proxy.url())
        .args([USE1_A, "--min-valid", "1h", "-v"])
        .run();
    done.expect_code(0);
    assert!(
        done.stderr()
            .contains("refreshing (changed: no longer there"),
        "{}",
        done.stderr()
    );
    assert_eq!(proxy.total_calls(), 2);
    assert!(auth_of(&run.config_json(), USE1_A).is_some());

    // Replaced by other credentials: refreshed as well.
    let mut config: serde_json::Value =
        serde_json::from_slice(&fs::read(run.config_json()).unwrap()).unwrap();
    config["auths"][USE1_A]["auth"] = "QVdTOm90aGVy".into();
    fs::write(run.config_json(), config.to_string()).unwrap();
    run.again(&proxy.url())
        .args([USE1_A, "--min-valid", "1h"])
        .run()
        .expect_code(0);
    assert_eq!(proxy.total_calls(), 3);
}

#[test]
fn expired_on_arrival_is_a_warning_and_is_never_skipped() {
    // moto itself: expiresAt 2015-01-01.
    let proxy = CountingProxy::start(&moto().url(), Duration::ZERO);
    let mut run = Run::new(&proxy.url()).args([USE1_A, "--min-valid", "1m"]);
    let done = run.run();
    done.expect_code(0);
    done.expect_stderr_contains("expired on arrival (2015-01-01T00:00:00Z)");
    let done = run
        .again(&proxy.url())
        .args([USE1_A, "--min-valid", "1m"])
        .run();
    done.expect_code(0);
    assert_eq!(proxy.total_calls(), 2, "an expired token must be refreshed");
}

#[test]
fn status_is_a_health_check() {
    let proxy = valid_for(12);
    let run = Run::new(&proxy.url());

    // Nothing recorded yet: unhealthy, and it says why.
    let done = run.again(&proxy.url()).args(["status"]).run();
    done.expect_code(1);
    done.expect_stderr_contains("nothing to check");

    run.again(&proxy.url())
        .args([USE1_A, EUW1_A])
        .run()
        .expect_code(0);
    let calls = proxy.total_calls();

    let done = run.again(&proxy.url()).args(["status"]).run();
    done.expect_code(0);
    let out = done.stdout();
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines().all(|l| l.starts_with("ok ")
            && l.contains("valid until")
            && l.contains("11h 59m left")),
        "{out}"
    );

    run.again(&proxy.url())
        .args(["status", "--min-valid", "11h"])
        .run()
        .expect_code(0);
    let done = run
        .again(&proxy.url())
        .args(["status", "--min-valid", "13h"])
        .run();
    done.expect_code(1);
    assert!(
        done.stdout().lines().all(|l| l.starts_with("STALE")),
        "{}",
        done.stdout()
    );

    // JSON: one object per line, machine-readable remaining time.
    let done = run
        .again(&proxy.url())
        .args(["status", "--json", USE1_A])
        .run();
    done.expect_code(0);
    let line: serde_json::Value = serde_json::from_str(done.stdout().trim()).unwrap();
    assert_eq!(line["registry"], USE1_A);
    assert_eq!(line["state"], "valid");
    assert_eq!(line["ok"], true);
    let left = line["remaining_seconds"].as_u64().unwrap();
    assert!((12 * 3600 - 60..=12 * 3600).contains(&left), "{left}");

    // A registry ecr-login never wrote, and one removed behind its back.
    let done = run
        .again(&proxy.url())
        .args(["status", "444455556666.dkr.ecr.us-east-1.amazonaws.com"])
        .run();
    done.expect_code(1);
    done.expect_stdout_contains("never written by ecr-login");
    let mut config: serde_json::Value =
        serde_json::from_slice(&fs::read(run.config_json()).unwrap()).unwrap();
    config["auths"].as_object_mut().unwrap().remove(EUW1_A);
    fs::write(run.config_json(), config.to_string()).unwrap();
    let done = run.again(&proxy.url()).args(["status", "--json"]).run();
    done.expect_code(1);
    let states: Vec<String> = done
        .stdout()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["state"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        states,
        ["changed", "valid"],
        "records are sorted by host: eu-west-1 first"
    );

    // A malformed config.json is reported, not crashed on, and not touched.
    fs::write(run.config_json(), "{oops").unwrap();
    let done = run.again(&proxy.url()).args(["status"]).run();
    done.expect_code(1);
    done.expect_stdout_contains("cannot check");
    assert_eq!(fs::read_to_string(run.config_json()).unwrap(), "{oops");

    // status never calls the API.
    assert_eq!(proxy.total_calls(), calls);
}

#[test]
fn state_file_is_private_and_holds_no_token() {
    let moto = moto();
    let password = moto_password(&moto.url(), "us-east-1");
    let mut run = Run::new(&moto.url()).args([USE1_A]);
    run.run().expect_code(0);
    let dir = run.home.path().join(".local/state/ecr-login");
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "{path:?}"
        );
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&password) && !text.contains(&token_of(&password)),
            "{path:?}"
        );
    }

    // STATE_DIRECTORY (systemd) wins over the home directory.
    let elsewhere = tempfile::tempdir().unwrap();
    Run::new(&moto.url())
        .args([USE1_A])
        .env("STATE_DIRECTORY", elsewhere.path())
        .run()
        .expect_code(0);
    assert!(elsewhere.path().join("state.json").is_file());

    // A damaged state file is replaced (it is ecr-login's own cache), with a warning.
    let state = dir.join("state.json");
    fs::write(&state, "garbage").unwrap();
    let done = run.again(&moto.url()).args([USE1_A]).run();
    done.expect_code(0);
    done.expect_stderr_contains("is malformed");
    let value: serde_json::Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    assert_eq!(value["records"].as_array().unwrap().len(), 1);
}

#[test]
fn a_token_without_an_expiry_counts_as_expiring_now() {
    let proxy = CountingProxy::start_with(
        &moto().url(),
        ProxyOptions {
            drop_expiry: true,
            ..Default::default()
        },
    );
    let mut run = Run::new(&proxy.url()).args([USE1_A, "--min-valid", "1m"]);
    run.run().expect_code(0);
    // Never skipped: nobody knows how long it lasts.
    run.again(&proxy.url())
        .args([USE1_A, "--min-valid", "1m"])
        .run()
        .expect_code(0);
    assert_eq!(
        proxy.total_calls(),
        2,
        "a token of unknown expiry was skipped"
    );
    let done = run.again(&proxy.url()).args(["status"]).run();
    done.expect_code(1);
    assert!(
        done.stdout().starts_with("STALE") && done.stdout().contains("expiry unknown"),
        "{}",
        done.stdout()
    );
}

#[test]
fn state_written_by_a_newer_version_is_left_alone() {
    let moto = moto();
    let mut run = Run::new(&moto.url()).args([USE1_A]);
    let state = run.home.path().join(".local/state/ecr-login/state.json");
    fs::create_dir_all(state.parent().unwrap()).unwrap();
    let newer = r#"{"version": 2, "records": [], "fields": "this version does not know"}"#;
    fs::write(&state, newer).unwrap();
    run.run()
        .expect_code(0)
        .expect_stderr_contains("newer than this ecr-login understands");
    assert_eq!(fs::read_to_string(&state).unwrap(), newer);
    assert!(
        auth_of(&run.config_json(), USE1_A).is_some(),
        "still logged in"
    );
    run.again(&moto.url())
        .args(["status"])
        .run()
        .expect_code(65)
        .expect_stderr_contains("version 2");
    run.again(&moto.url())
        .args(["logout"])
        .run()
        .expect_code(65);
    assert_eq!(fs::read_to_string(&state).unwrap(), newer);
}

#[test]
fn absurd_times_in_the_state_file_are_stale_not_a_crash() {
    let proxy = valid_for(12);
    let mut run = Run::new(&proxy.url()).args([USE1_A]);
    run.run().expect_code(0);
    let path = run.home.path().join(".local/state/ecr-login/state.json");
    let mut state: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    state["records"][0]["expires_at"] = serde_json::json!(u64::MAX);
    state["records"][0]["written_at"] = serde_json::json!(u64::MAX);
    fs::write(&path, state.to_string()).unwrap();
    let done = run.again(&proxy.url()).args(["status"]).run();
    done.expect_code(1);
    assert!(done.stdout().starts_with("STALE"), "{}", done.stdout());
    run.again(&proxy.url())
        .args([USE1_A, "--min-valid", "1h"])
        .run()
        .expect_code(0);
    assert_eq!(proxy.total_calls(), 2, "refreshed, not skipped");
}

#[test]
fn a_fifo_in_place_of_the_state_file_is_refused_not_waited_on() {
    let moto = moto();
    let mut run = Run::new(&moto.url()).args([USE1_A, "--timeout", "20s"]);
    let state = run.home.path().join(".local/state/ecr-login/state.json");
    fs::create_dir_all(state.parent().unwrap()).unwrap();
    make_fifo(&state);
    // The login is delivered; the state cannot be recorded (a warning), and nothing blocks.
    let done = run.run();
    done.expect_code(0)
        .expect_stderr_contains("is not a regular file");
    assert!(done.elapsed < Duration::from_secs(10), "{:?}", done.elapsed);
    let done = run.again(&moto.url()).args(["status"]).run();
    done.expect_code(73)
        .expect_stderr_contains("is not a regular file");
    assert!(done.elapsed < Duration::from_secs(10), "{:?}", done.elapsed);
}
