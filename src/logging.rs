//! Logs go to the journal (with structured fields) when systemd connected our stderr to it,
//! otherwise as plain lines to stderr. journald timestamps lines itself, so we never do.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Install the logger. `verbosity`: 0 info, 1 debug, 2+ trace, -1 warn, -2 error.
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => LevelFilter::Error,
        -1 => LevelFilter::Warn,
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let installed = if systemd_journal_logger::connected_to_journal() {
        systemd_journal_logger::JournalLog::new()
            .map(|j| j.with_syslog_identifier("ecr-login".to_string()))
            .map_err(|_| ())
            .and_then(|j| j.install().map_err(|_| ()))
    } else {
        Err(())
    };
    if installed.is_err() {
        // Setting a logger twice only fails in tests that call `run` repeatedly.
        let _ = log::set_boxed_logger(Box::new(Stderr));
    }
    log::set_max_level(level);
}

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Start the clock that `timing` reads: first thing in `main`.
pub fn start_clock() {
    STARTED.get_or_init(Instant::now);
}

/// At `-vv`: how far into the run a step ended, to show where a slow run spends its time.
pub fn timing(step: impl std::fmt::Display) {
    if log::log_enabled!(Level::Trace) {
        let ms = STARTED.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3;
        log::trace!("timing: {step} at {ms:.1} ms");
    }
}

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        // Our own crate only: the SDK's dependencies are noise at -v.
        if !record.target().starts_with("ecr_login") {
            return;
        }
        let prefix = match record.level() {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            _ => "",
        };
        let _ = writeln!(
            std::io::stderr().lock(),
            "ecr-login: {prefix}{}",
            record.args()
        );
    }

    fn flush(&self) {}
}

/// `STATUS=` for `systemctl status`, when systemd is listening.
pub fn notify_status(text: &str) {
    if std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty())
        && let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Status(text)])
    {
        log::debug!("sd_notify failed: {e}");
    }
}

/// `READY=1` or `WATCHDOG=1`, when systemd is listening.
pub fn notify(state: sd_notify::NotifyState) {
    if std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty())
        && let Err(e) = sd_notify::notify(&[state])
    {
        log::debug!("sd_notify failed: {e}");
    }
}
