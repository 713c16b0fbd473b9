//! `--method archive`: a `docker.tar.gz` holding `.docker/config.json`, the file the Mesos and
//! Marathon fetchers unpack into a task's sandbox. Same merge rules as config.json: the
//! archive's other entries and keys are kept, and it is replaced atomically under a lock.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use crate::docker_config::{self, Entry, Held, Removal};
use crate::envelope::{self, Envelope};
use crate::exit::{Code, fail};

const CONFIG_PATH: &str = ".docker/config.json";

/// The archive format: `.docker/config.json` in a gzip'd tar.
pub struct Archive;

impl Envelope for Archive {
    fn what(&self) -> &'static str {
        "archive"
    }

    fn open(&self, bytes: &[u8], path: &Path) -> Result<Map<String, Value>> {
        config_of(bytes, path)
    }

    fn seal(&self, config: &Map<String, Value>) -> Result<Vec<u8>> {
        build(config).context("building archive")
    }
}

/// Merge `entries` into the archive's config.json and replace the archive.
pub fn store(path: &Path, entries: &[Entry], deadline: Instant) -> Result<()> {
    envelope::store(&Archive, path, entries, deadline)
}

/// What the archive holds for `host`.
pub fn held(path: &Path, host: &str) -> Result<Held> {
    envelope::held(&Archive, path, host)
}

/// Remove `host` if the archive still holds our credentials; an emptied archive is deleted.
pub fn remove(path: &Path, host: &str, fingerprint: &str, deadline: Instant) -> Result<Removal> {
    envelope::remove(&Archive, path, host, fingerprint, deadline)
}

/// The config.json inside an archive; a damaged archive is refused and left as it is.
fn config_of(bytes: &[u8], path: &Path) -> Result<Map<String, Value>> {
    let damaged = |why: String| {
        fail(
            Code::DataErr,
            format!(
                "archive {} is not a docker.tar.gz ({why}) (left untouched)",
                path.display()
            ),
        )
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive.entries().map_err(|e| damaged(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(e.to_string()))?;
        let name = entry.path().map_err(|e| damaged(e.to_string()))?;
        if name.strip_prefix("./").unwrap_or(&name) == Path::new(CONFIG_PATH) {
            let mut json = Vec::new();
            entry
                .read_to_end(&mut json)
                .map_err(|e| damaged(e.to_string()))?;
            return docker_config::parse(Some(&json), &path.join(CONFIG_PATH));
        }
    }
    // Another tool's archive without a config.json: ours would replace its contents.
    Err(damaged(format!("no {CONFIG_PATH} in it")))
}

/// `.docker/` (0700) and `.docker/config.json` (0600), gzip'd.
fn build(config: &Map<String, Value>) -> std::io::Result<Vec<u8>> {
    let json = docker_config::serialize(config);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut dir = tar::Header::new_ustar();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o700);
    dir.set_mtime(now);
    dir.set_size(0);
    tar.append_data(&mut dir, ".docker/", std::io::empty())?;
    let mut file = tar::Header::new_ustar();
    file.set_entry_type(tar::EntryType::Regular);
    file.set_mode(0o600);
    file.set_mtime(now);
    file.set_size(json.len() as u64);
    tar.append_data(&mut file, CONFIG_PATH, json.as_slice())?;
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::Duration;

    #[test]
    fn round_trip_keeps_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.tar.gz");
        let deadline = Instant::now() + Duration::from_secs(5);
        let pw = Secret::new("pw".into());
        let entry = |host| Entry {
            host,
            username: "AWS",
            password: &pw,
        };
        store(&path, &[entry("a.example")], deadline).unwrap();
        store(&path, &[entry("b.example")], deadline).unwrap();
        let fp = crate::state::fingerprint("AWS", &pw);
        assert_eq!(held(&path, "a.example").unwrap(), Held::Present(fp.clone()));
        assert_eq!(held(&path, "b.example").unwrap(), Held::Present(fp.clone()));
        assert_eq!(
            remove(&path, "a.example", "sha256:other", deadline).unwrap(),
            Removal::Changed
        );
        assert_eq!(
            remove(&path, "a.example", &fp, deadline).unwrap(),
            Removal::Removed
        );
        assert_eq!(held(&path, "a.example").unwrap(), Held::Absent);
        assert_eq!(
            remove(&path, "b.example", &fp, deadline).unwrap(),
            Removal::Removed
        );
        assert!(!path.exists(), "an emptied archive is deleted");
    }

    #[test]
    fn damaged_archive_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.tar.gz");
        std::fs::write(&path, b"not gzip").unwrap();
        let pw = Secret::new("pw".into());
        let err = store(
            &path,
            &[Entry {
                host: "a",
                username: "AWS",
                password: &pw,
            }],
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap_err();
        assert_eq!(crate::exit::classify(&err), Code::DataErr);
        assert_eq!(std::fs::read(&path).unwrap(), b"not gzip");
    }
}
