//! ecr-login: keep Docker and other OCI clients logged in to Amazon ECR.
//!
//! The binary is a thin wrapper around [`run`], so every path is testable in-process.

pub mod archive;
pub mod atomic_file;
pub mod child;
pub mod cli;
pub mod docker_config;
pub mod docker_login;
pub mod ecr;
pub mod envelope;
pub mod exit;
pub mod kube_secret;
pub mod logging;
pub mod login;
pub mod logout;
pub mod loop_mode;
pub mod owner;
pub mod registry;
pub mod secret;
pub mod settings;
pub mod sink;
pub mod state;
pub mod status;
pub mod timestamp;

use exit::Code;

/// Run one command line to completion and return its exit code.
pub fn run(cli: cli::Cli) -> Code {
    let settings = match settings::Settings::resolve(&cli) {
        Ok(settings) => settings,
        Err(err) => {
            logging::init(0);
            return login::fail_early(&err);
        }
    };
    logging::init(settings.verbosity);
    logging::timing("settings read");
    // One thread is plenty: the work is a handful of concurrent HTTPS calls.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return login::fail_early(
                &anyhow::Error::new(err).context("starting the async runtime"),
            );
        }
    };
    let code = runtime.block_on(async {
        match settings.action {
            settings::Action::Login => match settings.every {
                Some(every) => loop_mode::run(&settings, every).await,
                None => login::run(&settings).await,
            },
            settings::Action::Status { json } => status::run(&settings, json).await,
            settings::Action::Logout => logout::run(&settings).await,
        }
    });
    // A loop stopped by a signal may leave a write waiting for its lock: do not wait for it
    // (its temp file, if any, is cleaned up by the next run).
    runtime.shutdown_background();
    code
}
