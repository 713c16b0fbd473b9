//! The outcome of a command: what happened to each registry, and one exit code, the worst.

use crate::exit::{Code, classify};
use crate::logging::notify_status;

/// Tallies what happened to each registry and keeps the worst code.
#[derive(Debug, Default)]
pub struct Report {
    pub ok: usize,
    pub skipped: usize,
    pub failed: usize,
    code: Option<Code>,
}

impl Report {
    pub fn fail(&mut self, subject: &str, err: &anyhow::Error) {
        self.failed += 1;
        self.also(subject, err);
    }

    /// A further failure of a registry already counted: logged, and its code weighed.
    pub fn also(&mut self, subject: &str, err: &anyhow::Error) {
        log::error!(registry = subject; "{subject}: {err:#}");
        self.code = Some(self.code.unwrap_or(Code::Ok).worst(classify(err)));
    }

    pub fn code(&self) -> Code {
        self.code.unwrap_or(Code::Ok)
    }
}

/// Errors that stop the run before any registry is tried (bad settings).
pub fn fail_early(err: &anyhow::Error) -> Code {
    let code = classify(err);
    log::error!("{err:#}");
    notify_status(&format!("failed: {err}"));
    code
}
