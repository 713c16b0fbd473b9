//! `ecr-login generate DIR` (hidden): the man page and shell completions, from the clap
//! definition of what users run (`Cli`, without `generate`), for the packages:
//! DIR/ecr-login.1 (and .1.gz) and DIR/completions/*. The packaged binary writes them, so
//! packaging builds nothing else.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::exit::Code;

pub fn write(dir: &Path) -> std::io::Result<()> {
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)?;

    // One page: the subcommands are short and share every option, so COMMANDS lists them.
    let cmd = Cli::command().after_help("").after_long_help("");
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    writeln!(page, ".SH COMMANDS")?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let about = about.replace('\\', "\\\\").replace('-', "\\-");
        writeln!(page, ".TP\n\\fBecr\\-login {}\\fR\n{about}", sub.get_name())?;
    }
    writeln!(page, ".SH \"EXIT STATUS\"")?;
    for code in Code::ALL {
        writeln!(
            page,
            ".TP\n\\fB{}\\fR {}\n{}",
            code.as_i32(),
            code.name(),
            code.meaning()
        )?;
    }
    page.write_all(
        br#".SH FILES
.TP
/etc/ecr-login/config.toml
Settings (TOML, keys named like the long options).
.TP
/etc/default/ecr-login
Extra environment for the systemd units (AWS_*, HTTPS_PROXY, ...).
.TP
$DOCKER_CONFIG/config.json, ~/.docker/config.json
The docker config that the config method writes.
.TP
$STATE_DIRECTORY/state.json, ~/.local/state/ecr-login/state.json
What was written where and until when (expiry and a fingerprint, never the token); read by
--min-valid, status and logout.
.SH ENVIRONMENT
Every option reads ECR_LOGIN_\fINAME\fR; precedence is config file, then environment, then
flags. The usual AWS settings apply: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL,
AWS_ENDPOINT_URL_ECR, HTTPS_PROXY, NO_PROXY, AWS_EC2_METADATA_DISABLED.
.SH "SEE ALSO"
.BR docker-login (1),
.BR systemd.timer (5),
.BR journalctl (1)
"#,
    )?;
    man.render_version_section(&mut page)?;
    std::fs::write(dir.join("ecr-login.1"), &page)?;
    // The rpm ships it compressed, as man pages are on RPM systems (cargo-deb gzips its own).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&page)?;
    std::fs::write(dir.join("ecr-login.1.gz"), gz.finish()?)?;

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "ecr-login", &completions)?;
    }
    Ok(())
}
