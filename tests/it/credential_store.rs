//! The config method with a real credential store: Debian's `docker-credential-pass` over
//! `pass` with a throwaway GPG key. Hosts routed to the store never land in `auths`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;

/// A pass store with its own GNUPGHOME and key; the agent is stopped on drop.
struct PassStore {
    dir: tempfile::TempDir,
}

impl PassStore {
    fn new() -> PassStore {
        for tool in ["gpg", "gpgconf", "pass", "docker-credential-pass"] {
            require(tool);
        }
        // Short path: gpg-agent's socket lives in GNUPGHOME and sockets have a length limit.
        let dir = tempfile::Builder::new()
            .prefix("ecrpass")
            .tempdir_in("/tmp")
            .unwrap();
        let store = PassStore { dir };
        fs::create_dir_all(store.gnupghome()).unwrap();
        fs::set_permissions(
            store.gnupghome(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        store.tool(
            "gpg",
            &[
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                "ecr-login test <test@ecr-login.invalid>",
                "default",
                "default",
                "never",
            ],
        );
        store.tool("pass", &["init", "test@ecr-login.invalid"]);
        store
    }

    fn gnupghome(&self) -> PathBuf {
        self.dir.path().join("g")
    }

    fn store_dir(&self) -> PathBuf {
        self.dir.path().join("pass")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("GNUPGHOME", self.gnupghome())
            .env("PASSWORD_STORE_DIR", self.store_dir());
        cmd
    }

    fn tool(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// What the helper returns for `host`, as docker would ask for it.
    fn get(&self, host: &str) -> Option<serde_json::Value> {
        let mut child = self
            .command("docker-credential-pass")
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(host.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        // Debian's 0.6.4 answers a missing entry with success and an empty secret.
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (out.status.success() && value["Secret"].as_str().is_some_and(|s| !s.is_empty()))
            .then_some(value)
    }

    fn run(&self, endpoint: &str) -> Run {
        Run::new(endpoint)
            .real_path()
            .env("GNUPGHOME", self.gnupghome())
            .env("PASSWORD_STORE_DIR", self.store_dir())
    }
}

impl Drop for PassStore {
    fn drop(&mut self) {
        let _ = self
            .command("gpgconf")
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

fn write_config(run: &Run, text: &str) {
    fs::create_dir_all(run.docker_dir()).unwrap();
    fs::write(run.config_json(), text).unwrap();
}

fn assert_in_store(store: &PassStore, host: &str, password: &str) {
    let got = store
        .get(host)
        .unwrap_or_else(|| panic!("{host} is not in the pass store"));
    assert_eq!(got["Username"], "AWS");
    assert_eq!(got["Secret"], password);
}

#[test]
fn creds_store_gets_the_credentials_and_auths_stays_untouched() {
    let store = PassStore::new();
    let password = moto_password(&moto().url(), "us-east-1");
    let mut run = store.run(&moto().url()).args([USE1_A]);
    let original = "{\n\t\"credsStore\": \"pass\",\n\t\"auths\": {\"registry.example.com\": {}}\n}";
    write_config(&run, original);
    let done = run.run();
    done.expect_code(0);
    done.expect_stderr_contains("in credential helper pass");
    assert_in_store(&store, USE1_A, &password);
    assert_eq!(fs::read_to_string(run.config_json()).unwrap(), original);
}

#[test]
fn cred_helpers_route_each_host_to_its_own_helper() {
    // With pass installed, docker sends every host without a credHelpers entry to pass too,
    // so per-host routing shows in a second host whose named helper is missing (69).
    let store = PassStore::new();
    let mut run = store.run(&moto().url()).args([USE1_A, EUW1_B]);
    let original =
        format!("{{\"credHelpers\": {{\"{USE1_A}\": \"pass\", \"{EUW1_B}\": \"missing-xyz\"}}}}");
    write_config(&run, &original);
    let done = run.run();
    done.expect_code(69);
    done.expect_stderr_contains("docker-credential-missing-xyz");
    assert_in_store(&store, USE1_A, &moto_password(&moto().url(), "us-east-1"));
    assert!(store.get(EUW1_B).is_none());
    assert_eq!(fs::read_to_string(run.config_json()).unwrap(), original);
}

#[test]
fn an_installed_pass_is_the_default_store_as_in_docker() {
    // No credsStore in the file, but pass and its helper are on PATH: docker would read
    // from pass and ignore auths, so that is where the credentials must go.
    let store = PassStore::new();
    let mut run = store.run(&moto().url()).args([USE1_A]);
    write_config(&run, "{}");
    run.run().expect_code(0);
    assert_in_store(&store, USE1_A, &moto_password(&moto().url(), "us-east-1"));
    assert_eq!(fs::read_to_string(run.config_json()).unwrap(), "{}");
}

#[test]
fn a_failing_store_is_73_and_the_file_is_untouched() {
    // A pass store that was never initialised: the helper exits non-zero.
    let store = PassStore::new();
    let mut run = store
        .run(&moto().url())
        .args([USE1_A])
        .env("PASSWORD_STORE_DIR", Path::new("/nonexistent/pass"));
    write_config(&run, "{\"credsStore\": \"pass\"}");
    let done = run.run();
    done.expect_code(73);
    done.expect_stderr_contains("docker-credential-pass store failed");
    assert!(
        !done
            .stderr()
            .contains(&moto_password(&moto().url(), "us-east-1"))
    );
    assert_eq!(
        fs::read_to_string(run.config_json()).unwrap(),
        "{\"credsStore\": \"pass\"}"
    );
}

#[test]
fn docker_ignores_its_default_store_for_a_file_with_credentials_of_its_own() {
    // pass is installed, but config.json holds an auths entry and names no store: docker
    // reads auths (docker/cli ContainsAuth), so that is where the credentials must go, and
    // where status must look for them.
    let store = PassStore::new();
    let password = moto_password(&moto().url(), "us-east-1");
    let mut run = store.run(&moto().url()).args([USE1_A]);
    write_config(&run, r#"{"auths": {"ghcr.io": {"auth": "Z2g6cA=="}}}"#);
    run.run()
        .expect_code(0)
        .expect_stderr_contains(&format!("in {}", run.config_json().display()));
    assert_eq!(
        auth_of(&run.config_json(), USE1_A),
        Some(format!("AWS:{password}"))
    );
    assert!(
        store.get(USE1_A).is_none(),
        "stored where docker does not look"
    );
    // status finds them (expired: moto's tokens are from 2015), not "changed".
    let done = store
        .run(&moto().url())
        .env("HOME", run.home.path())
        .env("DOCKER_CONFIG", run.docker_dir())
        .env("XDG_STATE_HOME", run.home.path().join(".local/state"))
        .args(["status", "--json"])
        .run();
    done.expect_code(1);
    let line: serde_json::Value = serde_json::from_str(done.stdout().trim()).unwrap();
    assert_eq!(line["state"], "expired", "{line}");

    // An empty credHelpers entry sends its host to the file, whatever credsStore says.
    let mut run = store.run(&moto().url()).args([USE1_A]);
    write_config(
        &run,
        &format!(r#"{{"credsStore": "pass", "credHelpers": {{"{USE1_A}": ""}}}}"#),
    );
    run.run().expect_code(0);
    assert_eq!(
        auth_of(&run.config_json(), USE1_A),
        Some(format!("AWS:{password}"))
    );
    assert!(store.get(USE1_A).is_none());
}
