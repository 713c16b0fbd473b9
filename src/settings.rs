//! Settings from the config file, `ECR_LOGIN_*` environment and flags, in that order of
//! precedence, validated into one struct. A bad value exits 64 (USAGE) when it came from the
//! command line or the environment and 78 (CONFIG) when it came from the settings file.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::cli::{Cli, Command, Method};
use crate::ecr::{Credentials, is_region};
use crate::exit::{Code, ResultExt, fail};
use crate::owner;

pub const DEFAULT_CONFIG_FILE: &str = "/etc/ecr-login/config.toml";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longer than any deadline or interval anyone means, short enough never to overflow a clock.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `/etc/ecr-login/config.toml`. Keys mirror the long flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    registries: Option<Vec<FileRegistry>>,
    region: Option<String>,
    profile: Option<String>,
    method: Option<Methods>,
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

/// `method = "config"` or `method = ["config", "podman"]`. Written out (not an untagged
/// enum) so a bad name is reported as such, with the accepted names.
#[derive(Debug)]
struct Methods(Vec<Method>);

impl<'de> Deserialize<'de> for Methods {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Methods, D::Error> {
        struct OneOrMany;
        impl<'de> Visitor<'de> for OneOrMany {
            type Value = Methods;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a method name or a list of them")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Methods, E> {
                Method::deserialize(de::value::StrDeserializer::new(name)).map(|m| Methods(vec![m]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Methods, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Methods)
            }
        }
        deserializer.deserialize_any(OneOrMany)
    }
}

/// A registry in the file: a plain string, or a table naming its own credentials. Written
/// out (not an untagged enum) so a typo inside a table names the key.
#[derive(Debug)]
enum FileRegistry {
    Name(String),
    Detailed(DetailedRegistry),
}

impl<'de> Deserialize<'de> for FileRegistry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FileRegistry, D::Error> {
        struct NameOrTable;
        impl<'de> Visitor<'de> for NameOrTable {
            type Value = FileRegistry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a registry name or a table with `registry = ...`")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<FileRegistry, E> {
                Ok(FileRegistry::Name(name.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FileRegistry, A::Error> {
                DetailedRegistry::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(FileRegistry::Detailed)
            }
        }
        deserializer.deserialize_any(NameOrTable)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailedRegistry {
    registry: String,
    profile: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
}

/// A registry as written, with the credentials it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryInput {
    pub name: String,
    pub credentials: Credentials,
    /// Written in the settings file: a bad name there is a CONFIG error, not USAGE.
    pub from_file: bool,
}

impl RegistryInput {
    fn plain(name: String, from_file: bool) -> RegistryInput {
        RegistryInput {
            name,
            credentials: Credentials::default(),
            from_file,
        }
    }

    /// The exit code for a name that does not parse.
    pub fn bad_name_code(&self) -> Code {
        if self.from_file {
            Code::Config
        } else {
            Code::Usage
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

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::Status { .. } => "status",
            Action::Logout => "logout",
        }
    }

    /// Options this command ignores, refused when typed (`status --every 1h` is a mistake,
    /// not a request). The environment and the settings file serve every command, so what
    /// they set is not refused.
    fn unused(self) -> &'static [&'static str] {
        match self {
            Action::Login => &[],
            Action::Status { .. } => &["every", "docker_bin"],
            Action::Logout => &["every", "min_valid", "docker_bin"],
        }
    }
}

/// Options that name sinks: given to `status` or `logout`, they narrow it to those sinks.
const SINK_OPTIONS: &[&str] = &[
    "method",
    "docker_config",
    "authfile",
    "archive",
    "kube_secret",
    "kube_output",
];

#[derive(Debug, Clone)]
pub struct Settings {
    pub action: Action,
    pub registries: Vec<RegistryInput>,
    /// Registries of the settings file that name their own credentials: they apply to the
    /// same registry named on the command line or in the environment too.
    pub file_credentials: Vec<RegistryInput>,
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Sinks, in the order given, without repeats.
    pub methods: Vec<Method>,
    /// The command line named sinks (for `status` and `logout`: only those).
    pub sinks_chosen: bool,
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

/// Where a value came from, which decides the exit code of a bad one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A flag or the environment: 64 (USAGE).
    Args,
    /// The settings file: 78 (CONFIG).
    File,
}

impl Source {
    fn code(self) -> Code {
        match self {
            Source::Args => Code::Usage,
            Source::File => Code::Config,
        }
    }
}

/// The flag's (or environment's) value if given, else the file's, with where it came from.
fn first<T>(args: Option<T>, file: Option<T>) -> Option<(T, Source)> {
    args.map(|v| (v, Source::Args))
        .or_else(|| file.map(|v| (v, Source::File)))
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
        if let Some(flag) = action.unused().iter().find(|f| cli.given(f)) {
            return Err(fail(
                Code::Usage,
                format!(
                    "`ecr-login {}` does not use --{}",
                    action.name(),
                    flag.replace('_', "-")
                ),
            ));
        }

        let file_registries = file_registries(file.registries.unwrap_or_default());
        let file_credentials: Vec<RegistryInput> = file_registries
            .iter()
            .filter(|r| r.credentials != Credentials::default())
            .cloned()
            .collect();
        let registries = if !cli.registries().is_empty() {
            split_list(cli.registries().iter().map(String::as_str))
                .into_iter()
                .map(|name| RegistryInput::plain(name, false))
                .collect()
        } else if let Some(list) = env::var("ECR_LOGIN_REGISTRIES")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or(compat.registries.clone())
        {
            split_list([list.as_str()])
                .into_iter()
                .map(|name| RegistryInput::plain(name, false))
                .collect()
        } else {
            file_registries
        };
        // `status` and `logout` default to everything ecr-login recorded.
        if registries.is_empty() && action == Action::Login {
            return Err(fail(
                Code::Usage,
                "no registries given: name them as arguments, in ECR_LOGIN_REGISTRIES, \
                 or as `registries = [...]` in the config file",
            ));
        }

        let timeout = duration_setting("timeout", first(opts.timeout.clone(), file.timeout))?
            .unwrap_or(DEFAULT_TIMEOUT);
        let min_valid =
            duration_setting("min-valid", first(opts.min_valid.clone(), file.min_valid))?;
        let every = duration_setting(
            "every",
            first(opts.every.clone().or(compat.interval), file.every),
        )?;

        let region = first(opts.region.clone().or(compat.region), file.region);
        if let Some((region, source)) = &region
            && !is_region(region)
        {
            return Err(fail(
                source.code(),
                format!("invalid region {region:?}: expected e.g. us-east-1"),
            ));
        }

        let verbosity = if opts.verbose > 0 || opts.quiet > 0 {
            opts.verbose as i8 - opts.quiet as i8
        } else {
            env_level("ECR_LOGIN_VERBOSE")? - env_level("ECR_LOGIN_QUIET")?
        };

        let mut methods = if !opts.method.is_empty() {
            opts.method.clone()
        } else {
            match file.method {
                Some(Methods(ms)) => ms,
                None if compat.file_location.is_some() => vec![Method::Config, Method::Archive],
                None => vec![Method::Config],
            }
        };
        let mut seen = std::collections::HashSet::new();
        methods.retain(|m| seen.insert(*m));
        if methods.is_empty() {
            return Err(fail(Code::Usage, "method list is empty"));
        }

        let compat_dir = |name: &str| compat.file_location.as_ref().map(|d| d.join(name));
        let archive = path_setting(
            "archive",
            first(
                opts.archive.clone().or(compat_dir("docker.tar.gz")),
                file.archive,
            ),
        )?;
        if methods.contains(&Method::Archive) && archive.is_none() {
            return Err(fail(
                Code::Usage,
                "--method archive needs --archive FILE (e.g. /etc/docker.tar.gz)",
            ));
        }
        let kube_secret = match first(opts.kube_secret.clone(), file.kube_secret) {
            Some((text, source)) => Some(parse_secret_name(&text).map_err(|e| {
                let message = format!("{e}");
                fail(source.code(), message)
            })?),
            None if methods.contains(&Method::KubeSecret) => {
                return Err(fail(
                    Code::Usage,
                    "--method kube-secret needs --kube-secret NAMESPACE/NAME",
                ));
            }
            None => None,
        };
        let docker_config = match path_setting(
            "docker-config",
            first(
                opts.docker_config.clone().or(compat_dir(".docker")),
                file.docker_config,
            ),
        )? {
            Some(dir) => dir,
            None => default_docker_config()?,
        };
        let authfile = match path_setting("authfile", first(opts.authfile.clone(), file.authfile))?
        {
            Some(file) => file,
            None => default_authfile()?,
        };

        Ok(Settings {
            action,
            registries,
            file_credentials,
            region: region.map(|(r, _)| r),
            profile: opts.profile.clone().or(file.profile),
            methods,
            sinks_chosen: SINK_OPTIONS.iter().any(|o| cli.given(o)),
            docker_config,
            docker_bin: opts
                .docker_bin
                .clone()
                .or(file.docker_bin)
                .unwrap_or_else(|| "docker".into()),
            authfile,
            archive,
            kube_secret,
            kube_output: path_setting(
                "kube-output",
                first(opts.kube_output.clone(), file.kube_output),
            )?,
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
                .map(|name| RegistryInput::plain(name, true))
                .collect::<Vec<_>>(),
            FileRegistry::Detailed(d) => vec![RegistryInput {
                name: d.registry,
                credentials: Credentials {
                    profile: d.profile,
                    role_arn: d.role_arn,
                    external_id: d.external_id,
                },
                from_file: true,
            }],
        })
        .collect()
}

fn duration_setting(name: &str, value: Option<(String, Source)>) -> Result<Option<Duration>> {
    value
        .map(|(text, source)| match parse_duration(&text) {
            Some(d) if d <= LONGEST => Ok(d),
            Some(_) => Err(fail(
                source.code(),
                format!("invalid {name} {text:?}: longer than 100 years"),
            )),
            None => Err(fail(
                source.code(),
                format!("invalid {name} {text:?}: expected e.g. 60s, 2m, 1h30m"),
            )),
        })
        .transpose()
}

/// A path as the user means it, made absolute (so records of it stay right from any other
/// directory) with a leading `~` expanded, and readable as UTF-8 (so it can be recorded).
fn path_setting(name: &str, value: Option<(PathBuf, Source)>) -> Result<Option<PathBuf>> {
    value
        .map(|(path, source)| absolute(&path, name).map_err(|e| fail(source.code(), e)))
        .transpose()
}

fn absolute(path: &Path, name: &str) -> std::result::Result<PathBuf, String> {
    let Some(text) = path.to_str() else {
        return Err(format!(
            "invalid {name} {}: not valid UTF-8",
            path.display()
        ));
    };
    let expanded = match text.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = home_dir().ok_or_else(|| {
                format!("invalid {name} {text:?}: no home directory to expand ~ into")
            })?;
            home.join(rest.trim_start_matches('/'))
        }
        _ => path.to_path_buf(),
    };
    std::path::absolute(&expanded).map_err(|e| format!("invalid {name} {text:?}: {e}"))
}

/// `NAMESPACE/NAME` as Kubernetes validates them: the namespace a DNS-1123 label, the name a
/// DNS-1123 subdomain (labels joined by dots).
fn parse_secret_name(text: &str) -> Result<(String, String)> {
    // [a-z0-9]([-a-z0-9]*[a-z0-9])?
    let part = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
    };
    let label = |s: &str| s.len() <= 63 && part(s);
    let subdomain = |s: &str| s.len() <= 253 && s.split('.').all(part);
    match text.split_once('/') {
        Some((ns, name)) if label(ns) && subdomain(name) => Ok((ns.to_string(), name.to_string())),
        _ => Err(fail(
            Code::Usage,
            format!(
                "invalid kube-secret {text:?}: expected NAMESPACE/NAME in lowercase letters, \
                 digits and dashes (the name may have dot-separated parts), e.g. ci/ecr-pull"
            ),
        )),
    }
}

/// Podman's own order: `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`, else
/// `/run/containers/UID/auth.json`.
fn default_authfile() -> Result<PathBuf> {
    let var = |name| {
        env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let path = var("REGISTRY_AUTH_FILE")
        .or_else(|| var("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")))
        .unwrap_or_else(|| {
            PathBuf::from(format!(
                "/run/containers/{}/auth.json",
                owner::effective_uid()
            ))
        });
    absolute(&path, "authfile").map_err(|e| fail(Code::Usage, e))
}

/// `$STATE_DIRECTORY` (systemd's StateDirectory=), else `$XDG_STATE_HOME/ecr-login`, else
/// `/var/lib/ecr-login` for root (where the system unit keeps it, so `ecr-login status` by
/// hand sees the timer's runs), else `~/.local/state/ecr-login`.
fn default_state_dir() -> Result<PathBuf> {
    let dir = if let Some(dirs) = env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd lists several directories separated by colons; ours is the first.
        env::split_paths(&dirs).next().unwrap_or_default()
    } else if let Some(dir) = env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        PathBuf::from(dir).join("ecr-login")
    } else if owner::effective_uid() == 0 {
        PathBuf::from("/var/lib/ecr-login")
    } else {
        home_dir()
            .ok_or_else(|| {
                fail(
                    Code::Config,
                    "cannot find a state directory: set STATE_DIRECTORY, XDG_STATE_HOME or HOME",
                )
            })?
            .join(".local/state/ecr-login")
    };
    absolute(&dir, "state directory").map_err(|e| fail(Code::Usage, e))
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

/// `$DOCKER_CONFIG`, else `~/.docker`.
fn default_docker_config() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return absolute(Path::new(&dir), "DOCKER_CONFIG").map_err(|e| fail(Code::Usage, e));
    }
    let home = home_dir().ok_or_else(|| {
        fail(
            Code::Config,
            "cannot find the docker config: set --docker-config, DOCKER_CONFIG or HOME",
        )
    })?;
    absolute(&home.join(".docker"), "home directory").map_err(|e| fail(Code::Config, e))
}

/// `$HOME`, else the user database's entry (systemd system services may run without `$HOME`;
/// build users may come from LDAP or SSSD rather than /etc/passwd).
pub fn home_dir() -> Option<PathBuf> {
    env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| owner::account(owner::effective_uid()).map(|a| a.home))
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
    fn durations_that_would_overflow_a_clock_are_refused_with_their_source_code() {
        let err = duration_setting(
            "timeout",
            Some(("18446744073709551615".into(), Source::Args)),
        )
        .unwrap_err();
        assert_eq!(crate::exit::classify(&err), Code::Usage);
        let err = duration_setting("every", Some(("soon".into(), Source::File))).unwrap_err();
        assert_eq!(crate::exit::classify(&err), Code::Config);
    }

    #[test]
    fn paths_become_absolute_with_home_expanded() {
        let cwd = env::current_dir().unwrap();
        assert_eq!(
            absolute(Path::new("rel/x"), "p").unwrap(),
            cwd.join("rel/x")
        );
        let home = home_dir().unwrap();
        assert_eq!(
            absolute(Path::new("~/.docker"), "p").unwrap(),
            home.join(".docker")
        );
        assert_eq!(absolute(Path::new("~"), "p").unwrap(), home);
        assert_eq!(
            absolute(Path::new("~other/x"), "p").unwrap(),
            cwd.join("~other/x")
        );
        use std::os::unix::ffi::OsStrExt;
        let bad = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff"));
        assert!(absolute(bad, "p").unwrap_err().contains("not valid UTF-8"));
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
            [RegistryInput::plain("111122223333".into(), true)]
        );
        assert!(matches!(file.method, Some(Methods(ref m)) if m == &[Method::Docker]));
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
            Some(Methods(ref m)) if m == &[Method::Config, Method::KubeSecret]
        ));
        let registries = file_registries(file.registries.unwrap());
        assert_eq!(registries.len(), 3);
        assert_eq!(registries[1], RegistryInput::plain("b".into(), true));
        assert_eq!(
            registries[2].credentials,
            Credentials {
                profile: Some("p".into()),
                role_arn: Some("arn:r".into()),
                external_id: Some("x".into()),
            }
        );
    }

    #[test]
    fn a_typo_in_the_file_names_the_key_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        for (text, says) in [
            (
                "registries = [\n  \"a\",\n  { registry = \"c\", rolearn = \"x\" },\n]\n",
                "rolearn",
            ),
            (
                "method = [\"config\", \"carrier-pigeon\"]\n",
                "carrier-pigeon",
            ),
            ("method = \"pigeon\"\n", "pigeon"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = load_file(Some(&path)).unwrap_err();
            assert_eq!(crate::exit::classify(&err), Code::Config, "{text}");
            assert!(err.to_string().contains(says), "{text}: {err}");
            assert!(err.to_string().contains("at line"), "{text}: {err}");
        }
    }

    #[test]
    fn secret_names_follow_kubernetes() {
        assert_eq!(
            parse_secret_name("ci/ecr-pull.v1").unwrap(),
            ("ci".to_string(), "ecr-pull.v1".to_string())
        );
        let long_label = "a".repeat(64);
        for bad in [
            "ci",
            "/x",
            "ci/",
            "Ci/x",
            "ci/x/y",
            "ci/-x",
            "c.i/x",
            "ci/a..b",
            "ci/a.-b",
            "ci/a-.b",
            "ci/.a",
            "ci/a.",
            &format!("{long_label}/x"),
            &format!("ci/{}", "a".repeat(254)),
        ] {
            assert!(parse_secret_name(bad).is_err(), "{bad}");
        }
        // A subdomain's parts may be longer than a label (Kubernetes checks only the whole).
        assert!(parse_secret_name(&format!("ci/{long_label}.x")).is_ok());
    }

    #[test]
    fn explicit_missing_file_is_a_config_error() {
        let err = load_file(Some(Path::new("/nonexistent/ecr-login.toml"))).unwrap_err();
        assert_eq!(crate::exit::classify(&err), Code::Config);
    }
}
