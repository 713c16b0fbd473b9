//! The `docker` method: `DOCKER_BIN login --username AWS --password-stdin HOST`, token on
//! stdin only, failures mapped to exit codes.

use std::io;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::time::Instant;

use crate::exit::{Code, fail};
use crate::secret::Secret;

pub async fn login(
    docker_bin: &Path,
    docker_config: &Path,
    host: &str,
    username: &str,
    password: &Secret,
    deadline: Instant,
) -> Result<()> {
    let bin = docker_bin.display();
    let mut child = match Command::new(docker_bin)
        .args(["login", "--username", username, "--password-stdin", host])
        // DOCKER_CONFIG rather than `--config`: podman's docker shim honours the variable too.
        .env("DOCKER_CONFIG", docker_config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(fail(
                Code::Unavailable,
                format!("{bin} not found: install docker or set --docker-bin"),
            ));
        }
        Err(e) => {
            return Err(fail(Code::Unavailable, format!("running {bin}: {e}")));
        }
    };
    let mut stdin = child.stdin.take().context("opening docker's stdin")?;
    let write = async {
        // A docker that exits early closes the pipe; its exit status tells the story.
        let _ = stdin.write_all(password.expose().as_bytes()).await;
        drop(stdin);
        child.wait_with_output().await
    };
    let output = match tokio::time::timeout_at(deadline, write).await {
        Ok(output) => output.with_context(|| format!("waiting for {bin} login"))?,
        Err(_) => {
            return Err(fail(
                Code::TempFail,
                format!("{bin} login {host} did not finish before the deadline (killed)"),
            ));
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said = password.redact(last_line(&stderr).unwrap_or("no output"));
    Err(fail(
        classify_login_error(&stderr),
        format!("{bin} login {host} failed ({}): {said}", output.status),
    ))
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// The registry said no (77) or could not be reached (75). Docker has no exit codes of its
/// own for this, so read what it said.
pub fn classify_login_error(stderr: &str) -> Code {
    let text = stderr.to_ascii_lowercase();
    let refused = [
        "unauthorized",
        "authentication required",
        "incorrect username or password",
        "denied",
        "401",
        "403",
    ];
    if refused.iter().any(|p| text.contains(p)) {
        Code::NoPerm
    } else {
        Code::TempFail
    }
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
        ];
        for (stderr, code) in cases {
            assert_eq!(classify_login_error(stderr), code, "{stderr}");
        }
    }
}
