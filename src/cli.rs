//! Command line: flags, their `ECR_LOGIN_*` environment names, and help text.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ecr-login",
    version,
    about = "Log Docker and other OCI clients in to Amazon ECR registries",
    long_about = "Log Docker and other OCI clients in to Amazon ECR registries.\n\n\
        Fetches one ECR authorization token per region (through the AWS SDK's usual credential \
        chain) and writes it into the Docker config.json, or pipes it into `docker login \
        --password-stdin`. Run it from ecr-login.timer every 11 hours, or by hand.",
    after_help = "Exit codes: 0 OK, 1 STALE (status), 64 USAGE, 65 DATAERR, 69 UNAVAILABLE, 70 SOFTWARE, \
        73 CANTCREAT, 75 TEMPFAIL, 76 PROTOCOL, 77 NOPERM, 78 CONFIG."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Registries for the default `login` command.
    #[command(flatten)]
    pub login: LoginArgs,

    #[command(flatten)]
    pub options: Options,

    /// Options typed on the command line (clap ids), as opposed to set in the environment.
    #[arg(skip)]
    pub given: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to registries (the default command).
    Login(LoginArgs),
    /// Show each registry's stored credentials and how long they stay valid; exit 1 if any is
    /// missing, changed, or valid for less than --min-valid (a health check).
    Status(StatusArgs),
    /// Remove the credentials ecr-login wrote (and only those) from every place it wrote them.
    Logout(LoginArgs),
}

/// What a command line asks for: a run, or (hidden from help, man page and completions,
/// which are made from `Cli` alone) `ecr-login generate DIR` for the packages.
#[derive(Debug)]
pub enum Invocation {
    Run(Box<Cli>),
    Generate(PathBuf),
}

const GENERATE: &str = "generate";

#[derive(Debug, Args, Default, Clone)]
pub struct LoginArgs {
    /// Registries: ACCOUNT.dkr.ecr.REGION.amazonaws.com (any ECR flavour), public.ecr.aws, or a
    /// bare 12-digit account in --region. Env ECR_LOGIN_REGISTRIES (space- or comma-separated).
    #[arg(value_name = "REGISTRY")]
    pub registries: Vec<String>,
}

#[derive(Debug, Args, Default, Clone)]
pub struct StatusArgs {
    /// Registries to check [default: the configured ones, else every one ecr-login recorded].
    #[arg(value_name = "REGISTRY")]
    pub registries: Vec<String>,

    /// Print one JSON object per registry and sink, on one line each.
    #[arg(long)]
    pub json: bool,
}

/// Where the token goes. Several may be given in one run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Write auths[host] into config.json directly (atomic, locked), or through its
    /// credential store.
    Config,
    /// Run `DOCKER_BIN login --username AWS --password-stdin HOST` per registry.
    Docker,
    /// Write auths[host] into podman's auth.json (--authfile), same rules as config.
    Podman,
    /// Write a docker.tar.gz holding .docker/config.json (--archive), for the Mesos fetcher.
    Archive,
    /// Emit a kubernetes.io/dockerconfigjson Secret manifest (--kube-secret, --kube-output).
    KubeSecret,
}

#[derive(Debug, Args, Default, Clone)]
pub struct Options {
    /// AWS region for bare account IDs. Default: AWS_REGION, the profile, instance metadata.
    #[arg(long, global = true, env = "ECR_LOGIN_REGION", value_name = "R")]
    pub region: Option<String>,

    /// AWS profile from ~/.aws/config for credentials (like AWS_PROFILE).
    #[arg(long, global = true, env = "ECR_LOGIN_PROFILE", value_name = "P")]
    pub profile: Option<String>,

    /// Where to hand the token over; repeat or comma-separate for several [default: config].
    #[arg(
        long,
        visible_alias = "sink",
        global = true,
        env = "ECR_LOGIN_METHOD",
        value_enum,
        value_delimiter = ',',
        action = clap::ArgAction::Append
    )]
    pub method: Vec<Method>,

    /// Docker config directory [default: $DOCKER_CONFIG, else ~/.docker].
    #[arg(
        long,
        global = true,
        env = "ECR_LOGIN_DOCKER_CONFIG",
        value_name = "DIR"
    )]
    pub docker_config: Option<PathBuf>,

    /// Docker CLI for --method docker (podman's `docker` works too) [default: docker].
    #[arg(long, global = true, env = "ECR_LOGIN_DOCKER_BIN", value_name = "PATH")]
    pub docker_bin: Option<PathBuf>,

    /// Podman auth file for --method podman [default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json].
    #[arg(long, global = true, env = "ECR_LOGIN_AUTHFILE", value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// Archive for --method archive, e.g. /etc/docker.tar.gz.
    #[arg(long, global = true, env = "ECR_LOGIN_ARCHIVE", value_name = "FILE")]
    pub archive: Option<PathBuf>,

    /// Secret for --method kube-secret, as NAMESPACE/NAME.
    #[arg(
        long,
        global = true,
        env = "ECR_LOGIN_KUBE_SECRET",
        value_name = "NAMESPACE/NAME"
    )]
    pub kube_secret: Option<String>,

    /// Write the Secret manifest to FILE (0600, atomic) instead of stdout.
    #[arg(
        long,
        global = true,
        env = "ECR_LOGIN_KUBE_OUTPUT",
        value_name = "FILE"
    )]
    pub kube_output: Option<PathBuf>,

    /// Skip a registry whose stored credentials are unchanged and valid for longer than this,
    /// e.g. 1h (a skipped registry costs no API call). For `status`: the margin to require.
    #[arg(
        long,
        global = true,
        env = "ECR_LOGIN_MIN_VALID",
        value_name = "DURATION"
    )]
    pub min_valid: Option<String>,

    /// Keep running: log in, sleep DURATION (with up to 10% jitter), repeat; retry failures
    /// with capped exponential backoff; stop on SIGTERM/SIGINT. For hosts without systemd.
    #[arg(long, global = true, env = "ECR_LOGIN_EVERY", value_name = "DURATION")]
    pub every: Option<String>,

    /// Also read the seed container's variables: REGION, REGISTRIES (account IDs), INTERVAL
    /// (seconds, as --every) and FILE_LOCATION (a directory: DIR/.docker and DIR/docker.tar.gz).
    #[arg(long, global = true, env = "ECR_LOGIN_COMPAT_ENV")]
    pub compat_env: bool,

    /// Settings file (TOML) [default: /etc/ecr-login/config.toml if it exists].
    #[arg(long, global = true, env = "ECR_LOGIN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Overall deadline for the run, e.g. 60s, 2m [default: 60s].
    #[arg(
        long,
        global = true,
        env = "ECR_LOGIN_TIMEOUT",
        value_name = "DURATION"
    )]
    pub timeout: Option<String>,

    /// Resolve registries, region and credentials and fetch tokens, but write nothing.
    #[arg(long, global = true, env = "ECR_LOGIN_DRY_RUN")]
    pub dry_run: bool,

    /// More output (repeat for more). Env ECR_LOGIN_VERBOSE=N.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less output: -q warnings and errors only, -qq errors only. Env ECR_LOGIN_QUIET=N.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

impl Cli {
    /// Parse a command line, noting which options were typed rather than taken from the
    /// environment: options a command does not use are refused only when typed.
    pub fn from_command_line<I, T>(args: I) -> Result<Invocation, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let command = Cli::command().subcommand(
            clap::Command::new(GENERATE)
                .hide(true)
                .about("Write the man page and shell completions into DIR (for the packages)")
                .arg(clap::Arg::new("dir").value_name("DIR").required(true)),
        );
        let matches = command.try_get_matches_from(args)?;
        if let Some((GENERATE, sub)) = matches.subcommand() {
            let dir = sub.get_one::<String>("dir").expect("required");
            return Ok(Invocation::Generate(PathBuf::from(dir)));
        }
        let mut cli = Cli::from_arg_matches(&matches)?;
        let mut given = typed(&matches);
        if let Some((_, sub)) = matches.subcommand() {
            given.extend(typed(sub));
        }
        given.sort();
        given.dedup();
        cli.given = given;
        Ok(Invocation::Run(Box::new(cli)))
    }

    /// Whether the option with this clap id was typed on the command line.
    pub fn given(&self, id: &str) -> bool {
        self.given.iter().any(|g| g == id)
    }

    /// The registries given on the command line, whichever form (`login X` or `X`) was used.
    pub fn registries(&self) -> &[String] {
        match &self.command {
            Some(Command::Login(args) | Command::Logout(args)) => &args.registries,
            Some(Command::Status(args)) => &args.registries,
            // After a global option (`--region R login X`) clap files `login` under the
            // top-level positionals; it is never a registry, so it is the subcommand.
            None => match self.login.registries.split_first() {
                Some((first, rest)) if first == "login" => rest,
                _ => &self.login.registries,
            },
        }
    }
}

fn typed(matches: &ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn login_is_the_default_subcommand() {
        let implicit =
            Cli::try_parse_from(["ecr-login", "111122223333", "--region", "eu-west-1"]).unwrap();
        let explicit = Cli::try_parse_from([
            "ecr-login",
            "login",
            "111122223333",
            "--region",
            "eu-west-1",
        ])
        .unwrap();
        assert_eq!(implicit.registries(), ["111122223333"]);
        assert_eq!(explicit.registries(), ["111122223333"]);
        assert_eq!(explicit.options.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn flags_before_the_subcommand_work() {
        let cli =
            Cli::try_parse_from(["ecr-login", "-v", "--method", "docker", "login", "x"]).unwrap();
        assert_eq!(cli.options.method, [Method::Docker]);
        assert_eq!(cli.options.verbose, 1);
        assert_eq!(cli.registries(), ["x"]);
        let cli = Cli::try_parse_from(["ecr-login", "--region", "r", "login", "x", "-q"]).unwrap();
        assert_eq!(cli.registries(), ["x"]);
        assert_eq!(cli.options.region.as_deref(), Some("r"));
    }

    #[test]
    fn several_methods() {
        let cli = Cli::try_parse_from([
            "ecr-login",
            "--method",
            "config,archive",
            "--sink",
            "kube-secret",
            "x",
        ])
        .unwrap();
        assert_eq!(
            cli.options.method,
            [Method::Config, Method::Archive, Method::KubeSecret]
        );
    }

    #[test]
    fn typed_options_are_told_from_the_environment() {
        let run = |args: &[&str]| match Cli::from_command_line(args).unwrap() {
            Invocation::Run(cli) => cli,
            other => panic!("{args:?}: {other:?}"),
        };
        let cli = run(&["ecr-login", "status", "--every", "1h", "--json"]);
        assert!(cli.given("every"));
        assert!(!cli.given("min_valid"));
        let cli = run(&["ecr-login", "--method", "podman", "logout"]);
        assert!(cli.given("method"));
        assert!(matches!(
            Cli::from_command_line(["ecr-login", "generate", "/tmp/x"]).unwrap(),
            Invocation::Generate(dir) if dir == std::path::Path::new("/tmp/x")
        ));
    }

    #[test]
    fn status_and_logout_take_registries() {
        let cli = Cli::try_parse_from(["ecr-login", "status", "--json", "x", "y"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Status(StatusArgs { json: true, .. }))
        ));
        assert_eq!(cli.registries(), ["x", "y"]);
        let cli = Cli::try_parse_from(["ecr-login", "-v", "logout", "x"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Logout(_))));
        assert_eq!(cli.registries(), ["x"]);
    }
}
