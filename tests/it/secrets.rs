//! Secret hygiene across every sink and command: the token never appears in any process's
//! argv, in output at any verbosity, in a panic message, or in a file that is not 0600; and
//! temp files are born 0600 with O_CREAT|O_EXCL (checked with strace, not trusted).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::*;

/// Every process's argv, polled until stopped; returns how many argvs it read.
fn scan_argvs(secrets: Vec<String>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut seen = 0;
        while !stop.load(Ordering::SeqCst) {
            for entry in fs::read_dir("/proc").unwrap().flatten() {
                if let Ok(argv) = fs::read(entry.path().join("cmdline")) {
                    let text = String::from_utf8_lossy(&argv).replace('\0', " ");
                    for secret in &secrets {
                        assert!(!text.contains(secret.as_str()), "token in argv: {text}");
                    }
                    seen += 1;
                }
            }
        }
        seen
    })
}

fn secrets_of(password: &str) -> Vec<String> {
    vec![password.to_string(), token_of(password)]
}

#[test]
fn no_token_in_argv_output_or_readable_files_for_any_sink_or_command() {
    let _exclusive = exclusive();
    let moto = moto();
    let password = moto_password(&moto.url(), "us-east-1");
    let secrets = secrets_of(&password);
    let run = Run::new(&moto.url());
    let home = run.home.path().to_path_buf();
    // A credential helper of the tests' own for one host, so a helper's argv is scanned too.
    let bin = home.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-keep");
    let store = home.join("helper-got");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n\
             store) /bin/cat > {s} ;;\n\
             get) /bin/cat >/dev/null; [ -f {s} ] && exec /bin/cat {s}; \
             echo 'credentials not found in native keychain'; exit 1 ;;\n\
             erase) /bin/cat >/dev/null; /bin/rm -f {s} ;;\n\
             esac\n",
            s = store.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(run.docker_dir()).unwrap();
    let helped = "444455556666.dkr.ecr.us-east-1.amazonaws.com";
    fs::write(
        run.config_json(),
        format!(r#"{{"credHelpers": {{"{helped}": "keep"}}}}"#),
    )
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let scanner = scan_argvs(secrets.clone(), stop.clone());
    let mut outputs = Vec::new();
    // Every file sink at once, plus the credential helper's host.
    let all_sinks = |registries: &[&str]| {
        run.again(&moto.url())
            .args(registries)
            .every_file_sink(&home)
    };
    for verbosity in ["-qq", "-v", "-vv", "-vvv"] {
        let done = all_sinks(&[USE1_A, helped, verbosity]).run();
        done.expect_code(0);
        outputs.push(done);
    }
    // The helper got it, on stdin.
    assert!(fs::read_to_string(&store).unwrap().contains(&password));
    // moto's tokens expired in 2015: status finds them stale (1); logout removes them (0).
    for (command, code) in [
        (vec!["status", "-vvv"], 1),
        (vec!["status", "--json", "-vvv"], 1),
        (vec!["logout", "-vvv"], 0),
    ] {
        let done = run.again(&moto.url()).args(command).run();
        done.expect_code(code);
        outputs.push(done);
    }
    // A bug after the tokens were fetched: the panic message must not carry one either.
    let done = run
        .again(&moto.url())
        .args([USE1_A, "-vvv"])
        .env("ECR_LOGIN_DEBUG_PANIC", "1")
        .run();
    done.expect_code(70);
    outputs.push(done);
    stop.store(true, Ordering::SeqCst);
    let argvs = scanner.join().expect("no token in any argv");
    assert!(argvs > 1000, "the scanner read only {argvs} argvs");

    for done in &outputs {
        for secret in &secrets {
            assert!(!done.stdout().contains(secret.as_str()), "token on stdout");
            assert!(
                !done.stderr().contains(secret.as_str()),
                "token on stderr:\n{}",
                done.stderr()
            );
        }
    }
    assert!(!store.exists(), "logout erased it from the helper");

    // Log in again (logout removed it all), then every file holding the token must be 0600.
    all_sinks(&[USE1_A]).run().expect_code(0);
    let mut holders = Vec::new();
    walk(&home, &mut |path| {
        if path == store {
            return; // the test helper's own storage
        }
        let bytes = fs::read(path).unwrap();
        let text = if path.extension().is_some_and(|e| e == "gz") {
            gunzip(&bytes)
        } else {
            bytes
        };
        let text = String::from_utf8_lossy(&text);
        let inner = text.contains("\".dockerconfigjson\"").then(|| {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            String::from_utf8(b64_decode(v["data"][".dockerconfigjson"].as_str().unwrap())).unwrap()
        });
        if secrets.iter().any(|s| {
            text.contains(s.as_str()) || inner.as_ref().is_some_and(|i| i.contains(s.as_str()))
        }) {
            let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode,
                0o600,
                "{} holds the token with mode {mode:o}",
                path.display()
            );
            holders.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    });
    holders.sort();
    assert_eq!(
        holders,
        ["auth.json", "config.json", "docker.tar.gz", "secret.json"],
        "the files that hold the token"
    );
}

fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path: PathBuf = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            walk(&path, visit);
        } else if kind.is_file() {
            visit(&path);
        }
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap_or_default();
    out
}

/// strace shows how the temp file is opened: 0600 with O_CREAT|O_EXCL from the first
/// syscall (O_EXCL also refuses a planted symlink), in the target directory, and never
/// chmod'ed afterwards.
#[test]
fn temp_files_are_born_private_and_exclusive() {
    let strace = require("strace");
    let moto = moto();
    let run = Run::new(&moto.url());
    let log = run.home.path().join("strace.log");
    let mut traced = Run::via_sh(
        &moto.url(),
        &format!(
            "PATH=\"$HOME/bin\" exec {} -f -qq -o {} -e trace=openat,open,creat,chmod,fchmod,fchmodat \"$ECR_LOGIN\" {USE1_A}",
            strace.display(),
            log.display()
        ),
    );
    traced.run().expect_code(0);
    let trace = fs::read_to_string(&log).unwrap();
    let temp_opens: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("openat") && l.contains("/.config.json.") && l.contains(".tmp"))
        .collect();
    assert_eq!(temp_opens.len(), 1, "{trace}");
    let open = temp_opens[0];
    assert!(
        open.contains("O_CREAT") && open.contains("O_EXCL"),
        "{open}"
    );
    assert!(open.trim_end().contains(", 0600)"), "{open}");
    assert!(
        open.contains(&format!(
            "{}/.docker/.config.json.",
            traced.home.path().display()
        )),
        "{open}"
    );
    assert!(!trace.contains("chmod("), "a chmod after creation: {trace}");
    let state_open = trace
        .lines()
        .find(|l| l.contains("/.state.json.") && l.contains(".tmp"))
        .unwrap_or_else(|| panic!("no state temp file: {trace}"));
    assert!(
        state_open.contains("O_EXCL") && state_open.contains(", 0600)"),
        "{state_open}"
    );
}

/// Every way a run can fail after a token was handed out, at every verbosity: the token is
/// in no output. Each run's exit code is checked, so a run that failed differently (and
/// printed nothing) cannot pass for a clean one.
#[test]
fn failure_paths_never_print_the_token() {
    let moto = moto();
    let password = moto_password(&moto.url(), "us-east-1");
    let moto_secrets = secrets_of(&password);

    // ECR answered 200 with a body that holds a token but does not parse.
    let (body, secrets) = token_body(r#","expiresAt":"tomorrow""#);
    let broken = format!(
        "http://127.0.0.1:{}",
        canned_server(200, Box::leak(body.into_boxed_str()))
    );
    for verbosity in ["-qq", "-q", "-v", "-vv", "-vvv"] {
        Run::new(&broken)
            .args([USE1_A, verbosity])
            .run()
            .expect_code(76)
            .expect_no_secret(&secrets);
    }
    Run::new(&broken)
        .args([USE1_A])
        .run()
        .expect_code(76)
        .expect_stderr_contains("is not a GetAuthorizationToken response")
        .expect_no_secret(&secrets);

    // An error answer (a proxy's 503 page) that quotes a token: shown, with the token masked.
    let (body, secrets) = token_body("");
    let quoting = format!(
        "http://127.0.0.1:{}",
        canned_server(503, Box::leak(body.into_boxed_str()))
    );
    Run::new(&quoting)
        .args([USE1_A, "-vvv"])
        .env("AWS_MAX_ATTEMPTS", "1")
        .run()
        .expect_code(75)
        .expect_stderr_contains("HTTP 503")
        .expect_stderr_contains("\"authorizationToken\":\"***\"")
        .expect_no_secret(&secrets);

    // A credential helper and a docker that echo what they were given into their errors.
    let echoing = "#!/bin/sh\necho \"refused: $(/bin/cat)\" >&2\nexit 1\n";
    let run = Run::new(&moto.url()).args([USE1_A, "-vvv"]);
    let bin = run.home.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    for tool in ["docker-credential-echo", "docker"] {
        fs::write(bin.join(tool), echoing).unwrap();
        fs::set_permissions(bin.join(tool), fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::create_dir_all(run.docker_dir()).unwrap();
    fs::write(run.config_json(), r#"{"credsStore": "echo"}"#).unwrap();
    let mut helper = run;
    helper
        .run()
        .expect_code(73)
        .expect_stderr_contains("docker-credential-echo store failed")
        .expect_no_secret(&moto_secrets);
    helper
        .again(&moto.url())
        .args([USE1_A, "-vvv", "--method", "docker"])
        .run()
        .expect_code(75)
        .expect_stderr_contains("refused: ***")
        .expect_no_secret(&moto_secrets);
}
