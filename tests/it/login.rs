//! The built binary against a real moto_server on loopback: logins, merges, call counts and
//! every exit code.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::*;

#[test]
fn logs_in_to_registries_across_accounts_and_regions_with_one_call_per_region() {
    let moto = moto();
    let proxy = CountingProxy::start(&moto.url(), Duration::ZERO);
    let mut run = Run::new(&proxy.url()).args([
        USE1_A,
        USE1_B,
        EUW1_A,
        "https://444455556666.dkr.ecr.eu-west-1.amazonaws.com/team/app",
    ]);
    let done = run.run();
    done.expect_code(0);

    let calls = proxy.calls();
    assert_eq!(calls.get("us-east-1"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("eu-west-1"), Some(&1), "{calls:?}");
    assert_eq!(calls.values().sum::<usize>(), 2, "{calls:?}");

    for (host, region) in [
        (USE1_A, "us-east-1"),
        (USE1_B, "us-east-1"),
        (EUW1_A, "eu-west-1"),
        (EUW1_B, "eu-west-1"),
    ] {
        let expected = format!("AWS:{}", moto_password(&moto.url(), region));
        assert_eq!(
            auth_of(&run.config_json(), host).as_deref(),
            Some(expected.as_str()),
            "{host}"
        );
    }
    let mode = fs::metadata(run.config_json())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = fs::metadata(run.docker_dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    done.expect_stderr_contains("logged in to 4 of 4 registries");
}

#[test]
fn n_registries_in_r_regions_make_r_calls() {
    let moto = moto();
    let proxy = CountingProxy::start(&moto.url(), Duration::ZERO);
    let regions = [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-2",
    ];
    let registries: Vec<String> = (0..10)
        .flat_map(|account| {
            regions.iter().map(move |r| {
                format!(
                    "{:012}.dkr.ecr.{r}.amazonaws.com",
                    100_000_000_000u64 + account
                )
            })
        })
        .collect();
    assert_eq!(registries.len(), 50);
    Run::new(&proxy.url())
        .args(&registries)
        .run()
        .expect_code(0);
    let calls = proxy.calls();
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert!(calls.values().all(|&n| n == 1), "{calls:?}");
}

#[test]
fn fips_and_dual_stack_registries_are_their_own_groups() {
    let proxy = CountingProxy::start(&moto().url(), Duration::ZERO);
    let mut run = Run::new(&proxy.url()).args([
        USE1_A,
        "111122223333.dkr.ecr-fips.us-east-1.amazonaws.com",
        "111122223333.dkr-ecr.us-east-1.on.aws",
    ]);
    run.run().expect_code(0);
    assert_eq!(proxy.calls().get("us-east-1"), Some(&3));
    assert!(auth_of(&run.config_json(), "111122223333.dkr-ecr.us-east-1.on.aws").is_some());
}

#[test]
fn bare_accounts_use_the_configured_region() {
    let moto = moto();
    let mut run = Run::new(&moto.url())
        .args(["111122223333", "444455556666"])
        .env("AWS_REGION", "eu-west-1");
    run.run().expect_code(0);
    assert!(auth_of(&run.config_json(), EUW1_A).is_some());
    assert!(auth_of(&run.config_json(), EUW1_B).is_some());

    // The flag wins over the environment.
    let mut run = Run::new(&moto.url())
        .args(["111122223333", "--region", "us-east-1"])
        .env("AWS_REGION", "eu-west-1");
    run.run().expect_code(0);
    assert!(auth_of(&run.config_json(), USE1_A).is_some());
    assert!(auth_of(&run.config_json(), EUW1_A).is_none());
}

#[test]
fn region_comes_from_the_aws_profile() {
    let moto = moto();
    let dir = tempfile::tempdir().unwrap();
    let aws_config = dir.path().join("config");
    fs::write(&aws_config, "[profile ci]\nregion = ap-southeast-2\n").unwrap();
    let mut run = Run::new(&moto.url())
        .args(["111122223333", "--profile", "ci"])
        .env("AWS_CONFIG_FILE", &aws_config);
    run.run().expect_code(0);
    assert!(
        auth_of(
            &run.config_json(),
            "111122223333.dkr.ecr.ap-southeast-2.amazonaws.com"
        )
        .is_some()
    );
}

#[test]
fn settings_precedence_is_file_then_env_then_flags() {
    let moto = moto();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    fs::write(
        &file,
        format!("registries = [\"{USE1_A}\"]\nregion = \"us-west-2\"\n"),
    )
    .unwrap();

    // File alone.
    let mut run = Run::new(&moto.url()).args(["--config".as_ref(), file.as_os_str()]);
    run.run().expect_code(0);
    assert!(auth_of(&run.config_json(), USE1_A).is_some());

    // Env beats file: a comma-and-space list.
    let mut run = Run::new(&moto.url())
        .args(["--config".as_ref(), file.as_os_str()])
        .env("ECR_LOGIN_REGISTRIES", format!("{EUW1_A}, 444455556666"));
    run.run().expect_code(0);
    assert!(auth_of(&run.config_json(), USE1_A).is_none());
    assert!(auth_of(&run.config_json(), EUW1_A).is_some());
    assert!(
        auth_of(
            &run.config_json(),
            "444455556666.dkr.ecr.us-west-2.amazonaws.com"
        )
        .is_some()
    );

    // Flags beat env.
    let mut run = Run::new(&moto.url())
        .args([
            "--config".as_ref(),
            file.as_os_str(),
            "login".as_ref(),
            "444455556666".as_ref(),
            "--region".as_ref(),
            "eu-west-1".as_ref(),
        ])
        .env("ECR_LOGIN_REGISTRIES", EUW1_A)
        .env("ECR_LOGIN_REGION", "us-east-1");
    run.run().expect_code(0);
    assert!(auth_of(&run.config_json(), EUW1_B).is_some());
    assert!(auth_of(&run.config_json(), EUW1_A).is_none());
}

#[test]
fn existing_config_keeps_every_other_key_entry_and_order() {
    let moto = moto();
    let mut run = Run::new(&moto.url()).args([USE1_A]);
    fs::create_dir_all(run.docker_dir()).unwrap();
    let original = r#"{
	"auths": {
		"registry.example.com": {"auth": "dXNlcjpwYXNz"},
		"111122223333.dkr.ecr.us-east-1.amazonaws.com": {"auth": "QVdTOm9sZA==", "identitytoken": "stale"},
		"https://index.docker.io/v1/": {"auth": "ZG9ja2VyOmh1Yg=="}
	},
	"credHelpers": {"gcr.io": "gcloud", "999999999999.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"},
	"HttpHeaders": {"User-Agent": "ci"},
	"psFormat": "table {{.ID}}\t{{.Names}}",
	"plugins": {"x": {"enabled": true, "weight": 0.50}}
}"#;
    fs::write(run.config_json(), original).unwrap();
    run.run().expect_code(0);

    let after: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.config_json()).unwrap()).unwrap();
    let before: serde_json::Value = serde_json::from_str(original).unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&after), keys(&before));
    assert_eq!(keys(&after["auths"]), keys(&before["auths"]));
    for key in ["credHelpers", "HttpHeaders", "psFormat", "plugins"] {
        assert_eq!(after[key], before[key], "{key}");
    }
    assert_eq!(
        after["auths"]["registry.example.com"],
        before["auths"]["registry.example.com"]
    );
    assert_eq!(
        after["auths"]["https://index.docker.io/v1/"],
        before["auths"]["https://index.docker.io/v1/"]
    );
    let entry = after["auths"][USE1_A].as_object().unwrap();
    assert_eq!(
        entry.keys().collect::<Vec<_>>(),
        ["auth"],
        "stale identitytoken must go"
    );
    let expected = format!("AWS:{}", moto_password(&moto.url(), "us-east-1"));
    assert_eq!(auth_of(&run.config_json(), USE1_A).unwrap(), expected);
    assert!(
        fs::read_to_string(run.config_json())
            .unwrap()
            .contains("0.50")
    );
}

#[test]
fn dry_run_fetches_but_writes_nothing() {
    let proxy = CountingProxy::start(&moto().url(), Duration::ZERO);
    let mut run = Run::new(&proxy.url()).args([USE1_A, "--dry-run"]);
    let done = run.run();
    done.expect_code(0);
    assert!(!run.docker_dir().exists());
    assert_eq!(proxy.calls().get("us-east-1"), Some(&1));
    done.expect_stderr_contains("would log in");
}

#[test]
fn exit_64_for_a_bad_registry_but_the_good_ones_are_written() {
    let mut run = Run::new(&moto().url()).args([USE1_A, "x.public.ecr.aws", "docker.io/library/x"]);
    let done = run.run();
    done.expect_code(64);
    done.expect_stderr_contains("ECR Public's registry is public.ecr.aws");
    done.expect_stderr_contains("accepted forms");
    assert!(auth_of(&run.config_json(), USE1_A).is_some());
}

#[test]
fn exit_64_for_bad_flags_and_missing_registries() {
    Run::new(&moto().url())
        .args(["--no-such-flag"])
        .run()
        .expect_code(64);
    Run::new(&moto().url())
        .args([USE1_A, "--method", "carrier-pigeon"])
        .run()
        .expect_code(64);
    Run::new(&moto().url())
        .args([USE1_A, "--timeout", "soon"])
        .run()
        .expect_code(64);
    let done = Run::new(&moto().url()).run();
    done.expect_code(64);
    done.expect_stderr_contains("no registries given");
}

#[test]
fn exit_65_for_malformed_docker_config_left_untouched() {
    let mut run = Run::new(&moto().url()).args([USE1_A]);
    fs::create_dir_all(run.docker_dir()).unwrap();
    let broken = b"{\"auths\": {\"x\": {\"auth\": \"abc\"}},, }";
    fs::write(run.config_json(), broken).unwrap();
    let done = run.run();
    done.expect_code(65);
    done.expect_stderr_contains("not valid JSON");
    assert_eq!(fs::read(run.config_json()).unwrap(), broken);
}

#[test]
fn exit_69_when_docker_or_a_credential_helper_is_missing() {
    let done = Run::new(&moto().url())
        .args([
            USE1_A,
            "--method",
            "docker",
            "--docker-bin",
            "/nonexistent/docker",
        ])
        .run();
    done.expect_code(69);
    done.expect_stderr_contains("not found");

    let mut run = Run::new(&moto().url()).args([USE1_A]);
    fs::create_dir_all(run.docker_dir()).unwrap();
    let original = r#"{"credsStore": "no-such-store-xyz"}"#;
    fs::write(run.config_json(), original).unwrap();
    let done = run.run();
    done.expect_code(69);
    done.expect_stderr_contains("docker-credential-no-such-store-xyz");
    assert_eq!(fs::read_to_string(run.config_json()).unwrap(), original);
}

#[test]
fn exit_70_for_a_bug() {
    // Debug builds carry a switch that panics mid-run, to prove a bug exits 70, not 101.
    let done = Run::new(&moto().url())
        .args([USE1_A])
        .env("ECR_LOGIN_DEBUG_PANIC", "1")
        .run();
    done.expect_code(70);
    done.expect_stderr_contains("internal error");
}

#[test]
fn exit_73_when_the_target_cannot_be_written() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let under_a_file = file.path().join("docker");
    let done = Run::new(&moto().url())
        .args([
            USE1_A.as_ref(),
            "--docker-config".as_ref(),
            under_a_file.as_os_str(),
        ])
        .run();
    done.expect_code(73);
    done.expect_stderr_contains("creating directory");

    // config.json is a directory: nothing to merge into, nothing touched.
    let mut run = Run::new(&moto().url()).args([USE1_A]);
    fs::create_dir_all(run.config_json()).unwrap();
    run.run().expect_code(73);
    assert!(run.config_json().is_dir());
}

#[test]
fn exit_75_when_the_endpoint_is_unreachable() {
    let done = Run::new(&format!("http://127.0.0.1:{}", free_port()))
        .args([USE1_A])
        .run();
    done.expect_code(75);
    done.expect_stderr_contains("Connection refused");
}

#[test]
fn exit_75_at_the_deadline_when_the_endpoint_never_answers() {
    let _alone = exclusive();
    let port = silent_server();
    let done = Run::new(&format!("http://127.0.0.1:{port}"))
        .args([USE1_A, "--timeout", "2s"])
        .run();
    done.expect_code(75);
    assert!(
        done.elapsed < Duration::from_secs(4),
        "took {:?}",
        done.elapsed
    );
    assert!(
        done.elapsed >= Duration::from_secs(2),
        "took {:?}",
        done.elapsed
    );
}

#[test]
fn exit_76_for_a_malformed_token() {
    let port = canned_server(
        200,
        r#"{"authorizationData":[{"authorizationToken":"bm8tY29sb24taGVyZQ==","expiresAt":1.7E9}]}"#,
    );
    let done = Run::new(&format!("http://127.0.0.1:{port}"))
        .args([USE1_A])
        .run();
    done.expect_code(76);
    done.expect_stderr_contains("malformed authorization token");
    assert!(
        !done.stderr().contains("bm8tY29sb24taGVyZQ"),
        "{}",
        done.stderr()
    );
}

#[test]
fn exit_77_without_credentials() {
    let done = Run::new(&moto().url())
        .args([USE1_A])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .run();
    done.expect_code(77);
    done.expect_stderr_contains("no providers in chain provided credentials");
}

#[test]
fn exit_77_with_the_service_message_when_ecr_denies() {
    // moto checks signatures and IAM users once this many unauthenticated calls are spent.
    let moto = start_moto("INITIAL_NO_AUTH_ACTION_COUNT=0");
    let done = Run::new(&moto.url()).args([USE1_A]).run();
    done.expect_code(77);
    // Real ECR says UnrecognizedClientException in JSON; moto answers in XML with the IAM code.
    done.expect_stderr_contains("InvalidClientTokenId");
    done.expect_stderr_contains("security token included in the request is invalid");
}

#[test]
fn exit_78_without_a_region_within_the_bound() {
    let _alone = exclusive();
    // Instance metadata enabled but answering nothing, as off AWS behind a blackhole.
    let port = silent_server();
    let done = Run::new(&moto().url())
        .args(["111122223333"])
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .run();
    done.expect_code(78);
    assert!(
        done.elapsed <= Duration::from_millis(1500),
        "took {:?}",
        done.elapsed
    );
    done.expect_stderr_contains("--region");
    done.expect_stderr_contains("AWS_REGION");
}

#[test]
fn exit_78_for_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    fs::write(&file, "registries = \"not-a-list\"\n").unwrap();
    let done = Run::new(&moto().url())
        .args(["--config".as_ref(), file.as_os_str()])
        .run();
    done.expect_code(78);
    done.expect_stderr_contains("line 1");
    assert_eq!(
        done.stderr().lines().count(),
        1,
        "one line: {}",
        done.stderr()
    );

    Run::new(&moto().url())
        .args(["--config", "/nonexistent/config.toml", USE1_A])
        .run()
        .expect_code(78);

    for bad in ["0", "-1", "lots"] {
        let done = Run::new(&moto().url())
            .args([USE1_A])
            .env("AWS_MAX_ATTEMPTS", bad)
            .run();
        done.expect_code(78);
        done.expect_stderr_contains("AWS_MAX_ATTEMPTS");
    }
}

#[test]
fn partial_failure_writes_successes_and_exits_with_the_worst_code() {
    let mut run = Run::new(&moto().url()).args([USE1_A, "111122223333"]);
    let done = run.run();
    done.expect_code(78);
    assert!(auth_of(&run.config_json(), USE1_A).is_some());
}

#[test]
fn quiet_prints_nothing_on_success_and_verbose_more() {
    let done = Run::new(&moto().url()).args([USE1_A, "-qq"]).run();
    done.expect_code(0);
    assert_eq!(done.stderr(), "");
    let done = Run::new(&moto().url())
        .args([USE1_A])
        .env("ECR_LOGIN_VERBOSE", "1")
        .run();
    done.expect_code(0);
    done.expect_stderr_contains("group(s) by endpoint and credentials");
}

#[test]
fn the_token_never_reaches_stdout_or_stderr_at_any_verbosity() {
    let moto = moto();
    let password = moto_password(&moto.url(), "us-east-1");
    let token = token_of(&password);
    for flags in [&["-vvv"][..], &[], &["--dry-run", "-vvv"]] {
        let mut run = Run::new(&moto.url()).args([USE1_A, EUW1_B]).args(flags);
        let done = run.run();
        done.expect_code(0);
        assert!(done.stderr().contains("logged in") || done.stderr().contains("would log in"));
        for secret in [&password, &token] {
            assert!(
                !done.stderr().contains(secret.as_str()),
                "{flags:?}: {}",
                done.stderr()
            );
            assert!(
                !done.stdout().contains(secret.as_str()),
                "{flags:?}: {}",
                done.stdout()
            );
        }
    }
    // A failing run prints the chain of errors; still no token.
    let mut run = Run::new(&moto.url()).args([USE1_A, "-vvv"]);
    fs::create_dir_all(run.config_json()).unwrap();
    let done = run.run();
    done.expect_code(73);
    assert!(!done.stderr().contains(&password) && !done.stderr().contains(&token));
}

#[test]
fn http_proxy_and_no_proxy_from_the_environment_are_honoured() {
    let proxy = CountingProxy::start(&moto().url(), Duration::ZERO);
    // Nothing listens at the endpoint itself: only the proxy can answer.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut run = Run::new(&closed)
        .args([USE1_A])
        .env("HTTP_PROXY", proxy.url());
    run.run().expect_code(0);
    assert_eq!(proxy.calls().get("us-east-1"), Some(&1));

    let done = Run::new(&closed)
        .args([USE1_A])
        .env("HTTP_PROXY", proxy.url())
        .env("NO_PROXY", "127.0.0.1")
        .run();
    done.expect_code(75);
    assert_eq!(
        proxy.calls().get("us-east-1"),
        Some(&1),
        "NO_PROXY must bypass the proxy"
    );
}

#[test]
fn regions_are_called_concurrently() {
    // Each call takes a second at the proxy: four regions one after another would take 4 s.
    // Its own moto, and never beside the 20-process test: the bound is about us, not load.
    let _alone = exclusive();
    let moto = start_moto("");
    let proxy = CountingProxy::start(&moto.url(), Duration::from_secs(1));
    let registries = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"]
        .map(|r| format!("111122223333.dkr.ecr.{r}.amazonaws.com"));
    let done = Run::new(&proxy.url()).args(&registries).run();
    done.expect_code(0);
    assert_eq!(proxy.calls().values().sum::<usize>(), 4);
    assert!(
        done.elapsed < Duration::from_millis(2500),
        "took {:?}: calls ran one after another",
        done.elapsed
    );
}

#[test]
fn concurrent_runs_on_one_config_lose_nothing() {
    // The lock makes each read-modify-write whole: 20 runs, 20 registries, all kept.
    let _alone = exclusive();
    let moto = moto();
    let first = Run::new(&moto.url());
    let dir = first.docker_dir();
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("config.json"),
        r#"{"auths": {"keep.example": {"auth": "a2VlcDptZQ=="}}}"#,
    )
    .unwrap();
    let hosts: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "{:012}.dkr.ecr.us-east-1.amazonaws.com",
                200_000_000_000u64 + i
            )
        })
        .collect();
    // A reader polling all the while must never see a torn or empty file.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, path) = (stop.clone(), dir.join("config.json"));
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let bytes = fs::read(&path).unwrap();
                let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    panic!("torn read ({e}): {}", String::from_utf8_lossy(&bytes))
                });
                assert!(value["auths"]["keep.example"].is_object());
                reads += 1;
            }
            reads
        })
    };
    let children: Vec<_> = hosts
        .iter()
        .map(|host| {
            let mut run = Run::new(&moto.url())
                .args([host.as_str(), "-qq"])
                .env("DOCKER_CONFIG", &dir);
            run.command().spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let reads = reader.join().expect("no torn read");
    assert!(reads > 100, "the reader only read {reads} times");
    eprintln!("{reads} reads during 20 concurrent runs, all valid JSON");
    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let auths = config["auths"].as_object().unwrap();
    for host in &hosts {
        assert!(auths.contains_key(host), "{host} lost: {config}");
    }
    assert_eq!(auths["keep.example"]["auth"], "a2VlcDptZQ==");
    assert_eq!(auths.len(), 21);
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn sigkill_at_any_moment_leaves_old_or_new_config_and_no_stale_temp_files() {
    // Runs killed at pseudo-random moments (fixed seed); each adds one registry. After every
    // kill config.json is valid JSON and byte-equal to the old or the new content; a temp file
    // a kill left behind is cleaned by the next run. ECR_LOGIN_KILL_RUNS raises the count.
    let _alone = exclusive();
    let moto = moto();
    let runs: u64 = std::env::var("ECR_LOGIN_KILL_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(150);
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".docker");
    fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    fs::write(&config, "{\"auths\": {}, \"psFormat\": \"table\"}").unwrap();
    let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
    let (mut killed_before, mut killed_after, mut finished, mut temps_left) = (0, 0, 0, 0);
    for i in 0..runs {
        // A debug run takes about 100 ms: kill anywhere from start-up to just after the end.
        let delay = Duration::from_micros(rng.u64(..130_000));
        let host = format!(
            "{:012}.dkr.ecr.us-east-1.amazonaws.com",
            300_000_000_000u64 + i
        );
        let old = fs::read(&config).unwrap();
        let mut run = Run::new(&moto.url())
            .args([host.as_str(), "-qq"])
            .env("DOCKER_CONFIG", &dir);
        let mut child = run.command().spawn().unwrap();
        std::thread::sleep(delay);
        let exited = child.try_wait().unwrap().is_some();
        if !exited {
            child.kill().unwrap();
        }
        child.wait().unwrap();

        let now = fs::read(&config).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&now)
            .unwrap_or_else(|e| panic!("run {i}: torn config.json: {e}"));
        let has_new = value["auths"].get(&host).is_some();
        if now == old {
            assert!(!has_new);
        } else {
            let mut expected: serde_json::Value = serde_json::from_slice(&old).unwrap();
            expected["auths"][&host] = value["auths"][&host].clone();
            assert!(
                has_new && value == expected,
                "run {i}: neither old nor new content"
            );
        }
        match (exited, has_new) {
            (true, _) => finished += 1,
            (false, false) => killed_before += 1,
            (false, true) => killed_after += 1,
        }
        let temps = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert!(temps <= 1, "run {i}: {temps} temp files");
        temps_left += temps;
    }
    // The next run cleans what the last kill may have left.
    Run::new(&moto.url())
        .args([USE1_A, "-qq"])
        .env("DOCKER_CONFIG", &dir)
        .run()
        .expect_code(0);
    let temps = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(temps, 0);
    println!(
        "{runs} runs: {killed_before} killed before writing, {killed_after} killed after, \
         {finished} finished; {temps_left} left a temp file that the next run removed"
    );
    assert!(
        killed_before > 0 && killed_after + finished > 0,
        "the delays missed the run's lifetime"
    );
}

#[test]
fn timing_log_at_vv_names_each_step_in_order() {
    let moto = moto();
    let mut run = Run::new(&moto.url()).args(["-vv", USE1_A, EUW1_A]);
    let done = run.run();
    done.expect_code(0);
    let steps: Vec<(String, f64)> = done
        .stderr()
        .lines()
        .filter_map(|l| l.strip_prefix("ecr-login: timing: "))
        .map(|l| {
            let (step, ms) = l.rsplit_once(" at ").unwrap();
            let ms = ms.strip_suffix(" ms").unwrap().parse().unwrap();
            (step.to_string(), ms)
        })
        .collect();
    let names: Vec<&str> = steps.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        &names[..2],
        ["settings read", "AWS config loaded"],
        "{names:?}"
    );
    let mut answered = names[2..4].to_vec();
    answered.sort();
    assert_eq!(
        answered,
        ["ECR answered for eu-west-1", "ECR answered for us-east-1"]
    );
    let delivered = format!("delivered to config {}", run.config_json().display());
    assert_eq!(
        &names[4..],
        [delivered.as_str(), "state recorded", "done"],
        "{names:?}"
    );
    assert!(
        steps.windows(2).all(|w| w[0].1 <= w[1].1),
        "times go backwards: {steps:?}"
    );
    // Not at -v: it is a developer's view.
    let done = Run::new(&moto.url()).args(["-v", USE1_A]).run();
    assert!(!done.stderr().contains("timing:"), "{}", done.stderr());
}

/// Where the input or the environment is at fault, the exit code says so (78 for settings,
/// 76 for an answer, 73 for an undeliverable manifest, 64 for a command line), never 70.
#[test]
fn bad_settings_and_environments_have_their_own_codes_not_70() {
    let moto = moto();
    let cases: &[(&str, &str, &str)] = &[
        ("AWS_ENDPOINT_URL", "not a url", "invalid AWS_ENDPOINT_URL"),
        (
            "AWS_ENDPOINT_URL",
            "ftp://127.0.0.1:1",
            "invalid AWS_ENDPOINT_URL",
        ),
        ("AWS_ENDPOINT_URL_ECR", "::", "invalid AWS_ENDPOINT_URL_ECR"),
        ("AWS_MAX_ATTEMPTS", " 3", "invalid AWS_MAX_ATTEMPTS \" 3\""),
        ("AWS_MAX_ATTEMPTS", "", "invalid AWS_MAX_ATTEMPTS"),
        (
            "AWS_RETRY_MODE",
            "bogus",
            "invalid AWS_RETRY_MODE \"bogus\"",
        ),
    ];
    for (name, value, says) in cases {
        Run::new(&moto.url())
            .env(name, value)
            .args([USE1_A])
            .run()
            .expect_code(78)
            .expect_stderr_contains(says);
    }
    // The same typos in the AWS profile.
    for (line, says) in [
        (
            "max_attempts = x",
            "invalid max_attempts \"x\" in the AWS profile",
        ),
        (
            "retry_mode = bogus",
            "invalid retry_mode \"bogus\" in the AWS profile",
        ),
    ] {
        let run = Run::new(&moto.url());
        let profile = run.home.path().join("aws-config");
        fs::write(&profile, format!("[default]\n{line}\n")).unwrap();
        run.again(&moto.url())
            .env("AWS_CONFIG_FILE", &profile)
            .args([USE1_A])
            .run()
            .expect_code(78)
            .expect_stderr_contains(says);
    }
    // No CA certificates at all, even for an http:// endpoint.
    let empty = tempfile::NamedTempFile::new().unwrap();
    Run::new(&moto.url())
        .env("SSL_CERT_FILE", empty.path())
        .args([USE1_A])
        .run()
        .expect_code(78)
        .expect_stderr_contains("no CA certificates found");

    // An expiry no calendar can write.
    for expires in ["-1.0E11", "1.0E15"] {
        let body = format!(
            r#"{{"authorizationData":[{{"authorizationToken":"QVdTOnB3","expiresAt":{expires}}}]}}"#
        );
        let port = canned_server(200, Box::leak(body.into_boxed_str()));
        Run::new(&format!("http://127.0.0.1:{port}"))
            .args([USE1_A])
            .run()
            .expect_code(76)
            .expect_stderr_contains("expiry outside 1970-9999");
    }

    // Readers that went away: `status | head -0` is fine (0); a manifest nobody received
    // was not delivered (73).
    let run = Run::new(&moto.url());
    run.again(&moto.url())
        .args([USE1_A, EUW1_A])
        .run()
        .expect_code(0);
    run.again(&moto.url())
        .args(["status"])
        .stdout_closed()
        .run()
        .expect_code(0);
    run.again(&moto.url())
        .args([USE1_A, "--method", "kube-secret", "--kube-secret", "ci/ecr"])
        .stdout_closed()
        .run()
        .expect_code(73)
        .expect_stderr_contains("writing the Secret manifest to stdout");

    // Command-line values no clock or file name can hold.
    use std::os::unix::ffi::OsStrExt;
    let not_utf8 = std::ffi::OsStr::from_bytes(b"/tmp/docker-\xff");
    Run::new(&moto.url())
        .args([USE1_A.as_ref(), "--docker-config".as_ref(), not_utf8])
        .run()
        .expect_code(64)
        .expect_stderr_contains("not valid UTF-8");
    Run::new(&moto.url())
        .env("DOCKER_CONFIG", not_utf8)
        .args([USE1_A])
        .run()
        .expect_code(64)
        .expect_stderr_contains("not valid UTF-8");
    assert!(!std::path::Path::new(not_utf8).exists());
    for timeout in ["18446744073709551615", "600000000000s"] {
        Run::new(&moto.url())
            .args([USE1_A, "--timeout", timeout])
            .run()
            .expect_code(64)
            .expect_stderr_contains("invalid timeout");
    }
}

/// A bad value inside the settings file is a CONFIG error (78), named with its line; the
/// same value on the command line is USAGE (64).
#[test]
fn bad_values_in_the_settings_file_are_78() {
    let moto = moto();
    for (text, says) in [
        (
            "registries = [\"x\"]\ntimeout = \"soon\"\n",
            "invalid timeout \"soon\"",
        ),
        (
            "registries = [\"x\"]\nmin_valid = \"later\"\n",
            "invalid min-valid",
        ),
        (
            "registries = [\"111122223333\"]\nregion = \"nowhere\"\n",
            "invalid region",
        ),
        (
            "registries = [\"x\"]\nmethod = \"kube-secret\"\nkube_secret = \"CI/x\"\n",
            "invalid kube-secret",
        ),
        (
            "registries = [\"docker.io/library/x\"]\n",
            "invalid registry",
        ),
        (
            "registries = [\n  { registry = \"111122223333\", rolearn = \"x\" },\n]\n",
            "unknown field `rolearn`",
        ),
    ] {
        Run::new(&moto.url())
            .with_config(text)
            .run()
            .expect_code(78)
            .expect_stderr_contains(says);
    }
    Run::new(&moto.url())
        .args(["docker.io/library/x"])
        .run()
        .expect_code(64);
}

/// Which user ecr-login runs as, and that user's home, come from the kernel and the system's
/// user database (NSS: LDAP, SSSD), not from /proc or a parse of /etc/passwd. Run as nobody,
/// with /proc hidden and a user database of the test's own (nss_wrapper).
#[test]
fn the_user_and_home_come_from_the_system_not_from_proc_or_etc_passwd() {
    require_root("hiding /proc in a mount namespace and running as nobody");
    require("unshare");
    require("setpriv");
    let wrapper = [
        "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
        "/usr/lib64/libnss_wrapper.so",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("libnss_wrapper.so is not installed: run scripts/test (apt libnss-wrapper)");
    let moto = moto();
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("home-from-the-directory");
    fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
    let passwd = dir.path().join("passwd");
    let group = dir.path().join("group");
    fs::write(
        &passwd,
        format!(
            "nobody:x:65534:65534:nobody:{}:/bin/false\n",
            home.display()
        ),
    )
    .unwrap();
    fs::write(&group, "nogroup:x:65534:\n").unwrap();
    let script = format!(
        "set -e; mount -t tmpfs none /proc
         exec setpriv --reuid=65534 --regid=65534 --clear-groups \
           env -u HOME -u DOCKER_CONFIG -u XDG_STATE_HOME PATH=/nonexistent \
           LD_PRELOAD={wrapper} NSS_WRAPPER_PASSWD={passwd} NSS_WRAPPER_GROUP={group} \
           \"$ECR_LOGIN\" {USE1_A}",
        passwd = passwd.display(),
        group = group.display(),
    );
    let wrapped = format!(
        "exec unshare --mount --fork --propagation private sh -c '{}'",
        script.replace('\'', "'\\''")
    );
    Run::via_sh(&moto.url(), &wrapped).run().expect_code(0);
    // The home the user database gave: docker config and state (not root's).
    assert!(auth_of(&home.join(".docker/config.json"), USE1_A).is_some());
    assert!(home.join(".local/state/ecr-login/state.json").is_file());
}

#[test]
fn the_credential_helpers_hostnames_are_accepted() {
    let proxy = CountingProxy::start(&moto().url(), Duration::ZERO);
    let mut run = Run::new(&proxy.url()).args([
        "111122223333.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn",
        "111122223333.dkr-ecr.cn-north-1.amazonaws.com.cn",
        "111122223333.dkr.ecr.us-east-1.on.aws",
    ]);
    run.run().expect_code(0);
    for host in [
        "111122223333.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn",
        "111122223333.dkr-ecr.cn-north-1.amazonaws.com.cn",
        "111122223333.dkr.ecr.us-east-1.on.aws",
    ] {
        assert!(auth_of(&run.config_json(), host).is_some(), "{host}");
    }
    // Dual-stack and standard names are their own endpoint flavours.
    assert_eq!(proxy.calls().get("cn-north-1"), Some(&2));
    assert_eq!(proxy.calls().get("us-east-1"), Some(&1));
}
