//! `--method kube-secret`: a `kubernetes.io/dockerconfigjson` Secret manifest for
//! `kubectl apply -f -`, on stdout or in a file (0600, atomic, merged like config.json).

use std::io::Write;
use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::docker_config::{self, Entry, Held, Removal};
use crate::envelope::{self, Envelope};
use crate::exit::{Code, fail};

const KEY: &str = ".dockerconfigjson";

/// Which Secret, and where its manifest goes (`None`: stdout).
pub struct Target<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub file: Option<&'a Path>,
}

/// A manifest file is an envelope around the docker config.
struct Manifest<'a> {
    target: &'a Target<'a>,
    expires: Option<SystemTime>,
}

impl Envelope for Manifest<'_> {
    fn what(&self) -> &'static str {
        "Secret manifest"
    }

    fn open(&self, bytes: &[u8], path: &Path) -> Result<Map<String, Value>> {
        config_of(bytes, path)
    }

    fn seal(&self, config: &Map<String, Value>) -> Result<Vec<u8>> {
        Ok(render(self.target, config, self.expires))
    }
}

/// Emit the Secret with `entries`; a file target keeps the other registries it holds.
pub fn store(
    target: &Target,
    entries: &[Entry],
    expires: Option<SystemTime>,
    deadline: Instant,
) -> Result<()> {
    let Some(file) = target.file else {
        let mut config = Map::new();
        for entry in entries {
            docker_config::set_auth(&mut config, entry)?;
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&render(target, &config, expires))
            .and_then(|()| out.flush())
            .context("writing the Secret manifest to stdout")?;
        return Ok(());
    };
    envelope::store(&Manifest { target, expires }, file, entries, deadline)
}

/// What the manifest file holds for `host`.
pub fn held(target: &Target, host: &str) -> Result<Held> {
    match target.file {
        Some(file) => envelope::held(
            &Manifest {
                target,
                expires: None,
            },
            file,
            host,
        ),
        None => Ok(Held::Absent),
    }
}

/// Remove `host` from the manifest file if it is still ours; a manifest left empty is
/// deleted. (Deleting the Secret in the cluster is `kubectl delete`'s job.)
pub fn remove(
    target: &Target,
    host: &str,
    fingerprint: &str,
    deadline: Instant,
) -> Result<Removal> {
    match target.file {
        Some(file) => envelope::remove(
            &Manifest {
                target,
                expires: None,
            },
            file,
            host,
            fingerprint,
            deadline,
        ),
        None => Ok(Removal::Absent),
    }
}

/// The manifest: pretty JSON (kubectl reads JSON as YAML), labelled as ours.
fn render(target: &Target, config: &Map<String, Value>, expires: Option<SystemTime>) -> Vec<u8> {
    let config_json = serde_json::to_vec(config).expect("a JSON map always serializes");
    let mut annotations = Map::new();
    if let Some(t) = expires {
        annotations.insert(
            "ecr-login/expires-at".into(),
            Value::String(humantime::format_rfc3339_seconds(t).to_string()),
        );
    }
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": target.name,
            "namespace": target.namespace,
            "labels": {"app.kubernetes.io/managed-by": "ecr-login"},
            "annotations": annotations,
        },
        "type": "kubernetes.io/dockerconfigjson",
        "data": {KEY: base64::engine::general_purpose::STANDARD.encode(config_json)},
    });
    let mut out = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    out.push(b'\n');
    out
}

/// The docker config inside a manifest we wrote; anything else is refused, untouched.
fn config_of(bytes: &[u8], file: &Path) -> Result<Map<String, Value>> {
    let refuse = |why: &str| {
        fail(
            Code::DataErr,
            format!(
                "{} is not a dockerconfigjson Secret manifest ({why}) (left untouched)",
                file.display()
            ),
        )
    };
    let manifest: Value = serde_json::from_slice(bytes).map_err(|_| refuse("not JSON"))?;
    if manifest["type"] != "kubernetes.io/dockerconfigjson" {
        return Err(refuse("wrong type"));
    }
    let data = manifest["data"][KEY]
        .as_str()
        .ok_or_else(|| refuse("no .dockerconfigjson"))?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| refuse(".dockerconfigjson is not base64"))?;
    docker_config::parse(Some(&json), file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::Duration;

    #[test]
    fn file_merges_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.json");
        let target = Target {
            namespace: "ci",
            name: "ecr",
            file: Some(&file),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let pw = Secret::new("pw".into());
        let entry = |host| Entry {
            host,
            username: "AWS",
            password: &pw,
        };
        store(&target, &[entry("a.example")], None, deadline).unwrap();
        store(&target, &[entry("b.example")], None, deadline).unwrap();
        let manifest: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(manifest["metadata"]["namespace"], "ci");
        let fp = crate::state::fingerprint("AWS", &pw);
        assert_eq!(
            held(&target, "a.example").unwrap(),
            Held::Present(fp.clone())
        );
        assert_eq!(
            remove(&target, "a.example", &fp, deadline).unwrap(),
            Removal::Removed
        );
        assert_eq!(
            held(&target, "b.example").unwrap(),
            Held::Present(fp.clone())
        );
        assert_eq!(
            remove(&target, "b.example", &fp, deadline).unwrap(),
            Removal::Removed
        );
        assert!(!file.exists());
    }
}
