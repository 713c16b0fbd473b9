//! The `docker` method: `DOCKER_BIN login --username AWS --password-stdin HOST`, token on
//! stdin only, failures mapped to exit codes. Run as the owner of the docker config.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use super::vocabulary::Entry;
use crate::child;
use crate::exit::{Code, fail};
use crate::owner;

pub fn login(
    docker_bin: &Path,
    docker_config: &Path,
    entry: &Entry,
    deadline: Instant,
) -> Result<()> {
    let bin = docker_bin.display();
    let host = entry.host;
    let acting = owner::act_as_owner_of(&docker_config.join("config.json"))?;
    let mut command = Command::new(docker_bin);
    command
        .args([
            "login",
            "--username",
            entry.username,
            "--password-stdin",
            host,
        ])
        // DOCKER_CONFIG rather than `--config`: podman's docker shim honours the variable too.
        .env("DOCKER_CONFIG", docker_config);
    acting.apply(&mut command);
    let output =
        child::run(command, entry.password.expose().as_bytes(), deadline).map_err(|failure| {
            failure.into_error(
                &format!("{bin} login {host}"),
                &format!("{bin} not found: install docker or set --docker-bin"),
            )
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (code, line) = classify_login_error(&stderr);
    let said = entry.password.redact(line.unwrap_or("no output"));
    Err(fail(
        code,
        format!("{bin} login {host} failed ({}): {said}", output.status),
    ))
}

/// What docker's output means, and the line that says so. Docker has no exit codes of its
/// own for this, so read what it said: it could not save (73), the registry said no (77),
/// or anything else, such as an unreachable registry (75). Docker tries https and then http,
/// and reports the last failure, so a 401 can sit above a "connection refused".
pub fn classify_login_error(stderr: &str) -> (Code, Option<&str>) {
    const CLASSES: &[(Code, &[&str])] = &[
        (
            Code::CantCreat,
            &["error saving credentials", "error storing credentials"],
        ),
        (
            Code::NoPerm,
            &[
                "unauthorized",
                "authentication required",
                "incorrect username or password",
                "denied",
                // A status as docker words it: a bare "401" would match a port such as
                // 127.0.0.1:40130 in a DNS error.
                "401 unauthorized",
                "403 forbidden",
            ],
        ),
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for (code, patterns) in CLASSES {
        let hit = lines.iter().rev().find(|l| {
            let lower = l.to_ascii_lowercase();
            patterns.iter().any(|p| lower.contains(p))
        });
        if let Some(line) = hit {
            return (*code, Some(line));
        }
    }
    (Code::TempFail, lines.last().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_errors() {
        let cases = [
            (
                "Error response from daemon: Get \"https://h/v2/\": unauthorized: incorrect username or password",
                Code::NoPerm,
            ),
            (
                "Error: login attempt to https://h/v2/ failed with status: 401 Unauthorized",
                Code::NoPerm,
            ),
            (
                "denied: Your authorization token has expired. Reauthenticate and try again.",
                Code::NoPerm,
            ),
            (
                "Get \"https://h/v2/\": dial tcp: lookup h: no such host",
                Code::TempFail,
            ),
            (
                "Get \"https://h/v2/\": dial tcp 10.0.0.1:443: connect: connection refused",
                Code::TempFail,
            ),
            ("net/http: TLS handshake timeout", Code::TempFail),
            (
                "Error response from daemon: Get \"https://h/v2/\": Forbidden: 403 Forbidden",
                Code::NoPerm,
            ),
            // A port that starts like a status code is not a refusal.
            (
                "Get \"https://h/v2/\": dial tcp: lookup h on 127.0.0.1:53: read udp \
                 127.0.0.1:40130->127.0.0.1:53: read: connection refused",
                Code::TempFail,
            ),
        ];
        for (stderr, code) in cases {
            assert_eq!(classify_login_error(stderr).0, code, "{stderr}");
        }
        let https_then_http = "level=info msg=\"Error logging in\" error=\"login attempt to https://h/v2/ failed with status: 401 Unauthorized\"\n\
                               Get \"http://h/v2/\": dial tcp 127.0.0.1:80: connect: connection refused\n";
        let (code, line) = classify_login_error(https_then_http);
        assert_eq!(code, Code::NoPerm);
        assert!(line.unwrap().contains("401 Unauthorized"));
        let store = "Error saving credentials: error storing credentials - err: exit status 1, out: `pass not initialized`";
        assert_eq!(classify_login_error(store).0, Code::CantCreat);
    }
}
