//! ecr-login: keep Docker and other OCI clients logged in to Amazon ECR.
//!
//! The binary is `main`; `run` does the same for a command line given in-process. Every
//! module is private: what the crate offers besides is the parsers of untrusted input, for
//! the property tests and the fuzzer.

mod atomic_file;
mod child;
mod cli;
mod commands;
mod ecr;
mod exit;
mod logging;
mod owner;
mod secret;
mod settings;
mod sinks;
mod state;
mod timestamp;

pub use exit::Code;

/// The parsers of untrusted input (registry names, docker config files), public so that
/// tests/it can fuzz them and check their properties.
pub mod parsers {
    pub use crate::ecr::{Spec, parse as parse_registry};
    pub use crate::secret::{Secret, fingerprint};
    pub use crate::sinks::Entry;
    pub use crate::sinks::config::{auth_fingerprint, parse, remove_auth, serialize, set_auth};
}

/// The whole program: parse the process's arguments, run, exit with the code.
pub fn main() -> ! {
    logging::start_clock();
    // A bug must still end with its own exit code (70), not a signal or 101.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("ecr-login: internal error (a bug, please report it): {info}");
        std::process::exit(Code::Software.as_i32());
    }));
    std::process::exit(run(std::env::args_os()).as_i32())
}

/// Run one command line (program name first) to completion and return its exit code.
pub fn run<I, T>(args: I) -> Code
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match cli::Cli::from_command_line(args) {
        Ok(cli::Invocation::Run(cli)) => cli,
        Ok(cli::Invocation::Generate(dir)) => {
            return match commands::generate::write(&dir) {
                Ok(()) => Code::Ok,
                Err(err) => {
                    eprintln!("ecr-login: writing the man page and completions: {err}");
                    Code::CantCreat
                }
            };
        }
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                Code::Usage
            } else {
                Code::Ok
            };
        }
    };
    let settings = match settings::Settings::resolve(&cli) {
        Ok(settings) => settings,
        Err(err) => {
            logging::init(0);
            return commands::fail_early(&err);
        }
    };
    logging::init(settings.verbosity);
    logging::timing("settings read");
    // One thread is plenty: the work is a handful of concurrent HTTPS calls; waiting on
    // locks and programs happens on the blocking pool.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return commands::fail_early(
                &anyhow::Error::new(err).context("starting the async runtime"),
            );
        }
    };
    let code = runtime.block_on(commands::run(&settings));
    // A loop stopped by a signal may leave a write waiting for its lock: do not wait for it
    // (its temp file, if any, is cleaned up by the next run).
    runtime.shutdown_background();
    code
}
