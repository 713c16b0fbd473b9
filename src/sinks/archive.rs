//! `--method archive`: a `docker.tar.gz` holding `.docker/config.json`, the file the Mesos and
//! Marathon fetchers unpack into a task's sandbox. Same merge rules as config.json: only
//! `auths[host]` changes, every other member of the archive (certificates, other files) is
//! kept byte for byte and in its place, and it is replaced atomically under a lock.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use super::config;
use super::envelope::{self, Envelope};
use super::vocabulary::{Entry, Held, Removal};
use crate::exit::{Code, fail};

const CONFIG_PATH: &str = ".docker/config.json";
const DIR_PATH: &str = ".docker/";

/// The archive format: `.docker/config.json` in a gzip'd tar, beside whatever else is in it.
#[derive(Default)]
pub struct Archive {
    /// The opened archive, uncompressed, to carry its other members over.
    tar: Option<Vec<u8>>,
    /// Whether it holds anything besides `.docker/` and the config.
    others: bool,
}

impl Envelope for Archive {
    fn what(&self) -> &'static str {
        "archive"
    }

    fn open(&mut self, bytes: &[u8], path: &Path) -> Result<Map<String, Value>> {
        let damaged = |why: String| {
            fail(
                Code::DataErr,
                format!(
                    "archive {} is not a docker.tar.gz ({why}) (left untouched)",
                    path.display()
                ),
            )
        };
        let mut tar = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut tar)
            .map_err(|e| damaged(e.to_string()))?;
        let mut config = None;
        for member in members(&tar).map_err(|e| damaged(e.to_string()))? {
            match member.name.as_str() {
                CONFIG_PATH => {
                    config = Some(config::parse(Some(&member.data), &path.join(CONFIG_PATH))?)
                }
                DIR_PATH => {}
                _ => self.others = true,
            }
        }
        self.tar = Some(tar);
        // An archive of other files without a docker config yet gets one added.
        Ok(config.unwrap_or_default())
    }

    fn seal(&self, config: &Map<String, Value>) -> Result<Vec<u8>> {
        build(config, self.tar.as_deref()).context("building archive")
    }

    fn holds_more(&self) -> bool {
        self.others
    }
}

/// Merge `entries` into the archive's config.json and replace the archive.
pub fn store(path: &Path, entries: &[Entry], deadline: Instant) -> Result<()> {
    envelope::store(&mut Archive::default(), path, entries, deadline)
}

/// What the archive holds for `host`.
pub fn held(path: &Path, host: &str) -> Result<Held> {
    envelope::held(&mut Archive::default(), path, host)
}

/// Remove `host` if the archive still holds our credentials; an archive left with nothing
/// of anyone else's in it is deleted.
pub fn remove(
    path: &Path,
    host: &str,
    fingerprint: &str,
    deadline: Instant,
    dry_run: bool,
) -> Result<Removal> {
    envelope::remove(
        &mut Archive::default(),
        path,
        host,
        fingerprint,
        deadline,
        dry_run,
    )
}

/// One member of a tar as stored: its raw headers (extension headers first) and data.
struct Member {
    /// The path as tar tools show it, without a leading `./`.
    name: String,
    /// Extension headers (GNU long names, pax records) that belong to it, then its own.
    raw: Vec<(tar::Header, Vec<u8>)>,
    data: Vec<u8>,
}

/// Every member of `tar`, with the headers that carry it, so each can be written back as it
/// was. Global pax headers are members of their own.
fn members(tar: &[u8]) -> std::io::Result<Vec<Member>> {
    let mut archive = tar::Archive::new(tar);
    let mut out = Vec::new();
    let mut pending: Vec<(tar::Header, Vec<u8>)> = Vec::new();
    for entry in archive.entries()?.raw(true) {
        let mut entry = entry?;
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        let kind = header.entry_type();
        if kind.is_gnu_longname() || kind.is_gnu_longlink() || kind.is_pax_local_extensions() {
            pending.push((header, data));
            continue;
        }
        let name = long_name(&pending).unwrap_or_else(|| header.path_bytes().into_owned());
        let name = String::from_utf8_lossy(&name).into_owned();
        let name = name.strip_prefix("./").unwrap_or(&name).to_string();
        let mut raw = std::mem::take(&mut pending);
        raw.push((header, Vec::new()));
        out.push(Member { name, raw, data });
    }
    Ok(out)
}

/// The path a GNU long-name or pax header gives the member after it.
fn long_name(extensions: &[(tar::Header, Vec<u8>)]) -> Option<Vec<u8>> {
    extensions.iter().rev().find_map(|(header, data)| {
        let kind = header.entry_type();
        if kind.is_gnu_longname() {
            let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
            return Some(data[..end].to_vec());
        }
        if kind.is_pax_local_extensions() {
            return tar::PaxExtensions::new(data)
                .flatten()
                .find(|e| e.key_bytes() == b"path")
                .map(|e| e.value_bytes().to_vec());
        }
        None
    })
}

/// The archive with `config` as `.docker/config.json` (0600), every other member of
/// `original` kept in its place, and `.docker/` (0700) added first when it is new.
fn build(config: &Map<String, Value>, original: Option<&[u8]>) -> std::io::Result<Vec<u8>> {
    let json = config::serialize(config);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let append_config = |tar: &mut tar::Builder<_>| {
        let mut file = tar::Header::new_ustar();
        file.set_entry_type(tar::EntryType::Regular);
        file.set_mode(0o600);
        file.set_mtime(now);
        file.set_size(json.len() as u64);
        tar.append_data(&mut file, CONFIG_PATH, json.as_slice())
    };
    let members = match original {
        Some(tar) => members(tar)?,
        None => Vec::new(),
    };
    if !members
        .iter()
        .any(|m| m.name == DIR_PATH || m.name == ".docker")
    {
        let mut dir = tar::Header::new_ustar();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o700);
        dir.set_mtime(now);
        dir.set_size(0);
        tar.append_data(&mut dir, DIR_PATH, std::io::empty())?;
    }
    let mut written = false;
    for member in &members {
        if member.name == CONFIG_PATH {
            if !written {
                append_config(&mut tar)?;
                written = true;
            }
            continue;
        }
        let (last, extensions) = member.raw.split_last().expect("a member has its header");
        for (header, data) in extensions {
            tar.append(header, data.as_slice())?;
        }
        tar.append(&last.0, member.data.as_slice())?;
    }
    if !written {
        append_config(&mut tar)?;
    }
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
        let entry = |host| Entry::aws(host, &pw);
        store(&path, &[entry("a.example")], deadline).unwrap();
        store(&path, &[entry("b.example")], deadline).unwrap();
        let fp = crate::secret::fingerprint("AWS", &pw);
        assert_eq!(held(&path, "a.example").unwrap(), Held::Present(fp.clone()));
        assert_eq!(held(&path, "b.example").unwrap(), Held::Present(fp.clone()));
        assert_eq!(
            remove(&path, "a.example", "sha256:other", deadline, false).unwrap(),
            Removal::Changed
        );
        assert_eq!(
            remove(&path, "a.example", &fp, deadline, true).unwrap(),
            Removal::Removed
        );
        assert_eq!(
            held(&path, "a.example").unwrap(),
            Held::Present(fp.clone()),
            "a dry run removes nothing"
        );
        assert_eq!(
            remove(&path, "a.example", &fp, deadline, false).unwrap(),
            Removal::Removed
        );
        assert_eq!(held(&path, "a.example").unwrap(), Held::Absent);
        assert_eq!(
            remove(&path, "b.example", &fp, deadline, false).unwrap(),
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
            &[Entry::aws("a", &pw)],
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap_err();
        assert_eq!(crate::exit::classify(&err), Code::DataErr);
        assert_eq!(std::fs::read(&path).unwrap(), b"not gzip");
    }
}
