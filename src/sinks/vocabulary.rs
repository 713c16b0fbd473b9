//! What every sink speaks: the credentials handed to it, where they went, what it holds, and
//! what removing them did.

use crate::secret::Secret;

/// One registry's credentials to store.
pub struct Entry<'a> {
    pub host: &'a str,
    pub username: &'a str,
    pub password: &'a Secret,
}

/// Where a registry's credentials went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// `auths[host].auth` in config.json.
    Auths,
    /// `docker-credential-NAME store`.
    Helper(String),
}

/// What a store holds for one host, as seen by a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Credentials are there; their fingerprint.
    Present(String),
    Absent,
}

/// Outcome of removing one host's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// Someone else's credentials are there now: left alone.
    Changed,
    Absent,
}

#[cfg(test)]
impl<'a> Entry<'a> {
    /// `AWS` with `password` for `host`, as ECR hands them out.
    pub fn aws(host: &'a str, password: &'a Secret) -> Entry<'a> {
        Entry {
            host,
            username: "AWS",
            password,
        }
    }
}
