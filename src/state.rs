//! What ecr-login wrote where, and until when: `state.json` in the state directory (0600).
//! `--min-valid` and `status` compare it with what the sinks hold now; `logout` removes only
//! what it lists.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic_file;
use crate::exit::{Code, ResultExt};
use crate::secret::Secret;
use crate::sink::Sink;

const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    version: u32,
    #[serde(default)]
    pub records: Vec<Record>,
}

/// One registry's credentials in one sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub registry: String,
    pub sink: Sink,
    /// Seconds since the epoch; `None` if ECR gave no expiry.
    pub expires_at: Option<u64>,
    /// `sha256:` of `user:password`, to recognise our credentials without keeping them.
    pub fingerprint: String,
    pub written_at: u64,
}

impl Record {
    pub fn new(registry: &str, sink: &Sink, expires_at: Option<SystemTime>, fp: String) -> Record {
        Record {
            registry: registry.to_string(),
            sink: sink.clone(),
            expires_at: expires_at.map(epoch_secs),
            fingerprint: fp,
            written_at: epoch_secs(SystemTime::now()),
        }
    }

    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// Time left before expiry; zero once expired. `None` without an expiry.
    pub fn remaining(&self) -> Option<Duration> {
        self.expires_at().map(|t| {
            t.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        })
    }
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Fingerprint of credentials as a sink holds them (`user:password`).
pub fn fingerprint_of(user_colon_password: &[u8]) -> String {
    let digest = Sha256::digest(user_colon_password);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

pub fn fingerprint(username: &str, password: &Secret) -> String {
    fingerprint_of(format!("{username}:{}", password.expose()).as_bytes())
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

impl State {
    /// The recorded state; a missing file is empty. An unreadable or malformed one is
    /// reported and treated as empty: it is our own cache, so the next write repairs it.
    pub fn load(dir: &Path) -> State {
        let path = path(dir);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return State::default(),
            Err(e) => {
                log::warn!("cannot read state file {}: {e}", path.display());
                return State::default();
            }
        };
        match serde_json::from_slice::<State>(&bytes) {
            Ok(state) if state.version == VERSION => state,
            Ok(state) => {
                log::warn!(
                    "state file {} has version {}, expected {VERSION}; ignoring it",
                    path.display(),
                    state.version
                );
                State::default()
            }
            Err(e) => {
                log::warn!(
                    "state file {} is malformed ({e}); it will be rewritten",
                    path.display()
                );
                State::default()
            }
        }
    }

    pub fn find(&self, registry: &str, sink: &Sink) -> Option<&Record> {
        self.records
            .iter()
            .find(|r| r.registry == registry && &r.sink == sink)
    }
}

/// Locked read-modify-write of the state file; concurrent runs each keep their records.
pub fn update(dir: &Path, deadline: Instant, change: impl FnOnce(&mut State)) -> Result<()> {
    let path = path(dir);
    atomic_file::create_parent_dir(&path)?;
    let _lock = atomic_file::lock(&path, deadline)?;
    atomic_file::remove_stale_temp_files(&path);
    let mut state = State::load(dir);
    state.version = VERSION;
    change(&mut state);
    let mut bytes = serde_json::to_vec_pretty(&state).expect("state serializes");
    bytes.push(b'\n');
    let existing = fs::metadata(&path).ok();
    atomic_file::write(&path, &bytes, existing.as_ref()).code(
        Code::CantCreat,
        format!("writing state file {}", path.display()),
    )
}

/// Replace the record for the same registry and sink, or add it.
pub fn upsert(state: &mut State, record: Record) {
    match state
        .records
        .iter_mut()
        .find(|r| r.registry == record.registry && r.sink == record.sink)
    {
        Some(existing) => *existing = record,
        None => state.records.push(record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn fingerprint_is_sha256_of_user_colon_password() {
        let out = std::process::Command::new("sh")
            .args(["-c", "printf 'AWS:pw' | sha256sum"])
            .output()
            .unwrap();
        let expected = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            fingerprint("AWS", &Secret::new("pw".into())),
            format!("sha256:{}", &expected[..64])
        );
    }

    #[test]
    fn update_keeps_other_records_and_writes_0600() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::Config {
            file: "/x/config.json".into(),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let record = |host: &str, fp: &str| Record::new(host, &sink, None, fp.into());
        update(dir.path(), deadline, |s| upsert(s, record("a", "1"))).unwrap();
        update(dir.path(), deadline, |s| upsert(s, record("b", "2"))).unwrap();
        update(dir.path(), deadline, |s| upsert(s, record("a", "3"))).unwrap();
        let state = State::load(dir.path());
        assert_eq!(state.records.len(), 2);
        assert_eq!(state.find("a", &sink).unwrap().fingerprint, "3");
        assert_eq!(state.find("b", &sink).unwrap().fingerprint, "2");
        let mode = fs::metadata(path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn malformed_state_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(path(dir.path()), "{not json").unwrap();
        assert!(State::load(dir.path()).records.is_empty());
    }
}
