//! `--method podman`: podman's `auth.json`, kept by the same rules as docker's config.json
//! (the same file format, read by the same library), except that podman has no default
//! credential store of docker's kind.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use super::config;
use super::vocabulary::{Entry, Held, Removal, Stored};

pub fn store(file: &Path, entries: &[Entry], deadline: Instant) -> Result<Vec<Result<Stored>>> {
    config::store(file, entries, deadline, None)
}

pub fn held(file: &Path, host: &str, deadline: Instant) -> Result<Held> {
    config::held(file, host, None, deadline)
}

pub fn remove(
    file: &Path,
    host: &str,
    fingerprint: &str,
    deadline: Instant,
    dry_run: bool,
) -> Result<Removal> {
    config::remove(file, host, fingerprint, None, deadline, dry_run)
}
