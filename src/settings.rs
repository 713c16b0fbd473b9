//! Settings from the config file, `ECR_LOGIN_*` environment and flags, in that order of
//! precedence, validated into one struct.

use std::env;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use crate::cli::{Cli, Command, Method};
use crate::exit::{Code, ResultExt, fail};

pub const DEFAULT_CONFIG_FILE: &str = "/etc/ecr-login/config.toml";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// `/etc/ecr-login/config.toml`. Keys mirror the long flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    registries: Option<Vec<FileRegistry>>,
    region: Option<String>,
    profile: Option<String>,
    method: Option<OneOrMany<Method>>,
    docker_config: Option<PathBuf>,
    docker_bin: Option<PathBuf>,
    authfile: Option<PathBuf>,
    archive: Option<PathBuf>,
    kube_secret: Option<String>,
    kube_output: Option<PathBuf>,
    min_valid: Option<String>,
    every: Option<String>,
    timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// A registry in the file: a plain string, or a table naming its own credentials.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileRegistry {
    Name(String),
    Detailed(DetailedRegistry),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailedRegistry {
    registry: String,
    profile: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
}

/// Which AWS credentials fetch a registry's token. Registries with equal credentials (and
/// endpoint) share one API call.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credentials {
    /// Overrides the global --profile.
    pub profile: Option<String>,
    /// Assumed (through STS, from the profile's credentials) before the call.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
}

/// A registry as written, with the credentials it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryInput {
    pub name: String,
    pub credentials: Credentials,
}

impl RegistryInput {
    fn plain(name: String) -> RegistryInput {
        RegistryInput {
            name,
            credentials: Credentials::default(),
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Login,
    Status { json: bool },
    Logout,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub action: Action,
    pub registries: Vec<RegistryInput>,
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Sinks, in the order given, without repeats.
    pub methods: Vec<Method>,
    pub docker_config: PathBuf,
    pub docker_bin: PathBuf,
    pub authfile: PathBuf,
    pub archive: Option<PathBuf>,
    /// (namespace, name)
    pub kube_secret: Option<(String, String)>,
    pub kube_output: Option<PathBuf>,
    pub min_valid: Option<Duration>,
    pub every: Option<Duration>,
    pub state_dir: PathBuf,
    pub timeout: Duration,
    pub dry_run: bool,
    /// Log level offset: 0 info, 1 debug, 2+ trace, -1 warn, -2 error.
    pub verbosity: i8,
}

/// The seed container's variables, read only with --compat-env.
#[derive(Debug, Default)]
struct Compat {
    region: Option<String>,
    registries: Option<String>,
    interval: Option<String>,
    file_location: Option<PathBuf>,
}

impl Compat {
    fn read(enabled: bool) -> Compat {
        if !enabled {
            return Compat::default();
        }
        let var = |name| env::var(name).ok().filter(|v| !v.trim().is_empty());
        Compat {
            region: var("REGION"),
            registries: var("REGISTRIES"),
            interval: var("INTERVAL"),
            file_location: var("FILE_LOCATION").map(PathBuf::from),
        }
    }
}

impl Settings {
    pub fn resolve(cli: &Cli) -> Result<Settings> {
        let opts = &cli.options;
        let file = load_file(opts.config.as_deref())?;
        let compat = Compat::read(opts.compat_env);
        let action = match &cli.command {
            Some(Command::Status(args)) => Action::Status { json: args.json },
            Some(Command::Logout(_)) => Action::Logout,
            Some(Command::Login(_)) | None => Action::Login,
        };

        let registries = if !cli.registries().is_empty() {
            split_list(cli.registries().iter().map(String::as_str))
                .into_iter()
                .map(RegistryInput::plain)
                .collect()
        } else if let Some(list) = env::var("ECR_LOGIN_REGISTRIES")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or(compat.registries.clone())
        {
            split_list([list.as_str()])
                .into_iter()
                .map(RegistryInput::plain)
                .collect()
        } else {
            file_registries(file.registries.unwrap_or_default())
        };
        // `status` and `logout` default to everything ecr-login recorded.
        if registries.is_empty() && action == Action::Login {
            return Err(fail(
                Code::Usage,
                "no registries given: name them as arguments, in ECR_LOGIN_REGISTRIES, \
                 or as `registries = [...]` in the config file",
            ));
        }

        let timeout = duration_setting("timeout", opts.timeout.clone().or(file.timeout))?
            .unwrap_or(DEFAULT_TIMEOUT);
        let min_valid = duration_setting("min-valid", opts.min_valid.clone().or(file.min_valid))?;
        let every = duration_setting(
            "every",
            opts.every.clone().or(compat.interval).or(file.every),
        )?;

        let region = opts.region.clone().or(compat.region).or(file.region);
        if let Some(region) = &region
            && !crate::registry::is_region(region)
        {
            return Err(fail(
                Code::Usage,
                format!("invalid region {region:?}: expected e.g. us-east-1"),
            ));
        }

        check_max_attempts()?;

        let verbosity = if opts.verbose > 0 || opts.quiet > 0 {
            opts.verbose as i8 - opts.quiet as i8
        } else {
            env_level("ECR_LOGIN_VERBOSE")? - env_level("ECR_LOGIN_QUIET")?
        };

        let mut methods = if !opts.method.is_empty() {
            opts.method.clone()
        } else {
            match file.method {
                Some(OneOrMany::One(m)) => vec![m],
                Some(OneOrMany::Many(ms)) => ms,
                None if compat.file_location.is_some() => vec![Method::Config, Method::Archive],
                None => vec![Method::Config],
            }
        };
        let mut seen = std::collections::HashSet::new();
        methods.retain(|m| seen.insert(*m));
        if methods.is_empty() {
            return Err(fail(Code::Usage, "method list is empty"));
        }

        let archive = opts
            .archive
            .clone()
            .or(compat
                .file_location
                .as_ref()
                .map(|d| d.join("docker.tar.gz")))
            .or(file.archive);
        if methods.contains(&Method::Archive) && archive.is_none() {
            return Err(fail(
                Code::Usage,
                "--method archive needs --archive FILE (e.g. /etc/docker.tar.gz)",
            ));
        }
        let kube_secret = match opts.kube_secret.clone().or(file.kube_secret) {
            Some(text) => Some(parse_secret_name(&text)?),
            None if methods.contains(&Method::KubeSecret) => {
                return Err(fail(
                    Code::Usage,
                    "--method kube-secret needs --kube-secret NAMESPACE/NAME",
                ));
            }
            None => None,
        };

        Ok(Settings {
            action,
            registries,
            region,
            profile: opts.profile.clone().or(file.profile),
            methods,
            docker_config: match opts
                .docker_config
                .clone()
                .or(compat.file_location.as_ref().map(|d| d.join(".docker")))
                .or(file.docker_config)
            {
                Some(dir) => dir,
                None => default_docker_config()?,
            },
            docker_bin: opts
                .docker_bin
                .clone()
                .or(file.docker_bin)
                .unwrap_or_else(|| "docker".into()),
            authfile: match opts.authfile.clone().or(file.authfile) {
                Some(file) => file,
                None => default_authfile(),
            },
            archive,
            kube_secret,
            kube_output: opts.kube_output.clone().or(file.kube_output),
            min_valid,
            every,
            state_dir: default_state_dir()?,
            timeout,
            dry_run: opts.dry_run,
            verbosity,
        })
    }
}

fn file_registries(entries: Vec<FileRegistry>) -> Vec<RegistryInput> {
    entries
        .into_iter()
        .flat_map(|entry| match entry {
            FileRegistry::Name(name) => split_list([name.as_str()])
                .into_iter()
                .map(RegistryInput::plain)
                .collect::<Vec<_>>(),
            FileRegistry::Detailed(d) => vec![RegistryInput {
                name: d.registry,
                credentials: Credentials {
                    profile: d.profile,
                    role_arn: d.role_arn,
                    external_id: d.external_id,
                },
            }],
        })
        .collect()
}

fn duration_setting(name: &str, text: Option<String>) -> Result<Option<Duration>> {
    text.map(|text| {
        parse_duration(&text).ok_or_else(|| {
            fail(
                Code::Usage,
                format!("invalid {name} {text:?}: expected e.g. 60s, 2m, 1h30m"),
            )
        })
    })
    .transpose()
}

/// `NAMESPACE/NAME`, both valid Kubernetes names (RFC 1123 labels / subdomains).
fn parse_secret_name(text: &str) -> Result<(String, String)> {
    let label = |s: &str, max: usize, dots: bool| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
            })
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
    };
    match text.split_once('/') {
        Some((ns, name)) if label(ns, 63, false) && label(name, 253, true) => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(fail(
            Code::Usage,
            format!(
                "invalid --kube-secret {text:?}: expected NAMESPACE/NAME in lowercase \
                 letters, digits and dashes, e.g. ci/ecr-pull"
            ),
        )),
    }
}

/// Podman's own order: `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`, else
/// `/run/containers/UID/auth.json`.
fn default_authfile() -> PathBuf {
    let var = |name| {
        env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("REGISTRY_AUTH_FILE")
        .or_else(|| var("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")))
        .unwrap_or_else(|| PathBuf::from(format!("/run/containers/{}/auth.json", current_uid())))
}

/// `$STATE_DIRECTORY` (systemd's StateDirectory=), else `$XDG_STATE_HOME/ecr-login`, else
/// `/var/lib/ecr-login` for root (where the system unit keeps it, so `ecr-login status` by
/// hand sees the timer's runs), else `~/.local/state/ecr-login`.
fn default_state_dir() -> Result<PathBuf> {
    if let Some(dirs) = env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd lists several directories separated by colons; ours is the first.
        let first = env::split_paths(&dirs).next().unwrap_or_default();
        return Ok(first);
    }
    if let Some(dir) = env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("ecr-login"));
    }
    if current_uid() == 0 {
        return Ok(PathBuf::from("/var/lib/ecr-login"));
    }
    Ok(home_dir()
        .ok_or_else(|| {
            fail(
                Code::Config,
                "cannot find a state directory: set STATE_DIRECTORY, XDG_STATE_HOME or HOME",
            )
        })?
        .join(".local/state/ecr-login"))
}

/// Read the settings file: an explicit one must exist, the default one is optional.
fn load_file(explicit: Option<&Path>) -> Result<FileSettings> {
    let path = match explicit {
        Some(path) => path,
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => Path::new(DEFAULT_CONFIG_FILE),
        None => return Ok(FileSettings::default()),
    };
    let text = std::fs::read_to_string(path).code(
        Code::Config,
        format!("reading config file {}", path.display()),
    )?;
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
        fail(
            Code::Config,
            format!(
                "invalid config file {}{at}: {}",
                path.display(),
                e.message().trim()
            ),
        )
    })
}

/// `a,b c` and repeated arguments all become one list.
fn split_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    items
        .into_iter()
        .flat_map(|s| s.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `60s`, `2m`, `1m30s`, or a bare number of seconds; zero is not a deadline.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(text).ok()?,
    };
    (!duration.is_zero()).then_some(duration)
}

fn env_level(name: &str) -> Result<i8> {
    match env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<i8>()
            .ok()
            .filter(|n| (0..=5).contains(n))
            .ok_or_else(|| {
                fail(
                    Code::Usage,
                    format!("invalid {name} {v:?}: expected a number 0-5"),
                )
            }),
        _ => Ok(0),
    }
}

/// The SDK panics on a malformed AWS_MAX_ATTEMPTS; refuse it with a message instead.
fn check_max_attempts() -> Result<()> {
    match env::var("AWS_MAX_ATTEMPTS") {
        Ok(v) if v.trim().parse::<u32>().map(|n| n >= 1).unwrap_or(false) => Ok(()),
        Ok(v) => Err(fail(
            Code::Config,
            format!("invalid AWS_MAX_ATTEMPTS {v:?}: expected a whole number of at least 1"),
        )),
        Err(_) => Ok(()),
    }
}

/// `$DOCKER_CONFIG`, else `~/.docker`.
fn default_docker_config() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = home_dir().ok_or_else(|| {
        fail(
            Code::Config,
            "cannot find the docker config: set --docker-config, DOCKER_CONFIG or HOME",
        )
    })?;
    Ok(home.join(".docker"))
}

/// `$HOME`, else the passwd entry (systemd system services may run without `$HOME`).
fn home_dir() -> Option<PathBuf> {
    env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(home_from_passwd)
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

fn home_from_passwd() -> Option<PathBuf> {
    let uid = current_uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[2].parse() == Ok(uid)).then(|| PathBuf::from(fields[5]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_commas_and_spaces() {
        assert_eq!(split_list(["a,b  c", "d", ",,"]), ["a", "b", "c", "d"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn file_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "region = \"us-east-1\"\nregistrys = []\n").unwrap();
        let err = load_file(Some(&path)).unwrap_err();
        assert_eq!(crate::exit::classify(&err), Code::Config);
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(err.to_string().contains("registrys"), "{err}");
    }

    #[test]
    fn file_reads_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "registries = [\"111122223333\"]\nregion = \"eu-west-1\"\nprofile = \"ci\"\nmethod = \"docker\"\n\
             docker_config = \"/srv/docker\"\ndocker_bin = \"podman\"\ntimeout = \"30s\"\n",
        )
        .unwrap();
        let file = load_file(Some(&path)).unwrap();
        assert_eq!(
            file_registries(file.registries.unwrap()),
            [RegistryInput::plain("111122223333".into())]
        );
        assert!(matches!(file.method, Some(OneOrMany::One(Method::Docker))));
        assert_eq!(file.docker_bin.unwrap(), Path::new("podman"));
    }

    #[test]
    fn file_registries_may_name_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "method = [\"config\", \"kube-secret\"]\nregistries = [\"a, b\", \
             { registry = \"c\", profile = \"p\", role_arn = \"arn:r\", external_id = \"x\" }]\n",
        )
        .unwrap();
        let file = load_file(Some(&path)).unwrap();
        assert!(matches!(
            file.method,
            Some(OneOrMany::Many(ref m)) if m == &[Method::Config, Method::KubeSecret]
        ));
        let registries = file_registries(file.registries.unwrap());
        assert_eq!(registries.len(), 3);
        assert_eq!(registries[1], RegistryInput::plain("b".into()));
        assert_eq!(
            registries[2].credentials,
            Credentials {
                profile: Some("p".into()),
                role_arn: Some("arn:r".into()),
                external_id: Some("x".into()),
            }
        );
        std::fs::write(
            &path,
            "registries = [{ registry = \"c\", rolearn = \"x\" }]\n",
        )
        .unwrap();
        assert_eq!(
            crate::exit::classify(&load_file(Some(&path)).unwrap_err()),
            Code::Config
        );
    }

    #[test]
    fn secret_names() {
        assert_eq!(
            parse_secret_name("ci/ecr-pull.v1").unwrap(),
            ("ci".to_string(), "ecr-pull.v1".to_string())
        );
        for bad in ["ci", "/x", "ci/", "Ci/x", "ci/x/y", "ci/-x", "c.i/x"] {
            assert!(parse_secret_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn explicit_missing_file_is_a_config_error() {
        let err = load_file(Some(Path::new("/nonexistent/ecr-login.toml"))).unwrap_err();
        assert_eq!(crate::exit::classify(&err), Code::Config);
    }
}
