//! A docker config carried inside another file that ecr-login owns (the archive, the Secret
//! manifest): the same locked merge, read-back and removal for both, each format supplying
//! only how to open and seal it.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use crate::atomic_file;
use crate::docker_config::{self, Entry, Held, Removal};

pub trait Envelope {
    /// What the file is, for messages ("archive").
    fn what(&self) -> &'static str;
    /// The docker config inside; a file that is not ours is refused (left untouched).
    fn open(&self, bytes: &[u8], path: &Path) -> Result<Map<String, Value>>;
    fn seal(&self, config: &Map<String, Value>) -> Result<Vec<u8>>;
}

/// Merge `entries` into the config inside `path` and replace the file atomically.
pub fn store(
    envelope: &impl Envelope,
    path: &Path,
    entries: &[Entry],
    deadline: Instant,
) -> Result<()> {
    atomic_file::create_parent_dir(path)?;
    let _lock = atomic_file::lock(path, deadline)?;
    atomic_file::remove_stale_temp_files(path);
    let existing = atomic_file::read_existing(path, envelope.what())?;
    let mut config = match &existing {
        Some((bytes, _)) => envelope.open(bytes, path)?,
        None => Map::new(),
    };
    for entry in entries {
        docker_config::set_auth(&mut config, entry)?;
    }
    atomic_file::write(
        path,
        &envelope.seal(&config)?,
        existing.as_ref().map(|(_, m)| m),
    )
    .with_context(|| format!("writing {} {}", envelope.what(), path.display()))
}

/// What the file holds for `host`.
pub fn held(envelope: &impl Envelope, path: &Path, host: &str) -> Result<Held> {
    let Some((bytes, _)) = atomic_file::read_existing(path, envelope.what())? else {
        return Ok(Held::Absent);
    };
    let config = envelope.open(&bytes, path)?;
    Ok(docker_config::auth_fingerprint(&config, host).map_or(Held::Absent, Held::Present))
}

/// Remove `host` if the file still holds our credentials; a file left with nothing in it is
/// deleted (ecr-login made it).
pub fn remove(
    envelope: &impl Envelope,
    path: &Path,
    host: &str,
    fingerprint: &str,
    deadline: Instant,
) -> Result<Removal> {
    if !path.exists() {
        return Ok(Removal::Absent);
    }
    let _lock = atomic_file::lock(path, deadline)?;
    let Some((bytes, meta)) = atomic_file::read_existing(path, envelope.what())? else {
        return Ok(Removal::Absent);
    };
    let mut config = envelope.open(&bytes, path)?;
    match docker_config::auth_fingerprint(&config, host) {
        None => return Ok(Removal::Absent),
        Some(found) if found != fingerprint => return Ok(Removal::Changed),
        Some(_) => docker_config::remove_auth(&mut config, host),
    }
    let empty = config
        .iter()
        .all(|(key, value)| key == "auths" && value.as_object().is_some_and(Map::is_empty));
    if empty {
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    } else {
        atomic_file::write(path, &envelope.seal(&config)?, Some(&meta))
            .with_context(|| format!("writing {} {}", envelope.what(), path.display()))?;
    }
    Ok(Removal::Removed)
}
