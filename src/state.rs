//! What ecr-login wrote where, and until when: `state.json` in the state directory (0600).
//! `--min-valid` and `status` compare it with what the sinks hold now; `logout` removes only
//! what it lists.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::exit::{Code, ResultExt, fail};
use crate::sinks::Sink;
use crate::timestamp;

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
            expires_at: expires_at.and_then(timestamp::epoch_secs),
            fingerprint: fp,
            written_at: timestamp::epoch_secs(SystemTime::now()).unwrap_or_default(),
        }
    }

    /// The expiry, if one was recorded and is a time we can represent.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at.and_then(timestamp::from_epoch_secs)
    }

    pub fn written_at(&self) -> Option<SystemTime> {
        timestamp::from_epoch_secs(self.written_at)
    }

    /// Time left before expiry; zero once expired, and zero when the expiry is unknown (a
    /// token that never says when it lapses is treated as lapsing now).
    pub fn remaining(&self) -> Duration {
        self.expires_at()
            .and_then(|t| t.duration_since(SystemTime::now()).ok())
            .unwrap_or(Duration::ZERO)
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

impl State {
    /// The recorded state; a missing file is empty, and so is a malformed one (reported: it
    /// is our own cache, so the next write repairs it). A file that cannot be read, is not a
    /// regular file, or was written by a newer ecr-login is an error: nothing can be said
    /// about what it records, and it must not be overwritten.
    pub fn load(dir: &Path) -> Result<State> {
        let path = path(dir);
        let Some((bytes, _)) = atomic_file::read_existing(&path, "state file")? else {
            return Ok(State::default());
        };
        match serde_json::from_slice::<State>(&bytes) {
            Ok(state) if state.version <= VERSION => Ok(state),
            Ok(state) => Err(fail(
                Code::DataErr,
                format!(
                    "state file {} has version {}, newer than this ecr-login understands \
                     ({VERSION}); left as it is",
                    path.display(),
                    state.version
                ),
            )),
            Err(e) => {
                log::warn!(
                    "state file {} is malformed ({e}); it will be rewritten",
                    path.display()
                );
                Ok(State::default())
            }
        }
    }

    /// For `--min-valid`: the state, or none at all when it cannot be read (every registry
    /// is then refreshed, which is always safe).
    pub fn load_or_empty(dir: &Path) -> State {
        State::load(dir).unwrap_or_else(|err| {
            log::warn!("{err:#}");
            State::default()
        })
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
    let _acting = crate::owner::act_as_owner_of(&path)?;
    atomic_file::create_parent_dir(&path)?;
    let _lock = atomic_file::lock(&path, deadline)?;
    atomic_file::remove_stale_temp_files(&path);
    let mut state = State::load(dir)?;
    state.version = VERSION;
    change(&mut state);
    let mut bytes = serde_json::to_vec_pretty(&state).code(
        Code::Software,
        format!("encoding state file {}", path.display()),
    )?;
    bytes.push(b'\n');
    let existing = std::fs::metadata(&path).ok();
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
        let state = State::load(dir.path()).unwrap();
        assert_eq!(state.records.len(), 2);
        assert_eq!(state.find("a", &sink).unwrap().fingerprint, "3");
        assert_eq!(state.find("b", &sink).unwrap().fingerprint, "2");
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn malformed_state_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "{not json").unwrap();
        assert!(State::load(dir.path()).unwrap().records.is_empty());
    }

    #[test]
    fn a_newer_state_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let newer = r#"{"version": 2, "records": [], "more": "of the future"}"#;
        std::fs::write(path(dir.path()), newer).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = update(dir.path(), deadline, |_| {}).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
        assert_eq!(std::fs::read_to_string(path(dir.path())).unwrap(), newer);
    }

    #[test]
    fn unknown_or_absurd_expiry_is_no_time_left() {
        let sink = Sink::Config {
            file: "/x/config.json".into(),
        };
        let mut record = Record::new("a", &sink, None, "fp".into());
        assert_eq!(record.remaining(), Duration::ZERO);
        record.expires_at = Some(u64::MAX);
        assert_eq!(record.expires_at(), None);
        assert_eq!(record.remaining(), Duration::ZERO);
        record.written_at = u64::MAX;
        assert_eq!(record.written_at(), None);
    }
}
