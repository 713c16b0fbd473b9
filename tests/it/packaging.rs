//! The packages built by `scripts/package` (which `scripts/test` runs first) and the units
//! they carry: lintian and rpmlint clean, contents, glibc ceiling, sandbox exposure, and the
//! booted-systemd test (tests/support/nspawn.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{require, require_root};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Cargo's target directory (CARGO_TARGET_DIR or ./target): the parent of the tests' tmp dir.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}
/// `systemd-analyze security` exposure ceiling for the shipped units (0 = locked down, 10 = open).
const MAX_EXPOSURE: f64 = 2.0;
const GLIBC_CEILING: &str = "2.28";

fn built(dir: &str, ext: &str) -> PathBuf {
    let dir = target_dir().join(dir);
    std::fs::read_dir(&dir)
        .ok()
        .and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == ext))
        })
        .unwrap_or_else(|| {
            panic!(
                "no .{ext} in {}: run scripts/package (scripts/test does)",
                dir.display()
            )
        })
}

fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn deb_is_lintian_clean_and_complete() {
    require("lintian");
    let deb = built("debian", "deb");
    let (_, text) = output(
        Command::new("lintian")
            .args(["--tag-display-limit", "0"])
            .arg(&deb),
    );
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(problems.is_empty(), "lintian:\n{text}");

    let (ok, contents) = output(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    assert!(ok, "{contents}");
    for path in [
        "./usr/bin/ecr-login",
        "./usr/lib/systemd/system/ecr-login.service",
        "./usr/lib/systemd/system/ecr-login.timer",
        "./usr/lib/systemd/system/ecr-login@.service",
        "./usr/lib/systemd/system/ecr-login@.timer",
        "./etc/ecr-login/config.toml",
        "./usr/share/man/man1/ecr-login.1.gz",
        "./usr/share/bash-completion/completions/ecr-login",
        "./usr/share/zsh/vendor-completions/_ecr-login",
        "./usr/share/fish/vendor_completions.d/ecr-login.fish",
        "./usr/share/doc/ecr-login/README.md",
        "./usr/share/doc/ecr-login/changelog.Debian.gz",
    ] {
        assert!(
            contents.contains(path),
            "{path} missing from the .deb:\n{contents}"
        );
    }
    // Every call is HTTPS: without a trust store ecr-login stops (78), so it is a dependency.
    let (ok, depends) = output(
        Command::new("dpkg-deb")
            .args(["-f"])
            .arg(&deb)
            .arg("Depends"),
    );
    assert!(
        ok && depends.contains("ca-certificates"),
        "Depends: {depends}"
    );
    let (ok, conffiles) = output(
        Command::new("dpkg-deb")
            .args(["--info"])
            .arg(&deb)
            .arg("conffiles"),
    );
    assert!(
        ok && conffiles.contains("/etc/ecr-login/config.toml"),
        "{conffiles}"
    );
}

#[test]
fn rpm_is_rpmlint_clean_and_complete() {
    require("rpm");
    require("rpmlint");
    let rpm = built("generate-rpm", "rpm");
    let rc = Path::new(ROOT).join("packaging/rpm/rpmlintrc");
    let (_, text) = output(Command::new("rpmlint").arg("-r").arg(rc).arg(&rpm));
    assert!(text.contains(" 0 errors"), "rpmlint:\n{text}");

    let (ok, files) = output(Command::new("rpm").args(["-qlp"]).arg(&rpm));
    assert!(ok, "{files}");
    for path in [
        "/usr/bin/ecr-login",
        "/usr/lib/systemd/system/ecr-login@.timer",
        "/usr/share/man/man1/ecr-login.1.gz",
    ] {
        assert!(
            files.contains(path),
            "{path} missing from the .rpm:\n{files}"
        );
    }
    let (_, config) = output(
        Command::new("rpm")
            .args(["-qp", "--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]"])
            .arg(&rpm),
    );
    assert!(
        config.lines().any(|l| l == "/etc/ecr-login/config.toml cn"),
        "config(noreplace):\n{config}"
    );
    let (_, requires) = output(Command::new("rpm").args(["-qp", "--requires"]).arg(&rpm));
    assert!(
        requires.lines().any(|l| l.trim() == "ca-certificates"),
        "Requires: {requires}"
    );
    let (_, scripts) = output(Command::new("rpm").args(["-qp", "--scripts"]).arg(&rpm));
    assert!(
        scripts.contains("daemon-reload") && scripts.contains("disable"),
        "{scripts}"
    );
}

#[test]
fn binary_runs_on_glibc_2_28() {
    require("objdump");
    let bin = target_dir().join("x86_64-unknown-linux-gnu/release/ecr-login");
    assert!(
        bin.exists(),
        "{} missing: run scripts/package",
        bin.display()
    );
    let (ok, symbols) = output(Command::new("objdump").arg("-T").arg(&bin));
    assert!(ok, "{symbols}");
    let mut versions: Vec<Vec<u32>> = symbols
        .split("GLIBC_")
        .skip(1)
        .filter_map(|s| {
            let v: String = s
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let parts: Vec<u32> = v.split('.').filter_map(|p| p.parse().ok()).collect();
            (!parts.is_empty()).then_some(parts)
        })
        .collect();
    versions.sort();
    let newest = versions
        .last()
        .expect("a dynamically linked binary has GLIBC_ symbols");
    let ceiling: Vec<u32> = GLIBC_CEILING
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(
        *newest <= ceiling,
        "needs glibc {newest:?}, above {GLIBC_CEILING}"
    );
}

#[test]
fn units_are_sandboxed_to_the_exposure_ceiling() {
    require("systemd-analyze");
    for unit in ["ecr-login.service", "ecr-login@builder.service"] {
        let file = if unit.contains('@') {
            "ecr-login@.service"
        } else {
            unit
        };
        // The template is analysed as an instance, as systemd would load it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(unit);
        std::fs::copy(Path::new(ROOT).join("systemd").join(file), &path).unwrap();
        let (_, text) = output(
            Command::new("systemd-analyze")
                .args(["security", "--offline=yes", "--no-pager"])
                .arg(&path),
        );
        let line = text
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or_else(|| panic!("{text}"));
        let score: f64 = line
            .split(':')
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        assert!(
            score <= MAX_EXPOSURE,
            "{unit}: exposure {score} > {MAX_EXPOSURE}\n{text}"
        );
    }
}

#[test]
fn timer_refreshes_before_a_12_hour_token_lapses() {
    let timer = std::fs::read_to_string(Path::new(ROOT).join("systemd/ecr-login.timer")).unwrap();
    let get = |key: &str| {
        let value = timer
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap();
        humantime::parse_duration(value).unwrap()
    };
    let worst = get("OnUnitActiveSec") + get("RandomizedDelaySec");
    assert!(
        worst < std::time::Duration::from_secs(12 * 3600),
        "{worst:?}"
    );
    assert!(!timer.contains("RemainAfterExit"));
}

#[test]
fn operator_experience_in_a_booted_systemd() {
    require_root("a container booted with systemd-nspawn");
    // Heavy, and its processes handle moto's password: never beside the argv scanners.
    let _alone = crate::common::exclusive();
    for tool in ["systemd-nspawn", "debootstrap", "nsenter"] {
        require(tool);
    }
    let deb = built("debian", "deb");
    let (ok, text) =
        output(Command::new(Path::new(ROOT).join("tests/support/nspawn.sh")).arg(&deb));
    println!("{text}");
    assert!(ok, "tests/support/nspawn.sh failed:\n{text}");
    assert!(text.contains("systemd test passed"), "{text}");
}
