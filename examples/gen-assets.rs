//! Generate the man page and shell completions from the clap definition, for the packages:
//! `cargo run --example gen-assets -- DIR` writes DIR/ecr-login.1 and DIR/completions/*.

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;
use ecr_login::cli::Cli;
use ecr_login::exit::Code;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args_os().nth(1).expect("usage: gen-assets DIR"));
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)?;

    // `login` is the only command and the default one: no pages per subcommand to point to.
    let cmd = Cli::command().after_help("").after_long_help("");
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
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
