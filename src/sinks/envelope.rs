//! A docker config carried inside another file that ecr-login writes (the archive, the Secret
//! manifest): the same locked merge, read-back and removal for both, each format supplying
//! only how to open and seal it. Opening remembers what else the file holds, so sealing
//! writes it back unchanged.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use super::config;
use super::vocabulary::{Entry, Held, Removal};
use crate::atomic_file;
use crate::owner;

pub trait Envelope {
    /// What the file is, for messages ("archive").
    fn what(&self) -> &'static str;
    /// The docker config inside; a file that is not ours is refused (left untouched).
    fn open(&mut self, bytes: &[u8], path: &Path) -> Result<Map<String, Value>>;
    /// The whole file again, with `config` inside and everything else as opened.
    fn seal(&self, config: &Map<String, Value>) -> Result<Vec<u8>>;
    /// Whether the opened file holds more than the docker config (then it is never deleted).
    fn holds_more(&self) -> bool {
        false
    }
}

/// Merge `entries` into the config inside `path` and replace the file atomically.
pub fn store(
    envelope: &mut impl Envelope,
    path: &Path,
    entries: &[Entry],
    deadline: Instant,
) -> Result<()> {
    let _acting = owner::act_as_owner_of(path)?;
    atomic_file::create_parent_dir(path)?;
    let _lock = atomic_file::lock(path, deadline)?;
    atomic_file::remove_stale_temp_files(path);
    let existing = atomic_file::read_existing(path, envelope.what())?;
    let mut config = match &existing {
        Some((bytes, _)) => envelope.open(bytes, path)?,
        None => Map::new(),
    };
    for entry in entries {
        config::set_auth(&mut config, entry)?;
    }
    atomic_file::write(
        path,
        &envelope.seal(&config)?,
        existing.as_ref().map(|(_, m)| m),
    )
    .with_context(|| format!("writing {} {}", envelope.what(), path.display()))
}

/// What the file holds for `host`.
pub fn held(envelope: &mut impl Envelope, path: &Path, host: &str) -> Result<Held> {
    let _acting = owner::act_as_owner_of(path)?;
    let Some((bytes, _)) = atomic_file::read_existing(path, envelope.what())? else {
        return Ok(Held::Absent);
    };
    let config = envelope.open(&bytes, path)?;
    Ok(config::auth_fingerprint(&config, host).map_or(Held::Absent, Held::Present))
}

/// Remove `host` if the file still holds our credentials; a file left with nothing in it is
/// deleted (ecr-login made it). With `dry_run`, only say what would happen.
pub fn remove(
    envelope: &mut impl Envelope,
    path: &Path,
    host: &str,
    fingerprint: &str,
    deadline: Instant,
    dry_run: bool,
) -> Result<Removal> {
    let _acting = owner::act_as_owner_of(path)?;
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(Removal::Absent);
    }
    let _lock = atomic_file::lock(path, deadline)?;
    let Some((bytes, meta)) = atomic_file::read_existing(path, envelope.what())? else {
        return Ok(Removal::Absent);
    };
    let mut config = envelope.open(&bytes, path)?;
    match config::auth_fingerprint(&config, host) {
        None => return Ok(Removal::Absent),
        Some(found) if found != fingerprint => return Ok(Removal::Changed),
        Some(_) if dry_run => return Ok(Removal::Removed),
        Some(_) => config::remove_auth(&mut config, host),
    }
    let empty = config
        .iter()
        .all(|(key, value)| key == "auths" && value.as_object().is_some_and(Map::is_empty));
    if empty && !envelope.holds_more() {
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    } else {
        atomic_file::write(path, &envelope.seal(&config)?, Some(&meta))
            .with_context(|| format!("writing {} {}", envelope.what(), path.display()))?;
    }
    Ok(Removal::Removed)
}
