//! `--method kube-secret`: a `kubernetes.io/dockerconfigjson` Secret manifest for
//! `kubectl apply -f -`, on stdout or in a file (0600, atomic, merged like config.json).
//! The annotation `ecr-login/expires-at` is when the first of its registries lapses; each
//! registry's own expiry is kept beside it, so a merge knows the earliest.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::Result;
use base64::Engine;
use serde_json::{Map, Value, json};

use super::config;
use super::envelope::{self, Envelope};
use super::vocabulary::{Entry, Held, Removal};
use crate::exit::{Code, ResultExt, fail};
use crate::timestamp;

const KEY: &str = ".dockerconfigjson";
const EXPIRES_AT: &str = "ecr-login/expires-at";
const EXPIRIES: &str = "ecr-login/expires-at-by-registry";

/// Which Secret, and where its manifest goes (`None`: stdout).
pub struct Target<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub file: Option<&'a Path>,
}

/// When each registry's token lapses (`None`: not said, which counts as now).
pub type Expiries = BTreeMap<String, Option<SystemTime>>;

/// A manifest file is an envelope around the docker config.
struct Manifest<'a> {
    target: &'a Target<'a>,
    /// What the opened manifest recorded, updated with this run's tokens.
    expiries: Expiries,
    /// This run's tokens, which win over what was recorded.
    fresh: Expiries,
}

impl<'a> Manifest<'a> {
    fn new(target: &'a Target<'a>, fresh: Expiries) -> Manifest<'a> {
        Manifest {
            target,
            expiries: Expiries::new(),
            fresh,
        }
    }
}

impl Envelope for Manifest<'_> {
    fn what(&self) -> &'static str {
        "Secret manifest"
    }

    fn open(&mut self, bytes: &[u8], path: &Path) -> Result<Map<String, Value>> {
        let (config, expiries) = config_of(bytes, path)?;
        self.expiries = expiries;
        Ok(config)
    }

    fn seal(&self, config: &Map<String, Value>) -> Result<Vec<u8>> {
        let mut expiries = self.expiries.clone();
        expiries.extend(self.fresh.clone());
        Ok(render(self.target, config, &expiries))
    }
}

/// Emit the Secret with `entries`, each expiring as `fresh` says; a file target keeps the
/// other registries it holds.
pub fn store(target: &Target, entries: &[Entry], fresh: Expiries, deadline: Instant) -> Result<()> {
    let Some(file) = target.file else {
        let mut config = Map::new();
        for entry in entries {
            config::set_auth(&mut config, entry)?;
        }
        let mut out = std::io::stdout().lock();
        // A reader gone before the manifest arrived (a closed pipe) means it was not
        // delivered: 73, like any target that cannot be written.
        return out
            .write_all(&render(target, &config, &fresh))
            .and_then(|()| out.flush())
            .code(Code::CantCreat, "writing the Secret manifest to stdout");
    };
    envelope::store(&mut Manifest::new(target, fresh), file, entries, deadline)
}

/// What the manifest file holds for `host`.
pub fn held(target: &Target, host: &str) -> Result<Held> {
    match target.file {
        Some(file) => envelope::held(&mut Manifest::new(target, Expiries::new()), file, host),
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
    dry_run: bool,
) -> Result<Removal> {
    match target.file {
        Some(file) => envelope::remove(
            &mut Manifest::new(target, Expiries::new()),
            file,
            host,
            fingerprint,
            deadline,
            dry_run,
        ),
        None => Ok(Removal::Absent),
    }
}

/// The manifest: pretty JSON (kubectl reads JSON as YAML), labelled as ours, annotated with
/// the earliest expiry of the registries it holds (one of unknown expiry: now).
fn render(target: &Target, config: &Map<String, Value>, expiries: &Expiries) -> Vec<u8> {
    let config_json = serde_json::to_vec(config).expect("a JSON map always serializes");
    let held: Vec<&String> = config
        .get("auths")
        .and_then(Value::as_object)
        .map(|auths| auths.keys().collect())
        .unwrap_or_default();
    let mut annotations = Map::new();
    let mut per_registry = Map::new();
    let mut earliest: Option<SystemTime> = None;
    for host in held {
        let expires = expiries.get(host).copied().flatten();
        let when = expires.unwrap_or_else(SystemTime::now);
        earliest = Some(earliest.map_or(when, |e| e.min(when)));
        per_registry.insert(
            host.clone(),
            expires.map_or(Value::Null, |t| Value::String(timestamp::rfc3339(t))),
        );
    }
    if let Some(t) = earliest {
        annotations.insert(EXPIRES_AT.into(), Value::String(timestamp::rfc3339(t)));
        annotations.insert(
            EXPIRIES.into(),
            Value::String(Value::Object(per_registry).to_string()),
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

/// The docker config inside a manifest we wrote, and the expiries it recorded; anything
/// else is refused, untouched.
fn config_of(bytes: &[u8], file: &Path) -> Result<(Map<String, Value>, Expiries)> {
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
    let config = config::parse(Some(&json), file)?;
    // Older manifests have no per-registry expiries: their registries count as unknown.
    let recorded: Map<String, Value> = manifest["metadata"]["annotations"][EXPIRIES]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let expiries = recorded
        .into_iter()
        .map(|(host, when)| {
            let when = when.as_str().and_then(|t| humantime::parse_rfc3339(t).ok());
            (host, when)
        })
        .collect();
    Ok((config, expiries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::Duration;

    fn in_file(file: &Path) -> Target<'_> {
        Target {
            namespace: "ci",
            name: "ecr",
            file: Some(file),
        }
    }

    #[test]
    fn file_merges_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.json");
        let target = in_file(&file);
        let deadline = Instant::now() + Duration::from_secs(5);
        let pw = Secret::new("pw".into());
        let entry = |host| Entry::aws(host, &pw);
        store(&target, &[entry("a.example")], Expiries::new(), deadline).unwrap();
        store(&target, &[entry("b.example")], Expiries::new(), deadline).unwrap();
        let manifest: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(manifest["metadata"]["namespace"], "ci");
        let fp = crate::secret::fingerprint("AWS", &pw);
        assert_eq!(
            held(&target, "a.example").unwrap(),
            Held::Present(fp.clone())
        );
        assert_eq!(
            remove(&target, "a.example", &fp, deadline, false).unwrap(),
            Removal::Removed
        );
        assert_eq!(
            held(&target, "b.example").unwrap(),
            Held::Present(fp.clone())
        );
        assert_eq!(
            remove(&target, "b.example", &fp, deadline, false).unwrap(),
            Removal::Removed
        );
        assert!(!file.exists());
    }

    #[test]
    fn the_annotation_is_the_earliest_expiry_of_every_registry_held() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.json");
        let target = in_file(&file);
        let deadline = Instant::now() + Duration::from_secs(5);
        let pw = Secret::new("pw".into());
        let entry = |host| Entry::aws(host, &pw);
        let at = |secs| Some(std::time::UNIX_EPOCH + Duration::from_secs(secs));
        let annotation = || {
            let manifest: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            manifest["metadata"]["annotations"][EXPIRES_AT]
                .as_str()
                .unwrap()
                .to_string()
        };
        let put = |host, when| {
            let expiries = Expiries::from([(String::from(host), when)]);
            store(&target, &[entry(host)], expiries, deadline).unwrap();
        };
        // a expires early; b, merged in later, expires late: the Secret lapses with a.
        put("a.example", at(1_900_000_000));
        put("b.example", at(2_000_000_000));
        assert_eq!(annotation(), "2030-03-17T17:46:40Z");
        // a refreshed past b: now b is first.
        put("a.example", at(2_100_000_000));
        assert_eq!(annotation(), "2033-05-18T03:33:20Z");
        // A token without an expiry lapses now, as far as anyone can tell.
        put("c.example", None);
        let now = SystemTime::now();
        let said = humantime::parse_rfc3339(&annotation()).unwrap();
        assert!(said <= now && now.duration_since(said).unwrap() < Duration::from_secs(60));
    }
}
