//! `--method config`: the Docker `config.json`, by locked read, merge of `auths[host]` that
//! keeps everything else, and atomic write; hosts routed to a credential store are stored
//! through its helper instead, as docker does. Podman's auth.json follows the same rules.

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use base64::Engine;
use serde_json::{Map, Value};

use super::vocabulary::{Entry, Held, Removal, Stored};
use crate::exit::{Code, ResultExt, fail};
use crate::owner::{self, ActingAs};
use crate::secret::{Secret, fingerprint_of};
use crate::{atomic_file, child};

/// Store every entry in one locked read-modify-write of `file` (docker's `config.json` or
/// podman's `auth.json`; the same rules apply to both).
/// The outer error fails the whole batch before anything is stored (lock, read, parse); the
/// inner ones are per registry (a helper failed, or the write of `auths` did). The file is
/// written only if the merge succeeded.
/// `default_store` is what `detect_default_store` found (passed in so tests stay hermetic).
pub fn store(
    file: &Path,
    entries: &[Entry],
    deadline: Instant,
    default_store: Option<&str>,
) -> Result<Vec<Result<Stored>>> {
    let acting = owner::act_as_owner_of(file)?;
    atomic_file::create_parent_dir(file)?;
    let (target, _lock) = lock_target(file, deadline)?;
    atomic_file::remove_stale_temp_files(&target);
    let existing = atomic_file::read_existing(&target, "docker config")?;
    let mut config = parse(
        existing.as_ref().map(|(bytes, _)| bytes.as_slice()),
        &target,
    )?;

    let mut results: Vec<Result<Stored>> = entries
        .iter()
        .map(|entry| store_entry(&mut config, entry, default_store, &acting, deadline))
        .collect();

    // Rewrite only for a new `auths` entry: hosts stored through helpers leave the file as it is.
    if results.iter().any(|r| matches!(r, Ok(Stored::Auths))) {
        let bytes = serialize(&config);
        if existing.as_ref().is_none_or(|(old, _)| *old != bytes) {
            let meta = existing.as_ref().map(|(_, meta)| meta);
            if let Err(err) = atomic_file::write(&target, &bytes, meta) {
                // Helpers already stored theirs; only the `auths` entries are lost.
                let err = err.context(format!("writing docker config {}", target.display()));
                let (code, message) = (crate::exit::classify(&err), format!("{err:#}"));
                for result in results
                    .iter_mut()
                    .filter(|r| matches!(r, Ok(Stored::Auths)))
                {
                    *result = Err(fail(code, message.clone()));
                }
            }
        }
    }
    Ok(results)
}

/// One registry: through the credential helper docker would use for it, else into `auths`.
fn store_entry(
    config: &mut Map<String, Value>,
    entry: &Entry,
    default_store: Option<&str>,
    acting: &ActingAs,
    deadline: Instant,
) -> Result<Stored> {
    let Some(helper) = credential_helper(config, entry.host, default_store) else {
        return set_auth(config, entry).map(|()| Stored::Auths);
    };
    match store_with_helper(&helper, entry, acting, deadline) {
        Ok(()) => Ok(Stored::Helper(helper)),
        // Name the surprise when nothing in config.json asked for this store.
        Err(e) if credential_helper(config, entry.host, None).is_none() => Err(e.context(format!(
            "docker-credential-{helper} is installed, so docker uses it as the default store; \
             set \"credsStore\" in config.json to choose another"
        ))),
        Err(e) => Err(e),
    }
}

/// Lock the file that will really be written, the target of a symlinked `config.json`, so
/// runs that reach one file by different paths still take turns. A link changed while we
/// waited for the lock is followed again.
fn lock_target(file: &Path, deadline: Instant) -> Result<(PathBuf, File)> {
    loop {
        let target = resolve_target(file)?;
        let lock = atomic_file::lock(&target, deadline)?;
        if resolve_target(file)? == target {
            return Ok((target, lock));
        }
        if Instant::now() >= deadline {
            return Err(fail(
                Code::TempFail,
                format!(
                    "{} kept changing while ecr-login waited for it",
                    file.display()
                ),
            ));
        }
    }
}

/// Where to write: `config.json` itself, or the file its symlink points to, as docker does,
/// but only inside a directory owned by the same user as the docker config directory, so a
/// root-run job cannot be steered into writing elsewhere.
fn resolve_target(path: &Path) -> Result<PathBuf> {
    let is_link = fs::symlink_metadata(path)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false);
    if !is_link {
        return Ok(path.to_path_buf());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let target = fs::canonicalize(path).code(
        Code::CantCreat,
        format!(
            "following symlink {} (dangling or unreadable)",
            path.display()
        ),
    )?;
    let owner = |p: &Path| fs::metadata(p).map(|m| m.uid()).ok();
    let parent = target.parent().unwrap_or(Path::new("/"));
    if owner(parent).is_none() || owner(parent) != owner(dir) {
        return Err(fail(
            Code::CantCreat,
            format!(
                "refusing to follow symlink {} into {}, which another user owns",
                path.display(),
                parent.display()
            ),
        ));
    }
    Ok(target)
}

/// A JSON object; an empty file counts as `{}` (nothing to lose). Anything else is refused
/// with the file left as it is.
pub fn parse(bytes: Option<&[u8]>, path: &Path) -> Result<Map<String, Value>> {
    let bytes = match bytes {
        Some(b) if !b.iter().all(u8::is_ascii_whitespace) => b,
        _ => return Ok(Map::new()),
    };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(fail(
            Code::DataErr,
            format!(
                "docker config {} is not a JSON object (left untouched)",
                path.display()
            ),
        )),
        Err(e) => Err(fail(
            Code::DataErr,
            format!(
                "docker config {} is not valid JSON: {e} (left untouched)",
                path.display()
            ),
        )),
    }
}

/// Docker's rule (docker/cli `GetCredentialsStore`): an entry in `credHelpers[host]` decides
/// (`""` means the file itself), then `credsStore`, then the platform's default store, which
/// docker applies only to a file without any credentials of its own (`ContainsAuth`).
/// Writing keeps the answer stable: where the default applies, nothing goes into `auths`.
pub fn credential_helper(
    config: &Map<String, Value>,
    host: &str,
    default_store: Option<&str>,
) -> Option<String> {
    if let Some(named) = config.get("credHelpers").and_then(|h| h.get(host)) {
        return named.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    }
    let store = config.get("credsStore").and_then(Value::as_str);
    match store.filter(|s| !s.is_empty()) {
        Some(store) => Some(store.to_string()),
        None if contains_auth(config) => None,
        None => default_store.map(str::to_string),
    }
}

/// docker/cli `ConfigFile.ContainsAuth`: a store, a helper, or any `auths` entry. Only a file
/// without any of them gets the platform's default store.
fn contains_auth(config: &Map<String, Value>) -> bool {
    let filled = |key| {
        config
            .get(key)
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    };
    let store = config.get("credsStore").and_then(Value::as_str);
    filled("auths") || filled("credHelpers") || store.is_some_and(|s| !s.is_empty())
}

/// The docker CLI on Linux uses `pass` (when `pass` is installed) or `secretservice` as the
/// store for a config that names none and holds no credentials, if the helper is on PATH;
/// it then ignores `auths`. Mirror that, so what we write is what docker reads.
pub fn detect_default_store() -> Option<&'static str> {
    let platform = if on_path("pass") {
        "pass"
    } else {
        "secretservice"
    };
    on_path(&format!("docker-credential-{platform}")).then_some(platform)
}

fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| {
        fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Replace `auths[host]` with a fresh `{"auth": ...}`, keeping its position among the others.
/// Stale fields (an old `identitytoken`) would take precedence over the new token in docker.
pub fn set_auth(config: &mut Map<String, Value>, entry: &Entry) -> Result<()> {
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(auths) = auths else {
        return Err(fail(
            Code::DataErr,
            "docker config has an \"auths\" that is not an object",
        ));
    };
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        entry.username,
        entry.password.expose()
    ));
    let mut value = Map::new();
    value.insert("auth".into(), Value::String(auth));
    auths.insert(entry.host.to_string(), Value::Object(value));
    Ok(())
}

/// Tab-indented like docker's own writer, so a diff against docker's output is small.
pub fn serialize(config: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(config, &mut ser).expect("a JSON map always serializes");
    out
}

/// `docker-credential-NAME store` with the credentials as JSON on stdin, as docker does.
fn store_with_helper(
    name: &str,
    entry: &Entry,
    acting: &ActingAs,
    deadline: Instant,
) -> Result<()> {
    let payload = serde_json::json!({
        "ServerURL": entry.host,
        "Username": entry.username,
        "Secret": entry.password.expose(),
    });
    let helper = Helper { name, acting };
    helper
        .run(
            "store",
            payload.to_string().as_bytes(),
            Some(entry.password),
            deadline,
        )
        .map(drop)
}

/// A credential helper, run as whoever owns the docker config.
struct Helper<'a> {
    name: &'a str,
    acting: &'a ActingAs,
}

impl Helper<'_> {
    /// What it holds for `host`: `Some("user:secret")`, or `None` if nothing.
    fn get(&self, host: &str, deadline: Instant) -> Result<Option<Secret>> {
        match self.run("get", host.as_bytes(), None, deadline) {
            Ok(stdout) => {
                let value: Value = serde_json::from_slice(&stdout).map_err(|_| {
                    fail(
                        Code::Protocol,
                        format!(
                            "docker-credential-{} get answered something other than JSON",
                            self.name
                        ),
                    )
                })?;
                let field = |k| value.get(k).and_then(Value::as_str).unwrap_or_default();
                Ok(Some(Secret::new(format!(
                    "{}:{}",
                    field("Username"),
                    field("Secret")
                ))))
            }
            // The helpers' protocol: "credentials not found in native keychain" on a miss.
            Err(e) if format!("{e:#}").contains("credentials not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `docker-credential-NAME ACTION` with `input` on stdin, bounded by `deadline`; its
    /// stdout on success. `secret`, if given, is masked in any error text.
    fn run(
        &self,
        action: &str,
        input: &[u8],
        secret: Option<&Secret>,
        deadline: Instant,
    ) -> Result<Vec<u8>> {
        let program = format!("docker-credential-{}", self.name);
        let mut command = Command::new(&program);
        command.arg(action);
        self.acting.apply(&mut command);
        let output = child::run(command, input, deadline).map_err(|failure| {
            failure.into_error(
                &format!("{program} {action}"),
                &format!(
                    "credential helper {program} (named by the docker config) is not installed"
                ),
            )
        })?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        let text =
            String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        let first = text
            .trim()
            .lines()
            .next()
            .unwrap_or("no output")
            .to_string();
        let said = secret.map_or(first.clone(), |s| s.redact(&first));
        Err(fail(
            Code::CantCreat,
            format!("{program} {action} failed ({}): {said}", output.status),
        ))
    }
}

/// Fingerprint of `auths[host].auth` (decoded `user:password`), if there is one.
pub fn auth_fingerprint(config: &Map<String, Value>, host: &str) -> Option<String> {
    let auth = config.get("auths")?.get(host)?.get("auth")?.as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    Some(fingerprint_of(&decoded))
}

/// Drop `auths[host]`; an `auths` left empty stays as `{}` (docker writes it so too).
pub fn remove_auth(config: &mut Map<String, Value>, host: &str) {
    if let Some(Value::Object(auths)) = config.get_mut("auths") {
        auths.shift_remove(host);
    }
}

/// The fingerprint of what `file` (or the helper it routes `host` to) holds for `host`.
pub fn held(
    file: &Path,
    host: &str,
    default_store: Option<&str>,
    deadline: Instant,
) -> Result<Held> {
    let acting = owner::act_as_owner_of(file)?;
    let existing = atomic_file::read_existing(file, "docker config")?;
    let config = parse(existing.as_ref().map(|(b, _)| b.as_slice()), file)?;
    if let Some(name) = credential_helper(&config, host, default_store) {
        let helper = Helper {
            name: &name,
            acting: &acting,
        };
        return Ok(match helper.get(host, deadline)? {
            Some(pair) => Held::Present(fingerprint_of(pair.expose().as_bytes())),
            None => Held::Absent,
        });
    }
    Ok(auth_fingerprint(&config, host).map_or(Held::Absent, Held::Present))
}

/// Remove `host` from `file` (or its helper) if what is there is still ours (`fingerprint`).
/// With `dry_run`, only say what would happen.
pub fn remove(
    file: &Path,
    host: &str,
    fingerprint: &str,
    default_store: Option<&str>,
    deadline: Instant,
    dry_run: bool,
) -> Result<Removal> {
    let acting = owner::act_as_owner_of(file)?;
    if fs::symlink_metadata(file).is_err() {
        return Ok(Removal::Absent);
    }
    let (target, _lock) = lock_target(file, deadline)?;
    let Some((bytes, meta)) = atomic_file::read_existing(&target, "docker config")? else {
        return Ok(Removal::Absent);
    };
    let mut config = parse(Some(&bytes), &target)?;
    if let Some(name) = credential_helper(&config, host, default_store) {
        let helper = Helper {
            name: &name,
            acting: &acting,
        };
        return match helper.get(host, deadline)? {
            None => Ok(Removal::Absent),
            Some(pair) if fingerprint_of(pair.expose().as_bytes()) != fingerprint => {
                Ok(Removal::Changed)
            }
            Some(_) if dry_run => Ok(Removal::Removed),
            Some(_) => {
                helper.run("erase", host.as_bytes(), None, deadline)?;
                Ok(Removal::Removed)
            }
        };
    }
    match auth_fingerprint(&config, host) {
        None => Ok(Removal::Absent),
        Some(found) if found != fingerprint => Ok(Removal::Changed),
        Some(_) if dry_run => Ok(Removal::Removed),
        Some(_) => {
            remove_auth(&mut config, host);
            atomic_file::write(&target, &serialize(&config), Some(&meta))
                .with_context(|| format!("writing docker config {}", target.display()))?;
            Ok(Removal::Removed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn merge_keeps_unknown_keys_order_and_other_auths() {
        let original = br#"{
	"auths": {
		"first.example": {"auth": "Zmlyc3Q="},
		"111122223333.dkr.ecr.us-east-1.amazonaws.com": {"auth": "b2xk", "identitytoken": "stale"},
		"last.example": {"auth": "bGFzdA=="}
	},
	"credHelpers": {"gcr.io": "gcloud"},
	"psFormat": "table {{.ID}}",
	"experimental": "enabled",
	"proxies": {"default": {"httpProxy": "http://proxy:3128"}},
	"number": 1.50
}"#;
        let mut config = parse(Some(original), Path::new("c")).unwrap();
        let pw = Secret::new("pw".into());
        set_auth(
            &mut config,
            &Entry::aws("111122223333.dkr.ecr.us-east-1.amazonaws.com", &pw),
        )
        .unwrap();
        set_auth(
            &mut config,
            &Entry::aws("444455556666.dkr.ecr.eu-west-1.amazonaws.com", &pw),
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&serialize(&config)).unwrap();
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "auths",
                "credHelpers",
                "psFormat",
                "experimental",
                "proxies",
                "number"
            ]
        );
        let auths: Vec<_> = out["auths"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            auths,
            [
                "first.example",
                "111122223333.dkr.ecr.us-east-1.amazonaws.com",
                "last.example",
                "444455556666.dkr.ecr.eu-west-1.amazonaws.com"
            ]
        );
        let replaced = &out["auths"]["111122223333.dkr.ecr.us-east-1.amazonaws.com"];
        assert_eq!(replaced, &serde_json::json!({"auth": "QVdTOnB3"}));
        assert_eq!(out["auths"]["first.example"]["auth"], "Zmlyc3Q=");
        assert_eq!(out["credHelpers"]["gcr.io"], "gcloud");
        assert_eq!(out["proxies"]["default"]["httpProxy"], "http://proxy:3128");
        // Numbers keep their text, not just their value.
        assert!(
            String::from_utf8(serialize(&config))
                .unwrap()
                .contains("1.50")
        );
    }

    #[test]
    fn empty_file_is_an_empty_config() {
        assert!(parse(Some(b" \n"), Path::new("c")).unwrap().is_empty());
        assert!(parse(None, Path::new("c")).unwrap().is_empty());
    }

    #[test]
    fn malformed_or_non_object_is_dataerr() {
        for bad in [&b"{"[..], b"[]", b"\"x\"", b"{\"auths\": }"] {
            let err = parse(Some(bad), Path::new("c")).unwrap_err();
            assert_eq!(crate::exit::classify(&err), Code::DataErr);
        }
        let mut config = parse(Some(br#"{"auths": []}"#), Path::new("c")).unwrap();
        let pw = Secret::new("pw".into());
        let err = set_auth(&mut config, &Entry::aws("h", &pw)).unwrap_err();
        assert_eq!(crate::exit::classify(&err), Code::DataErr);
    }

    #[test]
    fn helper_routing_follows_docker() {
        let config = parse(
            Some(br#"{"credsStore": "pass", "credHelpers": {"a": "ecr-login", "b": ""}}"#),
            Path::new("c"),
        )
        .unwrap();
        let helper = |c, host, default| credential_helper(c, host, default);
        assert_eq!(helper(&config, "a", None).as_deref(), Some("ecr-login"));
        // An empty credHelpers entry sends the host to the file, whatever credsStore says.
        assert_eq!(helper(&config, "b", None), None);
        assert_eq!(
            helper(&config, "c", Some("secretservice")).as_deref(),
            Some("pass")
        );
        let plain = parse(Some(br#"{"credsStore": ""}"#), Path::new("c")).unwrap();
        assert_eq!(helper(&plain, "a", None), None);
        assert_eq!(
            helper(&plain, "a", Some("secretservice")).as_deref(),
            Some("secretservice")
        );
        // Docker applies the default store only to a file holding no credentials.
        let with_auths = parse(Some(br#"{"auths": {"ghcr.io": {}}}"#), Path::new("c")).unwrap();
        assert_eq!(helper(&with_auths, "a", Some("pass")), None);
        assert!(!contains_auth(&plain));
        for holding in [
            &br#"{"auths": {"ghcr.io": {}}}"#[..],
            br#"{"credHelpers": {"x": "y"}}"#,
            br#"{"credsStore": "pass"}"#,
        ] {
            assert!(contains_auth(
                &parse(Some(holding), Path::new("c")).unwrap()
            ));
        }
        assert!(!contains_auth(
            &parse(Some(br#"{"auths": {}, "credHelpers": {}}"#), Path::new("c")).unwrap()
        ));
    }

    #[test]
    fn store_creates_private_dir_and_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("nested/.docker");
        let pw = Secret::new("pw".into());
        let deadline = Instant::now() + Duration::from_secs(5);
        let results = store(
            &dir.join("config.json"),
            &[Entry::aws("h.example", &pw)],
            deadline,
            None,
        )
        .unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].as_ref().unwrap(), &Stored::Auths);
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(
            fs::metadata(dir.join("config.json")).unwrap().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn store_leaves_malformed_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, b"{\"auths\": {").unwrap();
        let pw = Secret::new("pw".into());
        let err = store(
            &path,
            &[Entry::aws("h", &pw)],
            Instant::now() + Duration::from_secs(5),
            None,
        )
        .unwrap_err();
        assert_eq!(crate::exit::classify(&err), Code::DataErr);
        assert_eq!(fs::read(&path).unwrap(), b"{\"auths\": {");
    }

    #[test]
    fn group_readable_file_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, b"{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let pw = Secret::new("pw".into());
        store(
            &path,
            &[Entry::aws("h", &pw)],
            Instant::now() + Duration::from_secs(5),
            None,
        )
        .unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    }
}
