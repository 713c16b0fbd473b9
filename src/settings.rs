//! Settings from the config file, `ECR_LOGIN_*` environment and flags, in that order of
//! precedence, validated into one struct.

use std::env;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use crate::cli::{Cli, Method};
use crate::exit::{Code, ResultExt, fail};

pub const DEFAULT_CONFIG_FILE: &str = "/etc/ecr-login/config.toml";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// `/etc/ecr-login/config.toml`. Keys mirror the long flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    registries: Option<Vec<String>>,
    region: Option<String>,
    profile: Option<String>,
    method: Option<Method>,
    docker_config: Option<PathBuf>,
    docker_bin: Option<PathBuf>,
    timeout: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub registries: Vec<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub method: Method,
    pub docker_config: PathBuf,
    pub docker_bin: PathBuf,
    pub timeout: Duration,
    pub dry_run: bool,
    /// Log level offset: 0 info, 1 debug, 2+ trace, -1 warn, -2 error.
    pub verbosity: i8,
}

impl Settings {
    pub fn resolve(cli: &Cli) -> Result<Settings> {
        let opts = &cli.options;
        let file = load_file(opts.config.as_deref())?;

        let registries = if !cli.registries().is_empty() {
            split_list(cli.registries().iter().map(String::as_str))
        } else if let Some(list) = env::var("ECR_LOGIN_REGISTRIES")
            .ok()
            .filter(|s| !s.trim().is_empty())
        {
            split_list([list.as_str()])
        } else {
            file.registries.clone().unwrap_or_default()
        };
        if registries.is_empty() {
            return Err(fail(
                Code::Usage,
                "no registries given: name them as arguments, in ECR_LOGIN_REGISTRIES, \
                 or as `registries = [...]` in the config file",
            ));
        }

        let timeout = match opts.timeout.clone().or(file.timeout.clone()) {
            Some(text) => parse_duration(&text).ok_or_else(|| {
                fail(
                    Code::Usage,
                    format!("invalid timeout {text:?}: expected e.g. 60s, 2m, 1m30s"),
                )
            })?,
            None => DEFAULT_TIMEOUT,
        };

        let region = opts.region.clone().or(file.region.clone());
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

        Ok(Settings {
            registries,
            region,
            profile: opts.profile.clone().or(file.profile),
            method: opts.method.or(file.method).unwrap_or(Method::Config),
            docker_config: match opts.docker_config.clone().or(file.docker_config) {
                Some(dir) => dir,
                None => default_docker_config()?,
            },
            docker_bin: opts
                .docker_bin
                .clone()
                .or(file.docker_bin)
                .unwrap_or_else(|| "docker".into()),
            timeout,
            dry_run: opts.dry_run,
            verbosity,
        })
    }
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

/// `$DOCKER_CONFIG`, else `~/.docker`, where `~` is `$HOME` or the passwd entry (systemd system
/// services may run without `$HOME`).
fn default_docker_config() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(home_from_passwd)
        .ok_or_else(|| {
            fail(
                Code::Config,
                "cannot find the docker config: set --docker-config, DOCKER_CONFIG or HOME",
            )
        })?;
    Ok(home.join(".docker"))
}

fn home_from_passwd() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
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
        assert_eq!(file.registries.unwrap(), ["111122223333"]);
        assert_eq!(file.method, Some(Method::Docker));
        assert_eq!(file.docker_bin.unwrap(), Path::new("podman"));
    }

    #[test]
    fn explicit_missing_file_is_a_config_error() {
        let err = load_file(Some(Path::new("/nonexistent/ecr-login.toml"))).unwrap_err();
        assert_eq!(crate::exit::classify(&err), Code::Config);
    }
}
