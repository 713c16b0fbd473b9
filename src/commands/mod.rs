//! The commands: `login` (the default, once or `--every`), `status`, `logout`, and the
//! hidden `generate` that writes the man page and completions for the packages.

mod check;
pub mod generate;
mod login;
mod logout;
mod loop_mode;
mod registries;
mod report;
mod status;

pub use report::fail_early;

use crate::exit::Code;
use crate::settings::{Action, Settings};

/// Run what the settings ask for to its end.
pub async fn run(settings: &Settings) -> Code {
    match settings.action {
        Action::Login => match settings.every {
            Some(every) => loop_mode::run(settings, every).await,
            None => login::run(settings).await,
        },
        Action::Status { json } => status::run(settings, json).await,
        Action::Logout => logout::run(settings).await,
    }
}
