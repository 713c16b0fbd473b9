//! Where tokens go: one enum over every sink, so login, status and logout treat them alike.
//! A sink is recorded in the state file as written here, so `logout` can find it later.

mod archive;
// Public to the crate for `crate::parsers` (the property tests and the fuzzer).
pub(crate) mod config;
mod docker;
mod envelope;
mod kube_secret;
mod podman;
mod vocabulary;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::cli::Method;
use crate::ecr::{Registry, Token};
use crate::settings::Settings;
use kube_secret::Target;
pub use vocabulary::{Entry, Held, Removal, Stored};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Sink {
    /// docker's config.json, written directly.
    Config {
        file: PathBuf,
    },
    /// docker's config.json, written by `docker login`.
    Docker {
        file: PathBuf,
    },
    /// podman's auth.json.
    Podman {
        file: PathBuf,
    },
    Archive {
        file: PathBuf,
    },
    /// `file: None` is stdout.
    KubeSecret {
        namespace: String,
        name: String,
        file: Option<PathBuf>,
    },
}

impl Sink {
    /// The sinks the settings ask for, in order.
    pub fn configured(settings: &Settings) -> Vec<Sink> {
        let config_json = settings.docker_config.join("config.json");
        settings
            .methods
            .iter()
            .map(|method| match method {
                Method::Config => Sink::Config {
                    file: config_json.clone(),
                },
                Method::Docker => Sink::Docker {
                    file: config_json.clone(),
                },
                Method::Podman => Sink::Podman {
                    file: settings.authfile.clone(),
                },
                Method::Archive => Sink::Archive {
                    file: settings.archive.clone().expect("checked in settings"),
                },
                Method::KubeSecret => {
                    let (namespace, name) =
                        settings.kube_secret.clone().expect("checked in settings");
                    Sink::KubeSecret {
                        namespace,
                        name,
                        file: settings.kube_output.clone(),
                    }
                }
            })
            .collect()
    }

    /// Whether what was written can be read back (a manifest printed to stdout cannot).
    pub fn readable(&self) -> bool {
        !matches!(self, Sink::KubeSecret { file: None, .. })
    }

    /// Docker's default credential store applies where docker reads the file.
    fn default_store(&self) -> Option<&'static str> {
        match self {
            Sink::Config { .. } | Sink::Docker { .. } => config::detect_default_store(),
            _ => None,
        }
    }

    fn target(&self) -> Option<Target<'_>> {
        match self {
            Sink::KubeSecret {
                namespace,
                name,
                file,
            } => Some(Target {
                namespace,
                name,
                file: file.as_deref(),
            }),
            _ => None,
        }
    }

    /// What the sink holds for `host` now.
    pub fn held(&self, host: &str, deadline: Instant) -> Result<Held> {
        match self {
            Sink::Config { file } | Sink::Docker { file } => {
                config::held(file, host, self.default_store(), deadline)
            }
            Sink::Podman { file } => podman::held(file, host, deadline),
            Sink::Archive { file } => archive::held(file, host),
            Sink::KubeSecret { .. } => {
                kube_secret::held(&self.target().expect("a kube sink"), host)
            }
        }
    }

    /// Remove `host`'s credentials if they are still the ones we wrote (`dry_run`: only say
    /// whether it would).
    pub fn remove(
        &self,
        host: &str,
        fingerprint: &str,
        deadline: Instant,
        dry_run: bool,
    ) -> Result<Removal> {
        match self {
            Sink::Config { file } | Sink::Docker { file } => config::remove(
                file,
                host,
                fingerprint,
                self.default_store(),
                deadline,
                dry_run,
            ),
            Sink::Podman { file } => podman::remove(file, host, fingerprint, deadline, dry_run),
            Sink::Archive { file } => archive::remove(file, host, fingerprint, deadline, dry_run),
            Sink::KubeSecret { .. } => kube_secret::remove(
                &self.target().expect("a kube sink"),
                host,
                fingerprint,
                deadline,
                dry_run,
            ),
        }
    }

    /// Hand every token over; one result per registry, in order, with where it went.
    pub fn deliver(
        &self,
        settings: &Settings,
        logged_in: &[(Registry, Token)],
        deadline: Instant,
    ) -> Vec<Result<String>> {
        let entries: Vec<Entry> = logged_in
            .iter()
            .map(|(r, t)| Entry {
                host: &r.host,
                username: &t.username,
                password: &t.password,
            })
            .collect();
        let whole = |result: Result<()>, place: String| -> Vec<Result<String>> {
            match result {
                Ok(()) => entries.iter().map(|_| Ok(place.clone())).collect(),
                Err(err) => {
                    let message = format!("{err:#}");
                    let code = crate::exit::classify(&err);
                    entries
                        .iter()
                        .map(|_| Err(crate::exit::fail(code, message.clone())))
                        .collect()
                }
            }
        };
        match self {
            Sink::Config { file } | Sink::Podman { file } => {
                let stored = match self {
                    Sink::Config { .. } => {
                        config::store(file, &entries, deadline, self.default_store())
                    }
                    _ => podman::store(file, &entries, deadline),
                };
                match stored {
                    Ok(results) => results
                        .into_iter()
                        .map(|r| {
                            r.map(|stored| match stored {
                                Stored::Auths => format!("in {}", file.display()),
                                Stored::Helper(name) => format!("in credential helper {name}"),
                            })
                        })
                        .collect(),
                    Err(err) => whole(Err(err), String::new()),
                }
            }
            // One at a time: docker's own read-modify-write of config.json is not locked.
            Sink::Docker { .. } => {
                let mut results = Vec::new();
                for entry in &entries {
                    let result = docker::login(
                        &settings.docker_bin,
                        &settings.docker_config,
                        entry,
                        deadline,
                    );
                    results.push(result.map(|()| format!("via {}", settings.docker_bin.display())));
                }
                results
            }
            Sink::Archive { file } => whole(
                archive::store(file, &entries, deadline),
                format!("in archive {}", file.display()),
            ),
            Sink::KubeSecret { .. } => {
                let target = self.target().expect("a kube sink");
                let expiries = logged_in
                    .iter()
                    .map(|(r, t)| (r.host.clone(), t.expires_at))
                    .collect();
                whole(
                    kube_secret::store(&target, &entries, expiries, deadline),
                    format!("as {self}"),
                )
            }
        }
    }
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = |p: &Path| p.display().to_string();
        match self {
            Sink::Config { file } => write!(f, "config {}", path(file)),
            Sink::Docker { file } => write!(f, "docker login ({})", path(file)),
            Sink::Podman { file } => write!(f, "podman {}", path(file)),
            Sink::Archive { file } => write!(f, "archive {}", path(file)),
            Sink::KubeSecret {
                namespace,
                name,
                file,
            } => match file {
                Some(file) => write!(f, "Secret {namespace}/{name} in {}", path(file)),
                None => write!(f, "Secret {namespace}/{name} on stdout"),
            },
        }
    }
}
